"""``multioutput_linear``: the no-sharing linear reference of introductory MTL write-ups —
scikit-learn ``MultiOutputRegressor(LinearRegression())`` on the same inputs as the neural methods.

Design matrix (sparse): one-hot user id and item id (training vocabulary; an unknown id has no
active column), one-hot of each demographic field, and the item's genre multi-hot scaled to sum 1.
Each task is an independent least-squares fit ``min_b ||y_t - X b||^2`` (no regularisation, intercept
included); tasks defined on different rows get separate multi-output fits: ``click`` and ``ctcvr`` on
every impression, ``like`` and ``rating`` on clicked impressions. Binary predictions are clipped to
``[1e-4, 1 - 1e-4]`` (a linear probability model); ``valid`` is unused (nothing to tune or stop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from bench.methods import Categorical, Config, register
from bench.multitask import MTLData
from bench.multitask import check_fit_data

__all__ = ["MultiOutputLinear", "MultiOutputLinearConfig", "design_matrix"]

CLIP = 1e-4
GROUPS = (("click", "ctcvr"), ("like", "rating"))


@dataclass(frozen=True, kw_only=True)
class MultiOutputLinearConfig(Config):
    """Attributes:
    fit_intercept: whether each task's regression has an intercept.
    """

    fit_intercept: bool = True

    search_space: ClassVar = {"fit_intercept": Categorical((True, False))}


def design_matrix(data: MTLData) -> sp.csr_matrix:
    """Sparse ``(n, n_user_ids + n_item_ids + sum(field_sizes) + n_genres)`` float64 inputs (column 0 of
    each id block is the unknown slot, always zero)."""
    blocks = [
        _one_hot(data.user_id, data.n_user_ids, unknown_zero=True),
        _one_hot(data.item_id, data.n_item_ids, unknown_zero=True),
    ]
    for j, size in enumerate(data.field_sizes):
        blocks.append(_one_hot(data.user_fields[:, j], size))
    g = np.asarray(data.item_genres, dtype=np.float64)
    if g.shape[1]:
        blocks.append(sp.csr_matrix(g / np.maximum(g.sum(axis=1, keepdims=True), 1.0)))
    return sp.hstack(blocks, format="csr")


def _one_hot(codes: np.ndarray, size: int, unknown_zero: bool = False) -> sp.csr_matrix:
    codes = np.asarray(codes, dtype=np.int64)
    values = np.ones(codes.size) if not unknown_zero else (codes != 0).astype(np.float64)
    return sp.csr_matrix((values, (np.arange(codes.size), codes)), shape=(codes.size, max(size, 1)))


@register("multioutput_linear", config=MultiOutputLinearConfig, scenarios=("mtl",))
class MultiOutputLinear:
    """``MultiOutputRegressor(LinearRegression())`` per task group (see the module docstring).

    Attributes (after ``fit``):
        models_: ``{("click", "ctcvr"): fitted MultiOutputRegressor, ("like", "rating"): ...}``.
        coef_: ``(4, n_features)`` float64 coefficients (click, ctcvr, like, rating rows).

    Unknown users/items contribute nothing (their id columns are empty): features and intercept only.
    """

    def __init__(self, config: MultiOutputLinearConfig):
        self.config = config

    def fit(self, data: MTLData, *, rng: np.random.Generator, valid: MTLData | None = None) -> MultiOutputLinear:
        # imported here: scikit-learn's linear models take ~0.25 s to import, and every recx process
        # imports every method module to fill the registry
        from sklearn.linear_model import LinearRegression
        from sklearn.multioutput import MultiOutputRegressor

        check_fit_data(data, "multioutput_linear")
        X = design_matrix(data)
        models = {}
        for group in GROUPS:
            rows = data.masks[group[0]]
            y = np.column_stack([data.labels[t][rows] for t in group]).astype(np.float64)
            model = MultiOutputRegressor(LinearRegression(fit_intercept=self.config.fit_intercept))
            models[group] = model.fit(X[rows], y)
        self.models_ = models
        self.coef_ = np.vstack([est.coef_ for group in GROUPS for est in models[group].estimators_])
        return self

    def predict(self, data: MTLData) -> dict[str, np.ndarray]:
        X = design_matrix(data)
        out: dict[str, np.ndarray] = {}
        for group, model in self.models_.items():
            pred = np.asarray(model.predict(X), dtype=np.float64).reshape(len(data), len(group))
            for j, task in enumerate(group):
                out[task] = pred[:, j] if task == "rating" else np.clip(pred[:, j], CLIP, 1 - CLIP)
        return out
