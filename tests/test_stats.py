"""bench.stats against scipy and statsmodels (independent implementations) and known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from bench.stats import bootstrap_ci, holm, paired_test, seed_mean_std


def test_seed_mean_std_known_answer():
    assert seed_mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert seed_mean_std([0.5]) == (0.5, 0.0)


def test_holm_known_answer():
    """p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06,
    0.04*1=0.04 -> monotone 0.02, 0.03, 0.06, 0.06."""
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_matches_statsmodels(pvalues):
    expected = multipletests(pvalues, method="holm")[1]
    np.testing.assert_allclose(holm(pvalues), expected, atol=1e-12)


def test_paired_test_matches_scipy():
    rng = np.random.default_rng(1)
    b = rng.random(300)
    a = b + rng.normal(0.02, 0.1, 300)
    res = paired_test(a, b)
    assert res.t_pvalue == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert res.wilcoxon_pvalue == pytest.approx(sps.wilcoxon(a, b).pvalue)
    diff = a - b
    assert res.effect_size == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert res.n == 300 and res.mean_diff == pytest.approx(diff.mean())


def test_paired_test_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(2)
    b = rng.random(500)
    assert paired_test(b + 0.05, b + rng.normal(0, 0.01, 500)).t_pvalue < 1e-6
    assert paired_test(b, b).t_pvalue == 1.0


def test_bootstrap_ci_is_seeded_and_covers_the_mean():
    rng = np.random.default_rng(3)
    x = rng.random(1000)
    lo, hi = bootstrap_ci(x, seed=7)
    assert (lo, hi) == bootstrap_ci(x, seed=7)
    assert lo < x.mean() < hi
    # width close to the normal approximation 2 * 1.96 * sd / sqrt(n)
    assert hi - lo == pytest.approx(2 * 1.96 * x.std(ddof=1) / np.sqrt(x.size), rel=0.15)


@pytest.mark.parametrize("n, seed", [(2, 0), (17, 0), (943, 0), (500, 3)])
def test_bootstrap_ci_equals_scipy_bootstrap_exactly(n, seed):
    """The cached-index CI is scipy's percentile bootstrap, bit for bit (also on a second call,
    which reuses the indices)."""
    from scipy import stats as sps

    x = np.random.default_rng(n).exponential(size=n)
    ref = sps.bootstrap((x,), np.mean, n_resamples=2000, confidence_level=0.95, method="percentile",
                        vectorized=True, rng=np.random.default_rng(seed)).confidence_interval
    for _ in range(2):
        assert bootstrap_ci(x, seed=seed) == (float(ref.low), float(ref.high))
