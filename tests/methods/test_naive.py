"""``random`` and ``pop`` on tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from bench import methods
from bench.errors import UnknownUserError
from methods.naive import splitmix64
from tests.methods import from_dense


def test_splitmix64_matches_the_reference_stream():
    # First outputs of SplittableRandom / splitmix64.c seeded with 0 and with 1234567.
    assert splitmix64(np.arange(3), 0).tolist() == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F
    ]
    assert int(splitmix64(np.zeros(1), 1234567)[0]) == 6457827717110365317


def test_random_is_deterministic_and_independent_of_batching():
    data = from_dense(np.eye(5, 7), n_users=9)
    a = methods.build("random").fit(data, rng=np.random.default_rng(3))
    b = methods.build("random").fit(data, rng=np.random.default_rng(3))
    c = methods.build("random").fit(data, rng=np.random.default_rng(4))
    full = a.score(np.arange(9))
    assert full.shape == (9, 7) and full.dtype == np.float32
    np.testing.assert_array_equal(a.score(np.array([8, 2, 2])), full[[8, 2, 2]])
    np.testing.assert_array_equal(b.score(np.arange(9)), full)
    assert not np.array_equal(c.score(np.arange(9)), full)
    assert ((full >= 0) & (full < 1)).all()


def test_random_scores_look_uniform():
    data = from_dense(np.zeros((200, 100)))
    s = methods.build("random").fit(data, rng=np.random.default_rng(0)).score(np.arange(200))
    counts = np.histogram(s, bins=10, range=(0, 1))[0]
    assert abs(s.mean() - 0.5) < 0.01
    assert counts.min() > 1800 and counts.max() < 2200  # 2000 expected per bin
    assert len(np.unique(s)) > 0.99 * s.size


def test_pop_ranks_by_number_of_training_users():
    """4 users x 3 items: item 1 has 3 users, item 0 one, item 2 none; a user with no
    interactions (row 3) gets the same scores as everyone."""
    data = from_dense([[1, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0]], n_users=5)
    m = methods.build("pop").fit(data, rng=np.random.default_rng(0))
    s = m.score(np.array([0, 4]))
    np.testing.assert_array_equal(s, [[2, 3, 0], [2, 3, 0]])
    assert s.dtype == np.float32
    with pytest.raises(UnknownUserError):
        m.score(np.array([5]))
