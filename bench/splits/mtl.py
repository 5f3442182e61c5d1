"""Multi-task (``mtl``) splits: an entire-space impression log built from rated interactions.

Protocol (DESIGN §4, ESMM's entire-space setting of Ma et al., SIGIR 2018):

1. Rated interactions (one per (user, item), the latest kept) are split by time (``scenario.split``):
   ``temporal_global`` cuts them by two global times, ``train < valid_from <= valid < test_from <=
   test`` (no future in train; on ML-100K most test users are then absent from train);
   ``per_user_temporal`` (the warm-user protocol) takes each user's last ``test_fraction`` of ratings
   (at least one) as test and the ``valid_fraction`` before them as valid, so every test user has
   train history (users with fewer than 3 ratings stay in train).
2. Each part's *click space* is its rated pairs plus ``n_negatives`` sampled impressions per rated
   pair: items the user never rated anywhere in the dataset, drawn uniformly among the items that
   already existed (had a first rating) before the part's end (``temporal_global``) or at the rated
   pair's own time (``per_user_temporal``, which has no global part end), and never the same (user,
   item) twice in the whole split. A sampled impression inherits the time and part of the rated
   pair it was drawn for. Sampling happens once, with ``scenario.seed``, and is saved: every method
   sees the same impressions.
3. Labels per row: ``click`` (1 = rated), ``like`` (``rating >= like_threshold``; only meaningful
   where ``click == 1``), ``ctcvr`` (``click AND like``, entire space) and ``rating`` (NaN where
   ``click == 0``).
4. Features live in side tables so the split folder is self-contained: ``user_features`` (``user`` +
   categorical codes of the demographics: ``age`` bucket, ``gender``, ``occupation``, ``zip`` first
   digit; 0 = missing) and ``item_features`` (``item`` + ``genre_<name>`` 0/1 columns). Datasets
   without such columns get id-only tables. Feature tables never hold a label, rating or time.

Valid/test pairs whose user or item never occurs in train are *kept* (counted in ``meta["cold"]``):
methods see them through an unknown-id slot plus their features (:mod:`bench.multitask`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from bench.config import MTLScenario
from bench.data.tables import PreparedDataset
from bench.errors import DataError, LeakageError
from bench.splits.types import PARTS, Split

__all__ = [
    "FEATURE_TABLES",
    "LABEL_COLUMNS",
    "USER_FIELDS",
    "audit_mtl",
    "item_feature_table",
    "split_mtl",
    "user_feature_table",
]

#: label columns of every part frame (``rating`` is the regression target)
LABEL_COLUMNS = ("click", "like", "ctcvr", "rating")
#: side tables holding model inputs; the audit refuses label-like columns in them
FEATURE_TABLES = ("user_features", "item_features")
#: user demographic columns turned into categorical codes when the prepared users table has them
USER_FIELDS = ("age", "gender", "occupation", "zip")
#: MovieLens-1M age groups; a numeric age with many distinct values is bucketed on these edges
AGE_EDGES = (18, 25, 35, 45, 50, 56)
_FORBIDDEN = re.compile(r"rating|click|like|ctcvr|label|target|timestamp|score", re.IGNORECASE)

COLUMNS = ["user", "item", "rating", "timestamp"]


def split_mtl(data: PreparedDataset, scenario: MTLScenario) -> Split:
    """Build the MTL split of ``data`` (see the module docstring) and return it, unaudited."""
    rated, counts = _rated(data, scenario)
    _check_timestamps(rated, data, scenario)
    if scenario.split == "per_user_temporal":
        part, cutoffs = _per_user_parts(rated, scenario), None
        pools = _pools_at_own_time(rated)
    else:
        part, cutoffs = _temporal_parts(rated, data, scenario)
        pools = _pools_before_cutoffs(rated, part, cutoffs)
    rng = np.random.default_rng(scenario.seed)
    neg, short = _sample_impressions(data, rated, part, pools, scenario.n_negatives, rng)
    counts["sampled_impressions"] = len(neg)
    counts["impressions_short"] = sum(v["impressions"] for v in short.values())
    counts["impressions_short_by_part"] = short
    frames = _labelled_parts(rated.assign(_part=part), neg, scenario.like_threshold)
    return Split(
        name=scenario.name,
        n_users=data.n_users,
        n_items=data.n_items,
        meta=_meta(data, scenario, frames, cutoffs, counts),
        side={
            "user_features": user_feature_table(data.users, data.n_users),
            "item_features": item_feature_table(data.items, data.n_items),
        },
        **frames,
    )


def _check_timestamps(rated: pd.DataFrame, data: PreparedDataset, scenario: MTLScenario) -> None:
    ts = rated["timestamp"].to_numpy()
    if (ts < 0).any():
        raise DataError(
            f"scenario {scenario.name!r}: the mtl kind splits by time, but dataset {data.name!r} has "
            f"{int((ts < 0).sum())} rated interactions without a timestamp"
        )


def _per_user_parts(rated: pd.DataFrame, scenario: MTLScenario) -> np.ndarray:
    """Part of every rated row under ``per_user_temporal``: per user in (time, item) order, the last
    ``floor(n * test_fraction)`` (at least 1) rows -> test (2), the ``floor(n * valid_fraction)``
    (at least 1) before them -> valid (1), the rest train (0), capped so that at least one row
    stays in train (every test user is warm); users with fewer than 3 rows: train."""
    order = np.lexsort((rated["item"].to_numpy(), rated["timestamp"].to_numpy(), rated["user"].to_numpy()))
    users = rated["user"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, users.size])
    n = np.repeat(sizes, sizes)
    from_end = n - (np.arange(users.size) - np.repeat(starts, sizes))  # 1 = the user's last row
    # at least one row each, and at least one left for train (large fractions on short histories)
    n_test = np.minimum(np.maximum(np.floor(n * scenario.test_fraction), 1), n - 2)
    n_valid = np.minimum(np.maximum(np.floor(n * scenario.valid_fraction), 1), n - 1 - n_test)
    sorted_part = np.where(from_end <= n_test, 2, np.where(from_end <= n_test + n_valid, 1, 0))
    sorted_part[n < 3] = 0
    part = np.empty(users.size, dtype=np.int8)
    part[order] = sorted_part
    if not (part == 2).any():
        raise DataError(f"scenario {scenario.name!r}: no user has 3 or more ratings, so test is empty")
    return part


def _temporal_parts(rated: pd.DataFrame, data: PreparedDataset, scenario: MTLScenario):
    """Part of every rated row (0 train, 1 valid, 2 test) by two global cut-off times, and the
    cut-offs ``(valid_from, test_from)``."""
    ts = rated["timestamp"].to_numpy()
    t_test = int(np.quantile(ts, 1.0 - scenario.test_fraction, method="higher"))
    t_valid = int(np.quantile(ts, 1.0 - scenario.test_fraction - scenario.valid_fraction, method="higher"))
    part = np.where(ts >= t_test, 2, np.where(ts >= t_valid, 1, 0)).astype(np.int8)
    if not (part == 0).any() or not (part == 2).any():
        raise DataError(
            f"scenario {scenario.name!r}: the cut-offs leave {int((part == 0).sum())} train and "
            f"{int((part == 2).sum())} test interactions; adjust valid_fraction / test_fraction"
        )
    return part, (t_valid, t_test)


def _labelled_parts(rated: pd.DataFrame, neg: pd.DataFrame, like_threshold: float) -> dict[str, pd.DataFrame]:
    """Rated rows (click 1, like/ctcvr from the rating) and sampled impressions (all 0), in time
    order, one frame per part."""
    rated["click"] = np.int8(1)
    like = (rated["rating"].to_numpy() >= like_threshold).astype(np.int8)
    rated["like"] = like
    rated["ctcvr"] = like
    neg["click"] = np.int8(0)
    neg["like"] = np.int8(0)
    neg["ctcvr"] = np.int8(0)
    rows = pd.concat([rated, neg], ignore_index=True)
    rows = rows.sort_values(["timestamp", "user", "click", "item"], ascending=[True, True, False, True],
                            kind="stable")
    return {
        name: rows[rows["_part"] == i].drop(columns="_part").reset_index(drop=True)
        for i, name in enumerate(PARTS)
    }


def _meta(data, scenario: MTLScenario, frames, cutoffs, counts) -> dict[str, Any]:
    train_users = set(frames["train"]["user"].unique())
    train_items = set(frames["train"]["item"].unique())
    cold = {
        f"{p}_{what}": int((~frames[p][what].isin(known)).sum())
        for p in ("valid", "test")
        for what, known in (("user", train_users), ("item", train_items))
    }
    return {
        "kind": scenario.kind,
        "split": scenario.split,
        "dataset": data.name,
        "tasks": list(LABEL_COLUMNS),
        "cutoffs": None if cutoffs is None else {"valid_from": cutoffs[0], "test_from": cutoffs[1]},
        "counts": counts,
        "cold": cold,
        "positives": {p: int(frames[p]["click"].sum()) for p in PARTS},
        "likes": {p: int(frames[p]["like"].sum()) for p in PARTS},
        "settings": {
            "valid_fraction": scenario.valid_fraction,
            "test_fraction": scenario.test_fraction,
            "n_negatives": scenario.n_negatives,
            "like_threshold": scenario.like_threshold,
            "seed": scenario.seed,
        },
    }


def _rated(data: PreparedDataset, scenario: MTLScenario) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rated interactions, one row per (user, item) (the latest kept), with counts of what was dropped."""
    frame = data.interactions[COLUMNS]
    counts = {"prepared_rows": len(frame)}
    has_rating = frame["rating"].notna().to_numpy()
    counts["unrated_rows"] = int((~has_rating).sum())
    frame = frame[has_rating]
    if frame.empty:
        raise DataError(
            f"scenario {scenario.name!r}: dataset {data.name!r} has no explicit ratings; the mtl "
            "kind needs them (like and rating tasks); use a rated dataset such as ml-100k"
        )
    frame = frame.sort_values(["user", "item", "timestamp"], kind="stable")
    dup = frame.duplicated(["user", "item"], keep="last")
    counts["duplicate_pairs"] = int(dup.sum())
    frame = frame[~dup].reset_index(drop=True)
    counts["rated_rows"] = len(frame)
    frame = frame.astype({"user": np.int32, "item": np.int32, "rating": np.float32, "timestamp": np.int64})
    return frame, counts


