"""Top-N splits of implicit feedback: global temporal, per-user leave-last-out, random holdout.

All three return train / valid / test frames in the prepared dataset's index space. After
partitioning, valid and test rows whose user or item never occurs in train are removed and counted
(``meta["dropped"]``): collaborative methods cannot score them, and keeping them would only add
constant zeros to every method alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.config import TopNScenario
from bench.data.tables import PreparedDataset
from bench.errors import DataError
from bench.splits.types import Split

__all__ = ["positives", "split_topn"]

COLUMNS = ["user", "item", "rating", "timestamp"]


def positives(data: PreparedDataset, scenario: TopNScenario) -> tuple[pd.DataFrame, dict[str, int]]:
    """Interactions that count as positive feedback, one row per (user, item) (the latest kept)."""
    frame = data.interactions[COLUMNS]
    counts: dict[str, int] = {"prepared_rows": len(frame)}
    if scenario.min_rating is not None:
        keep = frame["rating"].to_numpy() >= scenario.min_rating  # NaN ratings compare False
        counts["below_min_rating"] = int((~keep).sum())
        frame = frame[keep]
    frame = frame.sort_values(["user", "item", "timestamp"], kind="stable")
    dup = frame.duplicated(["user", "item"], keep="last")
    counts["duplicate_pairs"] = int(dup.sum())
    frame = frame[~dup].reset_index(drop=True)
    counts["positive_rows"] = len(frame)
    if frame.empty:
        raise DataError(
            f"scenario {scenario.name!r}: no positive interactions left in dataset {data.name!r} "
            f"(min_rating={scenario.min_rating}); lower min_rating"
        )
    return frame, counts


def split_topn(data: PreparedDataset, scenario: TopNScenario) -> Split:
    """Partition ``data`` as ``scenario`` says and return the :class:`Split`."""
    frame, counts = positives(data, scenario)
    builder = _BUILDERS[scenario.split]
    part, meta = builder(frame, scenario)
    train = frame[part == 0]
    valid, test = frame[part == 1], frame[part == 2]
    dropped: dict[str, int] = {}
    valid, dropped["valid_cold"] = _drop_cold(valid, train)
    test, dropped["test_cold"] = _drop_cold(test, train)
    if len(test) == 0 or len(train) == 0:
        raise DataError(
            f"scenario {scenario.name!r}: the {scenario.split} split leaves "
            f"{len(train)} train and {len(test)} test interactions; adjust the fractions"
        )
    meta.update(
        kind=scenario.kind,
        split=scenario.split,
        dataset=data.name,
        counts=counts,
        dropped=dropped,
        settings={
            "valid_fraction": scenario.valid_fraction,
            "test_fraction": scenario.test_fraction,
            "min_rating": scenario.min_rating,
            "seed": scenario.seed,
        },
    )
    return Split(
        name=scenario.name,
        train=train.reset_index(drop=True),
        valid=valid.reset_index(drop=True),
        test=test.reset_index(drop=True),
        n_users=data.n_users,
        n_items=data.n_items,
        meta=meta,
    )


def _drop_cold(part: pd.DataFrame, train: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    known = part["user"].isin(train["user"].unique()) & part["item"].isin(train["item"].unique())
    return part[known], int((~known).sum())


def _temporal_global(frame: pd.DataFrame, s: TopNScenario) -> tuple[np.ndarray, dict[str, Any]]:
    """Two global cut-off times: train < t_valid <= valid < t_test <= test."""
    ts = frame["timestamp"].to_numpy()
    if (ts < 0).any():
        raise DataError(
            f"scenario {s.name!r}: split temporal_global needs timestamps, but the dataset has "
            f"{int((ts < 0).sum())} interactions without one; use split: random_holdout"
        )
    t_test = float(np.quantile(ts, 1.0 - s.test_fraction, method="higher"))
    t_valid = float(np.quantile(ts, 1.0 - s.test_fraction - s.valid_fraction, method="higher"))
    part = np.where(ts >= t_test, 2, np.where(ts >= t_valid, 1, 0)).astype(np.int8)
    return part, {"cutoffs": {"valid_from": int(t_valid), "test_from": int(t_test)}}


def _leave_last_out(frame: pd.DataFrame, s: TopNScenario) -> tuple[np.ndarray, dict[str, Any]]:
    """Per user, ordered by (timestamp, item): last -> test, second last -> valid. Users with
    fewer than 3 interactions stay entirely in train."""
    order = frame.sort_values(["user", "timestamp", "item"], kind="stable").index
    ordered = frame.loc[order]
    from_end = ordered.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
    size = ordered.groupby("user", sort=False)["item"].transform("size").to_numpy()
    part_sorted = np.where(size < 3, 0, np.where(from_end == 0, 2, np.where(from_end == 1, 1, 0)))
    part = np.empty(len(frame), dtype=np.int8)
    part[order.to_numpy()] = part_sorted
    return part, {"users_too_short": int(np.unique(ordered["user"].to_numpy()[size < 3]).size)}


def _random_holdout(frame: pd.DataFrame, s: TopNScenario) -> tuple[np.ndarray, dict[str, Any]]:
    """Each interaction independently: test with p=test_fraction, valid with p=valid_fraction."""
    rng = np.random.default_rng(s.seed)
    u = rng.random(len(frame))
    part = np.where(u < s.test_fraction, 2, np.where(u < s.test_fraction + s.valid_fraction, 1, 0))
    return part.astype(np.int8), {}


_BUILDERS = {
    "temporal_global": _temporal_global,
    "leave_last_out": _leave_last_out,
    "random_holdout": _random_holdout,
}
