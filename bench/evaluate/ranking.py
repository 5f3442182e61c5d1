"""Full-ranking evaluation: predictions x ground truth -> per-user metric table.

Protocol (DESIGN.md section 4): **full ranking** -- every user is scored against ALL items, the
items in ``exclude`` (the user's training interactions) are removed from the ranking, the top ``K``
items are kept and compared with the held-out ``truth``. Work is batched over users so memory stays
at about ``batch_size x n_items`` floats, and nothing loops over users in Python.

Ranking rules, implemented exactly by :func:`topk`:

* order by **descending score, ties broken by the lower item index** (sort key ``(-score, item)``);
  the result therefore does not depend on the selection algorithm, thread count or batch size;
* excluded items never appear; when a user has fewer than ``k`` rankable items (``k`` larger than
  the catalogue, or most items excluded) the list is **padded with -1**, so the result is always
  ``(n_users, k)``; every metric treats -1 as a miss (precision still divides by ``k``);
* scores must be finite: NaN or +-inf from a method raise :class:`~bench.errors.MethodError`.

Sampled evaluation (:func:`bench.evaluate.sampled.evaluate_sampled`) is reported beside, never
instead of, full ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bench.errors import DataError, MethodError
from bench.metrics.beyond import arp, catalogue_coverage
from bench.metrics.ranking import get_metric, hits_matrix

__all__ = [
    "TopNEvaluation",
    "evaluate_holdout",
    "evaluate_topn",
    "rank_users",
    "topk",
    "validation_score",
]

ScoreFn = Callable[[np.ndarray], Any]


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class TopNEvaluation:
    """Result of :func:`evaluate_topn`.

    Attributes:
        per_user: one row per evaluated user: column ``user`` then one float64 column per metric and
            cut-off, named ``<metric>@<k>`` in the order ``metrics x ks`` (and ``arp@<k>`` when item
            popularity was given).
        topk: ``(n_users, K)`` int64 ranked item ids aligned with ``per_user``; ``K = max(max(ks),
            topk_saved)``; ``-1`` pads lists shorter than ``K``.
        users: the evaluated user indices (same order as ``per_user`` and ``topk``).
        aggregate: list-level measures that are not per-user means (``coverage@<k>``).
    """

    per_user: pd.DataFrame
    topk: np.ndarray
    users: np.ndarray
    aggregate: Mapping[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Mean of every per-user metric column over users, plus the aggregate measures."""
        return {**_column_means(self.per_user), **{k: float(v) for k, v in self.aggregate.items()}}


def _column_means(per_user: pd.DataFrame) -> dict[str, float]:
    """Mean over users of every metric column (NaN when no user was evaluated)."""
    return {
        c: float(per_user[c].to_numpy(dtype=np.float64).mean()) if len(per_user) else float("nan")
        for c in per_user.columns
        if c != "user"
    }


# ----------------------------------------------------------------------------- ranking
def topk(
    scores: np.ndarray,
    k: int,
    exclude: sp.spmatrix | None = None,
    *,
    method: str | None = None,
) -> np.ndarray:
    """The ``k`` best items of each row of ``scores``, best first.

    Args:
        scores: ``(n, n_items)`` finite scores (higher is better); not modified.
        k: list length (> 0); may exceed ``n_items`` (the list is then padded with -1).
        exclude: optional ``(n, n_items)`` sparse matrix aligned with ``scores``; its stored entries
            (e.g. training items) get score ``-inf`` and never appear in the result.
        method: method name for error messages.

    Returns:
        ``(n, k)`` int64 item ids ordered by ``(-score, item)``; ``-1`` where fewer than ``k`` items
        are rankable.

    Raises:
        MethodError: ``scores`` contains NaN or +-inf, or has the wrong shape.
    """
    s = _as_scores(scores, method=method)
    work = np.array(s, dtype=_work_dtype(s.dtype), order="C", copy=True)
    if exclude is not None:
        _apply_exclude(work, exclude)
    return _topk_inplace(work, _check_k(k))


