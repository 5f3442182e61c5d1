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
``leave_one_out``) or ``cdr_cold`` (split ``withhold``) scenario can use::

    python -m bench.splits.cdr_pairs datasets/prepared/amazon2014-Books \\
        datasets/prepared/amazon2014-Movies_and_TV --names books movies \\
        --out datasets/prepared/amazon-books-movies
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data.tables import PreparedDataset
from bench.errors import DataError

__all__ = ["category_pair"]


def category_pair(
    first: PreparedDataset,
    second: PreparedDataset,
    *,
    names: tuple[str, str],
    min_item_ratings: int = 10,
    min_user_interactions: int = 5,
    name: str | None = None,
) -> PreparedDataset:
    """Join two single-category datasets into one two-domain dataset (see the module docstring)."""
    if names[0] == names[1]:
        raise DataError(f"the two domain names must differ, got {list(names)}")
    frames, stats = [], {}
    for data, dom in ((first, names[0]), (second, names[1])):
        inter = data.interactions
        users = data.users.set_index("user")["user_id"].astype(str)
        items = data.items.set_index("item")["item_id"].astype(str)
        counts = inter["item"].value_counts()
        keep = inter["item"].map(counts).to_numpy() >= min_item_ratings
        stats[dom] = {"rows": len(inter), "rows_rare_items": int((~keep).sum())}
        f = inter[keep]
        frames.append(
            pd.DataFrame(
                {
                    "user_id": users.loc[f["user"].to_numpy()].to_numpy(),
                    "item_id": items.loc[f["item"].to_numpy()].to_numpy(),
                    "rating": f["rating"].to_numpy(np.float32),
                    "timestamp": f["timestamp"].to_numpy(np.int64),
                    "domain": dom,
                }
            )
        )
    per_user = [f.groupby("user_id").size() for f in frames]
    both = per_user[0][per_user[0] >= min_user_interactions].index.intersection(
        per_user[1][per_user[1] >= min_user_interactions].index
    )
    if len(both) == 0:
        raise DataError(
            f"no user has >= {min_user_interactions} interactions with items of >= "
            f"{min_item_ratings} ratings in both {first.name!r} and {second.name!r}; the "
            "categories share no users"
        )
    user_ids = np.sort(both.to_numpy().astype(str))
    user_index = pd.Series(np.arange(user_ids.size, dtype=np.int32), index=user_ids)
    parts, item_tables, offset = [], [], 0
    for f, dom in zip(frames, names):
        f = f[f["user_id"].isin(user_index.index)]
        stats[dom]["rows_kept"] = len(f)
        ids = np.sort(f["item_id"].unique().astype(str))
        idx = pd.Series(np.arange(offset, offset + ids.size, dtype=np.int32), index=ids)
        offset += ids.size
        item_tables.append(pd.DataFrame({"item": idx.to_numpy(), "item_id": ids, "domain": dom}))
        parts.append(
            pd.DataFrame(
                {
                    "user": user_index.loc[f["user_id"].to_numpy()].to_numpy(),
                    "item": idx.loc[f["item_id"].to_numpy()].to_numpy(),
                    "rating": f["rating"].to_numpy(np.float32),
                    "timestamp": f["timestamp"].to_numpy(np.int64),
                    "domain": dom,
                }
            )
        )
    interactions = pd.concat(parts, ignore_index=True)
    interactions = interactions.sort_values(["user", "item"], kind="stable").reset_index(drop=True)
    interactions["domain"] = interactions["domain"].astype("string")
    stats.update(
        n_users=int(user_ids.size),
        n_items=int(offset),
        n_interactions=len(interactions),
        rule={"min_item_ratings": min_item_ratings, "min_user_interactions": min_user_interactions},
        sources=[first.name, second.name],
    )
    return PreparedDataset(
        name=name or f"{first.name}+{second.name}",
        interactions=interactions,
        users=pd.DataFrame({"user": np.arange(user_ids.size, dtype=np.int32), "user_id": user_ids}),
        items=pd.concat(item_tables, ignore_index=True),
        stats=stats,
    )


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
