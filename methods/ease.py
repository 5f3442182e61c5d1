"""``ease``: Embarrassingly Shallow Autoencoder (Steck, "Embarrassingly Shallow Autoencoders for
Sparse Data", WWW 2019).

min_B |X - X B|_F^2 + reg |B|_F^2  s.t.  diag(B) = 0, with the closed form
P = (X^T X + reg I)^-1,  B_ij = -P_ij / P_jj (i != j),  B_jj = 0;  score(u, .) = x_u B.

The Gram matrix is dense (``n_items**2`` float64, e.g. 7.2 GB at 30k items), factorised with a
Cholesky decomposition in float64 for stability; the item-item weights are kept in float32. The
peak memory of :func:`ease_weights` is about three such matrices at once (the factor, ``P`` and
``B``): ~22 GB at 30k items, 16 GiB at ML-20M's 26,744 (``benchmarks/large_data.py`` skips EASE
there for that reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve

from bench.interactions import Interactions
from bench.methods import Config, FloatRange, check_users, register

__all__ = ["EASE", "EASEConfig", "ease_weights"]


@dataclass(frozen=True, kw_only=True)
class EASEConfig(Config):
    """Attributes:
    reg: L2 weight ``lambda`` on B. Steck (2019) used 500 on ML-20M (reference notebook).
        The default 500 is near the best on MovieLens-100K too (200..500 on a random 80/20 holdout
        of ratings >= 4); the search space spans 1..1e4 log-uniformly.
    """

    reg: float = 500.0

    search_space: ClassVar = {"reg": FloatRange(1.0, 1e4, log=True)}

    def __post_init__(self) -> None:
        if not self.reg > 0:
            raise ValueError(f"reg must be > 0 (it keeps X^T X + reg I invertible), got {self.reg}")


def ease_weights(x: sp.spmatrix, reg: float) -> np.ndarray:
    """The closed-form EASE item-item matrix ``B`` (float64) for a user x item matrix ``x``."""
    gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += reg
    factor = cho_factor(gram, lower=False, overwrite_a=True, check_finite=False)
    p = cho_solve(factor, np.eye(gram.shape[0]), overwrite_b=True, check_finite=False)
    b = p / -np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b


@register("ease", config=EASEConfig, scenarios=("topn",))
class EASE:
    """EASE^R; see the module docstring.

    Attributes (after ``fit``):
        item_weights_: ``(n_items, n_items)`` float32 ``B`` with zero diagonal.
        user_items_: the training matrix as a boolean CSR (memorised data, the users' profiles).
        n_users_, n_items_: the index space seen in ``fit``.

    Users with no training interactions get all-zero scores; items nobody interacted with get zero
    weight columns (score 0). ``rng`` and ``valid`` are not used (the method is deterministic).
    """

    def __init__(self, config: EASEConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> Self:
        x = sp.csr_matrix(data.matrix, dtype=np.float64, copy=True)
        self.item_weights_ = ease_weights(x, self.config.reg).astype(np.float32)
        self.user_items_ = sp.csr_matrix(data.matrix, dtype=bool, copy=True)
        self.n_users_ = data.n_users
        self.n_items_ = data.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.n_users_, self.method_name)
        profile = self.user_items_[users].astype(np.float32)
        return np.asarray(profile @ self.item_weights_, dtype=np.float32)