def rank_users(
    score_fn: ScoreFn,
    users: np.ndarray,
    exclude: sp.spmatrix | None,
    k: int,
    batch_size: int = 1024,
    *,
    method: str | None = None,
) -> np.ndarray:
    """Top-``k`` lists of ``users``, scoring ``batch_size`` users per call of ``score_fn``.

    Args:
        score_fn: ``users -> (len(users), n_items)`` scores (e.g. ``Method.score``); numpy arrays or
            torch tensors.
        users: 1-d user indices (rows of ``exclude``).
        exclude: ``(all users, n_items)`` sparse matrix of items to exclude per user, or None.
        k: list length, see :func:`topk`.
        batch_size: users per ``score_fn`` call; peak memory is about ``batch_size x n_items``
            scores (the method's output plus one reused working buffer).
        method: method name for error messages.

    Returns:
        ``(len(users), k)`` int64, identical for every ``batch_size``.
    """
    users = np.asarray(users, dtype=np.int64).ravel()
    k = _check_k(k)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    excl = None if exclude is None else sp.csr_matrix(exclude)
    out = np.empty((users.size, k), dtype=np.int64)
    buf: np.ndarray | None = None
    for start in range(0, users.size, batch_size):
        batch = users[start : start + batch_size]
        s = _as_scores(score_fn(batch), method=method, users=batch)
        dtype = _work_dtype(s.dtype)
        if excl is not None and s.shape[1] != excl.shape[1]:
            raise MethodError(
                f"{_who(method)} returned scores for {s.shape[1]} items but the data has "
                f"{excl.shape[1]} items"
            )
        if buf is None or buf.dtype != dtype or buf.shape[1] != s.shape[1]:
            buf = np.empty((min(batch_size, users.size), s.shape[1]), dtype=dtype)
        work = buf[: batch.size]
        np.copyto(work, s)
        if excl is not None:
            _apply_exclude(work, excl[batch])
        out[start : start + batch.size] = _topk_inplace(work, k)
    return out


# ----------------------------------------------------------------------------- evaluation
def evaluate_topn(
    method: Any,
    *,
    users: np.ndarray,
    exclude: sp.spmatrix | None,
    truth: sp.spmatrix,
    ks: Sequence[int],
    metrics: Sequence[str],
    batch_size: int = 1024,
    method_name: str | None = None,
    item_popularity: np.ndarray | None = None,
    topk_saved: int | None = None,
) -> TopNEvaluation:
    """Full-ranking top-N evaluation of a fitted method.

    Args:
        method: a fitted :class:`~bench.methods.Method` (its ``score`` is called) or a score
            function ``users -> (len(users), n_items)``.
        users: candidate user indices; only those with at least one item in ``truth`` are evaluated.
        exclude: ``(n_users, n_items)`` items removed from each user's ranking (train, and valid
            when testing), or None for no exclusion.
        truth: ``(n_users, n_items)`` held-out relevant items (stored non-zero entries). A truth
            item that is also excluded cannot be retrieved but still counts in ``n_relevant``; the
            split audit rules this out for the standard scenarios.
        ks: cut-offs; metrics: registered names (see :data:`bench.metrics.METRICS`).
        batch_size: users scored per call.
        method_name: name used in error messages (defaults to the method's registry name).
        item_popularity: per-item popularity (:func:`bench.metrics.item_popularity` of the training
            data); when given, ``arp@k`` columns are added.
        topk_saved: length of the returned ``topk`` lists (at least ``max(ks)``).

    Raises:
        ConfigError: an unknown metric name (before anything is scored).
        MethodError: the method returned scores of the wrong shape or non-finite scores.
    """
    ks = _check_ks(ks)
    fns = {m: get_metric(m) for m in metrics}
    truth = _canonical(truth)
    name = method_name or getattr(method, "method_name", None) or type(method).__name__
    score_fn = method.score if hasattr(method, "score") else method
    users = _evaluated_users(users, exclude, truth)
    ranked = rank_users(score_fn, users, exclude, max(max(ks), topk_saved or 0), batch_size, method=name)
    columns = _per_user_metrics(ranked, truth[users], users, fns, ks)
    if item_popularity is not None:
        columns.update(_popularity_bias(ranked, item_popularity, truth.shape[1], ks))
    aggregate = (
        {f"coverage@{k}": catalogue_coverage(ranked[:, :k], truth.shape[1]) for k in ks}
        if users.size else {}
    )
    return TopNEvaluation(
        per_user=pd.DataFrame(columns), topk=ranked, users=users, aggregate=aggregate
    )


