"""AUC pseudo-values (bench/metrics/delong.py) against DeLong's variance computed independently
from the pairwise kernel (every positive-negative pair compared, no placement code reused)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.metrics.classification import auc, auc_placements
from bench.metrics.delong import auc_pseudo_values


def _delong_components(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """V10 per positive and V01 per negative from the pairwise kernel psi(x, z) = [x > z] + [x = z] / 2."""
    pos, neg = s[y], s[~y]
    kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return kernel.mean(axis=1), kernel.mean(axis=0)


def _data(seed: int, n: int = 700, rate: float = 0.06):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < rate
    s = np.round(rng.normal(size=n) + 1.3 * y, 1)  # rounded: ties across classes
    return y, s


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_mean_is_the_auc_and_the_variance_is_delongs(seed):
    y, s = _data(seed)
    values = auc_pseudo_values(y, auc_placements(y, s))
    v10, v01 = _delong_components(y, s)
    assert values.mean() == pytest.approx(auc(y, s), abs=1e-12)
    delong = v10.var() / y.sum() + v01.var() / (~y).sum()  # ddof 0 on both sides: an identity
    assert values.var() / y.size == pytest.approx(delong, rel=1e-10)
    # the raw placements, averaged as independent rows, understate it several times on a rare class
    assert auc_placements(y, s).var() / y.size < delong / 3


def test_paired_differences_give_delongs_paired_variance():
    y, a = _data(3)
    b = np.round(a + np.random.default_rng(4).normal(scale=0.8, size=a.size), 1)
    diff = auc_pseudo_values(y, auc_placements(y, a)) - auc_pseudo_values(y, auc_placements(y, b))
    a10, a01 = _delong_components(y, a)
    b10, b01 = _delong_components(y, b)
    delong = (a10 - b10).var() / y.sum() + (a01 - b01).var() / (~y).sum()
    assert diff.mean() == pytest.approx(auc(y, a) - auc(y, b), abs=1e-12)
    assert diff.var() / y.size == pytest.approx(delong, rel=1e-10)


def test_one_class_gives_nan_and_lengths_must_match():
    assert np.isnan(auc_pseudo_values([1, 1, 1], [0.5, 0.5, 0.5])).all()
    with pytest.raises(ValueError, match="same length"):
        auc_pseudo_values([1, 0], [0.5])
