"""The tune stage on an mtl split: train and valid impressions and the feature tables only; the
objective is ``tuning.mtl_metric`` on the valid impressions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.config import Evaluation, Tuning
from bench.errors import DataError
from bench.evaluate.classification import check_predictions, evaluate_mtl
from bench.fitting import fit_method
from bench.multitask import BINARY_TASKS, MTLData, mtl_data, mtl_vocab
from bench.splits.types import Split
from bench.tuners import Tuner

__all__ = ["TUNER", "MTLTrainValid", "mtl_objective"]


@dataclass(frozen=True, eq=False)
class MTLTrainValid:
    """What tuning sees of an mtl split: train and valid impressions (no test attribute)."""

    name: str
    train: MTLData
    valid: MTLData


def mtl_objective(summary: dict[str, float], metric: str) -> float:
    """The tuning objective from an :func:`evaluate_mtl` summary: ``mean_auc`` = the mean of the
    binary tasks' pooled AUCs (click, like, ctcvr), or one ``<task>_auc``."""
    if metric == "mean_auc":
        values = [summary[f"{task}_auc"] for task in BINARY_TASKS if f"{task}_auc" in summary]
        return sum(values) / len(values) if values else float("nan")
    return summary[metric]


def _tune_read(folder: Path) -> MTLTrainValid:
    split = Split.read(folder, parts=("train", "valid"), side=("user_features", "item_features"))
    if split.valid.empty:
        raise DataError(f"{folder}: the valid part is empty; tuning needs validation data")
    vocab = mtl_vocab(split)
    return MTLTrainValid(
        name=split.name, train=mtl_data(split, "train", vocab), valid=mtl_data(split, "valid", vocab),
    )


def _tune_score(model, tv: MTLTrainValid, *, seed, method: str, tuning: Tuning,
                evaluation: Evaluation) -> float:
    """Fit on train (valid for early stopping), then ``tuning.mtl_metric`` on the valid impressions."""
    fit_method(model, tv.train, seed=seed, valid=tv.valid, method=method)
    pred = check_predictions(model.predict(tv.valid.features_only()), len(tv.valid), method)
    _, summary = evaluate_mtl(tv.valid, pred, ks=evaluation.ks)
    return mtl_objective(summary, tuning.mtl_metric)


#: the tune stage's view of an mtl split (:class:`bench.cells.Tuner`)
TUNER = Tuner(read=_tune_read, fit_score=_tune_score, objective=lambda tuning: tuning.mtl_metric)