def evaluate_holdout(
    method: Any, train: sp.spmatrix, valid: sp.spmatrix, test: sp.spmatrix, evaluation: Any, *,
    n_users: int, method_name: str,
) -> TopNEvaluation:
    """:func:`evaluate_topn` of a holdout, as every ranking cell runs it: every user with a test item
    ranks all items with their train and valid items excluded; ``arp@k`` uses the training
    popularity (interactions per user of the index space); cut-offs, metrics, batch size and list
    length come from ``evaluation`` (:class:`bench.config.Evaluation`)."""
    exclude = (train + valid).tocsr()
    exclude.data[:] = 1.0
    truth = _canonical(test)
    return evaluate_topn(
        method,
        users=np.flatnonzero(np.diff(truth.indptr) > 0),
        exclude=exclude,
        truth=truth,
        ks=evaluation.ks,
        metrics=evaluation.metrics,
        batch_size=evaluation.batch_size,
        method_name=method_name,
        item_popularity=np.asarray(train.sum(axis=0)).ravel() / max(n_users, 1),
        topk_saved=evaluation.topk_saved,
    )


def _evaluated_users(users: np.ndarray, exclude: sp.spmatrix | None, truth: sp.csr_matrix) -> np.ndarray:
    """The requested users (checked against both index spaces) that have a relevant item."""
    users = np.asarray(users, dtype=np.int64).ravel()
    _check_users(users, truth.shape[0], "truth")
    if exclude is not None:
        if exclude.shape[1] != truth.shape[1]:
            raise DataError(
                f"exclude has {exclude.shape[1]} items but truth has {truth.shape[1]}; both must "
                f"use the split's item index space"
            )
        _check_users(users, exclude.shape[0], "exclude")
    return users[np.diff(truth.indptr)[users] > 0]


def _per_user_metrics(ranked: np.ndarray, rel: sp.csr_matrix, users: np.ndarray, fns, ks) -> dict[str, np.ndarray]:
    """``user`` then ``<metric>@<k>`` per user, in the order ``metrics x ks``."""
    hits, n_rel = hits_matrix(ranked, rel), np.diff(rel.indptr)
    columns: dict[str, np.ndarray] = {"user": users}
    for m, fn in fns.items():
        for k in ks:
            columns[f"{m}@{k}"] = fn(hits, n_rel, k)
    return columns


def _popularity_bias(ranked: np.ndarray, item_popularity, n_items: int, ks) -> dict[str, np.ndarray]:
    """``arp@<k>`` per user (average popularity of the recommended items)."""
    pop = np.asarray(item_popularity, dtype=np.float64)
    if pop.shape != (n_items,):
        raise DataError(f"item_popularity must have one value per item ({n_items}), got {pop.shape}")
    return {f"arp@{k}": arp(ranked[:, :k], pop) for k in ks}


