"""Atomic file and folder writes: readers see the old version or the complete new one, never a half.

Temporary names live in the target's own folder (so the final ``os.replace`` is a rename on one file
system) and start with a dot, so globbing for outputs never picks them up. Permissions follow the
process umask like any ordinary file (``tempfile.mkstemp`` would force 0600).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_writer", "temp_dir"]


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
