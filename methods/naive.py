"""Non-personalised reference points: ``random`` (the floor every method must beat) and ``pop``.

``random`` draws one 64-bit seed from the run's ``rng`` in ``fit``; ``score(u, i)`` is then a pure
function of ``(seed, u, i)`` (SplitMix64, Steele et al., OOPSLA 2014), so the scores of a user do
not depend on which other users are in the batch or on the order of calls. ``pop`` ranks items by
the number of training users who interacted with them (Cremonesi et al., RecSys 2010, "TopPop").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np

from bench.interactions import Interactions
from bench.methods import Config, check_users, register

__all__ = ["Pop", "PopConfig", "Random", "RandomConfig", "splitmix64"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(counter: np.ndarray, seed: int) -> np.ndarray:
    """Output number ``counter`` of the SplitMix64 stream started at ``seed`` (element-wise).

    ``state = seed + (counter + 1) * gamma`` followed by the SplitMix64 finaliser: the sequence
    ``java.util.SplittableRandom(seed)`` produces. The finaliser is a bijection, so distinct
    counters give distinct uint64 outputs for a given seed.
    """
    z = np.asarray(counter).astype(np.uint64)  # a fresh array, updated in place (uint64 wraps)
    z += np.uint64(1)
    z *= _GAMMA
    z += np.uint64(seed)
    for shift, mult in ((30, _MIX1), (27, _MIX2)):
        z ^= z >> np.uint64(shift)
        z *= mult
    z ^= z >> np.uint64(31)
    return z


@dataclass(frozen=True, kw_only=True)
class RandomConfig(Config):
    """``random`` has no hyperparameters."""


@register("random", config=RandomConfig, scenarios=("topn",))
class Random:
    """Uniformly random scores in [0, 1), reproducible from the fit ``rng``.

    score(u, i) = SplitMix64(seed)[u * n_items + i] / 2**64 (top 24 bits, exactly representable as
    float32), with ``seed`` drawn from ``rng`` in ``fit``: independent of batching, the same for the
    same seed, different (with probability ~1) for different seeds.

    Attributes (after ``fit``):
        seed_: the 64-bit seed drawn from ``rng``.
        n_users_, n_items_: the index space seen in ``fit``.

    Users with no training interactions get random scores like everyone else.
    """

    def __init__(self, config: RandomConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> Self:
        """Draw the seed; ``data`` only fixes the index space, ``valid`` is ignored."""
        self.seed_ = int(rng.integers(0, 2**64, dtype=np.uint64))
        self.n_users_ = data.n_users
        self.n_items_ = data.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.n_users_, self.method_name)
        counter = users.astype(np.uint64)[:, None] * np.uint64(self.n_items_) + np.arange(
            self.n_items_, dtype=np.uint64
        )
        bits = splitmix64(counter, self.seed_)
        bits >>= np.uint64(40)
        scores = bits.astype(np.float32)
        scores *= np.float32(2.0**-24)
        return scores


@dataclass(frozen=True, kw_only=True)
class PopConfig(Config):
    """``pop`` has no hyperparameters."""


@register("pop", config=PopConfig, scenarios=("topn",))
class Pop:
    """Most-popular items (Cremonesi et al., RecSys 2010, "TopPop"): the same ranking for everyone.

    score(u, i) = |{v : (v, i) in train}|, the number of distinct training users of item ``i``.

    Attributes (after ``fit``):
        item_counts_: ``(n_items,)`` float32 training-user counts (exact up to 2**24).
        n_users_, n_items_: the index space seen in ``fit``.

    Users with no training interactions get the same popularity scores as everyone else; ``rng`` and
    ``valid`` are not used.
    """

    def __init__(self, config: PopConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> Self:
        counts = np.bincount(data.matrix.indices, minlength=data.n_items)
        self.item_counts_ = counts.astype(np.float32)
        self.n_users_ = data.n_users
        self.n_items_ = data.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.n_users_, self.method_name)
        return np.tile(self.item_counts_, (len(users), 1))
