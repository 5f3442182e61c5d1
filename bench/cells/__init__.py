"""Per scenario kind: how one run cell fits a method on a split and evaluates it.

A kind's runner takes the unfitted method, the split, the evaluation settings and the seed, and
returns a :class:`CellResult`; everything around it (params validation, provenance, failure capture,
atomic writing) is shared in :mod:`bench.run`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RUNNERS", "CellResult", "runner"]


@dataclass(frozen=True, eq=False)
class CellResult:
    """What a runner hands back.

    Attributes:
        per_user: one row per evaluated user (column ``user``) with one column per metric.
        metrics: summary metrics (means over users and any aggregate metric).
        fit_seconds, predict_seconds: wall-clock cost of fitting and of scoring/evaluating.
        topk: ranked item lists (one row per entry of ``users``), or None for kinds without rankings.
        users: the users ``topk`` rows belong to.
        extra: kind-specific fields merged into the run record.
    """

    per_user: pd.DataFrame
    metrics: dict[str, float]
    fit_seconds: float
    predict_seconds: float
    topk: np.ndarray | None = None
    users: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Runner = Callable[..., CellResult]

#: scenario kind -> ``module:function`` that fits and evaluates one cell of that kind (imported on
#: first use; :mod:`bench.fingerprint` reads this table to know each kind's harness code)
RUNNERS = {
    "topn": "bench.cells.topn:run_topn",
    "mtl": "bench.cells.mtl:run_mtl",
    "cdr_warm": "bench.cells.cdr:run_cdr",
    "cdr_cold": "bench.cells.cdr:run_cdr",
}


def runner(kind: str) -> Runner:
    """The runner of a scenario kind."""
    try:
        module, function = RUNNERS[kind].split(":")
    except KeyError:
        raise KeyError(f"no runner for scenario kind {kind!r}; kinds are {sorted(RUNNERS)}") from None
    return getattr(importlib.import_module(module), function)
