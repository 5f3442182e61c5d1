"""A scratch copy of this checkout (git + DVC) for end-to-end tests: the working tree's tracked and
untracked files, a chosen params file as ``params.yaml``, and an environment whose ``recx`` runs the
SCRATCH copy's code (``PYTHONPATH``), so a test can edit a module there and see what DVC makes of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

__all__ = ["scratch_checkout", "sh"]


def sh(args: list[str], cwd: Path, env: dict[str, str], *, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def scratch_checkout(
    folder: Path, mirror: Path, params: Path | None, *, keep: tuple[str, ...] = ()
) -> tuple[Path, dict[str, str]]:
    """Copy the checkout into ``folder`` (without ``reports/`` and ``dvc.lock`` unless named in
    ``keep``), with ``params`` as ``params.yaml`` (None: the checkout's own), and commit it."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    for rel in files:
        src = REPO_ROOT / rel
        skipped = rel.startswith(("reports/", "dvc.lock")) and not rel.startswith(keep)
        if src.is_file() and not skipped:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, folder / rel)
    if params is not None:
        shutil.copy2(params, folder / "params.yaml")
    env = dict(os.environ)
    env.update(
        RECX_DATA_MIRROR=str(mirror),
        DVC_NO_ANALYTICS="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(folder),
        GIT_AUTHOR_NAME="e2e", GIT_AUTHOR_EMAIL="e2e@localhost",
        GIT_COMMITTER_NAME="e2e", GIT_COMMITTER_EMAIL="e2e@localhost",
    )
    sh(["git", "init", "-q"], folder, env)
    sh(["git", "add", "-A"], folder, env)
    sh(["git", "commit", "-qm", "e2e snapshot"], folder, env)
    return folder, env
