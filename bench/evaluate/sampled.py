"""Sampled evaluation: each user's positive ranked against a saved candidate set (e.g. the
999-negative protocol of the CDR releases), reported beside, never instead of, full ranking
(:mod:`bench.evaluate.ranking`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from bench.errors import DataError
from bench.evaluate.ranking import _as_scores, _check_ks, _column_means
from bench.metrics.ranking import get_metric

__all__ = ["SampledEvaluation", "evaluate_sampled"]


@dataclass(frozen=True, eq=False)
class SampledEvaluation:
    """Result of :func:`evaluate_sampled`.

    Attributes:
        per_user: column ``user`` then ``<metric>@<k>`` columns (as in :class:`TopNEvaluation`).
        rank: ``(n_users,)`` 1-based rank of the positive among its candidates (ties per ``ties``).
    """

    per_user: pd.DataFrame
    rank: np.ndarray

    def summary(self) -> dict[str, float]:
        """Mean of every per-user metric column over users."""
        return _column_means(self.per_user)



def evaluate_sampled(
    method: Any,
    candidates: np.ndarray,
    users: np.ndarray,
    ks: Sequence[int],
    metrics: Sequence[str],
    *,
    batch_size: int = 1024,
    method_name: str | None = None,
    ties: Literal["pessimistic", "optimistic"] = "pessimistic",
) -> SampledEvaluation:
    """Sampled-candidate evaluation: rank each user's positive among its saved negatives.

    Args:
        method: fitted method (``score`` is called) or score function; each batch is scored over all
            items and the candidates' scores are gathered.
        candidates: ``(n_users, 1 + n_neg)`` item ids, positive in column 0, rows aligned with
            ``users``; negatives must not repeat the positive.
        users: user indices, one per row of ``candidates``.
        ks, metrics: as in :func:`evaluate_topn`; each user has exactly one relevant item.
        ties: ``"pessimistic"`` (default) ranks the positive below every negative with an equal
            score -- ``rank = 1 + #(neg >= pos)`` -- so a constant scorer gets the worst rank
            instead of a perfect one; ``"optimistic"`` uses ``1 + #(neg > pos)``.

    Raises:
        ConfigError: unknown metric; MethodError: non-finite or mis-shaped scores.
    """
    ks = _check_ks(ks)
    fns = {m: get_metric(m) for m in metrics}
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(f"ties must be 'pessimistic' or 'optimistic', got {ties!r}")
    candidates = np.asarray(candidates, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64).ravel()
    if candidates.ndim != 2 or candidates.shape[0] != users.size or candidates.shape[1] < 1:
        raise DataError(
            f"candidates must be (len(users), 1 + n_neg) = ({users.size}, ...), got "
            f"{candidates.shape}"
        )
    name = method_name or getattr(method, "method_name", None) or type(method).__name__
    score_fn = method.score if hasattr(method, "score") else method
    rank = np.empty(users.size, dtype=np.int64)
    for start in range(0, users.size, batch_size):
        batch = users[start : start + batch_size]
        cand = candidates[start : start + batch.size]
        s = _as_scores(score_fn(batch), method=name, users=batch)
        if cand.size and (cand.min() < 0 or cand.max() >= s.shape[1]):
            raise DataError(f"candidate item ids must lie in [0, {s.shape[1]})")
        c = np.take_along_axis(s, cand, axis=1)
        pos, neg = c[:, :1], c[:, 1:]
        beaten = (neg >= pos) if ties == "pessimistic" else (neg > pos)
        rank[start : start + batch.size] = 1 + np.count_nonzero(beaten, axis=1)
    max_k = max(ks)
    hits = np.zeros((users.size, max_k), dtype=bool)
    inside = np.flatnonzero(rank <= max_k)
    hits[inside, rank[inside] - 1] = True
    n_rel = np.ones(users.size, dtype=np.int64)
    columns: dict[str, np.ndarray] = {"user": users}
    for m, fn in fns.items():
        for k in ks:
            columns[f"{m}@{k}"] = fn(hits, n_rel, k)
    return SampledEvaluation(per_user=pd.DataFrame(columns), rank=rank)
