"""MTL split builder and its leakage audit on synthetic prepared data (issue 4)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bench.config import MTLScenario
from bench.data.tables import PreparedDataset
from bench.errors import DataError, LeakageError
from bench.splits.audit import audit_split
from bench.splits.build import build_split
from bench.splits.mtl import item_feature_table, split_mtl, user_feature_table
from bench.splits.types import Split

GENRES = ["Action", "Comedy", "Drama", "Sci-Fi", "unknown"]


def toy_dataset(n_users: int = 30, n_items: int = 40, per_user: int = 10, seed: int = 0) -> PreparedDataset:
    """MovieLens-shaped tables: ratings 1..5 with times, demographics and ``|``-joined genres."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    inter = pd.DataFrame(
        {
            "user": users.astype(np.int32),
            "item": items.astype(np.int32),
            "rating": rng.integers(1, 6, size=users.size).astype(np.float32),
            "timestamp": rng.integers(1_000, 5_000, size=users.size).astype(np.int64),
            "domain": "toy",
        }
    )
    user_table = pd.DataFrame(
        {
            "user": np.arange(n_users, dtype=np.int32),
            "user_id": [str(u + 1) for u in range(n_users)],
            "age": rng.integers(7, 70, size=n_users),
            "gender": rng.choice(["M", "F"], size=n_users),
            "occupation": rng.choice(["writer", "student", "other"], size=n_users),
            "zip": rng.choice(["55105", "94043", "T8H1N", ""], size=n_users),
        }
    )
    item_table = pd.DataFrame(
        {
            "item": np.arange(n_items, dtype=np.int32),
            "item_id": [str(i + 1) for i in range(n_items)],
            "title": [f"film {i}" for i in range(n_items)],
            "genres": ["|".join(sorted(rng.choice(GENRES, size=rng.integers(1, 3), replace=False)))
                       for _ in range(n_items)],
        }
    )
    return PreparedDataset(name="toy", interactions=inter, users=user_table, items=item_table, stats={})


def scenario(**kw) -> MTLScenario:
    return MTLScenario(name="toy-mtl", dataset="toy", **kw)


def test_click_space_labels_and_counts():
    data = toy_dataset()
    split = split_mtl(data, scenario(n_negatives=2))
    checks = audit_split(split)
    assert checks["mtl_labels"] and checks["mtl_features"] and checks["temporal_order"]
    rated_pairs = set(zip(data.interactions["user"], data.interactions["item"], strict=True))
    total_pos = 0
    for part in ("train", "valid", "test"):
        f = getattr(split, part)
        pos, neg = f[f["click"] == 1], f[f["click"] == 0]
        total_pos += len(pos)
        # every sampled impression is an item the user never rated anywhere
        assert not any((u, i) in rated_pairs for u, i in zip(neg["user"], neg["item"], strict=True))
        assert neg["rating"].isna().all() and pos["rating"].notna().all()
        assert (pos["like"] == (pos["rating"] >= 4.0)).all()
        assert (f["ctcvr"] == f["click"] * f["like"]).all()
        assert (neg["like"] == 0).all()
    assert total_pos == len(data.interactions)  # no duplicate pairs in the toy data
    n_neg = sum((getattr(split, p)["click"] == 0).sum() for p in ("train", "valid", "test"))
    assert n_neg + split.meta["counts"]["impressions_short"] == 2 * total_pos
    short = split.meta["counts"]["impressions_short_by_part"]
    for part in ("train", "valid", "test"):  # the shortfall is counted where it happens
        f = getattr(split, part)
        assert (f["click"] == 0).sum() + short[part]["impressions"] == 2 * (f["click"] == 1).sum()
        assert (short[part]["users"] > 0) == (short[part]["impressions"] > 0)
    # (user, item) pairs are unique over the whole split
    allp = pd.concat([split.train, split.valid, split.test])
    assert not allp.duplicated(["user", "item"]).any()


def test_sampling_is_saved_and_reproducible(tmp_path):
    data = toy_dataset()
    data.write(tmp_path / "prepared")
    a = build_split(scenario(), prepared=tmp_path / "prepared", out=tmp_path / "a")
    b = split_mtl(data, scenario())
    c = split_mtl(data, scenario(seed=1))
    pd.testing.assert_frame_equal(a.train, b.train)
    assert not c.train.equals(b.train)
    back = Split.read(tmp_path / "a")
    pd.testing.assert_frame_equal(back.test, a.test)
    assert set(back.side) == {"user_features", "item_features"}
    assert back.meta["audit"]["mtl_features"]


def test_sampled_items_existed_before_the_part_ends():
    data = toy_dataset(n_items=60)
    split = split_mtl(data, scenario(n_negatives=3))
    first = data.interactions.groupby("item")["timestamp"].min()
    neg = split.train[split.train["click"] == 0]
    assert (first.loc[neg["item"]].to_numpy() < split.meta["cutoffs"]["valid_from"]).all()


def test_feature_tables():
    data = toy_dataset()
    users = user_feature_table(data.users, data.n_users)
    assert list(users.columns) == ["user", "age", "gender", "occupation", "zip"]
    assert users["age"].max() <= 7 and users["gender"].min() >= 1
    assert (users["zip"] == 0).any()  # the empty zip is "missing"
    items = item_feature_table(data.items, data.n_items)
    assert list(items.columns) == ["item", "genre_action", "genre_comedy", "genre_drama", "genre_sci_fi"]
    row = data.items["genres"].iloc[0].split("|")
    assert items.loc[0, "genre_drama"] == ("Drama" in row)


