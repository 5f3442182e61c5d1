"""``itemknn``: hand-computed cosines, neighbour pruning per target item, blocked computation."""

from __future__ import annotations

import numpy as np
import pytest

import methods.itemknn as itemknn_module
from bench import methods
from bench.evaluate import topk
from methods.itemknn import topk_per_column
from tests.methods import checkerboard, from_dense

# Items: i0 = users {0,1,2}, i1 = users {0,2}, i2 = user {1}; user 3 has no interactions.
# cos(i0,i1) = 2/sqrt(6) = 0.8165, cos(i0,i2) = 1/sqrt(3) = 0.5774, cos(i1,i2) = 0.
X = [[1, 1, 0], [1, 0, 1], [1, 1, 0], [0, 0, 0]]
S01, S02 = 2 / np.sqrt(6), 1 / np.sqrt(3)


def _fit(params, data=None):
    data = data if data is not None else from_dense(X)
    return methods.build("itemknn", params).fit(data, rng=np.random.default_rng(0))


def test_cosine_similarity_by_hand():
    """k = 2 keeps every neighbour: user 1 (items 0 and 2) scores S[0] + S[2]."""
    m = _fit({"k": 2, "shrink": 0.0})
    expected = np.array([[0, S01, S02], [S01, 0, 0], [S02, 0, 0]])
    np.testing.assert_allclose(m.similarity_.toarray(), expected, rtol=1e-6)
    s = m.score(np.array([1, 3]))
    np.testing.assert_allclose(s, [[S02, S01, S02], [0, 0, 0]], rtol=1e-6)
    assert s.dtype == np.float32


def test_k_prunes_the_neighbours_of_each_target_item():
    """k = 1: item 0's only neighbour is item 1 (0.82 > 0.58), so S[2, 0] is dropped and a user
    who saw only item 2 no longer gets item 0 recommended."""
    m = _fit({"k": 1, "shrink": 0.0})
    np.testing.assert_allclose(
        m.similarity_.toarray(), [[0, S01, S02], [S01, 0, 0], [0, 0, 0]], rtol=1e-6
    )
    only_item2 = from_dense([[0, 0, 1]] + X[:3])
    m = _fit({"k": 1, "shrink": 0.0}, only_item2)
    assert m.similarity_.nnz <= 3
    np.testing.assert_array_equal(m.score(np.array([0])), [[0, 0, 0]])


def test_shrink_damps_the_cosine():
    m = _fit({"k": 2, "shrink": 1.0})
    assert m.similarity_[0, 1] == pytest.approx(2 / (np.sqrt(6) + 1), rel=1e-6)
    assert m.similarity_[0, 2] == pytest.approx(1 / (np.sqrt(3) + 1), rel=1e-6)


def test_topk_per_column_breaks_ties_by_lower_row():
    block = np.array([[1.0, 0.0], [2.0, 5.0], [2.0, 5.0], [2.0, 5.0]])
    np.testing.assert_array_equal(
        topk_per_column(block, 2), [[False, False], [True, True], [True, True], [False, False]]
    )
    assert topk_per_column(block, 9).all()


def _reference(dense: np.ndarray, k: int, shrink: float) -> np.ndarray:
    """Straightforward per-column implementation of the same definition."""
    x = dense.astype(np.float64)
    norms = np.sqrt((x * x).sum(axis=0))
    denom = np.outer(norms, norms) + shrink
    sim = np.divide(x.T @ x, denom, out=np.zeros_like(denom), where=denom > 0)
    np.fill_diagonal(sim, 0.0)
    out = np.zeros_like(sim)
    rows = np.arange(sim.shape[0])
    for j in range(sim.shape[1]):
        best = np.lexsort((rows, -sim[:, j]))[:k]
        best = best[sim[best, j] > 0]
        out[best, j] = sim[best, j]
    return out


@pytest.mark.parametrize(("k", "shrink"), [(3, 0.0), (7, 2.5), (100, 0.0)])
def test_matches_reference_and_does_not_depend_on_block_size(monkeypatch, k, shrink):
    dense = (np.random.default_rng(7).random((50, 35)) < 0.15).astype(int)
    data = from_dense(dense)
    ref = _reference(dense, k, shrink)
    whole = _fit({"k": k, "shrink": shrink}, data)
    np.testing.assert_allclose(whole.similarity_.toarray(), ref, rtol=1e-6, atol=1e-7)
    monkeypatch.setattr(itemknn_module, "_BLOCK_FLOATS", 4 * 35)  # blocks of 4 columns
    blocked = _fit({"k": k, "shrink": shrink}, data)
    assert (blocked.similarity_ != whole.similarity_).nnz == 0
    assert np.diff(blocked.similarity_.tocsc().indptr).max() <= k
    np.testing.assert_allclose(
        whole.score(np.arange(50)), dense @ ref, rtol=1e-5, atol=1e-6
    )


def test_checkerboard_top1_is_the_held_out_item():
    data, held = checkerboard(20)
    m = _fit({"k": 10, "shrink": 0.0}, data)
    users = np.arange(20)
    top = topk(m.score(users), 1, data.matrix[users])[:, 0]
    np.testing.assert_array_equal(top, held)
    np.testing.assert_array_equal(m.score(np.array([20, 21])), 0.0)
