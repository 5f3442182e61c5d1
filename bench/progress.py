"""Progress of a fit, reported to whoever listens: per-epoch lines in the stage log, a bar on a
terminal, and the hook that lets the ``tune`` stage prune trials.

Two channels, both no-ops unless something is installed, so methods never import the tuner or a
printer and a fit outside the harness (tests, notebooks) is silent:

* :func:`report` ``(step, value)`` — a validation score for pruning. Inside a trial, :mod:`bench.tune`
  installs a reporter with :func:`reporting` that forwards it to Optuna (``trial.report``) and raises
  ``optuna.TrialPruned`` when the trial should stop.
* :func:`epoch` ``(Epoch)`` — one event per training epoch (epoch, loss, validation score, best so
  far). ``recx run`` and ``recx tune`` install :class:`EpochPrinter` with :func:`epochs_to`: one line
  per epoch on stderr (DVC sends it to ``artifacts/logs/<stage>.log`` under ``recx repro``), or a tqdm
  bar when stderr is a terminal. Epoch-based methods call it from one place,
  :func:`methods._torch.train_epochs`; ``implicit``'s ALS/BPR through their per-iteration callback.

Both live in :class:`contextvars.ContextVar` s, so concurrent fits (threads, asyncio tasks) each see
their own. Reporting never touches a random stream or a tensor, so it cannot change a number.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["Epoch", "EpochPrinter", "Reporter", "epoch", "epochs_to", "report", "reporting"]

#: ``(step, value) -> None``; may raise to stop the fit (e.g. ``optuna.TrialPruned``).
Reporter = Callable[[int, float], None]

_REPORTER: ContextVar[Reporter | None] = ContextVar("recx_progress_reporter", default=None)


@dataclass(frozen=True)
class Epoch:
    """One finished training epoch.

    Attributes:
        method: registry name of the method being fitted.
        epoch: 1-based epoch (iteration) number; ``epochs`` the configured maximum.
        loss: mean training loss of the epoch, or None when the library does not expose it.
        score: validation score measured after this epoch (None: not evaluated this epoch).
        best_score, best_epoch: best validation score so far and the epoch that reached it.
        metric: what ``score`` is (``valid``: the method's early-stopping criterion on the valid part).
    """

    method: str
    epoch: int
    epochs: int
    loss: float | None = None
    score: float | None = None
    best_score: float | None = None
    best_epoch: int | None = None
    metric: str = "valid"


EpochSink = Callable[[Epoch], None]

_EPOCH_SINK: ContextVar[EpochSink | None] = ContextVar("recx_progress_epoch_sink", default=None)


def report(step: int, value: float) -> None:
    """Report the validation ``value`` (higher is better) reached at ``step`` (e.g. the epoch).

    A no-op unless a reporter is installed; an exception raised by the reporter propagates out of the
    caller's training loop on purpose.
    """
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(int(step), float(value))


@contextmanager
def _installed(var: ContextVar, value: Any) -> Iterator[None]:
    """``var`` holds ``value`` for the duration of the block (the previous value is restored)."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def reporting(reporter: Reporter) -> AbstractContextManager[None]:
    """Install ``reporter`` for the duration of the block (restoring the previous one afterwards)."""
    return _installed(_REPORTER, reporter)


def epoch(event: Epoch) -> None:
    """Announce a finished epoch to the installed sink (a no-op when none is installed)."""
    sink = _EPOCH_SINK.get()
    if sink is not None:
        sink(event)


@contextmanager
def epochs_to(sink: EpochSink) -> Iterator[None]:
    """Send :func:`epoch` events to ``sink`` for the duration of the block, then close it (if it
    has a ``close``)."""
    try:
        with _installed(_EPOCH_SINK, sink):
            yield
    finally:
        close = getattr(sink, "close", None)
        if close is not None:
            close()


class EpochPrinter:
    """Epoch events -> one line each on ``stream`` (a log), or a tqdm bar when it is a terminal.

    ``prefix`` names the fit (e.g. ``ml100k-topn/mf/0`` or ``trial 7``). Lines read::

        ml100k-topn/mf/0 epoch  12/200  loss 0.2143  valid 0.0412  best 0.0433 @ 10  3.1 s
    """

    def __init__(self, prefix: str, stream: IO[str] | None = None, *, bar: bool | None = None):
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stderr
        self.bar = _isatty(self.stream) if bar is None else bar
        self._start = time.perf_counter()
        self._tqdm: Any = None

    def __call__(self, event: Epoch) -> None:
        fields = _fields(event)
        if self.bar:
            if self._tqdm is None:
                from tqdm.auto import tqdm

                self._tqdm = tqdm(total=event.epochs, desc=f"{self.prefix} {event.method}",
                                  unit="epoch", file=self.stream, leave=False)
            self._tqdm.total = event.epochs
            self._tqdm.n = event.epoch
            self._tqdm.set_postfix_str("  ".join(fields), refresh=True)
            return
        took = time.perf_counter() - self._start
        line = f"{self.prefix} epoch {event.epoch:>4}/{event.epochs}  " + "  ".join(fields)
        print(f"{line}  {took:.1f} s", file=self.stream, flush=True)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None


def _fields(event: Epoch) -> list[str]:
    out = []
    if event.loss is not None:
        out.append(f"loss {event.loss:.4f}")
    if event.score is not None:
        out.append(f"{event.metric} {event.score:.4f}")
    if event.best_score is not None:
        out.append(f"best {event.best_score:.4f} @ {event.best_epoch}")
    return out


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
