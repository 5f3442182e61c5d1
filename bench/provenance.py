"""What every run record carries so a number can be traced: commit, package versions, hardware."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["git_commit", "hardware", "package_versions", "source_sha256"]

PACKAGES = ("recxbench", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "torch", "implicit", "dvc")


def git_commit(cwd: Path | None = None) -> dict[str, str | bool | None]:
    """HEAD commit of the working tree and whether tracked files other than ``dvc.lock`` and
    ``reports/`` (which the pipeline itself rewrites) are modified."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                # pipeline bookkeeping that DVC rewrites while it runs is not a code change
                # the whole repository (``:/``), also from a profile workspace inside it
                ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                 ":(top,exclude)dvc.lock", ":(top,exclude)reports"],
                cwd=cwd,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware() -> dict[str, str | int | None]:
    """The machine of a run. ``cpu_model`` and ``simd`` (the widest vector instruction set: torch and
    numpy pick their kernels by it) matter: float results of the same code and seed can differ in the
    last bits between an AVX2 and an AVX-512 machine."""
    model, simd = _cpuinfo()
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_model": model,
        "simd": simd,
        "cpus": os.cpu_count(),
        "system": platform.system(),
    }


def _cpuinfo() -> tuple[str | None, str | None]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, None
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.startswith("model name")), None)
    flags = next((set(line.split(":", 1)[1].split()) for line in text.splitlines()
                  if line.startswith("flags")), set())
    simd = next((name for name, flag in (("AVX512", "avx512f"), ("AVX2", "avx2"), ("AVX", "avx"))
                 if flag in flags), None)
    return model, simd


def source_sha256(obj: object) -> str | None:
    """sha256 of the source file defining ``obj``'s class (a method's code identity)."""
    import hashlib
    import inspect

    try:
        path = inspect.getsourcefile(type(obj))
    except TypeError:
        return None
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
