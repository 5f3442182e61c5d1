"""Atomic writes, the one module for them: readers see the old version or the complete new one.

* :func:`staged_dir` publishes a stage's output folder: built in a hidden sibling, renamed into
  place. An interrupted stage (exception, Ctrl-C, SIGKILL) therefore never leaves a half-written
  output that DVC or a reader could take for a finished one; a staging folder left behind by a
  killed process is removed the next time the same output is built.
* :func:`atomic_writer` / :func:`write_text` write one file through a temporary file in the same
  folder (so the final ``os.replace`` is a rename on one file system), whose name starts with a dot
  so globbing for outputs never picks it up; permissions follow the umask (``tempfile.mkstemp``
  would force 0600).
* :func:`temp_dir` makes a fresh uniquely named folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_writer", "staged_dir", "temp_dir", "write_text"]


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


@contextmanager
def atomic_writer(target: Path) -> Iterator[BinaryIO]:
    """Write ``target`` through a temporary file in the same folder, renamed into place on success.

    On any exception the temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temp_dir(parent: Path, prefix: str) -> Path:
    """Create a fresh, uniquely named folder ``parent/<prefix><random>`` (umask permissions)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        path = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_writer`)."""
    with atomic_writer(Path(path)) as fh:
        fh.write(text.encode())
