"""``als`` and ``bpr`` (through ``implicit``): checkerboard, Hu et al.'s confidences, cold users,
determinism."""

from __future__ import annotations

import numpy as np
import pytest

from bench import methods
from bench.evaluate import topk
from tests.methods import checkerboard, from_dense

SMALL = {
    "als": {"embedding_size": 8, "epochs": 10, "reg": 0.1, "alpha": 1.0},
    "bpr": {"embedding_size": 8, "epochs": 100},
}
DENSE = np.random.default_rng(1).random((40, 30)) < 0.2


def _fit(name, params, data, seed=0):
    return methods.build(name, params).fit(data, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_checkerboard_top1_is_the_held_out_item(name):
    data, held = checkerboard(30)
    m = _fit(name, SMALL[name], data)
    users = np.arange(30)
    s = m.score(users)
    assert s.shape == (30, 30) and s.dtype == np.float32
    np.testing.assert_array_equal(topk(s, 1, data.matrix[users])[:, 0], held)


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_only_numpy_factors_are_kept(name):
    m = _fit(name, SMALL[name], from_dense(DENSE))
    assert set(vars(m)) == {"config", "user_factors_", "item_factors_", "n_users_", "n_items_", "training_log_"}
    assert m.training_log_.to_record()["stop_reason"] == "no_validation"
    assert all(type(v) is np.ndarray for k, v in vars(m).items() if k.endswith("factors_"))


@pytest.mark.parametrize("alpha", [1.0, 5.0])
def test_als_item_factors_solve_hu_et_al_normal_equations(alpha):
    """After the last sweep each item factor solves (X^T C_i X + reg I) y_i = X^T C_i p_i with Hu et
    al.'s confidences c_ui = 1 + alpha r_ui (implicit's own convention, c_ui = alpha r_ui, misses
    by 5-36 % here)."""
    reg, f = 1.0, 4
    m = _fit("als", {"embedding_size": f, "epochs": 50, "reg": reg, "alpha": alpha},
             from_dense(DENSE))
    x, y = m.user_factors_.astype(np.float64), m.item_factors_.astype(np.float64)
    p = DENSE.astype(np.float64)
    c = 1.0 + alpha * p
    exact = np.stack([
        np.linalg.solve(x.T @ (c[:, i, None] * x) + reg * np.eye(f), x.T @ (c[:, i] * p[:, i]))
        for i in range(p.shape[1])
    ])
    assert np.abs(exact - y).max() < 1e-3 * np.abs(y).max()


def test_als_cold_users_and_items_get_zero_factors():
    dense = np.zeros((6, 5), dtype=int)
    dense[:4, :4] = np.eye(4, dtype=int) + np.roll(np.eye(4, dtype=int), 1, axis=1)
    m = _fit("als", SMALL["als"], from_dense(dense, n_users=8))
    np.testing.assert_array_equal(m.user_factors_[4:], 0.0)
    np.testing.assert_array_equal(m.item_factors_[4], 0.0)
    np.testing.assert_array_equal(m.score(np.array([6, 7])), 0.0)


def test_als_result_does_not_depend_on_num_threads():
    one = _fit("als", {**SMALL["als"], "num_threads": 1}, from_dense(DENSE))
    two = _fit("als", {**SMALL["als"], "num_threads": 2}, from_dense(DENSE))
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)


def test_bpr_cold_users_are_scored_by_item_bias():
    data = from_dense(DENSE, n_users=42)
    m = _fit("bpr", SMALL["bpr"], data)
    np.testing.assert_array_equal(m.user_factors_[40:, :-1], 0.0)
    np.testing.assert_array_equal(m.user_factors_[:, -1], 1.0)
    bias = m.item_factors_[:, -1]
    np.testing.assert_array_equal(m.score(np.array([40, 41])), np.tile(bias, (2, 1)))
    assert np.ptp(m.item_factors_[:, -1]) > 0  # biases were learned


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_same_seed_same_factors_with_default_threads(name):
    a = _fit(name, SMALL[name], from_dense(DENSE), seed=5)
    b = _fit(name, SMALL[name], from_dense(DENSE), seed=5)
    c = _fit(name, SMALL[name], from_dense(DENSE), seed=6)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    assert not np.array_equal(a.item_factors_, c.item_factors_)
