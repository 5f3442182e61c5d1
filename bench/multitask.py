"""The multi-task data hand-off to methods: :class:`MTLData`, one immutable bundle of arrays.

Built from an ``mtl`` split (:mod:`bench.splits.mtl`) by :func:`mtl_data`. Every row is one
impression (user, item) with

* ``user_id`` / ``item_id`` — indices into the *training vocabulary* (1..n-1; **0 = unknown**, i.e.
  a user or item that has no row in train: methods must treat slot 0 as "no id information" and rely
  on the features, e.g. a zero embedding);
* ``user_fields`` — ``(n, F)`` categorical codes of the demographics (0 = missing), cardinalities
  in ``field_sizes``;
* ``item_genres`` — ``(n, G)`` float32 multi-hot genres;
* ``labels`` / ``masks`` — per task (:data:`TASKS`): ``click`` and ``ctcvr`` on every row, ``like``
  and ``rating`` only where ``click == 1`` (mask False elsewhere, label 0 there).

Methods get train (and valid, for early stopping) with labels in ``fit`` and :meth:`features_only`
views in ``predict``, so they never see test labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import DataError
from bench.splits.types import Split

__all__ = ["BINARY_TASKS", "TASKS", "MTLData", "MTLVocab", "check_fit_data", "mtl_data", "mtl_vocab"]

#: every task of the mtl scenario, in a fixed order
TASKS = ("click", "like", "ctcvr", "rating")
#: the binary ones (probabilities in [0, 1]); ``rating`` is a regression target
BINARY_TASKS = ("click", "like", "ctcvr")


@dataclass(frozen=True)
class MTLVocab:
    """Index maps from the split's global ids to the training vocabulary (0 = unknown).

    Attributes:
        user_index, item_index: ``(n_users,)`` / ``(n_items,)`` int64 arrays mapping a global index
            to its vocabulary slot (0 for ids without a training row).
        user_fields: the names of the user feature columns, ``field_sizes`` their cardinalities
            (codes 0..size-1), ``genres`` the item genre column names.
    """

    user_index: np.ndarray
    item_index: np.ndarray
    user_fields: tuple[str, ...]
    field_sizes: tuple[int, ...]
    genres: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class MTLData:
    """One part of an mtl split as arrays (see the module docstring).

    Attributes:
        user, item: ``(n,)`` int64 global indices (for grouping per user; not model inputs).
        user_id, item_id: ``(n,)`` int64 vocabulary slots (0 = unknown).
        user_fields: ``(n, F)`` int64 categorical codes.
        item_genres: ``(n, G)`` float32 multi-hot.
        labels, masks: task -> ``(n,)`` float32 labels / bool masks; empty in :meth:`features_only`.
        n_user_ids, n_item_ids: vocabulary sizes including slot 0.
        field_names, field_sizes: user feature names and cardinalities; genre_names: the genres.
    """

    user: np.ndarray
    item: np.ndarray
    user_id: np.ndarray
    item_id: np.ndarray
    user_fields: np.ndarray
    item_genres: np.ndarray
    n_user_ids: int
    n_item_ids: int
    field_names: tuple[str, ...] = ()
    field_sizes: tuple[int, ...] = ()
    genre_names: tuple[str, ...] = ()
    labels: Mapping[str, np.ndarray] = field(default_factory=dict)
    masks: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.user.shape[0]
        for name in ("item", "user_id", "item_id", "user_fields", "item_genres"):
            if getattr(self, name).shape[0] != n:
                raise DataError(f"MTLData.{name} has {getattr(self, name).shape[0]} rows, expected {n}")

    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def has_labels(self) -> bool:
        return bool(self.labels)

    @property
    def tasks(self) -> tuple[str, ...]:
        """Every task of the mtl kind (:data:`TASKS`)."""
        return TASKS

    @property
    def binary_tasks(self) -> tuple[str, ...]:
        """The binary ones (:data:`BINARY_TASKS`); ``rating`` is a regression target."""
        return BINARY_TASKS

    def arrays(self) -> dict[str, np.ndarray]:
        """The model inputs by name (what a network's input layer reads)."""
        return {
            "user_id": self.user_id, "item_id": self.item_id,
            "user_fields": self.user_fields, "item_genres": self.item_genres,
        }

    def features_only(self) -> MTLData:
        """The same rows without labels and masks (what ``predict`` receives)."""
        return replace(self, labels={}, masks={})

    def subset(self, rows: np.ndarray) -> MTLData:
        """The given rows (index array or boolean mask), labels included."""
        rows = np.asarray(rows)
        return replace(
            self,
            user=self.user[rows], item=self.item[rows], user_id=self.user_id[rows],
            item_id=self.item_id[rows], user_fields=self.user_fields[rows],
            item_genres=self.item_genres[rows],
            labels={t: v[rows] for t, v in self.labels.items()},
            masks={t: v[rows] for t, v in self.masks.items()},
        )


def mtl_vocab(split: Split) -> MTLVocab:
    """Training vocabulary of an mtl split: ids with at least one train row get slots 1.., in
    ascending global index order; the feature schema comes from the split's side tables."""
    if "user_features" not in split.side or "item_features" not in split.side:
        raise DataError(
            f"split {split.name!r} has no user_features / item_features side tables; it was not built "
            f"by the mtl scenario kind. Rebuild it with `dvc repro -f split@{split.name}`"
        )

    def index(ids: np.ndarray, size: int) -> np.ndarray:
        seen = np.unique(ids.astype(np.int64))
        out = np.zeros(size, dtype=np.int64)
        out[seen] = np.arange(1, seen.size + 1)
        return out

    users = split.side["user_features"]
    fields = tuple(c for c in users.columns if c != "user")
    sizes = tuple(int(users[c].max()) + 1 if len(users) else 1 for c in fields)
    genres = tuple(c for c in split.side["item_features"].columns if c != "item")
    return MTLVocab(
        user_index=index(split.train["user"].to_numpy(), split.n_users),
        item_index=index(split.train["item"].to_numpy(), split.n_items),
        user_fields=fields,
        field_sizes=sizes,
        genres=genres,
    )


def mtl_data(split: Split, part: str, vocab: MTLVocab | None = None) -> MTLData:
    """The ``part`` (``train``/``valid``/``test``) of an mtl split as :class:`MTLData`."""
    vocab = vocab or mtl_vocab(split)
    frame: pd.DataFrame = getattr(split, part)
    user = frame["user"].to_numpy(np.int64)
    item = frame["item"].to_numpy(np.int64)
    users = split.side["user_features"].set_index("user")
    items = split.side["item_features"].set_index("item")
    user_fields = (
        users.reindex(user)[list(vocab.user_fields)].fillna(0).to_numpy(np.int64)
        if vocab.user_fields else np.zeros((user.size, 0), dtype=np.int64)
    )
    genres = (
        items.reindex(item)[list(vocab.genres)].fillna(0).to_numpy(np.float32)
        if vocab.genres else np.zeros((item.size, 0), dtype=np.float32)
    )
    click = frame["click"].to_numpy().astype(bool)
    rating = frame["rating"].to_numpy(np.float32)
    labels = {
        "click": click.astype(np.float32),
        "like": frame["like"].to_numpy(np.float32),
        "ctcvr": frame["ctcvr"].to_numpy(np.float32),
        "rating": np.where(click, rating, 0.0).astype(np.float32),
    }
    all_rows = np.ones(user.size, dtype=bool)
    masks = {"click": all_rows, "like": click, "ctcvr": all_rows.copy(), "rating": click.copy()}
    return MTLData(
        user=user,
        item=item,
        user_id=vocab.user_index[user],
        item_id=vocab.item_index[item],
        user_fields=user_fields,
        item_genres=genres,
        n_user_ids=int(vocab.user_index.max()) + 1,
        n_item_ids=int(vocab.item_index.max()) + 1,
        field_names=vocab.user_fields,
        field_sizes=vocab.field_sizes,
        genre_names=vocab.genres,
        labels=labels,
        masks=masks,
    )


def check_fit_data(data: Any, method: str) -> None:
    """What every MTL method's ``fit`` checks first: ``data`` is :class:`MTLData` with labels for
    every task of :data:`TASKS` (a public helper of the ``mtl`` method protocol)."""
    from bench.errors import MethodError

    if not isinstance(data, MTLData):
        raise MethodError(
            f"{method}: fit() expects bench.multitask.MTLData (an mtl scenario), got {type(data).__name__}"
        )
    missing = [t for t in TASKS if t not in data.labels]
    if missing:
        raise MethodError(f"{method}: training data lacks labels for task(s) {missing}")
