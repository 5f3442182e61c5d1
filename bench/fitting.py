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
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.errors import MethodError

__all__ = ["Fitted", "failure", "fit_method", "peak_rss_mb"]


@dataclass(frozen=True)
class Fitted:
    """What :func:`fit_method` measured: wall-clock seconds of ``fit`` and the process's peak RSS."""

    seconds: float
    peak_rss_mb: float


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
