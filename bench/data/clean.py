"""Row validation, deterministic id maps, de-duplication and iterative k-core, all vectorised.

Invalid rows are never silently dropped: each is counted under the first reason it fails, in the
order of :data:`REASONS`, so ``stats.json`` accounts for every line of every raw file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bench.data.readers import RawRows, to_float, to_int
from bench.data.tables import RatingScale

__all__ = ["REASONS", "FileCounts", "dedupe", "dense_codes", "kcore", "validate_rows"]

REASONS = ("malformed_line", "missing_id", "bad_id", "bad_rating", "bad_timestamp")
"""Why a raw row is invalid, in the order they are tested:

``malformed_line`` wrong number of fields, or not a JSON object; ``missing_id`` empty user or item;
``bad_id`` an id that is not a non-negative integer where the dataset's ids are integers;
``bad_rating`` missing, unparsable, NaN or outside the declared rating scale (or off its step);
``bad_timestamp`` missing, unparsable, fractional or negative Unix time."""

_EXAMPLES = 3


@dataclass
class FileCounts:
    """Per-file accounting: lines read and invalid rows per reason (see :data:`REASONS`)."""

    file: str
    rows_read: int
    invalid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    examples: list[str] = field(default_factory=list)

    @property
    def n_invalid(self) -> int:
        return sum(self.invalid.values())

    @property
    def invalid_fraction(self) -> float:
        return self.n_invalid / self.rows_read if self.rows_read else 0.0

    def stats(self) -> dict:
        """This file's entry of ``stats.json: files`` (every prepare format writes the same)."""
        return {
            "rows_read": self.rows_read,
            "invalid": self.invalid,
            "invalid_fraction": round(self.invalid_fraction, 6),
            "examples": self.examples,
        }


def validate_rows(
    raw: RawRows,
    *,
    id_kind: Literal["int", "str"],
    scale: RatingScale | None,
    timestamp: bool,
) -> tuple[pd.DataFrame, FileCounts]:
    """Type and check the text columns of one file; return the valid rows and the file's counts.

    Args:
        raw: text columns ``user``, ``item`` and, when present, ``rating``, ``timestamp``.
        id_kind: ``int`` (MovieLens, the CDR releases: ids must be non-negative integers) or ``str``
            (Amazon reviewer ids and ASINs, kept verbatim so leading zeros survive).
        scale: the declared rating scale, or None for implicit feedback (rating becomes NaN).
        timestamp: whether the file has a Unix-time column (else timestamp becomes -1).

    Returns:
        ``(frame, counts)``: frame columns ``user``, ``item`` (int64 or str), ``rating`` (float64),
        ``timestamp`` (int64), in file order.
    """
    n = raw.n
    counts = FileCounts(raw.file, raw.rows_read)
    counts.invalid["malformed_line"] = raw.malformed
    counts.examples.extend(f"malformed: {e}" for e in raw.examples)
    user_txt = pc.utf8_trim_whitespace(raw.columns["user"])
    item_txt = pc.utf8_trim_whitespace(raw.columns["item"])
    missing = _np(pc.or_(pc.equal(user_txt, ""), pc.equal(item_txt, "")))
    failed = {"missing_id": missing}
    if id_kind == "int":
        user, user_ok = to_int(user_txt)
        item, item_ok = to_int(item_txt)
        failed["bad_id"] = ~(user_ok & item_ok & (user >= 0) & (item >= 0))
    else:
        user, item = user_txt, item_txt
        failed["bad_id"] = np.zeros(n, dtype=bool)
    if scale is not None:
        rating = to_float(raw.columns["rating"])
        with np.errstate(invalid="ignore"):
            ok = (rating >= scale.min) & (rating <= scale.max)
            if scale.step:
                steps = (rating - scale.min) / scale.step
                ok &= np.abs(steps - np.round(steps)) < 1e-6
        failed["bad_rating"] = ~ok
    else:
        rating = np.full(n, np.nan)
        failed["bad_rating"] = np.zeros(n, dtype=bool)
    if timestamp:
        ts, ts_ok = to_int(raw.columns["timestamp"])
        failed["bad_timestamp"] = ~(ts_ok & (ts >= 0))
    else:
        ts = np.full(n, -1, dtype=np.int64)
        failed["bad_timestamp"] = np.zeros(n, dtype=bool)

    taken = np.zeros(n, dtype=bool)
    for reason in REASONS[1:]:
        mask = failed[reason] & ~taken
        counts.invalid[reason] = int(mask.sum())
        room = _EXAMPLES - len(counts.examples)
        if mask.any() and room > 0:
            counts.examples.extend(
                f"{reason}: {_row_text(raw, k)}" for k in np.flatnonzero(mask)[:room]
            )
        taken |= mask
    keep = ~taken
    if id_kind == "int":
        user_col, item_col = user[keep], item[keep]
    else:
        mask = pa.array(keep)
        user_col = _strings(pc.filter(user, mask))
        item_col = _strings(pc.filter(item, mask))
    frame = pd.DataFrame(
        {
            "user": user_col,
            "item": item_col,
            "rating": rating[keep],
            "timestamp": ts[keep].astype(np.int64),
        }
    )
    return frame, counts


