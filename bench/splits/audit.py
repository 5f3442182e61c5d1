"""Leakage audit run on every split before it is written: a failing audit stops the ``split`` stage.

Checks (kinds whose :mod:`bench.kinds` row has ``pairs=False``, e.g. ``tabular_mtl``, get only
their own audit):
* no (user, item) pair of test occurs in train or valid, none of valid in train;
* every index lies in the declared index space;
* ``temporal_global``: every train interaction is strictly earlier than every valid one, and every
  valid one earlier than or at the same time as every test one (no future in train);
* ``leave_last_out`` and ``per_user_temporal`` (the MTL warm-user protocol): per user, no train
  interaction is later than that user's valid/test ones;
* then the kind's own ``audit`` of its :mod:`bench.kinds` row : e.g. :func:`bench.splits.cdr.audit_cdr` (cold-start users have NO target-domain
  interaction in train; evaluation rows and saved candidates are target items) and
  :func:`bench.splits.mtl.audit_mtl` (labels consistent, feature tables free of labels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import kinds
from bench.errors import LeakageError
from bench.splits.types import Split

__all__ = ["audit_split"]


def audit_split(split: Split) -> dict[str, int | bool]:
    """Raise :class:`LeakageError` naming the check and an example row; return the checks passed."""
    checks: dict[str, int | bool] = {}
    row = kinds.get(split.meta["kind"]) if split.meta.get("kind") is not None else None
    if row is not None and not row.pairs:  # one row per person, not (user, item) pairs
        return {**checks, **(row.resolve("audit")(split) if row.audit is not None else {})}
    for part in ("train", "valid", "test"):
        frame = getattr(split, part)
        for col, n in (("user", split.n_users), ("item", split.n_items)):
            values = frame[col].to_numpy()
            if values.size and (values.min() < 0 or values.max() >= n):
                raise LeakageError(f"split {split.name!r}: {part}.{col} outside [0, {n})")
    _no_overlap(split, "test", "train")
    _no_overlap(split, "test", "valid")
    _no_overlap(split, "valid", "train")
    checks["pair_overlap"] = True
    kind = split.meta.get("split")
    if kind == "temporal_global":
        tr, va, te = (getattr(split, p)["timestamp"] for p in ("train", "valid", "test"))
        if len(va) and tr.max() >= va.min():
            raise LeakageError(
                f"split {split.name!r}: train contains interactions at or after the validation "
                f"cut-off ({int(tr.max())} >= {int(va.min())}): future leaks into train"
            )
        if len(te) and tr.max() >= te.min():
            raise LeakageError(
                f"split {split.name!r}: train contains interactions at or after the test cut-off "
                f"({int(tr.max())} >= {int(te.min())}): future leaks into train"
            )
        if len(va) and len(te) and va.max() > te.min():
            raise LeakageError(
                f"split {split.name!r}: validation contains interactions after the test cut-off"
            )
        checks["temporal_order"] = True
    elif kind in ("leave_last_out", "per_user_temporal"):
        last_train = split.train.groupby("user")["timestamp"].max()
        for part in ("valid", "test"):
            first = getattr(split, part).groupby("user")["timestamp"].min()
            joined = pd.concat([last_train, first], axis=1, join="inner", keys=["train", part])
            bad = joined[joined["train"] > joined[part]]
            if len(bad):
                user = int(bad.index[0])
                raise LeakageError(
                    f"split {split.name!r}: user {user} has a train interaction later than its "
                    f"{part} interaction ({len(bad)} users affected)"
                )
        checks["per_user_order"] = True
    kind = split.meta.get("kind")
    if kind is not None and kinds.get(kind).audit is not None:  # the kind's own checks
        checks.update(kinds.get(kind).resolve("audit")(split))
    return checks


def _no_overlap(split: Split, a: str, b: str) -> None:
    fa, fb = getattr(split, a), getattr(split, b)
    key_a = fa["user"].to_numpy(np.int64) * split.n_items + fa["item"].to_numpy(np.int64)
    key_b = fb["user"].to_numpy(np.int64) * split.n_items + fb["item"].to_numpy(np.int64)
    shared = np.intersect1d(key_a, key_b)
    if shared.size:
        u, i = divmod(int(shared[0]), split.n_items)
        raise LeakageError(
            f"split {split.name!r}: {shared.size} (user, item) pairs of {a} also occur in {b}, "
            f"e.g. user {u}, item {i}"
        )
