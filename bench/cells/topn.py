"""Top-N cell: fit on train (valid for early stopping only), rank ALL items for every test user with
train and valid items excluded, compute per-user ranking metrics."""

from __future__ import annotations

import time


from bench.cells import CellResult
from bench.config import Evaluation
from bench.evaluate.ranking import evaluate_holdout
from bench.fitting import fit_method
from bench.splits.types import Split

__all__ = ["PROTOCOL", "run_topn"]

PROTOCOL = "full ranking over all items; each user's train and valid items excluded"


def run_topn(model, split: Split, evaluation: Evaluation, *, seed: int, method: str) -> CellResult:
    train = split.interactions("train")
    valid = split.interactions("valid")
    fitted = fit_method(model, train, seed=seed, valid=valid, method=method)
    t0 = time.perf_counter()
    result = evaluate_holdout(
        model, train.matrix, valid.matrix, split.interactions("test").matrix, evaluation,
        n_users=split.n_users, method_name=method,
    )
    return CellResult(
        per_user=result.per_user,
        metrics=result.summary(),
        fit_seconds=fitted.seconds,
        predict_seconds=time.perf_counter() - t0,
        peak_rss_mb=fitted.peak_rss_mb,
        topk=result.topk,
        users=result.users,
        extra={"n_evaluated_users": int(len(result.users)), "protocol": PROTOCOL},
    )