def dense_codes(
    raw: pd.Series, scope: np.ndarray, n_scopes: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """Deterministic dense ids for ``(scope, raw id)`` keys.

    Keys are numbered scope by scope (scope 0 first), and within a scope in sorted raw-id order
    (numeric for integer ids, lexicographic for string ids), so the same keys always get the same ids.

    Returns:
        ``(codes, table)``: one int64 code per row, and the key table (``scope``, ``raw``) in code
        order.
    """
    codes = np.empty(len(raw), dtype=np.int64)
    tables = []
    offset = 0
    for s in range(n_scopes):
        sel = scope == s
        if not sel.any():
            continue
        local, uniques = pd.factorize(raw[sel] if n_scopes > 1 else raw, sort=True)
        codes[sel] = local + offset
        tables.append(
            pd.DataFrame({"scope": np.full(len(uniques), s, dtype=np.int8), "raw": np.asarray(uniques)})
        )
        offset += len(uniques)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame({"scope": [], "raw": []})
    return codes, table


def dedupe(
    user: np.ndarray,
    item: np.ndarray,
    timestamp: np.ndarray,
    n_items: int,
    *,
    keep: Literal["last", "first"],
) -> np.ndarray:
    """Boolean mask keeping one row per (user, item).

    ``keep="last"`` keeps the row with the latest timestamp (ties: the later row in file order),
    ``"first"`` the earliest (ties: the earlier row). Rows are never reordered.
    """
    key = user.astype(np.int64) * np.int64(max(n_items, 1)) + item.astype(np.int64)
    dup = pd.Series(key).duplicated(keep=False).to_numpy()
    mask = np.ones(len(key), dtype=bool)
    if not dup.any():
        return mask
    pos = np.flatnonzero(dup)
    order = pos[np.lexsort((pos, timestamp[pos], key[pos]))]
    k = key[order]
    last_of_group = np.r_[k[1:] != k[:-1], True]
    first_of_group = np.r_[True, k[1:] != k[:-1]]
    winners = order[last_of_group if keep == "last" else first_of_group]
    mask[pos] = False
    mask[winners] = True
    return mask


def kcore(
    user: np.ndarray, item: np.ndarray, k: int, n_users: int, n_items: int
) -> tuple[np.ndarray, int]:
    """Iterative user+item k-core: drop users and items with fewer than ``k`` interactions, repeatedly,
    until none is left.

    Returns:
        ``(mask, rounds)``: rows kept, and the number of passes that removed something.
    """
    mask = np.ones(len(user), dtype=bool)
    rounds = 0
    if k <= 1:
        return mask, rounds
    while True:
        du = np.bincount(user[mask], minlength=n_users)
        di = np.bincount(item[mask], minlength=n_items)
        new = mask & (du[user] >= k) & (di[item] >= k)
        if new.sum() == mask.sum():
            return mask, rounds
        mask = new
        rounds += 1


def _np(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _strings(arr: pa.ChunkedArray | pa.Array) -> pd.Series:
    return pd.Series(arr.to_pandas(), dtype="str")


def _row_text(raw: RawRows, k: int) -> str:
    parts: Sequence[str] = [str(col[int(k)].as_py()) for col in raw.columns.values()]
    return ", ".join(f"{name}={value!r}" for name, value in zip(raw.columns, parts, strict=True))
