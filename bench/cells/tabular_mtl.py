"""Tabular multi-task cell (``tabular_mtl``): fit on train (valid only for early stopping / model
selection), predict every task's probability on the test rows' features, evaluate with
:func:`bench.evaluate.classification.evaluate_tabular_mtl`.

Summary metrics: ``<task>_auc`` and ``<task>_logloss`` per task, ``mean_auc``. The per-user table
has one row per test PERSON (``user`` = the person's row in the prepared table: the unit of the
report's bootstrap CIs and paired tests) with the row's cross-entropy and, per task, the AUC
pseudo-value of :func:`bench.metrics.delong.auc_pseudo_values` (its mean is the pooled AUC, and its
spread over rows gives DeLong's variance, so the CIs and paired tests of the AUC columns are
DeLong's; the raw placement values would make them several times too narrow on a rare class).
"""

from __future__ import annotations

import time

from bench.cells import CellResult
from bench.config import Evaluation
from bench.evaluate.classification import check_task_probabilities, evaluate_tabular_mtl
from bench.fitting import fit_method
from bench.metrics.delong import auc_pseudo_values
from bench.splits.types import Split
from bench.tabular_mtl import tabular_data

__all__ = ["PROTOCOL", "run_tabular_mtl"]

PROTOCOL = (
    "one row per person; train = the release's train part, valid/test = its test part split 1:1 at "
    "random (saved seed); features encoded from train only; fit on train, valid for early stopping "
    "only; pooled AUC and logloss per task on test"
)


def run_tabular_mtl(model, split: Split, evaluation: Evaluation, *, seed: int, method: str) -> CellResult:
    train, valid, test = (tabular_data(split, part) for part in ("train", "valid", "test"))
    fitted = fit_method(model, train, seed=seed, valid=valid, method=method)
    t0 = time.perf_counter()
    pred = check_task_probabilities(model.predict(test.features_only()), test.tasks, len(test), method)
    per_row, summary = evaluate_tabular_mtl(test, pred)
    for task in test.tasks:  # placement values -> DeLong pseudo-values (same mean, right variance)
        per_row[f"{task}_auc"] = auc_pseudo_values(test.labels[task], per_row[f"{task}_auc"].to_numpy())
    per_row["mean_auc"] = per_row[[f"{t}_auc" for t in test.tasks]].mean(axis=1)
    predict_seconds = time.perf_counter() - t0
    extra = {
        "protocol": PROTOCOL,
        "tasks": list(test.tasks),
        "n_test_rows": len(test),
        "n_evaluated_users": len(per_row),
        "per_user_unit": "person (user = row index in the prepared rows.parquet)",
    }
    return CellResult(
        per_user=per_row,
        metrics=summary,
        fit_seconds=fitted.seconds,
        predict_seconds=predict_seconds,
        peak_rss_mb=fitted.peak_rss_mb,
        extra=extra,
    )
