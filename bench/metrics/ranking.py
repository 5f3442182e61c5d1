"""Top-N ranking metrics as pure, vectorised per-user functions.

Every metric takes a boolean **hits matrix** ``hits: (n_users, K)`` -- ``hits[u, j]`` is True when
the item ranked at position ``j`` (0-based) for user ``u`` is relevant -- and
``n_relevant: (n_users,)``, the number of relevant items of each user, and returns a float64 vector
with one value per user. Only the first ``k`` columns are read, so one hits matrix built for
``max(ks)`` serves every cut-off. Padding positions (item ``-1``, see :func:`bench.evaluate.topk`)
are never hits.

Conventions (binary relevance throughout):

* ``recall@k = |hits in top k| / n_relevant`` (all relevant items, not ``min(n_relevant, k)``);
* ``precision@k = |hits in top k| / k`` (padding positions count as misses);
* ``hr@k`` (hit rate) ``= 1`` if any of the top ``k`` is relevant;
* ``ndcg@k`` -- Järvelin & Kekäläinen (2002, ACM TOIS 20(4)) with binary gain and a
  ``log2(rank + 1)`` discount: ``DCG = sum_j hit_j / log2(j + 2)``, normalised by the ideal DCG of
  ``min(n_relevant, k)`` hits in the first positions (a perfect ranking scores exactly 1, also
  when ``n_relevant > k``); with binary gains the Burges et al. (2005) ``2^rel - 1`` variant is
  identical;
* ``mrr@k`` -- reciprocal (1-based) rank of the first hit within the top ``k``, 0 without one;
* ``map@k`` -- average precision ``sum_j precision@(j+1) * hit_j / min(n_relevant, k)``: the
  truncated denominator makes a perfect top-k score 1 (the convention of e.g. RecBole and Kaggle's
  ``apk``). ranx / trec_eval divide by ``n_relevant`` instead; the two agree when
  ``n_relevant <= k`` and differ by the factor ``min(n_relevant, k) / n_relevant`` otherwise
  (tested exactly against ranx).

Users with ``n_relevant == 0`` get 0 for every metric (the harness never evaluates them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from bench.errors import ConfigError

__all__ = [
    "METRICS",
    "average_precision",
    "get_metric",
    "hit_rate",
    "hits_matrix",
    "mrr",
    "ndcg",
    "precision",
    "recall",
]

MetricFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def _prepare(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    hits = np.asarray(hits, dtype=bool)
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    if hits.ndim != 2:
        raise ValueError(f"hits must be a 2-d (n_users, K) boolean matrix, got shape {hits.shape}")
    if n_relevant.shape != (hits.shape[0],):
        raise ValueError(
            f"n_relevant must have shape ({hits.shape[0]},) to match hits, got {n_relevant.shape}"
        )
    if not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > hits.shape[1]:
        raise ValueError(
            f"k={k} exceeds the ranked list length {hits.shape[1]}; rank at least max(ks) items"
        )
    return hits[:, :k], n_relevant


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _discounts(k: int) -> np.ndarray:
    """``1 / log2(j + 2)`` for 0-based positions ``j < k``."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def recall(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Recall@k: fraction of the user's relevant items found in the top ``k``."""
    h, n_rel = _prepare(hits, n_relevant, k)
    return _safe_divide(h.sum(axis=1, dtype=np.float64), n_rel)