#: candidate items of every rated row: ``(flat, offset, size)``, the row's candidates being
#: ``flat[offset[r] : offset[r] + size[r]]``
Pools = tuple[np.ndarray, np.ndarray, np.ndarray]


def _pools_before_cutoffs(rated: pd.DataFrame, part: np.ndarray, cutoffs: tuple[int, int]) -> Pools:
    """``temporal_global``: a row of part ``p`` draws among the items first rated before the end of
    part ``p`` (train: before ``valid_from``; valid: before ``test_from``; test: any), by item id."""
    first_seen = rated.groupby("item")["timestamp"].min()
    pools = [
        np.sort(first_seen.index[first_seen.to_numpy() < cutoffs[0]].to_numpy(np.int64)),
        np.sort(first_seen.index[first_seen.to_numpy() < cutoffs[1]].to_numpy(np.int64)),
        np.sort(first_seen.index.to_numpy(np.int64)),
    ]
    pools = [p if p.size else pools[-1] for p in pools]
    sizes = np.array([p.size for p in pools])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.concatenate(pools), offsets[part], sizes[part]


def _pools_at_own_time(rated: pd.DataFrame) -> Pools:
    """``per_user_temporal``: a row draws among the items first rated at or before its own time
    (items in order of first rating, then id: each row's pool is a prefix)."""
    first_seen = rated.groupby("item")["timestamp"].min()
    order = np.lexsort((first_seen.index.to_numpy(), first_seen.to_numpy()))
    items = first_seen.index.to_numpy(np.int64)[order]
    times = first_seen.to_numpy()[order]
    sizes = np.searchsorted(times, rated["timestamp"].to_numpy(), side="right")
    return items, np.zeros(len(rated), dtype=np.int64), sizes


