"""Per scenario kind: how the ``tune`` stage (:mod:`bench.tune`) reads a split and scores a trial.

A tunable kind's :mod:`bench.kinds` row names its :class:`Tuner` (``tuner``); each lives in its own
module here, apart from the kind's runner (:mod:`bench.cells`), so an edit of a run harness does not
rerun tuning and an edit of one kind's tuner does not rerun another kind's (the fingerprint of the
tune stages follows these modules, :mod:`bench.fingerprint`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Tuner"]


@dataclass(frozen=True)
class Tuner:
    """How the ``tune`` stage (:mod:`bench.tune`) works on one scenario kind: named by the kind's
    :mod:`bench.kinds` row (``tuner``).

    Attributes:
        read: ``(split folder) -> data``: reads the split's ``train`` and ``valid`` parts (and the
            side tables the kind needs) only, verified against the manifest; test is never opened.
        fit_score: ``(model, data, *, seed, method, tuning, evaluation) -> float``: fits the model
            on train (valid for early stopping, as a run cell does) and returns the validation
            objective of :class:`bench.config.Tuning` for this kind (higher is better).
        objective: what ``fit_score`` returns, in words (recorded in ``best.json``).
    """

    read: Callable[[Any], Any]
    fit_score: Callable[..., float]
    objective: Callable[[Any], str]
