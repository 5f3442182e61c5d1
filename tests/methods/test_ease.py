"""``ease``: closed form against a direct numpy formula and the optimality conditions."""

from __future__ import annotations

import numpy as np
import pytest

from bench import methods
from bench.evaluate import topk
from tests.methods import checkerboard, from_dense

DENSE = (np.random.default_rng(11).random((40, 25)) < 0.2).astype(float)


def _fit(reg, data):
    return methods.build("ease", {"reg": reg}).fit(data, rng=np.random.default_rng(0))


@pytest.mark.parametrize("reg", [0.5, 10.0, 500.0])
def test_matches_numpy_closed_form(reg):
    p = np.linalg.inv(DENSE.T @ DENSE + reg * np.eye(25))
    b = np.eye(25) - p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    m = _fit(reg, from_dense(DENSE))
    np.testing.assert_allclose(m.item_weights_, b, atol=1e-6)
    np.testing.assert_allclose(m.score(np.arange(40)), DENSE @ b, atol=1e-5)


def test_weights_satisfy_the_constrained_least_squares_conditions():
    """B minimises |X - XB|^2 + reg |B|^2 subject to diag(B) = 0 iff diag(B) = 0 and the gradient
    (G + reg I) B - G (G = X^T X) vanishes off the diagonal (where no multiplier acts)."""
    reg = 3.0
    b = _fit(reg, from_dense(DENSE)).item_weights_.astype(np.float64)
    g = DENSE.T @ DENSE
    grad = (g + reg * np.eye(25)) @ b - g
    np.testing.assert_array_equal(np.diag(b), 0.0)
    np.fill_diagonal(grad, 0.0)
    assert np.abs(grad).max() < 1e-4 * np.abs(g).max()


def test_items_without_interactions_and_cold_users_score_zero():
    """3 items, item 2 never seen; user 2 has no interactions. Items 0 and 1 always co-occur, so
    each predicts the other: with n = 2 co-occurrences, P = (n 11^T + reg I)^-1 gives
    B[0, 1] = B[1, 0] = n / (n + reg) = 2/3 for reg = 1."""
    m = _fit(1.0, from_dense([[1, 1, 0], [1, 1, 0]], n_users=3))
    t = 2 / 3
    np.testing.assert_allclose(m.item_weights_, [[0, t, 0], [t, 0, 0], [0, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(m.score(np.array([0, 2])), [[t, t, 0], [0, 0, 0]], atol=1e-6)


def test_checkerboard_top1_is_the_held_out_item():
    data, held = checkerboard(20)
    m = _fit(10.0, data)
    users = np.arange(20)
    np.testing.assert_array_equal(topk(m.score(users), 1, data.matrix[users])[:, 0], held)