def _sample_impressions(
    data: PreparedDataset,
    rated: pd.DataFrame,
    part: np.ndarray,
    pools: Pools,
    n_negatives: int,
    rng: np.random.Generator,
    rounds: int = 30,
) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """``n_negatives`` unrated impressions per rated pair, vectorised rejection sampling.

    Each rated row draws uniformly among its candidates (``pools``: :func:`_pools_before_cutoffs`
    or :func:`_pools_at_own_time`). A draw is rejected when the user rated the item anywhere in the
    dataset (any rating, any part) or the (user, item) pair was already drawn; rejected draws are
    redrawn up to ``rounds`` times, after which the draws left are dropped and counted as the
    shortfall, per part (impressions and users).

    Who falls short: heavy raters whose pool of distinct unrated candidates is smaller than
    ``n_negatives`` times their ratings in the part. On ML-100K (``n_negatives`` 2) 1,275 of the 1,358
    missing impressions are *train* impressions of 8 users with up to 737 ratings, whose unrated
    pool before the cut holds fewer than twice as many items; no user is short of candidates in
    general. The policy: such a user keeps every rated pair and every distinct negative that exists
    (fewer negatives, so a slightly higher click rate for those users), rather than having their
    ratings capped or negatives repeated; the manifest's ``counts.impressions_short_by_part`` says
    how many impressions and users each part lacks.
    """
    n_items = np.int64(data.n_items)
    every = data.interactions[["user", "item", "timestamp"]]
    rated_keys = np.unique(every["user"].to_numpy(np.int64) * n_items + every["item"].to_numpy(np.int64))
    flat_pool, row_offset, row_size = pools

    src = np.repeat(np.arange(len(rated)), n_negatives)
    users = rated["user"].to_numpy(np.int64)[src]
    parts = part[src]
    offsets, sizes = row_offset[src], row_size[src]

    def draw(rows: np.ndarray) -> np.ndarray:
        pick = np.floor(rng.random(rows.size) * sizes[rows]).astype(np.int64)
        return flat_pool[offsets[rows] + pick]

    items = draw(np.arange(src.size))
    bad = np.ones(src.size, dtype=bool)
    for _ in range(rounds):
        keys = users * n_items + items
        pos = np.searchsorted(rated_keys, keys).clip(max=rated_keys.size - 1)
        bad = rated_keys[pos] == keys
        first = np.zeros(src.size, dtype=bool)
        first[np.unique(keys, return_index=True)[1]] = True
        bad |= ~first
        todo = np.flatnonzero(bad)
        if todo.size == 0:
            break
        items[todo] = draw(todo)
    keep = ~bad
    short = {
        name: {"impressions": int(np.count_nonzero(bad & (parts == p))),
               "users": int(np.unique(users[bad & (parts == p)]).size)}
        for p, name in enumerate(("train", "valid", "test"))
    }
    neg = pd.DataFrame(
        {
            "user": users[keep].astype(np.int32),
            "item": items[keep].astype(np.int32),
            "rating": np.float32(np.nan),
            "timestamp": rated["timestamp"].to_numpy()[src[keep]],
            "_part": parts[keep],
        }
    )
    return neg, short


