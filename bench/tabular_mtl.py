"""The tabular multi-task hand-off to methods: :class:`TabularMTLData`, one immutable bundle of arrays.

Built from a ``tabular_mtl`` split (:mod:`bench.splits.tabular_mtl`) by :func:`tabular_data`. Every
row is one person with

* ``categorical`` — ``(n, C)`` int64 codes of the nominal features, encoded from train when the split
  was built (1..k; **0 = a value train does not have**: methods treat it as "no information", e.g. a
  zero embedding); cardinalities (k + 1, slot 0 included) in ``categorical_sizes``;
* ``numeric`` — ``(n, D)`` float32 continuous features standardised with train statistics;
* ``labels`` / ``masks`` — per task of ``tasks`` (every task binary, defined on every row: the masks
  are all True; they exist so the MTL training loop treats both hand-offs alike).

``row`` is the person (the ``user`` column of the split: the prepared table's row index); it is not
a model input. Methods get train (and valid, for early stopping) with labels in ``fit`` and
:meth:`TabularMTLData.features_only` views in ``predict``, so they never see test labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bench.errors import DataError, MethodError
from bench.splits.types import Split

__all__ = ["TabularMTLData", "check_fit_data", "tabular_data"]


@dataclass(frozen=True, eq=False)
class TabularMTLData:
    """One part of a tabular_mtl split as arrays (see the module docstring).

    Attributes:
        row: ``(n,)`` int64 person ids (for per-row results; not a model input).
        categorical: ``(n, C)`` int64 codes, 0 = unseen in train.
        numeric: ``(n, D)`` float32 standardised values.
        categorical_names, categorical_sizes: the nominal features and their code ranges (0..size-1).
        numeric_names: the continuous features.
        tasks: the task names (label columns without their ``task_`` prefix), in a fixed order.
        labels, masks: task -> ``(n,)`` float32 0/1 labels / bool masks; empty in :meth:`features_only`.
    """

    row: np.ndarray
    categorical: np.ndarray
    numeric: np.ndarray
    tasks: tuple[str, ...]
    categorical_names: tuple[str, ...] = ()
    categorical_sizes: tuple[int, ...] = ()
    numeric_names: tuple[str, ...] = ()
    labels: Mapping[str, np.ndarray] = field(default_factory=dict)
    masks: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.row.shape[0]
        for name in ("categorical", "numeric"):
            if getattr(self, name).shape[0] != n:
                raise DataError(f"TabularMTLData.{name} has {getattr(self, name).shape[0]} rows, expected {n}")
        if self.categorical.shape[1] != len(self.categorical_sizes):
            raise DataError(
                f"TabularMTLData: {self.categorical.shape[1]} categorical columns but "
                f"{len(self.categorical_sizes)} sizes"
            )

    def __len__(self) -> int:
        return int(self.row.shape[0])

    @property
    def binary_tasks(self) -> tuple[str, ...]:
        """Every task is binary."""
        return self.tasks

    @property
    def has_labels(self) -> bool:
        return bool(self.labels)

    def arrays(self) -> dict[str, np.ndarray]:
        """The model inputs by name (what a network's input layer reads)."""
        return {"categorical": self.categorical, "numeric": self.numeric}

    def features_only(self) -> TabularMTLData:
        """The same rows without labels and masks (what ``predict`` receives)."""
        return replace(self, labels={}, masks={})

    def subset(self, rows: np.ndarray) -> TabularMTLData:
        """The given rows (index array or boolean mask), labels included."""
        rows = np.asarray(rows)
        return replace(
            self, row=self.row[rows], categorical=self.categorical[rows], numeric=self.numeric[rows],
            labels={t: v[rows] for t, v in self.labels.items()},
            masks={t: v[rows] for t, v in self.masks.items()},
        )


def tabular_data(split: Split, part: str) -> TabularMTLData:
    """The ``part`` (``train``/``valid``/``test``) of a tabular_mtl split as :class:`TabularMTLData`."""
    from bench.splits.tabular_mtl import LABEL_PREFIX

    meta = split.meta
    if meta.get("kind") != "tabular_mtl" or "categories" not in split.side:
        raise DataError(
            f"split {split.name!r} was not built by the tabular_mtl scenario kind (no feature "
            f"encoding); rebuild it with `dvc repro -f split@{split.name}`"
        )
    frame = getattr(split, part)
    categorical = tuple(meta["features"]["categorical"])
    numeric = tuple(meta["features"]["numeric"])
    sizes = split.side["categories"].groupby("column")["code"].max()
    label_columns = list(meta["tasks"])
    tasks = tuple(c.removeprefix(LABEL_PREFIX) for c in label_columns)
    n = len(frame)
    return TabularMTLData(
        row=frame["user"].to_numpy(np.int64),
        categorical=frame[list(categorical)].to_numpy(np.int64) if categorical else np.zeros((n, 0), np.int64),
        numeric=frame[list(numeric)].to_numpy(np.float32) if numeric else np.zeros((n, 0), np.float32),
        tasks=tasks,
        categorical_names=categorical,
        categorical_sizes=tuple(int(sizes.get(c, 0)) + 1 for c in categorical),
        numeric_names=numeric,
        labels={t: frame[c].to_numpy(np.float32) for t, c in zip(tasks, label_columns, strict=True)},
        masks={t: np.ones(n, dtype=bool) for t in tasks},
    )


def check_fit_data(data: Any, method: str) -> None:
    """What a tabular_mtl method's ``fit`` checks first: ``data`` is :class:`TabularMTLData` with
    labels for every one of its tasks."""
    if not isinstance(data, TabularMTLData):
        raise MethodError(
            f"{method}: fit() expects bench.tabular_mtl.TabularMTLData (a tabular_mtl scenario), got "
            f"{type(data).__name__}"
        )
    missing = [t for t in data.tasks if t not in data.labels]
    if missing:
        raise MethodError(f"{method}: training data lacks labels for task(s) {missing}")
