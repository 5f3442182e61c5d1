"""Tabular multi-task (``tabular_mtl``) splits: one row per person, two binary tasks, encoded once.

Protocol (the MMoE paper's Census-Income setting, Ma et al., KDD 2018, section 5.2):

1. The release's ``train`` part is train. Its ``test`` part is split at random with
   ``scenario.seed`` into valid and test, ``floor(valid_share * n)`` rows to valid (1:1 at the
   default ``valid_share`` 0.5). Each part keeps the release's row order.
2. Labels: the task set's 0/1 labels (:func:`bench.data.census.task_labels`) as ``task_<name>``
   int8 columns (``task_income_50k``, ``task_never_married``; ``task_college``).
3. Features: :func:`bench.data.census.feature_columns` of the task set (never a label, a column a
   label is derived from, the sampling weight ``instance_weight`` or ``part``), encoded ONCE here
   from the TRAIN rows only, so every method sees the same inputs:

   * nominal columns -> int32 codes ``1..k`` over the sorted distinct train values; a value that
     train does not have is code 0 (unseen);
   * continuous columns -> float32 ``(x - mean) / std`` with the train mean and population std
     (std 0 -> 1).

   The encoding is saved in the side tables ``categories`` (``column``, ``value``, ``code``) and
   ``numeric_stats`` (``column``, ``mean``, ``std``).
4. ``user`` is the person: the row's index in the prepared ``rows.parquet`` (the unit of the
   per-row results and of the report's paired tests; no person is in two parts).

The manifest's ``meta`` counts rows and label positives per part.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.config import TabularMTLScenario
from bench.data import census
from bench.data.tables import PART_COLUMN, PreparedTable
from bench.errors import DataError, LeakageError
from bench.splits.types import PARTS, Split

__all__ = ["LABEL_PREFIX", "audit_tabular_mtl", "encode_features", "label_column", "split_tabular_mtl"]

#: the prefix of every label column of a part frame
LABEL_PREFIX = "task_"
#: the release parts the builder reads
SOURCE_TRAIN, SOURCE_TEST = "train", "test"


def label_column(task: str) -> str:
    """The part-frame column of a task's labels (``income_50k`` -> ``task_income_50k``)."""
    return f"{LABEL_PREFIX}{task}"


def split_tabular_mtl(data: PreparedTable, scenario: TabularMTLScenario) -> Split:
    """Build the split of ``data`` (see the module docstring) and return it, unaudited."""
    rows = data.rows
    if PART_COLUMN not in rows.columns:
        raise DataError(f"scenario {scenario.name!r}: dataset {data.name!r} has no {PART_COLUMN!r} column")
    part = rows[PART_COLUMN].to_numpy()
    train_idx = np.flatnonzero(part == SOURCE_TRAIN)
    test_pool = np.flatnonzero(part == SOURCE_TEST)
    if not train_idx.size or test_pool.size < 2:
        raise DataError(
            f"scenario {scenario.name!r}: dataset {data.name!r} has {train_idx.size} {SOURCE_TRAIN!r} "
            f"and {test_pool.size} {SOURCE_TEST!r} rows; the tabular_mtl kind needs both parts"
        )
    rng = np.random.default_rng(scenario.seed)
    n_valid = int(np.floor(scenario.valid_share * test_pool.size))
    drawn = rng.permutation(test_pool.size)
    valid_idx = np.sort(test_pool[drawn[:n_valid]])
    test_idx = np.sort(test_pool[drawn[n_valid:]])

    task_set = census.TASK_SETS[scenario.task_set]
    labels = census.task_labels(rows, scenario.task_set)
    labels.columns = [label_column(c) for c in labels.columns]
    features = census.feature_columns(scenario.task_set, rows.columns)
    nominal = set(data.stats.get("nominal_columns", []))
    categorical = [c for c in features if c in nominal]
    numeric = [c for c in features if c not in nominal]
    encoded, categories, stats = encode_features(rows, categorical, numeric, train_idx)

    frames = {
        name: pd.concat(
            [pd.DataFrame({"user": idx.astype(np.int64)}),
             encoded.iloc[idx].reset_index(drop=True),
             labels.iloc[idx].reset_index(drop=True)],
            axis=1,
        )
        for name, idx in zip(PARTS, (train_idx, valid_idx, test_idx), strict=True)
    }
    tasks = [label_column(t.name) for t in task_set.tasks]
    meta: dict[str, Any] = {
        "kind": scenario.kind,
        "split": "release_train_random_test_halves",
        "dataset": data.name,
        "task_set": scenario.task_set,
        "tasks": tasks,
        "label_sources": list(task_set.sources),
        "features": {"categorical": categorical, "numeric": numeric},
        "counts": {
            "release": {SOURCE_TRAIN: int(train_idx.size), SOURCE_TEST: int(test_pool.size)},
            **{p: len(f) for p, f in frames.items()},
        },
        "positives": {p: {t: int(f[t].sum()) for t in tasks} for p, f in frames.items()},
        "unseen_categories": {
            p: int((frames[p][categorical].to_numpy() == 0).any(axis=1).sum()) if categorical else 0
            for p in ("valid", "test")
        },
        "settings": {"task_set": scenario.task_set, "valid_share": scenario.valid_share, "seed": scenario.seed},
    }
    return Split(
        name=scenario.name, n_users=len(rows), n_items=0, meta=meta,
        side={"categories": categories, "numeric_stats": stats}, **frames,
    )


