"""Multi-task evaluation (the ``mtl`` kind): per-task classification and regression metrics of
pointwise predictions, per user and pooled.

* binary tasks ``click`` and ``ctcvr`` over every impression, ``like`` over clicked (rated)
  impressions: ``<task>_auc`` (pooled), ``<task>_gauc`` (per-user AUC weighted by the user's number of
  impressions, users with one class skipped; Zhou et al. 2018), ``<task>_logloss``;
* ``rating_rmse`` and ``rating_mae`` over rated impressions;
* ``like_ndcg@k``: each user's rated test items ranked by the like score, relevant = liked;
  ``ctcvr_ndcg@k``: all of the user's test impressions ranked by the ctcvr score, relevant = clicked
  and liked (users without a relevant item skipped).

The ``tabular_mtl`` kind (one row per person, every task binary on every row) is evaluated by
:func:`evaluate_tabular_mtl` with the same metric functions: ``<task>_auc`` and ``<task>_logloss``
per task and ``mean_auc`` over the tasks; per row (the unit of the report's paired tests) the AUC
placement values (:func:`bench.metrics.classification.auc_placements`, whose mean is the pooled AUC)
and the row's cross-entropy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bench.errors import MethodError
from bench.metrics.classification import auc, auc_placements, gauc, logloss, mae, rmse
from bench.metrics.grouped import group_auc, group_mean, group_ndcg
from bench.multitask import BINARY_TASKS, TASKS, MTLData

__all__ = ["EPS", "check_predictions", "check_task_probabilities", "evaluate_mtl", "evaluate_tabular_mtl"]

EPS = 1e-7


def check_predictions(pred: Mapping[str, np.ndarray], n: int, method: str) -> dict[str, np.ndarray]:
    """Every task present as a finite ``(n,)`` array; binary tasks within [0, 1]."""
    if not isinstance(pred, Mapping):
        raise MethodError(f"{method}: predict() must return a mapping task -> array, got {type(pred).__name__}")
    missing = [t for t in TASKS if t not in pred]
    if missing:
        raise MethodError(f"{method}: predict() lacks task(s) {missing}; it must return all of {list(TASKS)}")
    out = {}
    for task in TASKS:
        value = np.asarray(pred[task], dtype=np.float64)
        if value.shape != (n,):
            raise MethodError(f"{method}: predict()[{task!r}] has shape {value.shape}, expected ({n},)")
        if not np.isfinite(value).all():
            raise MethodError(f"{method}: predict()[{task!r}] has {int((~np.isfinite(value)).sum())} non-finite values")
        if task in BINARY_TASKS and (value.min(initial=0.0) < 0.0 or value.max(initial=0.0) > 1.0):
            raise MethodError(f"{method}: predict()[{task!r}] must be probabilities in [0, 1]")
        out[task] = value
    return out


def evaluate_mtl(
    data: MTLData, pred: Mapping[str, np.ndarray], *, ks: Sequence[int] = (10,)
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-user metric table and pooled summary of ``pred`` against ``data``'s labels."""
    if not data.has_labels:
        raise ValueError("evaluate_mtl needs MTLData with labels")
    users, inv = np.unique(data.user, return_inverse=True)
    per_user = pd.DataFrame(
        {
            "user": users.astype(np.int64),
            "n_impressions": np.bincount(inv, minlength=users.size),
            "n_clicks": np.bincount(inv, weights=data.labels["click"], minlength=users.size).astype(np.int64),
        }
    )
    summary: dict[str, float] = {}

    def put(column: str, groups: np.ndarray, values: np.ndarray) -> None:
        per_user[column] = pd.Series(values, index=np.searchsorted(users, groups)).reindex(
            range(users.size)
        ).to_numpy(np.float64)

    for task in BINARY_TASKS:
        m = data.masks[task]
        g, y, p = data.user[m], data.labels[task][m], np.clip(pred[task][m], EPS, 1 - EPS)
        summary[f"{task}_auc"] = auc(y, p)
        summary[f"{task}_gauc"] = gauc(g, y, p)
        summary[f"{task}_logloss"] = logloss(y, p)
        put(f"{task}_auc", *group_auc(g, y, p))
        bce = -(y * np.log(p) + (1 - y) * np.log1p(-p))
        put(f"{task}_logloss", *group_mean(g, bce))
    m = data.masks["rating"]
    g, y, r = data.user[m], data.labels["rating"][m], pred["rating"][m]
    summary["rating_rmse"] = rmse(y, r)
    summary["rating_mae"] = mae(y, r)
    gu, mse = group_mean(g, (y - r) ** 2)
    put("rating_rmse", gu, np.sqrt(mse))
    put("rating_mae", *group_mean(g, np.abs(y - r)))
    for k in ks:
        for task in ("like", "ctcvr"):
            mk = data.masks[task]
            gk, values = group_ndcg(data.user[mk], data.labels[task][mk], pred[task][mk], k)
            put(f"{task}_ndcg@{k}", gk, values)
            summary[f"{task}_ndcg@{k}"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return per_user, {k: float(v) for k, v in summary.items()}


def check_task_probabilities(
    pred: Mapping[str, np.ndarray], tasks: Sequence[str], n: int, method: str
) -> dict[str, np.ndarray]:
    """Every task of ``tasks`` present as a finite ``(n,)`` array of probabilities in [0, 1]."""
    if not isinstance(pred, Mapping):
        raise MethodError(f"{method}: predict() must return a mapping task -> array, got {type(pred).__name__}")
    missing = [t for t in tasks if t not in pred]
    if missing:
        raise MethodError(f"{method}: predict() lacks task(s) {missing}; it must return all of {list(tasks)}")
    out = {}
    for task in tasks:
        value = np.asarray(pred[task], dtype=np.float64)
        if value.shape != (n,):
            raise MethodError(f"{method}: predict()[{task!r}] has shape {value.shape}, expected ({n},)")
        if not np.isfinite(value).all():
            raise MethodError(f"{method}: predict()[{task!r}] has {int((~np.isfinite(value)).sum())} non-finite values")
        if value.min(initial=0.0) < 0.0 or value.max(initial=0.0) > 1.0:
            raise MethodError(f"{method}: predict()[{task!r}] must be probabilities in [0, 1]")
        out[task] = value
    return out


def evaluate_tabular_mtl(data, pred: Mapping[str, np.ndarray]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-row table (``user`` = the person, ``<task>_auc`` placement values, ``<task>_logloss``,
    ``mean_auc``) and pooled summary (``<task>_auc``, ``<task>_logloss``, ``mean_auc``) of ``pred``
    against the labels of ``data`` (:class:`bench.tabular_mtl.TabularMTLData`)."""
    if not data.has_labels:
        raise ValueError("evaluate_tabular_mtl needs TabularMTLData with labels")
    per_row = pd.DataFrame({"user": data.row.astype(np.int64)})
    summary: dict[str, float] = {}
    for task in data.tasks:
        y, p = data.labels[task], np.clip(pred[task], EPS, 1 - EPS)
        summary[f"{task}_auc"] = auc(y, p)
        summary[f"{task}_logloss"] = logloss(y, p)
        per_row[f"{task}_auc"] = auc_placements(y, p)
        per_row[f"{task}_logloss"] = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    summary["mean_auc"] = float(np.mean([summary[f"{t}_auc"] for t in data.tasks]))
    per_row["mean_auc"] = per_row[[f"{t}_auc" for t in data.tasks]].mean(axis=1)
    return per_row, {k: float(v) for k, v in summary.items()}
