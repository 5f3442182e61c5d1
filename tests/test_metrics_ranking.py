"""Ranking metrics: known answers, hypothesis properties, and a cross-check against ranx."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench.errors import ConfigError
from bench.metrics import (
    METRICS,
    average_precision,
    get_metric,
    hit_rate,
    hits_matrix,
    mrr,
    ndcg,
    precision,
    recall,
)

ALL = ("recall", "precision", "hr", "ndcg", "mrr", "map")
L3 = math.log2(3)


def _rel(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), n_items))


def _metrics(topk, rel, k):
    hits = hits_matrix(np.asarray(topk), rel)
    n_rel = np.diff(rel.indptr)
    return {name: METRICS[name](hits, n_rel, k) for name in ALL}


# ----------------------------------------------------------------------------- known answers
def test_known_answer_one_hit_at_rank_two():
    """Items a, b, c, d = 0, 1, 2, 3. Ranked [a, b, c], relevant {b, d}:

    @1: every metric is 0 (a is not relevant).
    @2: recall = 1/2, precision = 1/2, hr = 1, mrr = 1/2,
        ndcg = (1/log2 3) / (1 + 1/log2 3) ~= 0.38685 (IDCG over min(2, 2) = 2 hits),
        map = (precision@2 = 1/2) / min(2, 2) = 1/4.
    @3: recall = 1/2, precision = 1/3, hr = 1, mrr = 1/2, ndcg as @2 (IDCG still 2 hits), map = 1/4.
    """
    rel = _rel([[1, 3]], 4)
    at1 = _metrics([[0, 1, 2]], rel, 1)
    assert all(v[0] == 0.0 for v in at1.values())
    at2 = _metrics([[0, 1, 2]], rel, 2)
    assert at2["recall"][0] == pytest.approx(1 / 2, abs=1e-15)
    assert at2["precision"][0] == pytest.approx(1 / 2, abs=1e-15)
    assert at2["hr"][0] == 1.0
    assert at2["mrr"][0] == pytest.approx(1 / 2, abs=1e-15)
    assert at2["ndcg"][0] == pytest.approx((1 / L3) / (1 + 1 / L3), abs=1e-15)
    assert at2["ndcg"][0] == pytest.approx(0.38685280723454163, abs=1e-12)
    assert at2["map"][0] == pytest.approx(1 / 4, abs=1e-15)
    at3 = _metrics([[0, 1, 2]], rel, 3)
    assert at3["precision"][0] == pytest.approx(1 / 3, abs=1e-15)
    assert at3["ndcg"][0] == pytest.approx((1 / L3) / (1 + 1 / L3), abs=1e-15)
    assert at3["map"][0] == pytest.approx(1 / 4, abs=1e-15)


def test_known_answer_two_hits():
    """Ranked [b, a, d], relevant {b, d}: hits at ranks 1 and 3.

    @3: recall = 1, precision = 2/3, hr = 1, mrr = 1,
        ndcg = (1 + 1/2) / (1 + 1/log2 3) (log2(3 + 1) = 2),
        map = (1/1 + 2/3) / 2 = 5/6.
    """
    m = _metrics([[1, 0, 3]], _rel([[1, 3]], 4), 3)
    assert m["recall"][0] == 1.0
    assert m["precision"][0] == pytest.approx(2 / 3, abs=1e-15)
    assert m["mrr"][0] == 1.0
    assert m["ndcg"][0] == pytest.approx(1.5 / (1 + 1 / L3), abs=1e-15)
    assert m["map"][0] == pytest.approx(5 / 6, abs=1e-15)


def test_more_relevant_than_k_uses_truncated_ideal():
    """Ranked [b, d], relevant {b, d, e}, k = 2: a perfect top-2.

    recall = 2/3 (denominator n_relevant), ndcg = 1 and map = 1 (IDCG and AP denominator over
    min(3, 2) = 2), precision = 1, mrr = 1.
    """
    m = _metrics([[1, 3]], _rel([[1, 3, 4]], 5), 2)
    assert m["recall"][0] == pytest.approx(2 / 3, abs=1e-15)
    assert m["ndcg"][0] == 1.0
    assert m["map"][0] == 1.0
    assert m["precision"][0] == 1.0


def test_padding_is_a_miss_and_precision_divides_by_k():
    """Ranked [b, -1, -1] (only one rankable item), relevant {b}: precision@3 = 1/3, recall = 1."""
    m = _metrics([[1, -1, -1]], _rel([[1]], 3), 3)
    assert m["precision"][0] == pytest.approx(1 / 3, abs=1e-15)
    assert m["recall"][0] == 1.0
    assert m["ndcg"][0] == 1.0


def test_users_without_relevant_items_score_zero():
    hits = np.zeros((2, 3), dtype=bool)
    for fn in METRICS.values():
        np.testing.assert_array_equal(fn(hits, np.array([0, 0]), 3), [0.0, 0.0])


def test_hits_matrix_handles_padding_unsorted_and_row_boundaries():
    # row 1 has item 2 (the last item); row 2's padding -1 must not match row 1's last item.
    rel = sp.csr_matrix(
        (np.ones(4), np.array([1, 0, 2, 0]), np.array([0, 2, 3, 4])), shape=(3, 3)
    )  # row 0 indices unsorted: [1, 0]
    topk = np.array([[0, 2, 1], [2, -1, -1], [-1, 1, 0]])
    expected = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=bool)
    np.testing.assert_array_equal(hits_matrix(topk, rel), expected)


def test_hits_matrix_ignores_explicit_zeros_and_duplicates():
    rel = sp.csr_matrix((np.array([1.0, 0.0, 1.0]), np.array([0, 1, 0]), np.array([0, 3])), (1, 3))
    np.testing.assert_array_equal(hits_matrix(np.array([[0, 1, 2]]), rel), [[True, False, False]])


def test_hits_matrix_rejects_misaligned_rows():
    with pytest.raises(ValueError, match="aligned"):
        hits_matrix(np.zeros((2, 3), dtype=int), _rel([[1]], 3))


def test_registry_names_and_unknown_metric():
    assert set(METRICS) == set(ALL)
    assert METRICS["hr"] is hit_rate and METRICS["map"] is average_precision
    with pytest.raises(ConfigError, match=r"unknown ranking metric 'auc'.*valid metrics are \["):
        get_metric("auc")


def test_k_beyond_list_length_is_an_error():
    with pytest.raises(ValueError, match="exceeds"):
        ndcg(np.zeros((1, 3), dtype=bool), np.ones(1), 5)


# ----------------------------------------------------------------------------- properties
@st.composite
def hits_and_nrel(draw):
    n = draw(st.integers(1, 8))
    K = draw(st.integers(1, 12))
    hits = draw(arrays(bool, (n, K)))
    extra = draw(arrays(np.int64, n, elements=st.integers(0, 6)))
    return hits, hits.sum(axis=1) + extra


@given(hits_and_nrel(), st.data())
def test_every_metric_is_in_unit_interval(hn, data):
    hits, n_rel = hn
    k = data.draw(st.integers(1, hits.shape[1]))
    for name, fn in METRICS.items():
        v = fn(hits, n_rel, k)
        assert v.dtype == np.float64 and v.shape == (hits.shape[0],)
        assert np.all((v >= 0.0) & (v <= 1.0 + 1e-12)), name


@given(n_rel=arrays(np.int64, st.integers(1, 8), elements=st.integers(1, 15)), K=st.integers(1, 12))
def test_perfect_ranking_scores_one(n_rel, K):
    hits = np.arange(K)[None, :] < n_rel[:, None]  # all relevant items first
    for k in range(1, K + 1):
        np.testing.assert_array_equal(ndcg(hits, n_rel, k), 1.0)
        np.testing.assert_allclose(average_precision(hits, n_rel, k), 1.0, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(mrr(hits, n_rel, k), 1.0)
        np.testing.assert_array_equal(hit_rate(hits, n_rel, k), 1.0)
        ok = n_rel <= k
        np.testing.assert_allclose(recall(hits, n_rel, k)[ok], 1.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(precision(hits, n_rel, k), np.minimum(n_rel, k) / k, atol=1e-12)


@given(hits_and_nrel(), st.data())
def test_moving_a_hit_up_never_hurts(hn, data):
    """Swapping a hit at position j with a miss at i < j: ndcg and map strictly increase (within k),
    mrr, recall, precision and hr do not decrease."""
    hits, n_rel = hn
    row = data.draw(st.integers(0, hits.shape[0] - 1))
    h = hits[row]
    pairs = [(i, j) for j in np.flatnonzero(h) for i in np.flatnonzero(~h) if i < j]
    if not pairs:
        return
    i, j = data.draw(st.sampled_from(pairs))
    better = hits.copy()
    better[row, i], better[row, j] = True, False
    k = data.draw(st.integers(j + 1, hits.shape[1]))
    for name, fn in METRICS.items():
        before, after = fn(hits, n_rel, k)[row], fn(better, n_rel, k)[row]
        if name in ("ndcg", "map"):
            assert after > before, name
        else:
            assert after >= before, name


@given(hits_and_nrel())
def test_metrics_are_per_user(hn):
    """Each user's value depends only on that user's row (no cross-user leakage)."""
    hits, n_rel = hn
    for fn in METRICS.values():
        full = fn(hits, n_rel, hits.shape[1])
        K = hits.shape[1]
        single = [fn(hits[u : u + 1], n_rel[u : u + 1], K)[0] for u in range(len(n_rel))]
        np.testing.assert_array_equal(full, single)


# ------------------------------------------------------------------------- cross-check with ranx
@pytest.fixture(scope="module")
def ranx_evaluate():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranx = pytest.importorskip("ranx")
    return ranx


def _random_problem(seed: int, n_users=60, n_items=40, K=25):
    rng = np.random.default_rng(seed)
    topk = np.stack([rng.permutation(n_items)[:K] for _ in range(n_users)])
    rows = [sorted(rng.choice(n_items, size=rng.integers(1, 15), replace=False).tolist())
            for _ in range(n_users)]
    # a few users with one relevant item in first position, and ones with no hit at all
    rows[0] = [int(topk[0, 0])]
    rows[1] = sorted(set(range(n_items)) - set(topk[1].tolist()))[:3]
    return topk, _rel(rows, n_items), rows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_ranx(ranx_evaluate, seed):
    """recall, precision, hit_rate, ndcg (Järvelin; binary gains so Burges' variant is identical),
    mrr match ranx to 1e-9 at several k. ranx's map@k divides by n_relevant; ours by
    min(n_relevant, k): ours * min(n_rel, k) / n_rel must equal ranx exactly."""
    topk, rel, rows = _random_problem(seed)
    K = topk.shape[1]
    qrels = {f"u{u}": {f"d{i}": 1 for i in r} for u, r in enumerate(rows)}
    run = {f"u{u}": {f"d{int(i)}": float(K - j) for j, i in enumerate(topk[u])}
           for u in range(len(rows))}
    ks = (1, 3, 5, 10, 25)
    names = {"recall": "recall", "precision": "precision", "hr": "hit_rate", "ndcg": "ndcg",
             "mrr": "mrr", "map": "map"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = ranx_evaluate.Run(run)
        ranx_evaluate.evaluate(ranx_evaluate.Qrels(qrels), r,
                               [f"{v}@{k}" for v in names.values() for k in ks])
    hits = hits_matrix(topk, rel)
    n_rel = np.diff(rel.indptr)
    for ours, theirs in names.items():
        for k in ks:
            expected = np.array([r.scores[f"{theirs}@{k}"][f"u{u}"] for u in range(len(rows))])
            got = METRICS[ours](hits, n_rel, k)
            if ours == "map":
                got = got * np.minimum(n_rel, k) / n_rel
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, err_msg=f"{ours}@{k}")
