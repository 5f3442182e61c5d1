"""Pointwise metrics against scikit-learn (an independent implementation) and hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_absolute_error, mean_squared_error, roc_auc_score

from bench.metrics import auc, gauc, logloss, mae, rmse


def test_auc_known_answer_with_tie():
    """labels [1, 0, 1, 0], scores [0.9, 0.9, 0.5, 0.1]: pairs (pos, neg) = (0.9, 0.9) tie -> 1/2,
    (0.9, 0.1) -> 1, (0.5, 0.9) -> 0, (0.5, 0.1) -> 1; AUC = 2.5 / 4 = 0.625."""
    assert auc([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1]) == pytest.approx(0.625)


def test_auc_single_class_is_nan():
    assert np.isnan(auc([1, 1], [0.2, 0.3]))


@pytest.mark.parametrize("seed", range(3))
def test_auc_logloss_errors_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500), 2)  # many ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    p = np.clip(s, 1e-3, 1 - 1e-3)
    assert logloss(y, p) == pytest.approx(log_loss(y, p), abs=1e-12)
    t = rng.normal(size=500)
    assert rmse(t, s) == pytest.approx(np.sqrt(mean_squared_error(t, s)), abs=1e-12)
    assert mae(t, s) == pytest.approx(mean_absolute_error(t, s), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_gauc_matches_weighted_per_group_sklearn(seed):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 30, 800) * 7 - 50  # arbitrary (negative, sparse) group ids
    y = rng.integers(0, 2, 800)
    s = np.round(rng.random(800), 1)
    num = den = 0.0
    for grp in np.unique(g):
        m = g == grp
        if 0 < y[m].sum() < m.sum():
            num += m.sum() * roc_auc_score(y[m], s[m])
            den += m.sum()
    assert gauc(g, y, s) == pytest.approx(num / den, abs=1e-12)


def test_gauc_known_answer_skips_single_class_groups():
    """Group a: labels [1, 0], scores [0.8, 0.2] -> AUC 1 (weight 2); group b: [0, 1, 0] with
    scores [0.5, 0.4, 0.3] -> AUC 1/2 (weight 3); group c: only positives -> skipped.
    GAUC = (2 * 1 + 3 * 0.5) / 5 = 0.7."""
    g = ["a", "a", "b", "b", "b", "c"]
    y = [1, 0, 0, 1, 0, 1]
    s = [0.8, 0.2, 0.5, 0.4, 0.3, 0.9]
    assert gauc(g, y, s) == pytest.approx(0.7)
