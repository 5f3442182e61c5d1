"""``puresvd``: PureSVD (Cremonesi, Koren & Turrin, "Performance of recommender algorithms on top-N
recommendation tasks", RecSys 2010).

X ~ U_f Sigma_f Q_f^T (truncated SVD of the 0/1 user x item matrix, missing entries as zeros);
score(u, .) = x_u Q_f Q_f^T, the projection of the user's row onto the top-``f`` item subspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from bench.interactions import Interactions
from bench.methods import Config, IntRange, check_users, register

__all__ = ["PureSVD", "PureSVDConfig"]


@dataclass(frozen=True, kw_only=True)
class PureSVDConfig(Config):
    """Attributes:
    embedding_size: number of singular triplets ``f`` kept (Cremonesi et al. report f = 50 on
        MovieLens, 150 on Netflix); capped at ``min(n_users, n_items)``.
    """

    embedding_size: int = 50

    search_space: ClassVar = {"embedding_size": IntRange(10, 500, log=True)}

    def __post_init__(self) -> None:
        if self.embedding_size < 1:
            raise ValueError(f"embedding_size must be >= 1, got {self.embedding_size}")


@register("puresvd", config=PureSVDConfig, scenarios=("topn",))
class PureSVD:
    """PureSVD; see the module docstring.

    The SVD is computed in float64 with ARPACK (``scipy.sparse.linalg.svds``) from a start vector
    drawn from ``rng``; when ``f >= min(n_users, n_items) - 1`` (tiny data) a dense LAPACK SVD is
    used instead. Scores do not depend on the sign or order of the singular vectors.

    Attributes (after ``fit``):
        item_factors_: ``(n_items, f)`` float32 right singular vectors ``Q_f`` (largest first).
        user_factors_: ``(n_users, f)`` float32 ``X Q_f`` (= ``U_f Sigma_f``).
        singular_values_: ``(f,)`` float64, descending.
        n_users_, n_items_: the index space seen in ``fit``.

    Users with no training interactions have zero ``user_factors_`` rows and get all-zero scores;
    ``valid`` is not used.
    """

    def __init__(self, config: PureSVDConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> Self:
        x = sp.csr_matrix(data.matrix, dtype=np.float64, copy=True)
        smallest = min(x.shape)
        f = min(self.config.embedding_size, smallest)
        if f < smallest - 1:
            v0 = rng.uniform(-1.0, 1.0, size=smallest)
            _, sigma, vt = svds(x, k=f, v0=v0, solver="arpack")
        else:
            _, sigma, vt = np.linalg.svd(x.toarray(), full_matrices=False)
            sigma, vt = sigma[:f], vt[:f]
        order = np.argsort(-sigma, kind="stable")
        q = np.ascontiguousarray(vt[order].T)
        self.singular_values_ = sigma[order]
        self.item_factors_ = q.astype(np.float32)
        self.user_factors_ = np.asarray(x @ q, dtype=np.float32)
        self.n_users_ = data.n_users
        self.n_items_ = data.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.n_users_, self.method_name)
        return self.user_factors_[users] @ self.item_factors_.T
