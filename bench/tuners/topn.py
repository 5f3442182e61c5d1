"""The tune stage on a top-N split: train and valid interactions only; the objective is
``tuning.metric`` on valid (full ranking over all items, each user's train items excluded)."""

from __future__ import annotations

from pathlib import Path

from bench.config import Evaluation, Tuning
from bench.errors import DataError
from bench.evaluate.ranking import validation_score
from bench.fitting import fit_method
from bench.tuners import Tuner

__all__ = ["TUNER"]


def _tune_read(folder: Path):
    from bench.tune import read_train_valid

    data = read_train_valid(folder)
    if data.valid.nnz == 0:
        raise DataError(f"{folder}: the valid part is empty; tuning needs validation data")
    return data


def _tune_score(model, data, *, seed, method: str, tuning: Tuning, evaluation: Evaluation) -> float:
    """Fit on train (valid for early stopping), then ``tuning.metric`` on valid: full ranking over
    all items, each user's train items excluded."""
    fit_method(model, data.train, seed=seed, valid=data.valid, method=method)
    metric, k = tuning.metric_and_k()
    return validation_score(
        model.score, exclude=data.train.matrix, truth=data.valid.matrix, k=k, metric=metric,
        batch_size=evaluation.batch_size,
    )


#: the tune stage's view of a top-N split (:class:`bench.cells.Tuner`)
TUNER = Tuner(read=_tune_read, fit_score=_tune_score, objective=lambda tuning: tuning.metric)
