"""Per-group (per-user) metrics of pointwise predictions, for the multi-task scenario.

Pure, vectorised functions of ``(groups, labels, scores)`` returning one value per distinct group, in
the order of ``np.unique(groups)``: the per-user columns of an MTL run. Their impression-weighted means
are the pooled metrics of :mod:`bench.metrics.classification` (``group_auc`` -> ``gauc``).
"""

from __future__ import annotations

import numpy as np

from bench.metrics.ranking import ndcg as _ndcg

__all__ = ["group_auc", "group_mean", "group_ndcg"]


def _inputs(groups, labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    g = np.asarray(groups).ravel()
    y = np.asarray(labels).ravel().astype(np.float64)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not g.shape == y.shape == s.shape:
        raise ValueError(f"groups, labels and scores must have equal lengths, got {g.size}, {y.size}, {s.size}")
    uniq, inv = np.unique(g, return_inverse=True)
    return uniq, inv, y, s


def group_mean(groups: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(unique groups, mean of values per group)``."""
    uniq, inv, v, _ = _inputs(groups, values, values)
    return uniq, np.bincount(inv, weights=v) / np.bincount(inv)


def group_auc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(unique groups, AUC per group)``: the Mann-Whitney statistic within each group, tied scores
    counting 1/2; NaN for a group with a single class. One sort by ``(group, score)``."""
    uniq, g, y, s = _inputs(groups, labels, scores)
    y = y > 0
    order = np.lexsort((s, g))
    gs, ss, ys = g[order], s[order], y[order]
    n = gs.size
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (gs[1:] != gs[:-1]) | (ss[1:] != ss[:-1])
    run_id = np.cumsum(new_run) - 1
    start = np.zeros(n, dtype=np.int64)
    firsts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    start[firsts] = firsts
    start = np.maximum.accumulate(start) if n else start
    pos = np.arange(n) - start + 1.0
    mid = (np.bincount(run_id, weights=pos) / np.bincount(run_id))[run_id] if n else pos
    m = uniq.size
    size = np.bincount(gs, minlength=m).astype(np.float64)
    n_pos = np.bincount(gs, weights=ys.astype(np.float64), minlength=m)
    n_neg = size - n_pos
    rank_sum = np.bincount(gs, weights=np.where(ys, mid, 0.0), minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    out[(n_pos == 0) | (n_neg == 0)] = np.nan
    return uniq, out


def group_ndcg(
    groups: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(unique groups, NDCG@k per group)``: each group's rows ranked by descending score (ties by
    row order), binary relevance ``labels > 0``, the :func:`bench.metrics.ranking.ndcg` convention;
    NaN for a group without a relevant row."""
    uniq, g, y, s = _inputs(groups, labels, scores)
    order = np.lexsort((np.arange(g.size), -s, g))
    gs, ys = g[order], y[order] > 0
    starts = np.searchsorted(gs, np.arange(uniq.size))
    rank = np.arange(gs.size) - starts[gs]
    top = rank < k
    hits = np.zeros((uniq.size, k), dtype=bool)
    hits[gs[top], rank[top]] = ys[top]
    n_rel = np.bincount(gs, weights=ys.astype(np.float64), minlength=uniq.size)
    out = _ndcg(hits, n_rel, k)
    return uniq, np.where(n_rel > 0, out, np.nan)