def test_leaky_feature_table_is_refused():
    split = split_mtl(toy_dataset(), scenario())
    leaky_users = split.side["user_features"].assign(
        mean_rating=split.train.groupby("user")["rating"].mean().reindex(range(split.n_users)).to_numpy()
    )
    leaky = dataclasses.replace(split, side={**split.side, "user_features": leaky_users})
    with pytest.raises(LeakageError, match=r"user_features.*label-like column\(s\) \['mean_rating'\]"):
        audit_split(leaky)


def test_test_pair_in_train_is_refused():
    split = split_mtl(toy_dataset(), scenario())
    row = split.test[split.test["click"] == 1].iloc[[0]]
    leaky = dataclasses.replace(split, train=pd.concat([split.train, row], ignore_index=True))
    with pytest.raises(LeakageError, match="pairs of test also occur in train"):
        audit_split(leaky)


def test_inconsistent_labels_are_refused():
    split = split_mtl(toy_dataset(), scenario())
    bad = split.valid.copy()
    bad.loc[bad["click"] == 0, "ctcvr"] = 1
    with pytest.raises(LeakageError, match="ctcvr differs"):
        audit_split(dataclasses.replace(split, valid=bad))


def test_unrated_dataset_is_a_clear_error():
    data = toy_dataset()
    inter = data.interactions.assign(rating=np.float32(np.nan))
    with pytest.raises(DataError, match="no explicit ratings"):
        split_mtl(dataclasses.replace(data, interactions=inter), scenario())


def _frame(rows: list[tuple[int, int, float, int]]) -> PreparedDataset:
    inter = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"]).astype(
        {"user": np.int32, "item": np.int32, "rating": np.float32, "timestamp": np.int64}
    ).assign(domain="toy")
    n_users, n_items = int(inter["user"].max()) + 1, int(inter["item"].max()) + 1
    return PreparedDataset(
        name="toy", interactions=inter,
        users=pd.DataFrame({"user": np.arange(n_users, dtype=np.int32)}),
        items=pd.DataFrame({"item": np.arange(n_items, dtype=np.int32)}), stats={},
    )


def test_per_user_temporal_takes_each_users_last_ratings_known_answer():
    """User 0 has 10 ratings (times 10..100): the last 1 (10 % floored, at least 1) is test, the one
    before valid; user 1 has 12 (times interleaved with user 0's): floor(1.2) = 1 test, 1 valid; user 2 has 2 ratings and stays in train; user 3 rates 18 items at one time, so
    its (time, item) order ends with items 28, 29. Every test user is warm."""
    rows = [(0, i, 4.0, 10 * (i + 1)) for i in range(10)] + [(1, i, 3.0, 5 * i + 1) for i in range(12)]
    rows += [(2, 0, 5.0, 1), (2, 1, 5.0, 2)]
    rows += [(3, i, 2.0, 0) for i in range(12, 30)]  # items 12..29 exist from time 0: the negatives
    split = split_mtl(_frame(rows), scenario(split="per_user_temporal", test_fraction=0.1,
                                             valid_fraction=0.1, n_negatives=1))
    rated = {p: getattr(split, p).query("click == 1") for p in ("train", "valid", "test")}
    assert sorted(map(tuple, rated["test"][["user", "item"]].to_numpy())) == [(0, 9), (1, 11), (3, 29)]
    assert sorted(map(tuple, rated["valid"][["user", "item"]].to_numpy())) == [(0, 8), (1, 10), (3, 28)]
    assert set(rated["train"]["user"]) == {0, 1, 2, 3} and len(rated["train"]) == 8 + 10 + 2 + 16
    assert split.meta["split"] == "per_user_temporal" and split.meta["cutoffs"] is None
    assert split.meta["cold"]["test_user"] == split.meta["cold"]["valid_user"] == 0
    audit_split(split)
    # a negative is an item that existed (was first rated) at its rated pair's own time
    first = pd.DataFrame(rows, columns=["user", "item", "rating", "t"]).groupby("item")["t"].min()
    for part in ("train", "valid", "test"):
        neg = getattr(split, part).query("click == 0")
        assert (first.loc[neg["item"]].to_numpy() <= neg["timestamp"].to_numpy()).all()


def test_per_user_temporal_gives_every_user_two_test_ratings_of_twenty():
    """With 10 % of 20 ratings per user, every user has exactly 2 rated test pairs and none is
    cold; the global protocol on the same data still cuts by time; both pass the audit."""
    data = toy_dataset(n_users=30, per_user=20)
    warm = split_mtl(data, scenario(split="per_user_temporal"))
    cold = split_mtl(data, scenario())
    assert warm.meta["cold"]["test_user"] == 0
    assert (warm.test.query("click == 1").groupby("user").size() == 2).all()
    assert cold.meta["split"] == "temporal_global" and cold.meta["cutoffs"] is not None
    audit_split(warm)
    audit_split(cold)


def test_per_user_temporal_keeps_one_train_rating_under_large_fractions():
    """test 0.7 + valid 0.29 on a 3-rating history would take all 3 (at least one each after
    flooring 2.1 -> 2 and 0.87 -> 1): the counts are capped so the user keeps one train rating."""
    rows = [(0, i, 4.0, i + 1) for i in range(3)] + [(1, i, 4.0, i + 1) for i in range(3, 13)]
    split = split_mtl(_frame(rows), scenario(split="per_user_temporal", test_fraction=0.7,
                                             valid_fraction=0.29, n_negatives=1))
    rated = {p: getattr(split, p).query("click == 1").groupby("user").size() for p in ("train", "valid", "test")}
    assert (rated["train"][0], rated["valid"][0], rated["test"][0]) == (1, 1, 1)
    assert (rated["train"][1], rated["valid"][1], rated["test"][1]) == (1, 2, 7)
    assert split.meta["cold"]["test_user"] == 0
