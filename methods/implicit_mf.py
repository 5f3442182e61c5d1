"""``als`` and ``bpr``: matrix factorisation trained by the ``implicit`` package (CPU code only).

* ``als`` — Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets",
  ICDM 2008:  min_{x,q} sum_{u,i} c_ui (p_ui - x_u.q_i)^2 + reg (sum_u |x_u|^2 + sum_i |q_i|^2),
  p_ui = [r_ui > 0], c_ui = 1 + alpha r_ui; solved by alternating least squares with implicit's
  conjugate-gradient solver (Takacs et al., RecSys 2011).
* ``bpr`` — Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009:
  max sum_{(u,i,j)} log sigmoid(x_u.q_i + b_i - x_u.q_j - b_j) - reg |theta|^2, by SGD over sampled
  triples (j a uniformly drawn item the user has not interacted with).

Only the learned factors are kept (numpy arrays), never the ``implicit`` model object, so fitted
methods pickle without ``implicit`` internals and scoring is one batched matrix product.

Determinism: ``implicit``'s ALS solves every user (item) independently, so its result does not
depend on ``num_threads``; BLAS is limited to one thread during fit, as ``implicit`` recommends.
Its BPR runs lock-free ("Hogwild") SGD when ``num_threads > 1``, which is NOT reproducible: the same
seed gives different factors from run to run. ``bpr`` therefore defaults to ``num_threads: 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from bench import progress
from bench.fitting import TrainingLog
from bench.interactions import Interactions
from bench.methods import Categorical, Config, FloatRange, check_users, register

__all__ = ["ALS", "ALSConfig", "BPR", "BPRConfig"]


def _seed(rng: np.random.Generator) -> int:
    """A seed for ``implicit`` (it accepts ints in [0, 2**31))."""
    return int(rng.integers(0, 2**31 - 1))


def _check_common(cfg: ALSConfig | BPRConfig) -> None:
    if cfg.embedding_size < 1:
        raise ValueError(f"embedding_size must be >= 1, got {cfg.embedding_size}")
    if cfg.epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {cfg.epochs}")
    if not cfg.reg >= 0:
        raise ValueError(f"reg must be >= 0, got {cfg.reg}")
    if cfg.num_threads < 0:
        raise ValueError(f"num_threads must be >= 0 (0 = all cores), got {cfg.num_threads}")


def _fixed_epochs(epochs: int) -> TrainingLog:
    """``implicit`` trains a fixed number of epochs without validation: the record says so."""
    return TrainingLog(epochs_run=epochs, max_epochs=epochs, best_epoch=epochs)


class _FactorScores:
    """``score`` shared by ``als`` and ``bpr``: user factors times item factors, one matmul."""

    user_factors_: np.ndarray
    item_factors_: np.ndarray
    n_users_: int
    method_name: str

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.n_users_, self.method_name)
        return self.user_factors_[users] @ self.item_factors_.T


# ----------------------------------------------------------------------------- ALS
@dataclass(frozen=True, kw_only=True)
class ALSConfig(Config):
    """Attributes:
    embedding_size: dimension of user and item factors (``implicit``'s ``factors``).
    epochs: ALS sweeps, each solving all users then all items (``implicit``'s ``iterations``).
    reg: L2 weight ``lambda`` on the factors (``implicit``'s ``regularization``, not scaled).
    alpha: confidence slope, c_ui = 1 + alpha r_ui (Hu et al. 2008 used alpha = 40 on watch times).
    num_threads: threads of ``implicit``'s solver; 0 = all cores. Results do not depend on it.

    The defaults ``reg = 30, alpha = 10`` were chosen on a random 80/20 holdout of MovieLens-100K
    (ratings >= 4): ``implicit``'s own ``regularization = 0.01`` under-regularises 0/1 data there
    (recall@20 0.27 against 0.35). Tune both on other data.
    """

    embedding_size: int = 64
    epochs: int = 15
    reg: float = 30.0
    alpha: float = 10.0
    num_threads: int = 0

    search_space: ClassVar = {
        "embedding_size": Categorical((32, 64, 128, 256)),
        "reg": FloatRange(1e-2, 1e3, log=True),
        "alpha": FloatRange(0.1, 100.0, log=True),
    }

    def __post_init__(self) -> None:
        _check_common(self)
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")


@register("als", config=ALSConfig, scenarios=("topn",))
class ALS(_FactorScores):
    """Implicit-feedback ALS (Hu et al., ICDM 2008) through ``implicit``; see the module docstring.

    ``implicit`` weighs a stored entry v by ``v`` itself, so it is given the matrix of confidences
    1 + alpha r_ui (its own ``alpha`` left at 1), which is exactly Hu et al.'s c_ui.

    Attributes (after ``fit``):
        user_factors_: ``(n_users, embedding_size)`` float32.
        item_factors_: ``(n_items, embedding_size)`` float32.
        n_users_, n_items_: the index space seen in ``fit``.

    Users (items) with no training interactions get zero factors -- the exact least-squares solution
    for an empty row, which the conjugate-gradient solver only approaches -- hence all-zero scores.
    ``valid`` is not used; ``rng`` seeds the factor initialisation.
    """

    def __init__(self, config: ALSConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> Self:
        from implicit.als import AlternatingLeastSquares

        cfg = self.config
        x = sp.csr_matrix(data.matrix, dtype=np.float32, copy=True)
        x.data = (1.0 + cfg.alpha * x.data).astype(np.float32)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=cfg.embedding_size,
                regularization=cfg.reg,
                alpha=1.0,
                iterations=cfg.epochs,
                num_threads=cfg.num_threads,
                random_state=_seed(rng),
                use_gpu=False,
            )
            model.fit(x, show_progress=False, callback=_epoch_callback("als", cfg.epochs))
        self.training_log_ = _fixed_epochs(cfg.epochs)
        item_counts = np.bincount(x.indices, minlength=x.shape[1])
        self.user_factors_ = _zero_empty(model.user_factors, np.diff(x.indptr) == 0)
        self.item_factors_ = _zero_empty(model.item_factors, item_counts == 0)
        self.n_users_ = data.n_users
        self.n_items_ = data.n_items
        return self


def _epoch_callback(method: str, epochs: int):
    """``implicit``'s per-iteration callback -> :func:`bench.progress.epoch` (no loss: computing
    ALS's training loss would cost a pass over the data, and BPR reports none)."""

    def callback(iteration: int, *_: object) -> None:
        progress.epoch(progress.Epoch(method, iteration + 1, epochs))

    return callback


def _zero_empty(factors: np.ndarray, empty: np.ndarray) -> np.ndarray:
    out = np.array(factors, dtype=np.float32, copy=True)
    out[empty] = 0.0
    return out


# ----------------------------------------------------------------------------- BPR
@dataclass(frozen=True, kw_only=True)
class BPRConfig(Config):
    """Attributes:
    embedding_size: dimension of user and item factors (an item bias is learned in addition).
    epochs: passes of SGD, each over as many sampled triples as there are training pairs.
    learning_rate: SGD step size.
    reg: L2 weight on the factors (and item bias) touched by each triple.
    num_threads: SGD threads; 1 (default) is reproducible, > 1 runs lock-free parallel SGD whose
        results differ from run to run even with the same seed; 0 = all cores (not reproducible).
    """

    embedding_size: int = 64
    epochs: int = 100
    learning_rate: float = 0.01
    reg: float = 0.01
    num_threads: int = 1

    search_space: ClassVar = {
        "embedding_size": Categorical((32, 64, 128, 256)),
        "learning_rate": FloatRange(1e-3, 0.1, log=True),
        "reg": FloatRange(1e-5, 0.1, log=True),
    }

    def __post_init__(self) -> None:
        _check_common(self)
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


@register("bpr", config=BPRConfig, scenarios=("topn",))
class BPR(_FactorScores):
    """BPR matrix factorisation (Rendle et al., UAI 2009) through ``implicit``; see the module doc.

    Attributes (after ``fit``):
        user_factors_: ``(n_users, embedding_size + 1)`` float32; the last column is 1.
        item_factors_: ``(n_items, embedding_size + 1)`` float32; the last column is the item bias.
        n_users_, n_items_: the index space seen in ``fit``.

    Users with no training interactions are never sampled, so ``implicit`` leaves them at their
    random initialisation; their factors are set to zero (bias column kept at 1), so they are
    scored by the learned item biases alone. ``valid`` is not used; ``rng`` seeds initialisation
    and sampling.
    """

    def __init__(self, config: BPRConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> Self:
        from implicit.bpr import BayesianPersonalizedRanking

        cfg = self.config
        x = sp.csr_matrix(data.matrix, dtype=np.float32, copy=True)
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=cfg.embedding_size,
                learning_rate=cfg.learning_rate,
                regularization=cfg.reg,
                iterations=cfg.epochs,
                num_threads=cfg.num_threads,
                random_state=_seed(rng),
                use_gpu=False,
            )
            model.fit(x, show_progress=False, callback=_epoch_callback("bpr", cfg.epochs))
        self.training_log_ = _fixed_epochs(cfg.epochs)
        users = np.array(model.user_factors, dtype=np.float32, copy=True)
        users[np.diff(x.indptr) == 0, :-1] = 0.0
        self.user_factors_ = users
        self.item_factors_ = np.array(model.item_factors, dtype=np.float32, copy=True)
        self.n_users_ = data.n_users
        self.n_items_ = data.n_items
        return self
