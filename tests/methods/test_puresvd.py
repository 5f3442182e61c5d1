"""``puresvd``: projection onto the top singular subspace, against numpy's dense SVD."""

from __future__ import annotations

import numpy as np
import pytest

from bench import methods
from bench.evaluate import topk
from tests.methods import checkerboard, from_dense

# Two disjoint blocks: users 0-2 x items 0-1 (singular value sqrt(6)) and users 3-4 x items 2-3
# (singular value 2); user 5 has no interactions.
BLOCKS = np.array(
    [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]]
)


def _fit(f, data, seed=0):
    m = methods.build("puresvd", {"embedding_size": f})
    return m.fit(data, rng=np.random.default_rng(seed))


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        # f = 1 keeps only the larger block: its users are reconstructed, the others get zeros.
        (1, BLOCKS * np.array([[1], [1], [1], [0], [0], [0]])),
        # f = 2 spans both blocks (exact rank): scores reproduce X. f = 3 takes the dense path.
        (2, BLOCKS),
        (3, BLOCKS),
    ],
)
def test_block_matrix_known_answer(f, expected):
    m = _fit(f, from_dense(BLOCKS))
    s = m.score(np.arange(6))
    assert s.shape == (6, 4) and s.dtype == np.float32
    np.testing.assert_allclose(s, expected, atol=1e-5)
    np.testing.assert_allclose(m.singular_values_[:2], [np.sqrt(6), 2][:f], rtol=1e-6)


def test_matches_dense_svd_projection():
    dense = (np.random.default_rng(3).random((40, 30)) < 0.2).astype(float)
    _, _, vt = np.linalg.svd(dense, full_matrices=False)
    q = vt[:5].T
    m = _fit(5, from_dense(dense))
    np.testing.assert_allclose(m.score(np.arange(40)), dense @ q @ q.T, atol=1e-5)
    # the start vector comes from rng, the result does not depend on it
    np.testing.assert_allclose(
        _fit(5, from_dense(dense), seed=9).score(np.arange(40)), m.score(np.arange(40)), atol=1e-5
    )


def test_embedding_size_is_capped_by_the_matrix_rank():
    m = _fit(500, from_dense(BLOCKS))
    assert m.item_factors_.shape == (4, 4)
    np.testing.assert_allclose(m.score(np.arange(6)), BLOCKS, atol=1e-5)


def test_checkerboard_top1_is_the_held_out_item():
    data, held = checkerboard(20)
    m = _fit(2, data)
    users = np.arange(20)
    np.testing.assert_array_equal(topk(m.score(users), 1, data.matrix[users])[:, 0], held)
    np.testing.assert_array_equal(m.score(np.array([20, 21])), 0.0)
