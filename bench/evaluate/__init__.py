"""Evaluation, one package of pure functions the cells call (predictions x ground truth -> per-user
tables and summaries):

* :mod:`bench.evaluate.ranking` — full ranking over all items, seen items excluded (the default
  protocol of every ranking kind): :func:`evaluate_topn`, :func:`rank_users`, :func:`topk`,
  :func:`validation_score` (early stopping and tuning);
* :mod:`bench.evaluate.sampled` — the releases' sampled protocol against saved candidates,
  reported beside full ranking: :func:`evaluate_sampled`;
* :mod:`bench.evaluate.classification` — multi-task metrics of pointwise predictions:
  :func:`evaluate_mtl`, :func:`check_predictions`, and of the tabular kind:
  :func:`evaluate_tabular_mtl`, :func:`check_task_probabilities`;
* :mod:`bench.evaluate.regression` — rating error of a score read-out: :func:`rating_readout`.

The metric functions themselves live in :mod:`bench.metrics` (cross-checked against independent
implementations in the tests).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule; resolved on first access, so importing one submodule (what a cell
#: does) neither imports nor fingerprints the others (:mod:`bench.fingerprint` follows imports)
_WHERE = {
    "SampledEvaluation": "sampled",
    "TopNEvaluation": "ranking",
    "check_predictions": "classification",
    "check_task_probabilities": "classification",
    "evaluate_mtl": "classification",
    "evaluate_tabular_mtl": "classification",
    "evaluate_sampled": "sampled",
    "evaluate_topn": "ranking",
    "rank_users": "ranking",
    "rating_readout": "regression",
    "topk": "ranking",
    "validation_score": "ranking",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'bench.evaluate' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bench.evaluate.{_WHERE[name]}"), name)
