"""Two-domain datasets from our own preprocessing of two single-category releases (Amazon pairs).

:func:`category_pair` joins two prepared single-domain datasets (e.g. ``amazon2014-Books`` and
``amazon2014-Movies_and_TV``, or 2018 5-core categories) on the raw user id, following the
DisenCDR / CDRIB preprocessing family:

1. per category, keep items with at least ``min_item_ratings`` interactions (counted on that
   category's prepared interactions);
2. keep users present in BOTH categories with at least ``min_user_interactions`` remaining
   interactions in EACH (one pass, not iterated — as the releases describe it);
3. re-index: users by raw id (sorted as strings), items of the first category first, then the
   second; ``domain`` = the given names; ratings and timestamps are kept (so ``cdr_cold`` reports
   MAE/RMSE).

The result is a :class:`~bench.data.tables.PreparedDataset` whose folder any ``cdr_warm`` (split
``leave_one_out``) or ``cdr_cold`` (split ``withhold``) scenario can use. In the pipeline a
``pairs:`` entry of ``params.yaml`` (:class:`bench.config.CategoryPair`) makes the ``pair@<name>``
stage (``recx pair``, :func:`build_pair`) write it to ``datasets/prepared/<name>``; by hand::

    python -m bench.splits.cdr_pairs datasets/prepared/amazon2014-Books \\
        datasets/prepared/amazon2014-Movies_and_TV --names books movies \\
        --out datasets/prepared/amazon-books-movies
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.data.tables import PreparedDataset
from bench.errors import DataError

__all__ = ["build_pair", "category_pair"]


def category_pair(
    first: PreparedDataset,
    second: PreparedDataset,
    *,
    names: tuple[str, str],
    min_item_ratings: int = 10,
    min_user_interactions: int = 5,
    name: str | None = None,
) -> PreparedDataset:
    """Join two single-category datasets into one two-domain dataset (see the module docstring).

    Vectorised on the integer codes: raw ids are compared once per user and once per item (never
    per interaction), so memory stays at a few int arrays per row -- a 27M-row category joins in
    bounded memory."""
    if names[0] == names[1]:
        raise DataError(f"the two domain names must differ, got {list(names)}")
    stats: dict[str, Any] = {}
    kept, eligible = [], []
    for data, dom in ((first, names[0]), (second, names[1])):
        inter = data.interactions
        user, item = inter["user"].to_numpy(np.int64), inter["item"].to_numpy(np.int64)
        n_items = int(item.max()) + 1 if item.size else 0
        keep = np.bincount(item, minlength=n_items)[item] >= min_item_ratings
        stats[dom] = {"rows": int(user.size), "rows_rare_items": int((~keep).sum())}
        codes = _id_table(data.users, "user", user, data.name)
        per_user = np.bincount(user[keep], minlength=codes.size)
        eligible.append(np.unique(codes[per_user >= min_user_interactions]))
        kept.append((data, dom, keep, user, item, codes))
    user_ids = np.intersect1d(eligible[0], eligible[1])  # sorted as strings
    if user_ids.size == 0:
        raise DataError(
            f"no user has >= {min_user_interactions} interactions with items of >= "
            f"{min_item_ratings} ratings in both {first.name!r} and {second.name!r}; the "
            "categories share no users"
        )
    parts, item_tables, offset = [], [], 0
    for data, dom, keep, user, item, codes in kept:
        new_user = _positions(user_ids, codes)  # category user code -> pair index, -1 = dropped
        rows = keep & (new_user[user] >= 0)
        stats[dom]["rows_kept"] = int(rows.sum())
        item_codes = _id_table(data.items, "item", item, data.name)
        ids = np.unique(item_codes[np.unique(item[rows])])  # sorted as strings
        new_item = _positions(ids, item_codes)
        item_tables.append(pd.DataFrame({"item": np.arange(offset, offset + ids.size, dtype=np.int32),
                                         "item_id": ids, "domain": dom}))
        inter = data.interactions
        parts.append(pd.DataFrame({
            "user": new_user[user[rows]].astype(np.int32),
            "item": (new_item[item[rows]] + offset).astype(np.int32),
            "rating": inter["rating"].to_numpy(np.float32)[rows],
            "timestamp": inter["timestamp"].to_numpy(np.int64)[rows],
            "domain": dom,
        }))
        offset += ids.size
    interactions = pd.concat(parts, ignore_index=True)
    order = np.lexsort((interactions["item"].to_numpy(), interactions["user"].to_numpy()))
    interactions = interactions.take(order).reset_index(drop=True)
    interactions["domain"] = interactions["domain"].astype("string")
    stats.update(
        n_users=int(user_ids.size),
        n_items=int(offset),
        n_interactions=len(interactions),
        rule={"min_item_ratings": min_item_ratings, "min_user_interactions": min_user_interactions},
        sources=[first.name, second.name],
        inputs={f"{d.name}/{k}": v for d in (first, second) for k, v in (d.stats.get("inputs") or {}).items()},
    )
    return PreparedDataset(
        name=name or f"{first.name}+{second.name}",
        interactions=interactions,
        users=pd.DataFrame({"user": np.arange(user_ids.size, dtype=np.int32), "user_id": user_ids}),
        items=pd.concat(item_tables, ignore_index=True),
        stats=stats,
    )


def build_pair(name: str, spec: Any, *, first: Path, second: Path, out: Path) -> PreparedDataset:
    """The ``pair`` stage: join the prepared folders ``first`` and ``second`` as ``spec`` (a
    :class:`bench.config.CategoryPair`) says and write the pair to ``out`` atomically (a failure
    leaves no partial folder)."""
    from bench.atomic import staged_dir

    data = category_pair(
        PreparedDataset.read(Path(first)),
        PreparedDataset.read(Path(second)),
        names=tuple(spec.names),
        min_item_ratings=spec.min_item_ratings,
        min_user_interactions=spec.min_user_interactions,
        name=name,
    )
    with staged_dir(Path(out)) as tmp:
        data.write(tmp)
    return data


def _id_table(table: pd.DataFrame, key: str, used: np.ndarray, dataset: str) -> np.ndarray:
    """Raw id (as str) per integer code of a prepared users/items table, indexed by code; every code
    in ``used`` (the interactions' codes) must have a row, else a :class:`DataError`."""
    codes = table[key].to_numpy(np.int64)
    size = int(max(codes.max(initial=-1), used.max(initial=-1))) + 1
    ids = np.full(size, "", dtype=object)
    ids[codes] = table[f"{key}_id"].astype(str).to_numpy()
    known = np.zeros(size, dtype=bool)
    known[codes] = True
    missing = np.unique(used[~known[used]])
    if missing.size:
        raise DataError(
            f"dataset {dataset!r}: {missing.size} {key} code(s) of its interactions (e.g. "
            f"{missing[:5].tolist()}) have no row in its {key}s table; re-run its prepare stage"
        )
    return ids.astype(str)


def _positions(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of each of ``ids`` in ``sorted_ids`` (a sorted array), -1 where absent."""
    pos = np.searchsorted(sorted_ids, ids)
    pos = np.minimum(pos, max(sorted_ids.size - 1, 0))
    found = sorted_ids.size > 0
    hit = (sorted_ids[pos] == ids) if found else np.zeros(ids.size, dtype=bool)
    return np.where(hit, pos, -1).astype(np.int64)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("first", type=Path)
    p.add_argument("second", type=Path)
    p.add_argument("--names", nargs=2, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--min-item-ratings", type=int, default=10)
    p.add_argument("--min-user-interactions", type=int, default=5)
    a = p.parse_args(argv)
    data = category_pair(
        PreparedDataset.read(a.first),
        PreparedDataset.read(a.second),
        names=tuple(a.names),
        min_item_ratings=a.min_item_ratings,
        min_user_interactions=a.min_user_interactions,
        name=a.out.name,
    )
    data.write(a.out)
    st = data.stats
    print(f"{a.out}: {st['n_users']} users, {st['n_items']} items, {st['n_interactions']} rows")


if __name__ == "__main__":  # pragma: no cover
    main()
