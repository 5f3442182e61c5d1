"""Multi-task cell: fit on train (valid only for early stopping / model selection), predict every
task on the test impressions' features, evaluate with :func:`bench.evaluate.classification.evaluate_mtl`
(per-task metrics per user and pooled; ``k`` of the NDCGs from ``evaluation.ks``).

The per-user table has one row per test user with the per-user versions of these metrics
(``<task>_auc``, ``<task>_logloss``, ``rating_rmse``, ``rating_mae``, NDCGs) and impression counts.
"""

from __future__ import annotations

import time

from bench.cells import CellResult
from bench.config import Evaluation
from bench.evaluate.classification import check_predictions, evaluate_mtl
from bench.fitting import fit_method
from bench.multitask import mtl_data, mtl_vocab
from bench.splits.types import Split

__all__ = ["PROTOCOL", "run_mtl"]

PROTOCOL = (
    "entire-space test impressions (rated + saved sampled unrated items); click/ctcvr over all "
    "impressions, like/rating over rated ones; fit on train, valid for early stopping only"
)


def run_mtl(model, split: Split, evaluation: Evaluation, *, seed: int, method: str) -> CellResult:
    vocab = mtl_vocab(split)
    train, valid, test = (mtl_data(split, part, vocab) for part in ("train", "valid", "test"))

    fitted = fit_method(model, train, seed=seed, valid=valid, method=method)
    t0 = time.perf_counter()
    pred = check_predictions(model.predict(test.features_only()), len(test), method)
    per_user, summary = evaluate_mtl(test, pred, ks=evaluation.ks)
    predict_seconds = time.perf_counter() - t0
    extra = {
        "protocol": PROTOCOL,
        "n_test_impressions": len(test),
        "n_evaluated_users": len(per_user),
    }
    return CellResult(
        per_user=per_user,
        metrics=summary,
        fit_seconds=fitted.seconds,
        predict_seconds=predict_seconds,
        peak_rss_mb=fitted.peak_rss_mb,
        extra=extra,
    )
