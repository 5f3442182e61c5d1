"""The one fit path: every run cell (all kinds) and every tuning trial fits a method through
:func:`fit_method`, and records a failure through :func:`failure`.

:func:`fit_method` makes the numpy ``rng`` from the seed (an int, or a sequence such as
``(tuning_seed, trial)``), times ``fit``, reads the peak resident memory afterwards and checks the
contract that ``fit`` returns ``self``.
"""

from __future__ import annotations

import resource
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from bench.errors import MethodError

__all__ = [
    "Fitted",
    "StopReason",
    "TrainingLog",
    "failure",
    "fit_method",
    "peak_rss_mb",
    "training_summary",
]


@dataclass(frozen=True)
class Fitted:
    """What :func:`fit_method` measured: wall-clock seconds of ``fit`` and the process's peak RSS."""

    seconds: float
    peak_rss_mb: float


#: Why training ended (:func:`methods._torch.train_epochs`): the stopping rule fired, the
#: ``epochs`` cap was reached while the validation score was still improving, or there was no
#: validation (the configured number of epochs, by design).
StopReason = Literal["patience", "epoch_cap", "no_validation"]


@dataclass
class TrainingLog:
    """How an epoch-based method trained (kept by methods as ``training_log_``; the run record's
    ``training`` field is :meth:`to_record`). Torch methods get it from
    :func:`methods._torch.train_epochs`; others with a fixed number of epochs build one with
    ``stop_reason="no_validation"``.

    Attributes:
        epochs_run: epochs actually trained.
        max_epochs: the ``epochs`` cap.
        losses: mean training loss of every epoch.
        scores: ``(epoch, validation NDCG@10)`` of every evaluation.
        best_epoch: epoch whose parameters were restored (``epochs_run`` without validation).
        best_score: its validation score (``None`` without validation).
        stop_reason: see :data:`StopReason`.
    """

    epochs_run: int = 0
    max_epochs: int = 0
    losses: list[float] = field(default_factory=list)
    scores: list[tuple[int, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float | None = None
    stop_reason: StopReason = "no_validation"

    @property
    def stopped_early(self) -> bool:
        return self.stop_reason == "patience" and self.epochs_run < self.max_epochs

    def to_record(self) -> dict[str, object]:
        """The JSON-ready summary every run record keeps (the curves stay out of it)."""
        return {
            "epochs_run": self.epochs_run,
            "max_epochs": self.max_epochs,
            "best_epoch": self.best_epoch,
            "best_valid_score": self.best_score,
            "stop_reason": self.stop_reason,
        }


def fit_method(
    model: Any, data: Any, *, seed: int | Sequence[int], valid: Any = None, method: str
) -> Fitted:
    """``model.fit(data, rng=np.random.default_rng(seed), valid=valid)``, timed.

    ``valid`` is for early stopping / model selection only. Raises :class:`MethodError` when ``fit``
    does not return the method itself.
    """
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    fitted = model.fit(data, rng=rng, valid=valid)
    seconds = time.perf_counter() - t0
    if fitted is not model:
        raise MethodError(f"{method}: fit() must return self (it returned {type(fitted).__name__})")
    return Fitted(seconds=seconds, peak_rss_mb=peak_rss_mb())


def training_summary(model: Any) -> dict[str, Any] | None:
    """How an epoch-based method's training ended (epochs run, cap, best epoch, best validation
    score, stop reason: its ``training_log_.to_record()``), or ``None`` for methods without one.

    A method that trains one model per part (``single_task``: ``training_logs_``, part -> log) gets
    the summary of its longest-running part, ``stop_reason`` ``epoch_cap`` if any part hit its cap,
    and every part's own summary under ``parts``."""
    log = getattr(model, "training_log_", None)
    if isinstance(log, TrainingLog):
        return log.to_record()
    logs = getattr(model, "training_logs_", None)
    if not isinstance(logs, dict) or not logs:
        return None
    if not all(isinstance(v, TrainingLog) for v in logs.values()):
        return None
    parts = {str(k): v.to_record() for k, v in logs.items()}
    longest = max(parts.values(), key=lambda r: r["epochs_run"])
    capped = any(r["stop_reason"] == "epoch_cap" for r in parts.values())
    return {
        **longest,
        "best_valid_score": None,
        "stop_reason": "epoch_cap" if capped else longest["stop_reason"],
        "parts": parts,
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def failure(exc: BaseException, *, what: str) -> dict[str, Any]:
    """The record of a failed fit or cell (``error`` type and message, ``traceback``); the traceback
    and a one-line summary naming ``what`` are printed to stderr (the stage log)."""
    tb = "".join(traceback.format_exception(exc))
    print(tb, file=sys.stderr, end="")
    print(f"recx: {what} FAILED: {exc}", file=sys.stderr)
    return {"error": {"type": type(exc).__name__, "message": str(exc)}, "traceback": tb}
