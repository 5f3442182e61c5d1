"""Full-ranking and sampled evaluation: exclusion, determinism, batching, errors, known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench.errors import ConfigError, DataError, MethodError
from bench.evaluate import (
    SampledEvaluation,
    TopNEvaluation,
    evaluate_sampled,
    evaluate_topn,
    rank_users,
    topk,
    validation_score,
)
from bench.metrics import get_metric, hits_matrix, ndcg

ALL = ("recall", "precision", "hr", "ndcg", "mrr", "map")


def _reference_topk(scores: np.ndarray, k: int, exclude: np.ndarray | None) -> np.ndarray:
    """Slow reference: per row, full sort by (-score, item) over the non-excluded items."""
    out = np.full((scores.shape[0], k), -1, dtype=np.int64)
    for u, row in enumerate(scores):
        items = np.arange(row.size)
        if exclude is not None:
            items = items[~exclude[u].astype(bool)]
        order = sorted(items.tolist(), key=lambda i: (-row[i], i))[:k]
        out[u, : len(order)] = order
    return out


def _random_problem(seed: int, n_users=50, n_items=30, density=0.2):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_users, n_items)).astype(np.float32)
    ex = sp.random(n_users, n_items, density=density, format="csr", random_state=seed)
    ex.data[:] = 1
    truth_dense = (rng.random((n_users, n_items)) < 0.15) & (ex.toarray() == 0)
    truth_dense[:3] = False  # users without test items
    return scores, ex, sp.csr_matrix(truth_dense.astype(np.float32))


class Scorer:
    """A minimal fitted 'method': fixed score matrix, counts its calls."""

    method_name = "fixed"

    def __init__(self, scores):
        self.scores = scores
        self.calls = []

    def score(self, users):
        self.calls.append(len(users))
        return self.scores[users]


# ----------------------------------------------------------------------------- topk
@settings(max_examples=200, deadline=None)
@given(
    scores=arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 12)),
                  elements=st.integers(-3, 3).map(float)),  # small ints: many ties
    k=st.integers(1, 15),
    data=st.data(),
)
def test_topk_matches_full_sort_reference(scores, k, data):
    excl = data.draw(arrays(bool, scores.shape))
    got = topk(scores, k, sp.csr_matrix(excl))
    np.testing.assert_array_equal(got, _reference_topk(scores, k, excl))
    np.testing.assert_array_equal(topk(scores, k), _reference_topk(scores, k, None))


@settings(max_examples=100, deadline=None)
@given(
    scores=arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 40)),
                  elements=st.integers(-50, 50).map(float)),
    k=st.integers(1, 45),
    log2_scale=st.integers(-4, 6),
    shift=st.integers(-1000, 1000),
)
def test_topk_invariant_to_positive_scaling_and_shifting(scores, k, log2_scale, shift):
    """Power-of-two scales and integer shifts of small integers are exact in float64, so the
    transformed scores have exactly the same order and ties."""
    np.testing.assert_array_equal(topk(scores * 2.0**log2_scale + shift, k), topk(scores, k))


def test_topk_tie_breaking_by_lower_item_index():
    """Scores [1, 3, 3, 2, 3]: order (-score, item) = 1, 2, 4, 3, 0; constant scores: by index."""
    np.testing.assert_array_equal(topk(np.array([[1.0, 3, 3, 2, 3]]), 5), [[1, 2, 4, 3, 0]])
    np.testing.assert_array_equal(topk(np.zeros((2, 6)), 3), [[0, 1, 2], [0, 1, 2]])
    # boundary tie: 4 items share the 2nd-best score, only the lowest-index one may enter the top 2
    np.testing.assert_array_equal(topk(np.array([[5.0, 1, 1, 1, 1, 0]]), 2), [[0, 1]])
    row = np.array([[0.0, 1, 1, 1, 1, 0]])
    np.testing.assert_array_equal(topk(row, 2, sp.csr_matrix(np.array([[0, 1, 0, 0, 0, 0]]))),
                                  [[2, 3]])


def test_topk_large_rows_with_ties_are_deterministic():
    """Wide rows with heavy ties (popularity-like integer scores) go through the exact tie fix."""
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, (40, 3000)).astype(np.float32)
    got = topk(scores, 100)
    np.testing.assert_array_equal(got, _reference_topk(scores, 100, None))
    np.testing.assert_array_equal(topk(scores.astype(np.float64), 100), got)


def test_topk_pads_with_minus_one_and_never_returns_excluded():
    scores = np.array([[0.3, 0.1, 0.2]])
    np.testing.assert_array_equal(topk(scores, 5), [[0, 2, 1, -1, -1]])
    ex = sp.csr_matrix(np.array([[1, 0, 1]]))
    np.testing.assert_array_equal(topk(scores, 3, ex), [[1, -1, -1]])
    np.testing.assert_array_equal(topk(scores, 3, sp.csr_matrix(np.ones((1, 3)))), [[-1, -1, -1]])


def test_topk_does_not_modify_scores_and_accepts_ints_and_readonly_views():
    scores = np.array([[0.3, 0.1, 0.2]])
    before = scores.copy()
    topk(scores, 2, sp.csr_matrix(np.array([[1, 0, 0]])))
    np.testing.assert_array_equal(scores, before)
    np.testing.assert_array_equal(topk(np.array([[1, 5, 3]]), 2), [[1, 2]])
    view = np.broadcast_to(np.array([0.1, 0.9, 0.5]), (4, 3))  # read-only, zero stride (pop-like)
    np.testing.assert_array_equal(topk(view, 2), [[1, 2]] * 4)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_raise_method_error_naming_the_method(bad):
    scores = np.ones((3, 4))
    scores[1, 2] = bad
    with pytest.raises(MethodError, match=r"method 'ease'.*non-finite"):
        topk(scores, 2, method="ease")
    with pytest.raises(MethodError, match="non-finite"):
        topk(scores, 2)


def test_bad_k_is_rejected():
    for k in (0, -1, 2.5):
        with pytest.raises(ValueError, match="positive integer"):
            topk(np.ones((1, 3)), k)


# ----------------------------------------------------------------------------- rank_users
@pytest.mark.parametrize("batch_size", [1, 3, 7, 50, 1000])
def test_batching_gives_identical_rankings(batch_size):
    scores, ex, _ = _random_problem(1)
    users = np.random.default_rng(0).permutation(50)[:37]
    scorer = Scorer(scores)
    got = rank_users(scorer.score, users, ex, 10, batch_size)
    np.testing.assert_array_equal(got, topk(scores[users], 10, ex[users]))
    np.testing.assert_array_equal(got, _reference_topk(scores[users], 10, ex[users].toarray()))
    assert max(scorer.calls) <= batch_size and sum(scorer.calls) == 37


def test_rank_users_accepts_torch_tensors_and_checks_shape():
    torch = pytest.importorskip("torch")
    scores, ex, _ = _random_problem(2)
    users = np.arange(50)
    got = rank_users(lambda u: torch.from_numpy(scores[u]).requires_grad_(), users, ex, 5, 16)
    np.testing.assert_array_equal(got, topk(scores, 5, ex))
    with pytest.raises(MethodError, match=r"method 'm' returned scores for 5 items"):
        rank_users(lambda u: scores[u][:, :5], users, ex, 5, 16, method="m")
    with pytest.raises(MethodError, match=r"shape \(3, 30\); expected \(16, n_items\)"):
        rank_users(lambda u: scores[:3], users, ex, 5, 16, method="m")


# ----------------------------------------------------------------------------- evaluate_topn
def test_evaluate_topn_known_answer():
    """4 users x 3 items. Scores are the same for everyone: item 0 > item 1 > item 2.

    user 0: train {0}, test {1}  -> ranked [1, 2]: hit at rank 1 -> ndcg@1 = 1, recall@2 = 1
    user 1: train {},  test {2}  -> ranked [0, 1, 2]: no hit @2 -> ndcg@2 = 0, mrr@2 = 0
    user 2: train {1}, test {}   -> not evaluated (no relevant item)
    user 3: train {},  test {1, 2} -> ranked [0, 1, 2]: hit at rank 2 -> recall@2 = 1/2,
            ndcg@2 = (1/log2 3) / (1 + 1/log2 3), map@2 = (1/2) / 2 = 1/4, precision@2 = 1/2
    Coverage@2 = items {0, 1, 2} / 3 = 1; ARP with popularity [1/4, 1/4, 0]:
    user 0 [1, 2] -> 1/8, user 1 [0, 1] -> 1/4, user 3 [0, 1] -> 1/4.
    """
    scores = np.tile(np.array([3.0, 2.0, 1.0]), (4, 1))
    train = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 1, 1]], dtype=np.float32))
    res = evaluate_topn(
        Scorer(scores), users=np.arange(4), exclude=train, truth=test, ks=[1, 2],
        metrics=list(ALL), item_popularity=np.array([0.25, 0.25, 0.0]),
    )
    assert isinstance(res, TopNEvaluation)
    pu = res.per_user.set_index("user")
    assert list(pu.index) == [0, 1, 3]
    assert list(res.per_user.columns[:3]) == ["user", "recall@1", "recall@2"]
    assert pu.loc[0, "ndcg@1"] == 1.0 and pu.loc[0, "recall@2"] == 1.0
    assert pu.loc[1, "ndcg@2"] == 0.0 and pu.loc[1, "mrr@2"] == 0.0
    assert pu.loc[3, "recall@2"] == 0.5 and pu.loc[3, "precision@2"] == 0.5
    assert pu.loc[3, "ndcg@2"] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert pu.loc[3, "map@2"] == 0.25
    np.testing.assert_allclose(pu["arp@2"], [0.125, 0.25, 0.25])
    np.testing.assert_array_equal(res.topk, [[1, 2], [0, 1], [0, 1]])
    summary = res.summary()
    assert summary["recall@2"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert summary["coverage@2"] == 1.0 and summary["coverage@1"] == pytest.approx(2 / 3)


def test_evaluate_topn_excludes_training_items_and_matches_reference():
    scores, ex, truth = _random_problem(3)
    res = evaluate_topn(Scorer(scores), users=np.arange(50), exclude=ex, truth=truth,
                        ks=[5, 10], metrics=["ndcg", "recall"], batch_size=8, topk_saved=20)
    assert res.topk.shape == (len(res.users), 20)
    assert not hits_matrix(res.topk, ex[res.users]).any()  # no excluded item is ever ranked
    assert set(res.users) == set(np.flatnonzero(np.diff(truth.indptr)))
    # slow per-user reference for ndcg@10
    for row, u in enumerate(res.users):
        ranked = _reference_topk(scores[u : u + 1], 10, ex[u].toarray())[0]
        rel = set(truth[u].indices.tolist())
        dcg = sum(1 / np.log2(j + 2) for j, i in enumerate(ranked) if i in rel)
        idcg = sum(1 / np.log2(j + 2) for j in range(min(len(rel), 10)))
        assert res.per_user["ndcg@10"].iloc[row] == pytest.approx(dcg / idcg, abs=1e-12)


def test_evaluate_topn_batch_size_does_not_change_anything():
    scores, ex, truth = _random_problem(4)
    kw = dict(users=np.arange(50), exclude=ex, truth=truth, ks=[1, 5, 10], metrics=list(ALL))
    a = evaluate_topn(Scorer(scores), batch_size=1, **kw)
    b = evaluate_topn(Scorer(scores), batch_size=1024, **kw)
    pd.testing.assert_frame_equal(a.per_user, b.per_user)
    np.testing.assert_array_equal(a.topk, b.topk)
    assert a.summary() == b.summary()


def test_evaluate_topn_accepts_plain_score_function_and_no_exclusion():
    scores, _, truth = _random_problem(5)
    res = evaluate_topn(lambda u: scores[u], users=np.arange(50), exclude=None, truth=truth,
                        ks=[3], metrics=["hr"])
    np.testing.assert_array_equal(res.topk, topk(scores[res.users], 3))


def test_unknown_metric_fails_before_scoring():
    scores, ex, truth = _random_problem(6)
    scorer = Scorer(scores)
    with pytest.raises(ConfigError, match=r"'auc_roc'.*valid metrics are \["):
        evaluate_topn(scorer, users=np.arange(50), exclude=ex, truth=truth, ks=[5],
                      metrics=["ndcg", "auc_roc"])
    assert scorer.calls == []


def test_nan_scores_raise_method_error_naming_method_and_users():
    scores, ex, truth = _random_problem(7)
    scores[10, 4] = np.nan
    with pytest.raises(MethodError, match=r"method 'fixed'.*non-finite.*\[10\]"):
        evaluate_topn(Scorer(scores), users=np.arange(50), exclude=ex, truth=truth, ks=[5],
                      metrics=["ndcg"])
    with pytest.raises(MethodError, match=r"method 'custom'"):
        evaluate_topn(Scorer(scores), users=np.arange(50), exclude=ex, truth=truth, ks=[5],
                      metrics=["ndcg"], method_name="custom")


def test_misaligned_inputs_are_data_errors():
    scores, ex, truth = _random_problem(8)
    with pytest.raises(DataError, match="outside"):
        evaluate_topn(Scorer(scores), users=np.array([0, 99]), exclude=ex, truth=truth, ks=[5],
                      metrics=["ndcg"])
    with pytest.raises(DataError, match="items"):
        evaluate_topn(Scorer(scores), users=np.arange(5), exclude=ex[:, :10], truth=truth,
                      ks=[5], metrics=["ndcg"])


# ----------------------------------------------------------------------------- validation_score
def test_validation_score_equals_evaluate_topn_mean():
    scores, ex, truth = _random_problem(9)
    for metric in ALL:
        v = validation_score(lambda u: scores[u], exclude=ex, truth=truth, k=7, metric=metric,
                             batch_size=5)
        full = evaluate_topn(lambda u: scores[u], users=np.arange(50), exclude=ex, truth=truth,
                             ks=[7], metrics=[metric]).summary()[f"{metric}@7"]
        assert isinstance(v, float) and v == pytest.approx(full, rel=1e-12, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    levels=st.integers(1, 4),  # 3-4 relevant items per user take the top-k path
    n_distinct=st.sampled_from([2, 3, 1000]),  # few distinct values = many ties
    k=st.integers(1, 12),
)
def test_validation_rank_path_gives_exactly_the_top_k_hits(seed, levels, n_distinct, k):
    """Leave-one-out style truth (<= 2 relevant per user) is scored by counting ranks; the hits must
    be those of the exact top-k lists, ties and excluded (even excluded relevant) items included."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 20, 25
    scores = rng.integers(0, n_distinct, (n_users, n_items)).astype(np.float32)
    ex = sp.random(n_users, n_items, density=0.3, format="csr", random_state=seed)
    ex.data[:] = 1
    truth = np.zeros((n_users, n_items), dtype=bool)
    for level in range(levels):
        truth[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    truth[rng.random(n_users) < 0.2] = False
    truth = sp.csr_matrix(truth.astype(np.float32))
    if truth.nnz == 0:
        return
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    for metric in ("ndcg", "recall", "mrr", "map"):
        v = validation_score(lambda u: scores[u], exclude=ex, truth=truth, k=k, metric=metric,
                             batch_size=7)
        ranked = topk(scores[users], k, ex[users])
        expected = get_metric(metric)(hits_matrix(ranked, truth[users]), np.diff(truth[users].indptr), k)
        assert v == pytest.approx(expected.mean(), rel=1e-12, abs=1e-15)


def test_validation_score_errors():
    scores, ex, truth = _random_problem(10)
    with pytest.raises(ConfigError):
        validation_score(lambda u: scores[u], exclude=ex, truth=truth, metric="nope")
    with pytest.raises(DataError, match="no user"):
        validation_score(lambda u: scores[u], exclude=ex, truth=sp.csr_matrix(truth.shape))


# ----------------------------------------------------------------------------- sampled
def test_evaluate_sampled_known_answer_and_ties():
    """3 items, candidates [positive, negatives...].

    user 0: scores [0.1, 0.5, 0.5], candidates [2, 1, 0]: positive 2 ties with negative 1
            -> pessimistic rank 2 (hr@1 = 0, ndcg@2 = 1/log2 3), optimistic rank 1.
    user 1: constant scores, candidates [0, 1, 2] -> pessimistic rank 3, optimistic rank 1.
    user 2: scores [0.9, 0.2, 0.1], candidates [0, 1, 2] -> rank 1 either way.
    """
    scores = np.array([[0.1, 0.5, 0.5], [1.0, 1.0, 1.0], [0.9, 0.2, 0.1]])
    cand = np.array([[2, 1, 0], [0, 1, 2], [0, 1, 2]])
    res = evaluate_sampled(Scorer(scores), cand, np.arange(3), [1, 2], ["hr", "ndcg", "mrr"],
                           batch_size=2)
    assert isinstance(res, SampledEvaluation)
    np.testing.assert_array_equal(res.rank, [2, 3, 1])
    np.testing.assert_allclose(res.per_user["ndcg@2"], [1 / np.log2(3), 0.0, 1.0])
    np.testing.assert_allclose(res.per_user["mrr@2"], [0.5, 0.0, 1.0])
    assert res.summary()["hr@1"] == pytest.approx(1 / 3)
    opt = evaluate_sampled(Scorer(scores), cand, np.arange(3), [1], ["hr"], ties="optimistic")
    np.testing.assert_array_equal(opt.rank, [1, 1, 1])


def test_evaluate_sampled_matches_full_ranking_of_candidates():
    """With distinct scores, the positive's rank is its position in a topk over the candidates."""
    rng = np.random.default_rng(11)
    scores = rng.standard_normal((20, 200))
    cand = np.stack([rng.choice(200, 100, replace=False) for _ in range(20)])
    res = evaluate_sampled(lambda u: scores[u], cand, np.arange(20), [10], ["ndcg"])
    sub = np.take_along_axis(scores, cand, axis=1)
    order = topk(sub, 100)
    np.testing.assert_array_equal(res.rank, np.argmax(order == 0, axis=1) + 1)
    hits = order[:, :10] == 0
    np.testing.assert_allclose(res.per_user["ndcg@10"], ndcg(hits, np.ones(20), 10))


def test_evaluate_sampled_rejects_bad_candidates_and_nan():
    scores = np.ones((2, 3))
    with pytest.raises(DataError, match="candidates"):
        evaluate_sampled(Scorer(scores), np.array([[0, 1]]), np.arange(2), [1], ["hr"])
    with pytest.raises(DataError, match=r"\[0, 3\)"):
        evaluate_sampled(Scorer(scores), np.array([[0, 5], [1, 2]]), np.arange(2), [1], ["hr"])
    scores[0, 0] = np.nan
    with pytest.raises(MethodError, match="fixed"):
        evaluate_sampled(Scorer(scores), np.array([[0, 1], [1, 2]]), np.arange(2), [1], ["hr"])
