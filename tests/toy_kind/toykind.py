"""A toy scenario kind, registered from a test module: rating prediction from explicit ratings.

The whole kind is this module plus its row (:func:`bench.kinds.register_kind` at the bottom): the
settings class, the split builder, the method protocol, one method, the cell runner and the contract
case. ``tests/test_toy_kind.py`` installs it (an entry point in a scratch ``*.dist-info``) and runs
it through ``dvc repro``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Protocol, Self

import numpy as np
import pandas as pd

from bench.cells import CellResult
from bench.config import Scenario
from bench.contract import ContractCase
from bench.errors import ConfigError
from bench.fitting import fit_method
from bench.interactions import Interactions
from bench.kinds import Kind, register_kind
from bench.methods import Config, register
from bench.splits.types import Split

COLUMNS = ["user", "item", "rating", "timestamp"]


@dataclass(frozen=True, kw_only=True)
class ToyScenario(Scenario):
    """Each rating goes to test with probability ``test_fraction`` (drawn with ``seed``)."""

    kind: Literal["toy"] = "toy"
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}")


def split_toy(data, scenario: ToyScenario) -> Split:
    frame = data.interactions[COLUMNS].reset_index(drop=True)
    is_test = np.random.default_rng(scenario.seed).random(len(frame)) < scenario.test_fraction
    train, test = frame[~is_test], frame[is_test]
    test = test[test["user"].isin(train["user"].unique())]  # score users seen in train
    return Split(
        name=scenario.name, train=train.reset_index(drop=True), valid=frame.iloc[:0],
        test=test.reset_index(drop=True), n_users=data.n_users, n_items=data.n_items,
        meta={"kind": "toy", "split": "toy_random", "seed": scenario.seed},
    )


class RatingMethod(Protocol):
    """Kind ``toy``: ``fit(Interactions with ratings)``; ``predict(users, items)`` -> ratings."""

    config: Config

    def fit(self, data: Interactions, *, rng: np.random.Generator, valid=None) -> Self: ...

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, kw_only=True)
class UserMeanConfig(Config):
    """Attributes:
    shrinkage: pseudo-count pulling each user's offset towards 0."""

    shrinkage: float = 5.0


@register("toy_user_mean", config=UserMeanConfig, scenarios=("toy",))
class UserMean:
    """Global mean rating plus a shrunk per-user offset."""

    def __init__(self, config: UserMeanConfig):
        self.config = config

    def fit(self, data: Interactions, *, rng: np.random.Generator, valid=None) -> UserMean:
        users = data.frame["user"].to_numpy()
        ratings = data.frame["rating"].to_numpy(np.float64)
        self.mean_ = float(ratings.mean())
        sums = np.bincount(users, weights=ratings - self.mean_, minlength=data.n_users)
        self.offset_ = sums / (np.bincount(users, minlength=data.n_users) + self.config.shrinkage)
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.mean_ + self.offset_[np.asarray(users)]


def run_toy(model, split: Split, evaluation, *, seed: int, method: str) -> CellResult:
    fitted = fit_method(model, split.interactions("train"), seed=seed, method=method)
    t0 = time.perf_counter()
    test = split.test
    err = model.predict(test["user"].to_numpy(), test["item"].to_numpy()) - test["rating"].to_numpy()
    g = pd.DataFrame({"user": test["user"].to_numpy(), "se": err**2}).groupby("user").mean()
    per_user = pd.DataFrame({"user": g.index.to_numpy(), "rmse": np.sqrt(g["se"].to_numpy())})
    return CellResult(
        per_user=per_user, metrics={"rmse": float(np.sqrt(np.mean(err**2)))},
        fit_seconds=fitted.seconds, predict_seconds=time.perf_counter() - t0,
        peak_rss_mb=fitted.peak_rss_mb, extra={"protocol": "toy: RMSE of held-out ratings"},
    )


def contract_case() -> ContractCase:
    frame = pd.DataFrame({"user": [0, 0, 1, 2, 2], "item": [0, 1, 1, 0, 2],
                          "rating": [5.0, 3.0, 4.0, 1.0, 2.0], "timestamp": [0, 1, 2, 3, 4]})
    data = Interactions.from_frame(frame, 3, 3)
    return ContractCase(data, None, lambda m: m.predict(np.array([0, 1, 2]), np.array([2, 0, 1])))


TOY = register_kind(Kind(
    name="toy",
    settings="toykind:ToyScenario",
    split="toykind:split_toy",
    data="bench.interactions:Interactions",
    protocol="toykind:RatingMethod",
    runner="toykind:run_toy",
    contract="toykind:contract_case",
))