# ----------------------------------------------------------------------------- feature tables
def user_feature_table(users: pd.DataFrame, n_users: int) -> pd.DataFrame:
    """``user`` plus one int16 categorical code column per demographic field the dataset has.

    Codes are 1..k over the sorted distinct values (0 = missing); a numeric ``age`` with more than
    ten distinct values is first bucketed on :data:`AGE_EDGES`; ``zip`` keeps its first character.
    """
    table = pd.DataFrame({"user": np.arange(n_users, dtype=np.int32)})
    source = users.set_index("user").reindex(np.arange(n_users))
    for name in USER_FIELDS:
        if name not in source.columns:
            continue
        values = source[name]
        if name == "age" and pd.api.types.is_numeric_dtype(values) and values.nunique() > 10:
            values = pd.Series(np.digitize(values.to_numpy(np.float64), AGE_EDGES), index=values.index)
            values = values.where(source[name].notna())
        elif name == "zip":
            values = values.astype("string").str.strip().str[:1]
        values = values.astype("string").str.strip().replace("", pd.NA)
        codes, _ = pd.factorize(values, sort=True)
        table[name] = (codes + 1).astype(np.int16)  # factorize gives -1 for missing -> 0
    return table


def item_feature_table(items: pd.DataFrame, n_items: int) -> pd.DataFrame:
    """``item`` plus ``genre_<name>`` 0/1 int8 columns from the ``|``-joined ``genres`` column (if any).

    ``unknown`` / ``(no genres listed)`` are treated as no genre.
    """
    table = pd.DataFrame({"item": np.arange(n_items, dtype=np.int32)})
    if "genres" not in items.columns:
        return table
    genres = items.set_index("item")["genres"].reindex(np.arange(n_items)).fillna("").astype(str)
    dummies = genres.str.get_dummies(sep="|")
    dummies = dummies.drop(
        columns=[c for c in dummies.columns if c.strip().lower() in ("", "unknown", "(no genres listed)")]
    )
    dummies = dummies[sorted(dummies.columns)]
    for name in dummies.columns:
        clean = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
        table[f"genre_{clean}"] = dummies[name].to_numpy(np.int8)
    return table


