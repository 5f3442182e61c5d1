"""Per-row values of a pooled AUC for confidence intervals and paired tests (DeLong, DeLong &
Clarke-Pearson, Biometrics 1988).

The placement values of :func:`bench.metrics.classification.auc_placements` have the pooled AUC as
their mean, but not its variance: averaged as N independent rows they give a variance of about
``(m S10 + n S01) / N**2`` where DeLong's is ``S10 / m + S01 / n`` (m positives, n negatives, S10 /
S01 the variances of the positives' / negatives' placements), far too small when one class is rare
(6 % positives: a standard error about 4x too small). The jackknife-style pseudo-values below keep
the mean and scale each class's deviations by ``N / m`` or ``N / n``, so that the variance of the N
values (ddof 0) over N is exactly DeLong's variance with ddof-0 component variances (with ddof 1
on both sides it holds up to factors m/(m-1) and N/(N-1)), and a paired t-test on the per-row differences of two
models is DeLong's paired test (covariances included). A bootstrap over rows of their mean likewise
gives a CI of DeLong's width.
"""

from __future__ import annotations

import numpy as np

__all__ = ["auc_pseudo_values"]


def auc_pseudo_values(labels: np.ndarray, placements: np.ndarray) -> np.ndarray:
    """``placements`` (one per row, from ``auc_placements``) turned into values whose mean is the
    same AUC and whose ``var() / N`` (ddof 0) is DeLong's variance of it; all NaN when only one class
    is present (as the placements are)."""
    y = np.asarray(labels).ravel().astype(bool)
    v = np.asarray(placements, dtype=np.float64).ravel()
    if y.shape != v.shape:
        raise ValueError(f"labels and placements must have the same length, got {y.size} and {v.size}")
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        return np.full(v.size, np.nan)
    auc = float(v[y].mean())
    scale = np.where(y, v.size / m, v.size / n)
    return auc + scale * (v - auc)
