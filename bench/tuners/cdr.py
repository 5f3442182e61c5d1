"""The tune stage on a cdr_warm / cdr_cold split: both domains' train and the target valid part
only (never the saved test candidates); the objective is ``tuning.metric`` on the target valid part."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.cdr import CDRData, target_part
from bench.config import Evaluation, Tuning
from bench.errors import DataError
from bench.evaluate.ranking import validation_score
from bench.fitting import fit_method
from bench.interactions import Interactions
from bench.splits.types import Split
from bench.tuners import Tuner

__all__ = ["TUNER", "CDRTrainValid"]


@dataclass(frozen=True, eq=False)
class CDRTrainValid:
    """What tuning sees of a transfer split: the training hand-off and the target validation part.
    There is no test attribute, and the split's saved (test) candidates are not read."""

    name: str
    data: CDRData
    valid: Interactions


def _tune_read(folder: Path) -> CDRTrainValid:
    split = Split.read(folder, parts=("train", "valid"), side=("items",))
    valid, _ = target_part(split, "valid")
    if valid.nnz == 0:
        raise DataError(f"{folder}: the target valid part is empty; tuning needs validation data")
    return CDRTrainValid(name=split.name, data=CDRData.from_split(split), valid=valid)


def _tune_score(model, tv: CDRTrainValid, *, seed, method: str, tuning: Tuning,
                evaluation: Evaluation) -> float:
    """Fit on both domains' train (target valid for early stopping), then ``tuning.metric`` on the
    target valid part: full ranking over the target items, each user's target train items excluded."""
    fit_method(model, tv.data, seed=seed, valid=tv.valid, method=method)
    metric, k = tuning.metric_and_k()
    return validation_score(
        model.score, exclude=tv.data.target.matrix, truth=tv.valid.matrix, k=k, metric=metric,
        batch_size=evaluation.batch_size,
    )


#: the tune stage's view of a cdr_warm / cdr_cold split (:class:`bench.cells.Tuner`)
TUNER = Tuner(read=_tune_read, fit_score=_tune_score, objective=lambda tuning: f"target {tuning.metric}")
