"""Per-user metric functions: ranking (``ranking``), beyond-accuracy (``beyond``) and pointwise
binary / rating metrics (``classification``). All are pure functions without state or I/O."""

from bench.metrics.beyond import arp, catalogue_coverage, item_popularity
from bench.metrics.classification import auc, gauc, logloss, mae, rmse
from bench.metrics.ranking import (
    METRICS,
    average_precision,
    get_metric,
    hit_rate,
    hits_matrix,
    mrr,
    ndcg,
    precision,
    recall,
)

__all__ = [
    "METRICS",
    "arp",
    "auc",
    "average_precision",
    "catalogue_coverage",
    "gauc",
    "get_metric",
    "hit_rate",
    "hits_matrix",
    "item_popularity",
    "logloss",
    "mae",
    "mrr",
    "ndcg",
    "precision",
    "recall",
    "rmse",
]
