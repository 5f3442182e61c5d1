"""``itemknn``: item-based nearest neighbours with cosine similarity (Sarwar et al., WWW 2001;
Deshpande & Karypis, TOIS 2004), in the form benchmarked by Ferrari Dacrema et al. (RecSys 2019).

s_ij = <x_i, x_j> / (|x_i| |x_j| + shrink)  for i != j,  x_i = column i of the user x item matrix;
only the ``k`` largest positive s_ij of every column j (the neighbours of target item j) are kept;
score(u, j) = sum_i x_ui s_ij  (i.e. ``X[u] @ S``).

The similarity is computed in blocks of columns, so peak memory is a few dense 64 MiB blocks plus
the sparse result (at most ``k * n_items`` entries), never ``n_items**2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from bench.interactions import Interactions
from bench.methods import Config, FloatRange, IntRange, check_users, register

__all__ = ["ItemKNN", "ItemKNNConfig", "topk_per_column"]

_BLOCK_FLOATS = 2**23  # entries of one dense similarity block (64 MiB of float64)


@dataclass(frozen=True, kw_only=True)
class ItemKNNConfig(Config):
    """Attributes:
    k: neighbours kept per item (Ferrari Dacrema et al. 2019 search 5..800).
    shrink: added to the cosine denominator; damps similarities supported by few common users
        (0 = plain cosine).
    """

    k: int = 100
    shrink: float = 10.0

    search_space: ClassVar = {
        "k": IntRange(5, 800, log=True),
        "shrink": FloatRange(0.0, 1000.0),
    }

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if not self.shrink >= 0:
            raise ValueError(f"shrink must be >= 0, got {self.shrink}")


def topk_per_column(block: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest entries of every column, ties broken by lower row index.

    Exact and independent of the selection algorithm: every entry above the column's k-th largest
    value is kept, then entries equal to it in row order until ``k`` are kept.
    """
    n = block.shape[0]
    if k >= n:
        return np.ones(block.shape, dtype=bool)
    kth = np.partition(block, n - k, axis=0)[n - k]
    above = block > kth
    tied = block == kth
    room = k - above.sum(axis=0)
    return above | (tied & (np.cumsum(tied, axis=0) <= room))


@register("itemknn", config=ItemKNNConfig, scenarios=("topn",))
class ItemKNN:
    """Item-based k-nearest-neighbours with (shrunk) cosine similarity; see the module docstring.

    Attributes (after ``fit``):
        similarity_: ``(n_items, n_items)`` float32 CSR; column ``j`` holds the (at most ``k``)
            positive similarities of item ``j``'s neighbours, diagonal zero.
        user_items_: the training matrix as a boolean CSR (memorised data, the users' profiles).
        n_users_, n_items_: the index space seen in ``fit``.

    Users with no training interactions get all-zero scores (no profile, no neighbours); so do
    items no training user interacted with. ``rng`` and ``valid`` are not used (deterministic).
    """

    def __init__(self, config: ItemKNNConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> Self:
        cfg = self.config
        x = sp.csc_matrix(data.matrix, dtype=np.float32, copy=True)
        xt = x.T.tocsr()
        n_items = data.n_items
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel())
        width = max(1, min(n_items, _BLOCK_FLOATS // max(n_items, 1)))
        rows, cols, vals = [], [], []
        for start in range(0, n_items, width):  # blocks of columns, not a loop over items
            stop = min(start + width, n_items)
            dots = (xt @ x[:, start:stop]).toarray().astype(np.float64)
            denom = norms[:, None] * norms[None, start:stop] + cfg.shrink
            sim = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
            sim[np.arange(start, stop), np.arange(stop - start)] = 0.0
            keep = topk_per_column(sim, cfg.k) & (sim > 0)
            r, c = np.nonzero(keep)
            rows.append(r)
            cols.append(c + start)
            vals.append(sim[r, c].astype(np.float32))
        self.similarity_ = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_items, n_items),
            dtype=np.float32,
        )
        self.similarity_.sort_indices()
        self.user_items_ = sp.csr_matrix(data.matrix, dtype=bool, copy=True)
        self.n_users_ = data.n_users
        self.n_items_ = n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.n_users_, self.method_name)
        profile = self.user_items_[users].astype(np.float32)
        return np.asarray((profile @ self.similarity_).toarray(), dtype=np.float32)
