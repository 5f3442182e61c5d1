"""The README's "Add your own method" example, as a file: ``benchmarks/measure_repro.py
--method-file benchmarks/example_method.py --add-method my_method`` drops it into ``methods/`` of the
scratch clone to time the incremental rerun after adding one cheap method."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bench.methods import Config, FloatRange, check_users, register


@dataclass(frozen=True, kw_only=True)
class MyConfig(Config):
    reg: float = 10.0
    search_space: ClassVar = {"reg": FloatRange(0.1, 1e3, log=True)}


@register("my_method", config=MyConfig, scenarios=("topn",))
class MyMethod:
    """Item popularity (the README example): same ranking for everyone."""

    def __init__(self, config: MyConfig):
        self.config = config

    def fit(self, data, *, rng: np.random.Generator, valid=None):
        self.item_scores_ = np.asarray(data.matrix.sum(axis=0)).ravel().astype(np.float32)
        self.n_users_ = data.n_users
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.n_users_, "my_method")
        return np.tile(self.item_scores_, (len(users), 1))
