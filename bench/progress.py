"""Progress of a fit, reported to whoever listens: the hook that lets the ``tune`` stage prune trials.

Epoch-based methods call :func:`report` once per validation of their early-stopping loop
(:func:`methods._torch.train_epochs`). Outside tuning nobody listens and :func:`report` does nothing;
inside a trial, :mod:`bench.tune` installs a reporter with :func:`reporting` that forwards the value to
Optuna (``trial.report``) and raises ``optuna.TrialPruned`` when the trial should stop. Methods therefore
never import the tuner, and a run cell behaves exactly as before.

The reporter lives in a :class:`contextvars.ContextVar`, so concurrent fits (threads, asyncio tasks)
each see their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["Reporter", "report", "reporting"]

#: ``(step, value) -> None``; may raise to stop the fit (e.g. ``optuna.TrialPruned``).
Reporter = Callable[[int, float], None]

_REPORTER: ContextVar[Reporter | None] = ContextVar("recx_progress_reporter", default=None)


def report(step: int, value: float) -> None:
    """Report the validation ``value`` (higher is better) reached at ``step`` (e.g. the epoch).

    A no-op unless a reporter is installed; an exception raised by the reporter propagates out of the
    caller's training loop on purpose.
    """
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(int(step), float(value))


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Install ``reporter`` for the duration of the block (restoring the previous one afterwards)."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)
