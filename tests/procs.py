"""Process checks shared by the tests that kill processes (Linux /proc)."""

from __future__ import annotations

import time

__all__ = ["alive", "gone_within"]


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie (a zombie has exited; only its parent has not reaped it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    """True once ``pid`` has exited (see :func:`alive`), polling for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)
