"""``logistic``: one L2-regularised logistic regression per task, the linear no-sharing reference of
the tabular multi-task kind (``tabular_mtl``, the census task sets).

Design matrix (sparse): the one-hot of every categorical column (code 0 = a value unseen in train:
no active column) and the standardised numeric columns. Task ``t``'s weights minimise

    mean_i BCE(y_t,i, sigmoid(b_t + x_i w_t)) + reg / 2 * ||w_t||^2

(scikit-learn ``LogisticRegression``, lbfgs, ``C = 1 / (reg * n)``; the intercept is not
penalised). Deterministic: ``rng`` is unused, ``valid`` too (nothing to stop early).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from bench.methods import Config, FloatRange, register
from bench.tabular_mtl import TabularMTLData, check_fit_data

__all__ = ["Logistic", "LogisticConfig", "design_matrix"]


@dataclass(frozen=True, kw_only=True)
class LogisticConfig(Config):
    """Attributes:
    reg: L2 weight on the mean cross-entropy (see the module docstring), > 0.
    max_iter: lbfgs iterations per task.
    """

    reg: float = 1e-5
    max_iter: int = 500

    search_space: ClassVar = {"reg": FloatRange(1e-7, 1e-2, log=True)}

    def __post_init__(self) -> None:
        if not self.reg > 0:
            raise ValueError(f"reg must be > 0, got {self.reg}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")


def design_matrix(data: TabularMTLData) -> sp.csr_matrix:
    """Sparse ``(n, sum(categorical_sizes) + n_numeric)`` float64 inputs (column 0 of each one-hot
    block is the unseen slot, always empty)."""
    n = len(data)
    offsets = np.concatenate([[0], np.cumsum(data.categorical_sizes)[:-1]]).astype(np.int64)
    codes = np.asarray(data.categorical, dtype=np.int64)
    cols = (codes + offsets).ravel()
    rows = np.repeat(np.arange(n), codes.shape[1])
    vals = (codes != 0).ravel().astype(np.float64)
    onehot = sp.csr_matrix((vals, (rows, cols)), shape=(n, int(sum(data.categorical_sizes))))
    onehot.eliminate_zeros()
    return sp.hstack([onehot, sp.csr_matrix(np.asarray(data.numeric, dtype=np.float64))], format="csr")


@register("logistic", config=LogisticConfig, scenarios=("tabular_mtl",))
class Logistic:
    """One logistic regression per task (see the module docstring).

    Attributes (after ``fit``):
        coef_: ``(n_tasks, n_features)`` float64 weights; intercept_: ``(n_tasks,)``.
        tasks_: the task names, in the rows' order.

    A categorical value unseen in train contributes nothing (its one-hot block is empty).
    """

    def __init__(self, config: LogisticConfig):
        self.config = config

    def fit(self, data: TabularMTLData, *, rng: np.random.Generator, valid: TabularMTLData | None = None) -> Logistic:
        from sklearn.linear_model import LogisticRegression  # slow to import; only when used

        check_fit_data(data, "logistic")
        X = design_matrix(data)
        C = 1.0 / (self.config.reg * max(len(data), 1))
        coef, intercept = [], []
        for task in data.tasks:
            y = data.labels[task].astype(np.int64)
            if y.min() == y.max():  # one class: the constant model
                coef.append(np.zeros(X.shape[1]))
                intercept.append(np.log(np.clip(y.mean(), 1e-6, 1 - 1e-6) / np.clip(1 - y.mean(), 1e-6, 1)))
                continue
            model = LogisticRegression(C=C, max_iter=self.config.max_iter).fit(X, y)
            coef.append(model.coef_.ravel())
            intercept.append(float(model.intercept_[0]))
        self.coef_, self.intercept_, self.tasks_ = np.vstack(coef), np.asarray(intercept), tuple(data.tasks)
        return self

    def predict(self, data: TabularMTLData) -> dict[str, np.ndarray]:
        from scipy.special import expit

        logits = np.asarray(design_matrix(data) @ self.coef_.T) + self.intercept_
        return {t: expit(logits[:, j]) for j, t in enumerate(self.tasks_)}
