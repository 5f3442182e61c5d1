"""Pointwise metrics for binary tasks (AUC, GAUC, LogLoss) and rating regression (RMSE, MAE).

Pure functions of ``(labels, scores)`` used by the multi-task scenario. AUC is the Mann-Whitney
statistic with tied scores counted as 1/2 (mid-ranks), so it does not depend on input order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["auc", "auc_placements", "gauc", "logloss", "mae", "rmse"]


def _binary(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(bool, copy=False).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores must have the same length, got {y.size} and {s.size}")
    return y, s


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC = P(score of a random positive > score of a random negative), ties 1/2.

    Returns NaN when only one class is present.
    """
    y, s = _binary(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata  # here, not at module level: scipy.stats takes ~0.4 s to import

    ranks = rankdata(s)  # average ranks for ties
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_placements(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-sample AUC placement values (DeLong, DeLong & Clarke-Pearson, Biometrics 1988): for a
    positive, the share of negatives scored below it; for a negative, the share of positives scored
    above it (ties count 1/2). Their mean over the positives, over the negatives and over all
    samples each equals :func:`auc`, so they are the per-sample values of a pooled AUC (what a
    paired per-row test compares). All NaN when only one class is present.
    """
    y, s = _binary(labels, scores)
    pos, neg = s[y], s[~y]
    out = np.full(s.size, np.nan)
    if pos.size == 0 or neg.size == 0:
        return out
    neg_sorted, pos_sorted = np.sort(neg), np.sort(pos)
    lo, hi = np.searchsorted(neg_sorted, pos, "left"), np.searchsorted(neg_sorted, pos, "right")
    out[y] = (lo + 0.5 * (hi - lo)) / neg.size
    lo, hi = np.searchsorted(pos_sorted, neg, "left"), np.searchsorted(pos_sorted, neg, "right")
    out[~y] = (pos.size - hi + 0.5 * (hi - lo)) / pos.size
    return out


def gauc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """Group AUC (Zhou et al., 2018, DIN): per-group (usually per-user) AUC
    (:func:`bench.metrics.grouped.group_auc`) averaged with weights equal to the group's number of
    samples; groups with a single class are skipped. NaN if none is left."""
    from bench.metrics.grouped import group_auc

    y, s = _binary(labels, scores)
    g = np.asarray(groups).ravel()
    if g.shape != y.shape:
        raise ValueError(f"groups must have the same length as labels, got {g.size} and {y.size}")
    _, per_group = group_auc(g, y, s)
    size = np.unique(g, return_counts=True)[1].astype(np.float64)
    ok = np.isfinite(per_group)
    if not ok.any():
        return float("nan")
    return float(np.average(per_group[ok], weights=size[ok]))


def logloss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy; probabilities are clipped to ``[eps, 1 - eps]``."""
    y, p = _binary(labels, probs)
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def rmse(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Root mean squared error."""
    t = np.asarray(targets, dtype=np.float64).ravel()
    p = np.asarray(predictions, dtype=np.float64).ravel()
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Mean absolute error."""
    t = np.asarray(targets, dtype=np.float64).ravel()
    p = np.asarray(predictions, dtype=np.float64).ravel()
    return float(np.mean(np.abs(t - p)))
