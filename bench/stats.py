"""Statistics for result tables: seed aggregation, bootstrap confidence intervals over users, paired
significance tests against a reference method, Holm-Bonferroni correction, effect sizes.

Conventions (stated in every report caption):

* A cell's per-user value is the mean of that user's metric over the seeds (users are the unit of
  analysis; seeds are averaged first so that seed noise does not inflate n).
* 95 % CIs are percentile bootstrap intervals of the mean over users (those of
  :func:`scipy.stats.bootstrap`, with the resample indices reused across CIs) with a fixed seed, so
  the same inputs give the same interval.
* Paired two-sided tests on the users both methods evaluated: Student's paired t-test and the
  Wilcoxon signed-rank test (zero differences dropped, Wilcoxon 1945; all-zero differences -> p = 1).
* Holm (1979) step-down correction within one family = one (scenario, metric): every method compared
  with the same reference.
* Effect size: Cohen's d_z = mean(difference) / sd(difference) of the paired per-user differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps

__all__ = ["PairedTest", "bootstrap_ci", "holm", "paired_test", "seed_mean_std"]


def seed_mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single seed) over seeds."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def bootstrap_ci(
    values: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (one value per user).

    Exactly :func:`scipy.stats.bootstrap` with ``method="percentile"``, ``vectorized=True`` and
    ``rng=np.random.default_rng(seed)`` (same resamples, same statistic, same quantiles: the tests
    compare the two for equality), except that the resample indices for a given ``(n, n_resamples,
    seed)`` are drawn once per process: a report computes hundreds of CIs over the same users, and
    drawing 2,000 x n indices again for each was half of the report stage's statistics time."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    if values.size == 1 or np.all(values == values[0]):
        return float(values[0]), float(values[0])
    theta = np.mean(values[_resample_indices(values.size, n_resamples, seed)], axis=-1)
    alpha = np.asarray((1 - confidence) / 2, dtype=theta.dtype)
    low, high = sps.quantile(theta, np.stack((alpha, 1 - alpha), axis=-1), axis=-1)
    return float(low), float(high)


@lru_cache(maxsize=8)
def _resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """The ``(n_resamples, n)`` indices :func:`scipy.stats.bootstrap` draws first from
    ``default_rng(seed)`` (read-only: shared by every CI over ``n`` values)."""
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n), dtype="int64")
    idx.flags.writeable = False
    return idx


@dataclass(frozen=True)
class PairedTest:
    """Result of comparing method A with reference B on paired per-user values (A - B)."""

    n: int
    mean_diff: float
    t_statistic: float
    t_pvalue: float
    wilcoxon_statistic: float
    wilcoxon_pvalue: float
    effect_size: float


def paired_test(a: np.ndarray, b: np.ndarray) -> PairedTest:
    """Two-sided paired t-test and Wilcoxon signed-rank test of ``a`` against ``b``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values must have the same shape, got {a.shape} and {b.shape}")
    diff = a - b
    n = int(diff.size)
    if n < 2 or np.allclose(diff, 0.0):
        return PairedTest(n, float(diff.mean()) if n else 0.0, 0.0, 1.0, 0.0, 1.0, 0.0)
    sd = diff.std(ddof=1)
    t = sps.ttest_rel(a, b)
    w = sps.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    return PairedTest(
        n=n,
        mean_diff=float(diff.mean()),
        t_statistic=float(t.statistic),
        t_pvalue=float(t.pvalue),
        wilcoxon_statistic=float(w.statistic),
        wilcoxon_pvalue=float(w.pvalue),
        effect_size=float(diff.mean() / sd) if sd > 0 else float("inf") * np.sign(diff.mean()),
    )


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in input order."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out
