"""Known-answer tests of the built-in methods, one module per ``methods/<module>.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.interactions import Interactions


def from_dense(matrix: np.ndarray | list[list[int]], *, n_users: int | None = None) -> Interactions:
    """Training data whose non-zero entries are those of ``matrix`` (rows users, columns items);
    ``n_users`` larger than the number of rows appends users with no interactions."""
    m = np.asarray(matrix)
    users, items = np.nonzero(m)
    frame = pd.DataFrame(
        {"user": users, "item": items, "rating": 5.0, "timestamp": np.arange(len(users))}
    )
    return Interactions.from_frame(frame, n_users or m.shape[0], m.shape[1])


def checkerboard(n: int) -> tuple[Interactions, np.ndarray]:
    """implicit's checkerboard: user u interacted with every item of its parity except one held-out
    item ``held[u]`` (also of its parity). Two extra users with no interactions are appended.

    The only unseen item of the right parity is ``held[u]``, so a method that captures the two
    blocks ranks it first among u's unseen items.
    """
    users = np.arange(n)
    held = (users + 2 * (users // 2) + 2) % n
    assert (held % 2 == users % 2).all()
    m = (np.add.outer(users, np.arange(n)) % 2 == 0).astype(int)
    m[users, held] = 0
    return from_dense(m, n_users=n + 2), held