def validation_score(
    score_fn: ScoreFn,
    *,
    exclude: sp.spmatrix | None,
    truth: sp.spmatrix,
    k: int = 10,
    metric: str = "ndcg",
    batch_size: int = 1024,
) -> float:
    """Mean ``metric@k`` over the users with at least one item in ``truth``, for early stopping.

    Cheap by design, because it runs after every epoch: one metric, and for batches where no user
    has more than :data:`RANK_PATH_MAX_RELEVANT` relevant items (leave-one-out validation) no top-k
    selection at all -- each relevant item's position in the ``(-score, item)`` ranking is counted
    directly from the scores (:func:`_relevant_ranks`), which gives exactly the hits the top-k lists
    of :func:`rank_users` give. ``score_fn`` may return numpy arrays or (CPU or GPU) torch tensors.

    Raises:
        DataError: ``truth`` has no user with a relevant item (skip early stopping instead).
        ConfigError: unknown ``metric``.
    """
    fn = get_metric(metric)
    k = _check_k(k)
    truth = _canonical(truth)
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    if users.size == 0:
        raise DataError(
            "validation_score: truth has no user with a relevant item; skip early stopping when "
            "the validation part is empty"
        )
    excl = None if exclude is None else sp.csr_matrix(exclude)
    total = 0.0
    for start in range(0, users.size, batch_size):
        batch = users[start : start + batch_size]
        rel = truth[batch]
        if np.diff(rel.indptr).max() > RANK_PATH_MAX_RELEVANT:
            ranked = rank_users(score_fn, batch, excl, k, batch_size)
            hits = hits_matrix(ranked, rel)
        else:
            s = _as_scores(score_fn(batch), method=None, users=batch)
            ex = None if excl is None else excl[batch]
            if ex is not None and ex.shape[1] != s.shape[1]:
                raise MethodError(
                    f"the method returned scores for {s.shape[1]} items but the data has "
                    f"{ex.shape[1]} items"
                )
            hits = np.zeros((batch.size, k), dtype=bool)
            rows = np.repeat(np.arange(batch.size), np.diff(rel.indptr))
            ranks = _relevant_ranks(s, ex, rel)
            inside = ranks < k
            hits[rows[inside], ranks[inside]] = True
        total += float(fn(hits, np.diff(rel.indptr), k).sum())
    return total / users.size


#: :func:`validation_score` counts ranks directly when no user of a batch has more relevant items
#: than this (each relevant item costs two passes over its row); otherwise it selects the top k.
RANK_PATH_MAX_RELEVANT = 2


def _relevant_ranks(s: np.ndarray, exclude: sp.csr_matrix | None, rel: sp.csr_matrix) -> np.ndarray:
    """0-based position of every relevant entry of ``rel`` (CSR order) in its row's ranking by
    ``(-score, item)`` with the ``exclude`` entries removed -- exactly where :func:`topk` would
    place it; ``n_items`` (never a hit) when the relevant item is itself excluded.

    Level by level (the l-th relevant item of every row at once): count the non-excluded items that
    score higher, plus those tied with it at a lower index. Rows with a tie are recounted exactly;
    excluded items are subtracted through one gather of their scores."""
    n, n_items = s.shape
    counts = np.diff(rel.indptr)
    out = np.empty(rel.nnz, dtype=np.int64)
    ex_rows = ex_cols = None
    if exclude is not None and exclude.nnz:
        ex_rows = np.repeat(np.arange(n), np.diff(exclude.indptr))
        ex_cols = exclude.indices
    for level in range(int(counts.max(initial=0))):
        rows = np.flatnonzero(counts > level)
        entry = rel.indptr[rows] + level
        cols = rel.indices[entry]
        pos = s[rows, cols]
        sub = s if rows.size == n else s[rows]
        above = np.count_nonzero(sub > pos[:, None], axis=1)
        equal = np.count_nonzero(sub == pos[:, None], axis=1)  # includes the item itself
        rank = above.astype(np.int64)
        tied = np.flatnonzero(equal > 1)  # usually none: recount only rows with a tie
        if tied.size:
            lower = np.arange(n_items)[None, :] < cols[tied, None]
            rank[tied] += np.count_nonzero((sub[tied] == pos[tied, None]) & lower, axis=1)
        if ex_rows is not None:
            where = np.full(n, -1, dtype=np.int64)
            where[rows] = np.arange(rows.size)
            mine = where[ex_rows] >= 0
            er, ec = where[ex_rows[mine]], ex_cols[mine]
            es, ep = s[rows[er], ec], pos[er]
            counted = (es > ep) | ((es == ep) & (ec < cols[er]))
            rank -= np.bincount(er, weights=counted, minlength=rows.size).astype(np.int64)
            self_excluded = np.zeros(rows.size, dtype=bool)
            self_excluded[er[ec == cols[er]]] = True
            rank[self_excluded] = n_items
        out[entry] = rank
    return out


# ----------------------------------------------------------------------------- internals
def _who(method: str | None) -> str:
    return f"method {method!r}" if method else "the score function"


def _check_k(k: int) -> int:
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(int(_check_k(k)) for k in ks)
    if not ks:
        raise ValueError("ks must list at least one cut-off")
    return ks