def encode_features(
    rows: pd.DataFrame, categorical: list[str], numeric: list[str], train_idx: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Encode every row with statistics of the rows ``train_idx`` only (module docstring, step 3).

    Returns ``(encoded, categories, numeric_stats)``: ``encoded`` has one int32 column per
    categorical and one float32 column per numeric feature, same index order as ``rows``.
    """
    out: dict[str, np.ndarray] = {}
    vocab = []
    for col in categorical:
        values = rows[col].astype("str")
        seen = np.sort(values.iloc[train_idx].unique())
        codes = pd.Index(seen).get_indexer(values).astype(np.int32) + 1  # -1 (unseen) -> 0
        out[col] = codes
        vocab.append(pd.DataFrame({"column": col, "value": seen, "code": np.arange(1, seen.size + 1, dtype=np.int32)}))
    means, stds = [], []
    for col in numeric:
        x = rows[col].to_numpy(np.float64)
        mean = float(x[train_idx].mean())
        std = float(x[train_idx].std())
        std = std if std > 0 else 1.0
        out[col] = ((x - mean) / std).astype(np.float32)
        means.append(mean)
        stds.append(std)
    categories = (
        pd.concat(vocab, ignore_index=True) if vocab
        else pd.DataFrame({"column": pd.Series(dtype="str"), "value": pd.Series(dtype="str"),
                           "code": pd.Series(dtype=np.int32)})
    )
    stats = pd.DataFrame({"column": pd.Series(numeric, dtype="str"), "mean": means, "std": stds})
    return pd.DataFrame(out, index=rows.index), categories, stats


# ----------------------------------------------------------------------------- audit
def audit_tabular_mtl(split: Split) -> dict[str, bool]:
    """Checks of a tabular_mtl split (run by :func:`bench.splits.audit.audit_split`).

    * every part has exactly ``user``, the declared features and the task label columns (0/1);
    * no feature is a label, a label's source column (``marital_status``, ``income`` or
      ``education`` by task set), the sampling weight ``instance_weight`` or ``part``, nor carries
      the label prefix: the error names the column;
    * no person (``user``) is in two parts; valid has ``floor(valid_share * n)`` of the
      ``n = |valid| + |test|`` rows of the release's test part (1:1 at 0.5);
    * the encoding is train's: every categorical train code is in ``1..k`` (k = its categories;
      0 = unseen occurs only outside train), and every numeric train column has mean 0 and std 1.

    Raises :class:`LeakageError` naming the split, part and column.
    """
    name, meta = split.name, split.meta
    features = [*meta["features"]["categorical"], *meta["features"]["numeric"]]
    tasks = list(meta["tasks"])
    forbidden = {
        *census.TASK_SETS[meta["task_set"]].sources, *census.NON_FEATURES, *meta.get("label_sources", ()),
    }
    for col in features:
        if col in forbidden or col in tasks or col.startswith(LABEL_PREFIX):
            raise LeakageError(
                f"split {name!r}: feature column {col!r} is a label, the source of a label or a "
                f"non-feature (labels: {tasks}; never features: {sorted(forbidden)}). Remove it from "
                "the features"
            )
    expected = ["user", *features, *tasks]
    for part in PARTS:
        frame = getattr(split, part)
        if list(frame.columns) != expected:
            extra = sorted(set(frame.columns) - set(expected))
            missing = sorted(set(expected) - set(frame.columns))
            raise LeakageError(
                f"split {name!r}: {part} columns differ from user + features + labels "
                f"(unexpected {extra}, missing {missing})"
            )
        for t in tasks:
            values = frame[t].to_numpy()
            if values.size and not np.isin(values, (0, 1)).all():
                raise LeakageError(f"split {name!r}: {part}.{t} has values other than 0 and 1")
    users = [getattr(split, p)["user"].to_numpy() for p in PARTS]
    for (a, ua), (b, ub) in (((0, users[0]), (1, users[1])), ((0, users[0]), (2, users[2])),
                             ((1, users[1]), (2, users[2]))):
        shared = np.intersect1d(ua, ub)
        if shared.size:
            raise LeakageError(
                f"split {name!r}: {shared.size} persons of {PARTS[b]} also occur in {PARTS[a]}, "
                f"e.g. user {int(shared[0])}"
            )
    n_valid, n_test = len(split.valid), len(split.test)
    share = float(meta["settings"]["valid_share"])
    if n_valid != int(np.floor(share * (n_valid + n_test))):
        raise LeakageError(
            f"split {name!r}: valid has {n_valid} of the {n_valid + n_test} release test rows, "
            f"expected floor({share} x {n_valid + n_test}) (test {n_test})"
        )
    _audit_encoding(split, meta["features"]["categorical"], meta["features"]["numeric"])
    return {"tabular_features": True, "tabular_parts": True, "tabular_encoding": True}


def _audit_encoding(split: Split, categorical: list[str], numeric: list[str]) -> None:
    name, train = split.name, split.train
    sizes = split.side["categories"].groupby("column")["code"].max() if categorical else pd.Series(dtype=int)
    for col in categorical:
        k = int(sizes.get(col, 0))
        codes = train[col].to_numpy()
        if codes.size and (codes.min() < 1 or codes.max() > k):
            raise LeakageError(
                f"split {name!r}: train.{col} has codes outside 1..{k}: the categories were not "
                "taken from train"
            )
        for part in ("valid", "test"):
            other = getattr(split, part)[col].to_numpy()
            if other.size and (other.min() < 0 or other.max() > k):
                raise LeakageError(f"split {name!r}: {part}.{col} has codes outside 0..{k}")
    for col in numeric:
        x = train[col].to_numpy(np.float64)
        if x.size > 1 and (abs(x.mean()) > 1e-3 or (x.std() > 0 and abs(x.std() - 1) > 1e-3)):
            raise LeakageError(
                f"split {name!r}: train.{col} has mean {x.mean():.4g} and std {x.std():.4g}; "
                "numeric features must be standardised with train statistics"
            )
