"""Publish a stage's output folder atomically: build it in a hidden sibling, rename it into place.

An interrupted stage (exception, Ctrl-C, SIGKILL) therefore never leaves a half-written output that
DVC or a reader could take for a finished one; a staging folder left behind by a killed process is
removed the next time the same output is built.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["staged_dir"]


@contextmanager
def staged_dir(out: Path) -> Iterator[Path]:
    """Yield an empty staging folder next to ``out``; on success it replaces ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out.parent / f".{out.name}.staging-{secrets.token_hex(6)}"
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
