"""Example recxbench plugin: ``recent_pop``, popularity with exponential time decay.

score(u, i) = sum over training interactions (., i, t) of 0.5 ** ((t_max - t) / half_life)

The same score for every user (a non-personalised baseline that is often surprisingly strong under a
temporal split). Users with no training interactions get the same scores as everyone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bench.interactions import Interactions
from bench.methods import Config, FloatRange, check_users, register

__all__ = ["RecentPop", "RecentPopConfig"]


@dataclass(frozen=True, kw_only=True)
class RecentPopConfig(Config):
    """Attributes:
    half_life_days: age (days before the newest training interaction) at which an interaction
        counts half.
    """

    half_life_days: float = 30.0
    search_space: ClassVar = {"half_life_days": FloatRange(1.0, 3650.0, log=True)}

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be > 0, got {self.half_life_days}")


@register("recent_pop", config=RecentPopConfig, scenarios=("topn",))
class RecentPop:
    """Recency-weighted popularity (example plugin)."""

    def __init__(self, config: RecentPopConfig):
        self.config = config

    def fit(self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None):
        frame = data.frame
        ts = frame["timestamp"].to_numpy(dtype=np.float64)
        age_days = (ts.max() - ts) / 86_400.0 if len(ts) else ts
        weight = np.power(0.5, age_days / self.config.half_life_days)
        self.item_scores_ = np.bincount(
            frame["item"].to_numpy(), weights=weight, minlength=data.n_items
        ).astype(np.float32)
        self.n_users_ = data.n_users
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.n_users_, "recent_pop")
        return np.broadcast_to(self.item_scores_, (len(users), len(self.item_scores_))).copy()
