"""The cross-domain training hand-off: source and target interactions over one shared user index.

A cross-domain method receives a :class:`CDRData` in ``fit`` (and the target-domain validation part as
``valid``); it never sees test data. Each domain has its own local item index:

* ``source``: ``n_users x n_source_items`` interactions, local items ``0 .. n_source_items - 1``;
* ``target``: ``n_users x n_target_items`` interactions, local items ``0 .. n_target_items - 1``;
* in the joint item index of :meth:`CDRData.joint` (one model over both domains) source items come
  first: ``item_ranges == {"source": (0, n_s), "target": (n_s, n_s + n_t)}``.

``score(users)`` of a cross-domain method returns ``(len(users), n_target_items)`` scores over the
target-local items. ``source_items`` / ``target_items`` map local item indices back to the split's item
ids (the runner uses them for the saved top-K lists). A domain's local items are the items of that
domain with at least one training interaction (:mod:`bench.splits.cdr` builds the side table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bench.errors import DataError
from bench.interactions import Interactions

__all__ = ["CDRData", "ITEM_ROLES"]

#: values of the ``role`` column of a CDR split's ``items`` side table
ITEM_ROLES = ("source", "target")


@dataclass(frozen=True, eq=False)
class CDRData:
    """Training data of one cross-domain cell.

    Attributes:
        source, target: training interactions of each domain over the shared user index (rows) and
            the domain's local item index (columns); ``frame`` columns use the local item ids.
        source_items, target_items: int64 split item id of every local item, in local order.
        overlap_users: users with training interactions in both domains (sorted).
        cold_users: users with source but no target training interactions (sorted). Computed from
            training data only; in a ``cdr_cold`` split it contains every valid/test user.
        source_name, target_name: the domain names.
    """

    source: Interactions
    target: Interactions
    source_items: np.ndarray
    target_items: np.ndarray
    overlap_users: np.ndarray
    cold_users: np.ndarray
    source_name: str = "source"
    target_name: str = "target"

    def __post_init__(self) -> None:
        if self.source.n_users != self.target.n_users:
            raise DataError(
                f"source has {self.source.n_users} user rows but target has {self.target.n_users}; "
                "both domains must share one user index"
            )
        if len(self.source_items) != self.source.n_items or len(self.target_items) != self.target.n_items:
            raise DataError("source_items / target_items must list one split item id per local item")

    @property
    def n_users(self) -> int:
        return self.source.n_users

    @property
    def n_source_items(self) -> int:
        return self.source.n_items

    @property
    def n_target_items(self) -> int:
        return self.target.n_items

    @property
    def item_ranges(self) -> dict[str, tuple[int, int]]:
        """Half-open ranges of each domain's items in the joint index of :meth:`joint`."""
        n_s, n_t = self.n_source_items, self.n_target_items
        return {"source": (0, n_s), "target": (n_s, n_s + n_t)}

    def joint(self) -> Interactions:
        """Both domains as one ``n_users x (n_s + n_t)`` interaction matrix (source items first)."""
        m = sp.hstack([self.source.matrix, self.target.matrix], format="csr", dtype=np.float32)
        m.sort_indices()
        frame = pd.concat(
            [self.source.frame, self.target.frame.assign(item=self.target.frame["item"] + self.n_source_items)],
            ignore_index=True,
        )
        return Interactions(matrix=m, frame=frame)

    @classmethod
    def from_frames(
        cls,
        source: pd.DataFrame,
        target: pd.DataFrame,
        *,
        n_users: int,
        n_source_items: int,
        n_target_items: int,
        source_items: np.ndarray | None = None,
        target_items: np.ndarray | None = None,
        source_name: str = "source",
        target_name: str = "target",
    ) -> CDRData:
        """Build from frames with ``user`` and (domain-local) ``item`` columns; user sets are derived
        from the training rows only. Item id maps default to the identity."""
        s = Interactions.from_frame(source, n_users, n_source_items)
        t = Interactions.from_frame(target, n_users, n_target_items)
        has_s = np.diff(s.matrix.indptr) > 0
        has_t = np.diff(t.matrix.indptr) > 0
        return cls(
            source=s,
            target=t,
            source_items=np.arange(n_source_items, dtype=np.int64) if source_items is None
            else np.asarray(source_items, dtype=np.int64),
            target_items=np.arange(n_target_items, dtype=np.int64) if target_items is None
            else np.asarray(target_items, dtype=np.int64),
            overlap_users=np.flatnonzero(has_s & has_t).astype(np.int64),
            cold_users=np.flatnonzero(has_s & ~has_t).astype(np.int64),
            source_name=source_name,
            target_name=target_name,
        )

    @classmethod
    def from_split(cls, split) -> CDRData:
        """The training hand-off of a CDR :class:`~bench.splits.types.Split` (``train`` part only)."""
        items = _items_table(split)
        train = split.train
        parts = {}
        for role in ITEM_ROLES:
            table = items[items["role"] == role].sort_values("local")
            lookup = pd.Series(table["local"].to_numpy(), index=table["item"].to_numpy())
            rows = train[train["item"].isin(lookup.index)]
            parts[role] = (
                rows.assign(item=lookup.loc[rows["item"].to_numpy()].to_numpy()).reset_index(drop=True),
                table["item"].to_numpy(np.int64),
            )
        meta = split.meta
        return cls.from_frames(
            parts["source"][0],
            parts["target"][0],
            n_users=split.n_users,
            n_source_items=len(parts["source"][1]),
            n_target_items=len(parts["target"][1]),
            source_items=parts["source"][1],
            target_items=parts["target"][1],
            source_name=meta.get("source", "source"),
            target_name=meta.get("target", "target"),
        )


def target_part(split, part: str) -> tuple[Interactions, pd.DataFrame]:
    """A split part (``valid`` or ``test``) as target-local :class:`Interactions` plus its frame with
    the local ``item`` ids (rows whose item is not a target catalogue item raise: the builder drops
    them and the audit checks it)."""
    items = _items_table(split)
    target = items[items["role"] == "target"]
    lookup = pd.Series(target["local"].to_numpy(), index=target["item"].to_numpy())
    frame = getattr(split, part)
    unknown = ~frame["item"].isin(lookup.index)
    if unknown.any():
        row = frame[unknown].iloc[0]
        raise DataError(
            f"split {split.name!r}: {int(unknown.sum())} {part} rows are not target-domain catalogue "
            f"items (e.g. user {int(row['user'])}, item {int(row['item'])}); rebuild the split"
        )
    local = frame.assign(item=lookup.loc[frame["item"].to_numpy()].to_numpy()).reset_index(drop=True)
    return Interactions.from_frame(local, split.n_users, len(target)), local


def to_local(split, items: np.ndarray) -> np.ndarray:
    """Target-local indices of split item ids (``-1`` for items outside the target catalogue)."""
    table = _items_table(split)
    target = table[table["role"] == "target"]
    lut = np.full(split.n_items, -1, dtype=np.int64)
    lut[target["item"].to_numpy(np.int64)] = target["local"].to_numpy(np.int64)
    return lut[np.asarray(items, dtype=np.int64)]


def _items_table(split) -> pd.DataFrame:
    items = split.side.get("items")
    if items is None or not {"item", "domain", "role", "local"} <= set(items.columns):
        raise DataError(
            f"split {split.name!r} has no `items` side table with columns item, domain, role, local; "
            "it was not built by a cdr_warm / cdr_cold builder. Rebuild it with `recx split`"
        )
    return items