def _check_users(users: np.ndarray, n_users: int, what: str) -> None:
    bad = users[(users < 0) | (users >= n_users)]
    if bad.size:
        raise DataError(
            f"user indices {bad[:5].tolist()} are outside {what}'s {n_users} rows; use the split's "
            f"global user index space"
        )


def _canonical(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m)
    if not m.has_canonical_format or (m.data == 0).any():
        m = m.copy()
        m.sum_duplicates()
        m.eliminate_zeros()
    return m


def _work_dtype(dtype: np.dtype) -> np.dtype:
    """float32 / float64 stay as they are (no new ties from rounding); anything else -> float64."""
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _as_scores(scores: Any, *, method: str | None, users: np.ndarray | None = None) -> np.ndarray:
    if hasattr(scores, "detach") and hasattr(scores, "cpu"):  # torch tensor
        scores = scores.detach().cpu().numpy()
    s = np.asarray(scores)
    expected = None if users is None else users.size
    if s.ndim != 2 or (expected is not None and s.shape[0] != expected):
        raise MethodError(
            f"{_who(method)} returned scores of shape {s.shape}; expected "
            f"({expected if expected is not None else 'n_users'}, n_items)"
        )
    if s.dtype.kind not in "fiub":
        raise MethodError(f"{_who(method)} returned scores of dtype {s.dtype}; expected floats")
    if s.dtype.kind == "f" and not np.isfinite(s).all():
        bad_rows = np.flatnonzero(~np.isfinite(s).all(axis=1))
        who = users[bad_rows[:5]].tolist() if users is not None else bad_rows[:5].tolist()
        raise MethodError(
            f"{_who(method)} returned non-finite scores (NaN or +-inf) for {bad_rows.size} of "
            f"{s.shape[0]} users (e.g. {'users' if users is not None else 'rows'} {who}); scores "
            f"must be finite -- check for divergence or division by zero"
        )
    return s


def _apply_exclude(work: np.ndarray, exclude: sp.spmatrix) -> None:
    ex = sp.csr_matrix(exclude)
    if ex.shape != work.shape:
        raise DataError(
            f"exclude rows have shape {ex.shape} but scores have shape {work.shape}; they must be "
            f"aligned (same users, same item index space)"
        )
    rows = np.repeat(np.arange(ex.shape[0]), np.diff(ex.indptr))
    work[rows, ex.indices] = -np.inf


def _topk_inplace(s: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` of a writable score buffer whose excluded entries are already ``-inf``.

    Selection uses ``torch.topk`` (multi-threaded, far faster than ``np.argpartition`` on wide
    rows); it returns the correct top-k *values*, but which of several items tied at the k-th value
    it picks is unspecified. Rows with such a boundary tie are re-selected exactly: all items above
    the k-th value plus the lowest-index items equal to it. The k items are then sorted by
    ``(-score, item)``.
    """
    import torch  # lazy: keeps `import bench.metrics` light

    n, n_items = s.shape
    kk = min(k, n_items)
    out = np.full((n, k), -1, dtype=np.int64)
    if n == 0 or kk == 0:
        return out
    _, idx_t = torch.topk(torch.from_numpy(s), kk, dim=1, largest=True, sorted=False)
    idx = idx_t.numpy()
    vals = np.take_along_axis(s, idx, axis=1)
    thr = vals.min(axis=1)
    n_ge = np.count_nonzero(s >= thr[:, None], axis=1)
    tie_rows = np.flatnonzero(n_ge > kk)
    if tie_rows.size:
        sub = s[tie_rows]
        th = thr[tie_rows, None]
        above = sub > th
        need = kk - np.count_nonzero(above, axis=1)
        equal = sub == th
        keep = above | (equal & (np.cumsum(equal, axis=1, dtype=np.int32) <= need[:, None]))
        idx[tie_rows] = np.nonzero(keep)[1].reshape(tie_rows.size, kk)
        vals[tie_rows] = np.take_along_axis(sub, idx[tie_rows], axis=1)
    order = np.lexsort((idx, -vals), axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    out[:, :kk] = np.where(np.isneginf(vals), -1, idx)
    return out
