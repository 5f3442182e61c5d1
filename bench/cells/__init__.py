"""Per scenario kind: how one run cell fits a method on a split and evaluates it.

A kind's runner (named by its :mod:`bench.kinds` row) takes the unfitted method, the split, the
evaluation settings and the seed, fits through :func:`bench.fitting.fit_method` and evaluates with
:mod:`bench.evaluate`, and returns a :class:`CellResult`; everything around it (params validation,
provenance, failure capture, atomic writing) is shared in :mod:`bench.run`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CellResult", "runner"]


@dataclass(frozen=True, eq=False)
class CellResult:
    """What a runner hands back.

    Attributes:
        per_user: one row per evaluated user (column ``user``) with one column per metric.
        metrics: summary metrics (means over users and any aggregate metric).
        fit_seconds, predict_seconds: wall-clock cost of fitting and of scoring/evaluating.
        peak_rss_mb: the process's peak resident memory after fitting.
        topk: ranked item lists (one row per entry of ``users``), or None for kinds without rankings.
        users: the users ``topk`` rows belong to.
        extra: kind-specific fields merged into the run record.
    """

    per_user: pd.DataFrame
    metrics: dict[str, float]
    fit_seconds: float
    predict_seconds: float
    peak_rss_mb: float = 0.0
    topk: np.ndarray | None = None
    users: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Runner = Callable[..., CellResult]


def runner(kind: str) -> Runner:
    """The runner of a scenario kind (its :mod:`bench.kinds` row's ``runner``)."""
    from bench import kinds

    return kinds.get(kind).resolve("runner")
