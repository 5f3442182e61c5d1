"""Top-N cell: fit on train (valid for early stopping only), rank ALL items for every test user with
train and valid items excluded, compute per-user ranking metrics."""

from __future__ import annotations

import time

import numpy as np

from bench.cells import CellResult
from bench.config import Evaluation
from bench.errors import MethodError
from bench.evaluate import evaluate_topn
from bench.splits.types import Split

__all__ = ["PROTOCOL", "run_topn"]

PROTOCOL = "full ranking over all items; each user's train and valid items excluded"


def run_topn(model, split: Split, evaluation: Evaluation, *, seed: int, method: str) -> CellResult:
    train = split.interactions("train")
    valid = split.interactions("valid")
    truth = split.interactions("test").matrix
    exclude = (train.matrix + valid.matrix).tocsr()
    exclude.data[:] = 1.0
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    popularity = np.asarray(train.matrix.sum(axis=0)).ravel() / max(split.n_users, 1)

    t0 = time.perf_counter()
    fitted = model.fit(train, rng=np.random.default_rng(seed), valid=valid)
    fit_seconds = time.perf_counter() - t0
    if fitted is not model:
        raise MethodError(f"{method}: fit() must return self (it returned {type(fitted).__name__})")
    t0 = time.perf_counter()
    result = evaluate_topn(
        model,
        users=users,
        exclude=exclude,
        truth=truth,
        ks=evaluation.ks,
        metrics=evaluation.metrics,
        batch_size=evaluation.batch_size,
        method_name=method,
        item_popularity=popularity,
        topk_saved=evaluation.topk_saved,
    )
    predict_seconds = time.perf_counter() - t0
    return CellResult(
        per_user=result.per_user,
        metrics=result.summary(),
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        topk=result.topk,
        users=result.users,
        extra={"n_evaluated_users": int(len(result.users)), "protocol": PROTOCOL},
    )