# ----------------------------------------------------------------------------- audit
def audit_mtl(split: Split) -> dict[str, bool]:
    """MTL checks on top of :func:`bench.splits.audit.audit_split` (which calls this for kind mtl).

    * every part has the label columns, ``ctcvr == click AND like``, ``like`` only on clicks and
      ``rating`` present exactly on clicks;
    * both feature tables exist, have one row per user / item and no label-like column (``rating``,
      ``click``, ``like``, ``ctcvr``, ``label``, ``target``, ``timestamp``, ``score`` in the name):
      a feature must never be computed from the labels;
    * each part has clicks and non-clicks.

    Raises :class:`LeakageError` naming the split, table or part and the offending column or row.
    """
    name = split.name
    for part in PARTS:
        frame = getattr(split, part)
        missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
        if missing:
            raise LeakageError(f"split {name!r}: {part} lacks label column(s) {missing}")
        click = frame["click"].to_numpy()
        like = frame["like"].to_numpy()
        rated = frame["rating"].notna().to_numpy()
        if ((like == 1) & (click == 0)).any():
            raise LeakageError(f"split {name!r}: {part} has like = 1 on rows with click = 0")
        if (frame["ctcvr"].to_numpy() != (click & like)).any():
            raise LeakageError(f"split {name!r}: {part}.ctcvr differs from click AND like")
        if (rated != (click == 1)).any():
            row = int(np.flatnonzero(rated != (click == 1))[0])
            raise LeakageError(
                f"split {name!r}: {part} row {row} has a rating iff click is wrong "
                "(ratings must be present exactly on clicked pairs)"
            )
        if len(frame) and (click.all() or not click.any()):
            raise LeakageError(f"split {name!r}: {part} has only one click class")
    for table_name, key, size in (
        ("user_features", "user", split.n_users),
        ("item_features", "item", split.n_items),
    ):
        table = split.side.get(table_name)
        if table is None:
            raise LeakageError(f"split {name!r}: side table {table_name!r} is missing")
        bad = [c for c in table.columns if _FORBIDDEN.search(str(c))]
        if bad:
            raise LeakageError(
                f"split {name!r}: side table {table_name!r} has label-like column(s) {bad}; features "
                "must not be derived from ratings, clicks or times. Remove them from the feature table"
            )
        if key not in table.columns or table[key].duplicated().any() or len(table) != size:
            raise LeakageError(
                f"split {name!r}: side table {table_name!r} must have exactly one row per {key} "
                f"(0..{size - 1})"
            )
    return {"mtl_labels": True, "mtl_features": True}
