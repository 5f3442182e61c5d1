"""Profiles: ``recx repro --profile NAME`` runs ``profiles/NAME.yaml`` end to end in a workspace of its
own, so its results never mix with the default profile's ``reports/`` and ``dvc.lock``. Each
workspace's ``dvc.yaml`` is rendered for its own params' kinds (:mod:`bench.pipeline`).

A profile is a complete params file (``profiles/ci.yaml``, ``profiles/tuned.yaml``; ``default`` is the
root ``params.yaml``). Its workspace is ``workspaces/<name>/`` (git- and DVC-ignored): a DVC project
(``dvc init --no-scm``) holding a fresh copy of ``dvc.yaml``, the dataset declarations and the code
folders that stages list as dependencies, with the profile as its ``params.yaml``. Its own
``dvc.lock``, ``artifacts/`` and ``reports/`` stay inside it; its DVC cache is the root project's, so
data fetched or prepared once (and every stage in DVC's run cache) is restored, not recomputed.

Always run a profile through ``recx repro --profile`` (it refreshes the copies; a plain ``dvc repro``
inside the workspace would hash stale copies of the code). Because the cache is shared, ``dvc gc -w``
in the root would delete objects only a workspace uses: add ``--projects workspaces/<name>``.

Why not ``dvc exp run --set-param``: an experiment runs in the main workspace (its outputs replace
``reports/``) or in a temporary copy whose results live only in Git refs; a profile should leave a
folder a person can open, and leave the default run untouched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bench.errors import ConfigError
from bench.pipeline import sync_dvc_yaml

__all__ = ["DEFAULT", "SHARED", "WORKSPACES", "profile_params", "workspace"]

DEFAULT = "default"
PROFILES = Path("profiles")
WORKSPACES = Path("workspaces")

#: files and folders of the root project that a workspace's stages read (dvc.yaml deps and the
#: dataset declarations); copied afresh on every run
SHARED = (
    ".dvcignore", "datasets/sources.yaml", "datasets/checksums.lock", "bench", "methods",
)


def profile_params(profile: str, root: Path = Path(".")) -> Path:
    """The params file of ``profile``: a name from ``profiles/`` (``ci``), ``default`` (the root
    ``params.yaml``) or a path to a YAML file."""
    root = Path(root)
    if profile == DEFAULT:
        return root / "params.yaml"
    named = root / PROFILES / f"{profile}.yaml"
    if named.is_file():
        return named
    path = Path(profile)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    names = sorted(p.stem for p in (root / PROFILES).glob("*.yaml"))
    raise ConfigError(
        f"unknown profile {profile!r}: profiles are {[DEFAULT, *names]} (files in {root / PROFILES}/) "
        "or a path to a params YAML file"
    )


def workspace(profile: str, root: Path = Path(".")) -> Path:
    """Create or refresh the workspace of ``profile`` and return its folder (the root itself for
    ``default``)."""
    root = Path(root).resolve()
    params = profile_params(profile, root)
    if profile == DEFAULT:
        sync_dvc_yaml(root)
        return root
    ws = root / WORKSPACES / params.stem
    ws.mkdir(parents=True, exist_ok=True)
    marker, source = ws / ".recx-profile", str(params.resolve())
    if marker.exists() and marker.read_text().strip() != source:
        raise ConfigError(
            f"{ws} holds the runs of {marker.read_text().strip()}, not of {source}; rename the "
            "profile file or remove that workspace"
        )
    marker.write_text(source + "\n")
    for rel in SHARED:
        src, dst = root / rel, ws / rel
        if dst.is_dir():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    shutil.copy2(params, ws / "params.yaml")
    sync_dvc_yaml(ws, echo=lambda _: None)  # the stages of this profile's kinds
    if not (ws / ".dvc").is_dir():
        subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=ws, check=True)
    if (root / ".dvc").is_dir():  # share the root project's cache (wherever it is configured)
        cache = subprocess.run(
            [sys.executable, "-m", "dvc", "cache", "dir"], cwd=root, capture_output=True, text=True,
            check=True,
        ).stdout.strip()
        (ws / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {cache}\n")
    return ws
