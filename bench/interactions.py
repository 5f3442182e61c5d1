"""The training data hand-off to methods: an immutable user x item interaction matrix.

Methods receive an :class:`Interactions` in ``fit``; they never see test data. Rows are users and columns
items in the split's global index space, so ``n_users`` / ``n_items`` cover every user and item of the
dataset even when some have no training interaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["Interactions"]


@dataclass(frozen=True, eq=False)
class Interactions:
    """Implicit-feedback training data.

    Attributes:
        matrix: ``n_users x n_items`` CSR matrix of float32 ones (one per distinct user-item pair).
            Treat it as read-only; the contract suite checks that ``fit`` does not mutate it.
        frame: the underlying rows (``user``, ``item``, ``rating``, ``timestamp``), for methods that use
            ratings or time.
    """

    matrix: sp.csr_matrix
    frame: pd.DataFrame

    @property
    def n_users(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, n_users: int, n_items: int) -> Interactions:
        """Build from rows with integer ``user`` and ``item`` columns; duplicate pairs count once."""
        users = frame["user"].to_numpy(dtype=np.int64)
        items = frame["item"].to_numpy(dtype=np.int64)
        if len(users) and (users.min() < 0 or users.max() >= n_users):
            raise ValueError(f"user index out of range [0, {n_users})")
        if len(items) and (items.min() < 0 or items.max() >= n_items):
            raise ValueError(f"item index out of range [0, {n_items})")
        m = sp.csr_matrix(
            (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items)
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        m.sort_indices()
        return cls(matrix=m, frame=frame.reset_index(drop=True))