def precision(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Precision@k: fraction of the top ``k`` positions holding a relevant item."""
    h, n_rel = _prepare(hits, n_relevant, k)
    return np.where(n_rel > 0, h.sum(axis=1, dtype=np.float64) / k, 0.0)


def hit_rate(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """HR@k: 1 if at least one relevant item is in the top ``k``, else 0."""
    h, n_rel = _prepare(hits, n_relevant, k)
    return (h.any(axis=1) & (n_rel > 0)).astype(np.float64)


def ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """nDCG@k with binary gain and log2 discount (Järvelin & Kekäläinen, 2002).

    ``DCG@k = sum_{j<k} hit_j / log2(j + 2)``; ``IDCG@k`` is the DCG of ``min(n_relevant, k)`` hits
    ranked first.
    """
    h, n_rel = _prepare(hits, n_relevant, k)
    disc = _discounts(k)
    # DCG and IDCG use the same row-wise reduction, so a perfect ranking gives exactly 1.0 and a
    # user's value does not depend on how many other users are in the matrix (no BLAS matmul).
    dcg = (h * disc).sum(axis=1)
    ideal = ((np.arange(k)[None, :] < np.arange(k + 1)[:, None]) * disc).sum(axis=1)
    n_ideal = np.minimum(n_rel, k).astype(np.int64)
    return _safe_divide(dcg, ideal[n_ideal])


def mrr(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """MRR@k: ``1 / rank`` (1-based) of the first relevant item in the top ``k``, 0 if none."""
    h, n_rel = _prepare(hits, n_relevant, k)
    any_hit = h.any(axis=1) & (n_rel > 0)
    first = np.argmax(h, axis=1)
    return np.where(any_hit, 1.0 / (first + 1.0), 0.0)


def average_precision(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """AP@k (averaged over users: MAP@k) with denominator ``min(n_relevant, k)``.

    ``AP@k = sum_{j<k} hit_j * precision@(j+1) / min(n_relevant, k)``. See the module docstring for
    how this relates to ranx / trec_eval (denominator ``n_relevant``).
    """
    h, n_rel = _prepare(hits, n_relevant, k)
    hf = h.astype(np.float64)
    prec_at = np.cumsum(hf, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    return _safe_divide((prec_at * hf).sum(axis=1), np.minimum(n_rel, k))


METRICS: Mapping[str, MetricFn] = MappingProxyType(
    {
        "recall": recall,
        "precision": precision,
        "hr": hit_rate,
        "ndcg": ndcg,
        "mrr": mrr,
        "map": average_precision,
    }
)
"""Registry of ranking metrics by the name used in ``params.yaml: evaluation.metrics`` and in
per-user column names (``ndcg@10``)."""


def get_metric(name: str) -> MetricFn:
    """The metric function registered as ``name``; a :class:`ConfigError` lists the valid names."""
    try:
        return METRICS[name]
    except KeyError:
        raise ConfigError(
            f"unknown ranking metric {name!r}; valid metrics are {sorted(METRICS)}"
        ) from None


def hits_matrix(topk_items: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean ``(n, K)`` matrix: is ``topk_items[u, j]`` a relevant item of row ``u``?

    ``relevant`` is a CSR matrix whose row ``u`` lists the relevant items of ranked row ``u`` (rows
    aligned with ``topk_items``); every stored entry with a non-zero value counts as relevant.
    Negative ids (padding, ``-1``) are never hits. Vectorised through one ``searchsorted`` of the
    ranked ``(row, item)`` keys against the sorted keys of the relevant entries.
    """
    topk_items = np.asarray(topk_items)
    if topk_items.ndim != 2:
        raise ValueError(f"topk_items must be 2-d (n, K), got shape {topk_items.shape}")
    rel = sp.csr_matrix(relevant)
    n, k = topk_items.shape
    if rel.shape[0] != n:
        raise ValueError(
            f"relevant has {rel.shape[0]} rows but topk_items has {n}; rows must be aligned"
        )
    if not rel.has_canonical_format or (rel.data == 0).any():
        rel = rel.copy()
        rel.sum_duplicates()
        rel.eliminate_zeros()
    n_items = np.int64(rel.shape[1])
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(rel.indptr))
    keys = rows * n_items + rel.indices.astype(np.int64)  # sorted: rows, then sorted indices
    items = topk_items.astype(np.int64, copy=False)
    valid = (items >= 0) & (items < n_items)
    query = np.arange(n, dtype=np.int64)[:, None] * n_items + np.where(valid, items, 0)
    if keys.size == 0:
        return np.zeros((n, k), dtype=bool)
    pos = np.searchsorted(keys, query)
    found = keys[np.minimum(pos, keys.size - 1)] == query
    return found & valid
