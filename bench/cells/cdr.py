"""Cross-domain cells (``cdr_warm``, ``cdr_cold``): fit on both domains' training data, evaluate on
the target domain three ways.

* **Full ranking** (primary): every test user ranks ALL target catalogue items, the user's target
  train and valid items excluded (:func:`bench.evaluate.evaluate_topn`); columns ``<metric>@<k>``.
* **Sampled** (the releases' protocol, for comparison with papers): each test pair's positive ranked
  against the split's saved negatives (:func:`bench.evaluate.evaluate_sampled`, pessimistic ties);
  columns ``sampled_hr@k``, ``sampled_ndcg@k``, ``sampled_mrr@k``. The summary is the mean over test
  PAIRS (as the papers average); the per-user table holds each user's mean over their pairs.
* **Rating error** (only when the target test rows carry ratings, e.g. MovieLens genre pairs):
  ``mae`` and ``rmse`` of an affine read-out ``r = a + b * score`` whose two coefficients are fitted by
  least squares on the VALIDATION pairs. CDR methods here learn from implicit feedback, so this
  measures how well each method's scores track ratings after one shared calibration; it is not the
  explicit-rating regression of the EMCDR/PTUPCDR papers (the record says ``rating_readout``).

The method is fitted with ``fit(CDRData, rng=..., valid=<target valid>)`` (valid for early stopping
only) and must return ``(len(users), n_target_items)`` finite scores from ``score(users)``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from bench.cdr import CDRData, target_part, to_local
from bench.cells import CellResult
from bench.config import Evaluation
from bench.evaluate.ranking import evaluate_holdout
from bench.evaluate.regression import RATING_READOUT, has_ratings, rating_readout
from bench.evaluate.sampled import evaluate_sampled
from bench.fitting import fit_method

__all__ = ["PROTOCOL", "SAMPLED_METRICS", "run_cdr"]

PROTOCOL = (
    "target domain: full ranking over all target catalogue items (each user's target train and valid "
    "items excluded); sampled: positive vs the split's saved negatives, pessimistic ties, mean over "
    "test pairs"
)
SAMPLED_METRICS = ("hr", "ndcg", "mrr")


def run_cdr(model, split, evaluation: Evaluation, *, seed: int, method: str) -> CellResult:
    """Fit ``model`` on ``split`` (a ``cdr_warm`` or ``cdr_cold`` split) and evaluate it."""
    data = CDRData.from_split(split)
    valid, valid_frame = target_part(split, "valid")
    test, test_frame = target_part(split, "test")
    fitted = fit_method(model, data, seed=seed, valid=valid, method=method)
    t0 = time.perf_counter()
    full = evaluate_holdout(
        model, data.target.matrix, valid.matrix, test.matrix, evaluation, n_users=split.n_users,
        method_name=method,
    )
    per_user = full.per_user
    metrics = full.summary()
    extra: dict = {
        "protocol": PROTOCOL,
        "n_evaluated_users": int(len(full.users)),
        "cdr": {
            "source": data.source_name,
            "target": data.target_name,
            "n_source_items": data.n_source_items,
            "n_target_items": data.n_target_items,
            "n_overlap_users": int(data.overlap_users.size),
            "n_cold_users": int(data.cold_users.size),
        },
    }

    candidates = split.side.get("candidates")
    if candidates is not None and len(candidates):
        sampled_user, sampled_summary, n_neg = _sampled(model, split, candidates, evaluation, method)
        per_user = per_user.merge(sampled_user, on="user", how="left")
        metrics.update(sampled_summary)
        extra["sampled"] = {"n_pairs": int(len(test_frame)), "n_negatives": n_neg, "ties": "pessimistic"}

    if has_ratings(test_frame) and has_ratings(valid_frame):
        rating_user, rating_summary, coef = rating_readout(model, valid_frame, test_frame, evaluation)
        per_user = per_user.merge(rating_user, on="user", how="left")
        metrics.update(rating_summary)
        extra["rating_readout"] = {"method": RATING_READOUT, "intercept": coef[0], "slope": coef[1]}
    predict_seconds = time.perf_counter() - t0

    topk = full.topk
    topk_global = np.where(topk >= 0, data.target_items[np.clip(topk, 0, None)], -1)
    return CellResult(
        per_user=per_user,
        metrics=metrics,
        fit_seconds=fitted.seconds,
        predict_seconds=predict_seconds,
        peak_rss_mb=fitted.peak_rss_mb,
        topk=topk_global,
        users=full.users,
        extra=extra,
    )


def _sampled(model, split, candidates: pd.DataFrame, evaluation: Evaluation, method: str):
    n = int(candidates["slot"].max()) + 1
    ordered = candidates.sort_values(["row", "slot"], kind="stable")
    grid = to_local(split, ordered["item"].to_numpy()).reshape(-1, n)
    row_users = ordered.loc[ordered["slot"] == 0, "user"].to_numpy(np.int64)
    ks = tuple(k for k in evaluation.ks if k < n) or (min(10, n - 1) or 1,)
    result = evaluate_sampled(
        model, grid, row_users, ks, SAMPLED_METRICS, batch_size=evaluation.batch_size,
        method_name=method,
    )
    pairs = result.per_user.rename(columns={c: f"sampled_{c}" for c in result.per_user.columns if c != "user"})
    summary = {c: float(pairs[c].mean()) for c in pairs.columns if c != "user"}
    by_user = pairs.groupby("user", sort=True).mean().reset_index()
    return by_user, summary, n - 1
