"""Split builders and the leakage audit on tiny hand-made data and on deliberately leaky splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.config import TopNScenario
from bench.data.tables import PreparedDataset
from bench.errors import DataError, LeakageError
from bench.splits.audit import audit_split
from bench.splits.build import build_split
from bench.splits.topn import split_topn
from bench.splits.types import Split


def _dataset(n_users: int = 20, n_items: int = 15, per_user: int = 8, seed: int = 0) -> PreparedDataset:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    ts = rng.integers(1_000, 2_000, size=len(users))
    inter = pd.DataFrame(
        {
            "user": users.astype(np.int32),
            "item": items.astype(np.int32),
            "rating": rng.integers(1, 6, size=len(users)).astype(np.float32),
            "timestamp": ts.astype(np.int64),
            "domain": "toy",
        }
    )
    return PreparedDataset(
        name="toy",
        interactions=inter,
        users=pd.DataFrame({"user": np.arange(n_users, dtype=np.int32), "user_id": [str(u) for u in range(n_users)]}),
        items=pd.DataFrame({"item": np.arange(n_items, dtype=np.int32), "item_id": [str(i) for i in range(n_items)]}),
        stats={},
    )


@pytest.mark.parametrize("kind", ["temporal_global", "leave_last_out", "random_holdout"])
def test_split_partitions_positives_without_overlap(kind):
    data = _dataset()
    split = split_topn(data, TopNScenario(name="s", dataset="toy", split=kind))
    audit_split(split)
    total = len(split.train) + len(split.valid) + len(split.test)
    dropped = sum(split.meta["dropped"].values())
    assert total + dropped == split.meta["counts"]["positive_rows"]
    assert len(split.test) > 0 and len(split.train) > len(split.test)


def test_temporal_global_has_no_future_in_train():
    split = split_topn(_dataset(), TopNScenario(name="s", dataset="toy", split="temporal_global"))
    assert split.train["timestamp"].max() < split.valid["timestamp"].min()
    assert split.valid["timestamp"].max() < split.test["timestamp"].min()
    assert split.test["timestamp"].min() >= split.meta["cutoffs"]["test_from"]


def test_leave_last_out_known_answer():
    """User 0 has items 0,1,2,3 at times 10,20,30,40 -> train {0,1}, valid {2}, test {3};
    user 1 has only two interactions (items 2, 3) -> all in train."""
    inter = pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 1, 1],
            "item": [0, 1, 2, 3, 2, 3],
            "rating": [5.0] * 6,
            "timestamp": [10, 20, 30, 40, 15, 25],
            "domain": "toy",
        }
    )
    data = PreparedDataset("toy", inter, pd.DataFrame({"user": [0, 1]}), pd.DataFrame({"item": [0, 1, 2, 3]}), {})
    split = split_topn(data, TopNScenario(name="s", dataset="toy", split="leave_last_out"))
    assert sorted(map(tuple, split.train[["user", "item"]].to_numpy())) == [(0, 0), (0, 1), (1, 2), (1, 3)]
    assert split.valid[["user", "item"]].to_numpy().tolist() == [[0, 2]]
    assert split.test[["user", "item"]].to_numpy().tolist() == [[0, 3]]


def test_min_rating_and_duplicates_counted():
    data = _dataset()
    dup = data.interactions.iloc[:10].assign(timestamp=lambda f: f["timestamp"] + 1)
    data = PreparedDataset("toy", pd.concat([data.interactions, dup]), data.users, data.items, {})
    split = split_topn(data, TopNScenario(name="s", dataset="toy", min_rating=4.0))
    counts = split.meta["counts"]
    assert counts["duplicate_pairs"] == int((dup["rating"] >= 4).sum())
    assert counts["below_min_rating"] == int((data.interactions["rating"] < 4).sum())
    assert (split.train["rating"] >= 4).all() and (split.test["rating"] >= 4).all()


def test_cold_test_rows_are_dropped_and_counted():
    base = _dataset()
    n_u, n_i = base.n_users, base.n_items
    late = pd.DataFrame({"user": [n_u], "item": [n_i], "rating": [5.0], "timestamp": [10**6], "domain": "toy"})
    data = PreparedDataset(
        "toy",
        pd.concat([base.interactions, late], ignore_index=True),
        pd.DataFrame({"user": np.arange(n_u + 1)}),
        pd.DataFrame({"item": np.arange(n_i + 1)}),
        {},
    )
    split = split_topn(data, TopNScenario(name="s", dataset="toy"))
    # the new user / item exist only at the very end: not scorable, dropped and counted
    assert n_u not in split.test["user"].to_numpy() and n_i not in split.test["item"].to_numpy()
    assert split.meta["dropped"]["test_cold"] >= 1


def test_empty_test_is_an_error():
    inter = pd.DataFrame({"user": [0, 1], "item": [0, 1], "rating": [5.0, 5.0], "timestamp": [1, 1], "domain": "t"})
    data = PreparedDataset("toy", inter, pd.DataFrame({"user": [0, 1]}), pd.DataFrame({"item": [0, 1]}), {})
    with pytest.raises(DataError, match="adjust the fractions"):
        split_topn(data, TopNScenario(name="s", dataset="toy"))


def _leaky(**changes) -> Split:
    split = split_topn(_dataset(), TopNScenario(name="s", dataset="toy"))
    parts = {"train": split.train, "valid": split.valid, "test": split.test, **changes}
    return Split("s", n_users=split.n_users, n_items=split.n_items, meta=split.meta, **parts)


def test_audit_refuses_test_pair_in_train():
    base = split_topn(_dataset(), TopNScenario(name="s", dataset="toy"))
    train = pd.concat([base.train, base.test.iloc[:1].assign(timestamp=0)])
    with pytest.raises(LeakageError, match="pairs of test also occur in train"):
        audit_split(_leaky(train=train))


def test_audit_refuses_future_in_train():
    base = split_topn(_dataset(), TopNScenario(name="s", dataset="toy"))
    late = base.train.iloc[:1].assign(timestamp=10**9, item=lambda f: f["item"])
    train = pd.concat([base.train.iloc[1:], late])
    with pytest.raises(LeakageError, match="future leaks into train"):
        audit_split(_leaky(train=train))


def test_audit_refuses_out_of_range_index():
    base = split_topn(_dataset(), TopNScenario(name="s", dataset="toy"))
    test = base.test.copy()
    test.loc[test.index[0], "item"] = base.n_items + 3
    with pytest.raises(LeakageError, match="outside"):
        audit_split(_leaky(test=test))


def test_split_roundtrip_and_tamper_detection(tmp_path):
    data = _dataset()
    data.write(tmp_path / "prepared")
    split = build_split(TopNScenario(name="s", dataset="toy"), prepared=tmp_path / "prepared", out=tmp_path / "s")
    again = Split.read(tmp_path / "s")
    pd.testing.assert_frame_equal(split.test, again.test)
    assert again.meta["audit"]["pair_overlap"] is True
    # same inputs -> byte-identical files
    build_split(TopNScenario(name="s", dataset="toy"), prepared=tmp_path / "prepared", out=tmp_path / "s2")
    for f in ("train.parquet", "valid.parquet", "test.parquet", "manifest.json"):
        assert (tmp_path / "s" / f).read_bytes() == (tmp_path / "s2" / f).read_bytes()
    frame = pd.read_parquet(tmp_path / "s" / "test.parquet").iloc[1:]
    frame.to_parquet(tmp_path / "s" / "test.parquet", index=False)
    with pytest.raises(DataError, match="does not match the manifest"):
        Split.read(tmp_path / "s")
