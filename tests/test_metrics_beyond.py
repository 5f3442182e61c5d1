"""Beyond-accuracy metrics: catalogue coverage, item popularity and ARP on hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench.metrics import arp, catalogue_coverage, item_popularity


def test_coverage_known_answer():
    """Two users, 5 items, lists [0, 2] and [2, -1] (padding): items {0, 2} -> coverage 2/5."""
    assert catalogue_coverage(np.array([[0, 2], [2, -1]]), 5) == pytest.approx(2 / 5)


def test_popularity_and_arp_known_answer():
    """Training matrix (4 users x 3 items): item 0 seen by 4 users, item 1 by 2, item 2 by 0.
    popularity = [1, 1/2, 0]; lists [0, 1] -> ARP 3/4, [2, -1] -> 0, [1, 2] -> 1/4."""
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0]]))
    pop = item_popularity(train)
    np.testing.assert_allclose(pop, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(arp(np.array([[0, 1], [2, -1], [1, 2]]), pop), [0.75, 0.0, 0.25])


def test_arp_of_empty_list_is_zero():
    np.testing.assert_array_equal(arp(np.full((2, 3), -1), np.ones(4)), [0.0, 0.0])


@given(arrays(np.int64, st.tuples(st.integers(1, 6), st.integers(1, 6)),
              elements=st.integers(-1, 9)))
def test_coverage_and_arp_ranges(topk):
    assert 0.0 <= catalogue_coverage(topk, 10) <= 1.0
    pop = np.linspace(0, 1, 10)
    v = arp(topk, pop)
    assert v.shape == (topk.shape[0],) and np.all((v >= 0) & (v <= 1))
