"""CDR split builders (warm given / leave_one_out, cold given / withhold), saved candidates, genre
domains, raw category pairs, and the cold-start leakage audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.cdr import CDRData, target_part
from bench.config import CDRColdScenario, CDRWarmScenario, load_params
from bench.data.tables import PreparedDataset
from bench.errors import ConfigError, DataError, LeakageError
from bench.splits.audit import audit_split
from bench.splits.build import build_split
from bench.splits.cdr import genre_domains, split_cdr_cold, split_cdr_warm
from bench.splits.cdr_pairs import category_pair
from bench.splits.types import Split
from tests.cdr_data import prepared_pair


def _known(split: Split, target: str = "tgt") -> set[tuple[int, int]]:
    t = pd.concat([split.train[split.train["domain"] == target], split.valid, split.test])
    return set(zip(t["user"], t["item"]))


def _check_candidates(split: Split, n_neg: int) -> None:
    cand = split.side["candidates"]
    grid = cand.sort_values(["row", "slot"])["item"].to_numpy().reshape(-1, n_neg + 1)
    assert grid.shape[0] == len(split.test)
    assert (grid[:, 0] == split.test["item"].to_numpy()).all()
    users = split.test["user"].to_numpy()
    known = _known(split)
    for row, u in zip(grid, users):
        assert len(set(row)) == n_neg + 1
        assert not any((u, i) in known for i in row[1:])
    target_items = split.side["items"].query("role == 'target'")["item"].to_numpy()
    assert np.isin(grid, target_items).all()


def test_warm_given_uses_release_test_and_carves_one_valid_item_per_test_user():
    data = prepared_pair()
    s = CDRWarmScenario(name="w", dataset="pair", source="src", target="tgt", n_negatives=10)
    split = split_cdr_warm(data, s)
    audit_split(split)
    assert (split.test["domain"] == "tgt").all() and (split.valid["domain"] == "tgt").all()
    given_test = data.interactions.query("given_split == 'test' and domain == 'tgt'")
    assert sorted(zip(split.test["user"], split.test["item"])) == sorted(zip(given_test["user"], given_test["item"]))
    assert split.valid["user"].is_unique and set(split.valid["user"]) <= set(split.test["user"])
    # the release's source-domain test rows are in no part
    src_test = set(zip(*data.interactions.query("given_split == 'test' and domain == 'src'")[["user", "item"]].to_numpy().T))
    used = set(zip(split.train["user"], split.train["item"]))
    assert not (src_test & used)
    assert split.meta["unused_source_test_rows"] == len(src_test)
    # every valid item still has a training interaction
    assert split.valid["item"].isin(split.train["item"]).all()
    _check_candidates(split, 10)


def test_warm_carving_is_seeded():
    data = prepared_pair()
    a = split_cdr_warm(data, CDRWarmScenario(name="w", dataset="pair", source="src", target="tgt", n_negatives=5))
    b = split_cdr_warm(data, CDRWarmScenario(name="w", dataset="pair", source="src", target="tgt", n_negatives=5))
    c = split_cdr_warm(data, CDRWarmScenario(name="w", dataset="pair", source="src", target="tgt", n_negatives=5, seed=1))
    pd.testing.assert_frame_equal(a.valid, b.valid)
    pd.testing.assert_frame_equal(a.side["candidates"], b.side["candidates"])
    assert not a.valid.equals(c.valid)


def test_warm_leave_one_out_known_answer():
    """User 0's target items 10, 11, 12 at times 1, 2, 3 -> train {10}, valid {11}, test {12}; user 1
    has two target items (11, 12) -> both stay in train; source rows always train."""
    inter = pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 1, 1, 1, 2, 2],
            "item": [10, 11, 12, 0, 11, 12, 1, 13, 1],
            "rating": [4.0] * 9,
            "timestamp": [1, 2, 3, 9, 5, 6, 9, 1, 1],
            "domain": pd.array(["t", "t", "t", "s", "t", "t", "s", "t", "s"], dtype="string"),
        }
    )
    items = pd.DataFrame({"item": np.arange(14), "item_id": [str(i) for i in range(14)], "domain": ["s"] * 10 + ["t"] * 4})
    data = PreparedDataset("toy", inter, pd.DataFrame({"user": [0, 1, 2]}), items, {})
    split = split_cdr_warm(data, CDRWarmScenario(name="w", dataset="toy", source="s", target="t", split="leave_one_out", n_negatives=1))
    assert split.test[["user", "item"]].to_numpy().tolist() == [[0, 12]]
    assert split.valid[["user", "item"]].to_numpy().tolist() == [[0, 11]]
    assert sorted(map(tuple, split.train[["user", "item"]].to_numpy())) == [(0, 0), (0, 10), (1, 1), (1, 11), (1, 12), (2, 1), (2, 13)]
    audit_split(split)


def test_cold_withhold_beta_users_have_no_target_train():
    data = prepared_pair(n_users=100)
    s = CDRColdScenario(name="c", dataset="pair", source="src", target="tgt", split="withhold", beta=0.5, n_negatives=8)
    split = split_cdr_cold(data, s)
    audit_split(split)
    cold_valid, cold_test = set(split.valid["user"]), set(split.test["user"])
    assert not (cold_valid & cold_test)
    assert split.meta["cold_users_drawn"] == {"valid": 25, "test": 25}
    train_t_users = set(split.train.loc[split.train["domain"] == "tgt", "user"])
    assert not ((cold_valid | cold_test) & train_t_users)
    # every target interaction of a cold user is held out (except items no longer in the catalogue)
    all_t = data.interactions.query("domain == 'tgt'")
    n_cold_rows = all_t["user"].isin(cold_test).sum()
    assert len(split.test) + split.meta["dropped"]["test_item_not_in_target_train"] == n_cold_rows
    # hand-off: cold users are source-only users, computed from train
    hand = CDRData.from_split(split)
    assert set(hand.cold_users) == cold_valid | cold_test
    _check_candidates(split, 8)


def test_cold_given_uses_release_cold_users_and_audit_catches_leaks():
    data = prepared_pair(n_users=40, given=False)
    inter = data.interactions.copy()
    cold = (inter["user"] >= 30) & (inter["domain"] == "tgt")
    inter["given_split"] = np.where(cold & (inter["user"] < 35), "valid", np.where(cold, "test", "train"))
    data = PreparedDataset("pair", inter, data.users, data.items, {})
    split = split_cdr_cold(data, CDRColdScenario(name="c", dataset="pair", source="src", target="tgt", n_negatives=5))
    assert set(split.valid["user"]) <= set(range(30, 35)) and set(split.test["user"]) <= set(range(35, 40))
    audit_split(split)
    leak = split.test.iloc[:1].copy()
    leaky = Split(
        name="c", train=pd.concat([split.train, leak.assign(item=split.train.query("domain == 'tgt'")["item"].iloc[0])]),
        valid=split.valid, test=split.test, n_users=split.n_users, n_items=split.n_items, meta=split.meta, side=split.side,
    )
    with pytest.raises(LeakageError, match="cold-start users have target-domain"):
        audit_split(leaky)


def test_given_split_requires_a_release_partition():
    data = prepared_pair(given=False)
    with pytest.raises(DataError, match="given_split"):
        split_cdr_warm(data, CDRWarmScenario(name="w", dataset="pair", source="src", target="tgt"))


def test_unknown_domain_and_too_many_negatives_are_clear_errors():
    data = prepared_pair()
    with pytest.raises(DataError, match="does not occur"):
        split_cdr_warm(data, CDRWarmScenario(name="w", dataset="pair", source="src", target="nope"))
    with pytest.raises(DataError, match="lower n_negatives"):
        split_cdr_warm(data, CDRWarmScenario(name="w", dataset="pair", source="src", target="tgt", n_negatives=999))


def test_settings_validation():
    with pytest.raises(ConfigError):
        CDRWarmScenario(name="w", dataset="d", source="a", target="a")
    with pytest.raises(ConfigError):
        CDRColdScenario(name="c", dataset="d", source="a", target="b", beta=1.0)
    with pytest.raises(ConfigError):
        CDRWarmScenario(name="w", dataset="d", source="a", target="b", source_genres=("Drama",))


def test_genre_domains_use_the_first_listed_genre():
    items = pd.DataFrame({"item": [0, 1, 2, 3], "genres": ["Action|Comedy", "Comedy|Action", "Drama", "unknown"]})
    data = PreparedDataset("ml", pd.DataFrame(), pd.DataFrame(), items, {})
    domain, counts = genre_domains(data, "drama", "action", ("Comedy", "Drama"), ("Action",))
    assert domain.tolist()[:3] == ["action", "drama", "drama"] and pd.isna(domain.iloc[3])
    assert counts == {"items_drama": 2, "items_action": 1, "items_in_neither_group": 1}


def test_category_pair_filters_items_and_users():
    """Items need >= 2 ratings, users >= 2 interactions in each category (small thresholds)."""

    def single(name, rows):
        inter = pd.DataFrame(rows, columns=["user", "item"]).assign(rating=5.0, timestamp=1, domain=name)
        users = pd.DataFrame({"user": range(4), "user_id": ["a", "b", "c", "d"]})
        items = pd.DataFrame({"item": range(4), "item_id": [f"{name}{i}" for i in range(4)]})
        return PreparedDataset(name, inter, users, items, {})

    books = single("books", [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 3)])  # item 3 rare -> user c has 1
    movies = single("movies", [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0)])
    pair = category_pair(books, movies, names=("books", "movies"), min_item_ratings=2, min_user_interactions=2)
    assert pair.users["user_id"].tolist() == ["a", "b"]
    assert pair.items.groupby("domain").size().to_dict() == {"books": 2, "movies": 2}
    assert len(pair.interactions) == 8 and set(pair.interactions["domain"]) == {"books", "movies"}


def test_build_split_writes_side_tables_and_hand_off(tmp_path):
    data = prepared_pair()
    data.write(tmp_path / "prepared")
    s = CDRWarmScenario(name="w", dataset="pair", source="src", target="tgt", n_negatives=6)
    build_split(s, prepared=tmp_path / "prepared", out=tmp_path / "split")
    split = Split.read(tmp_path / "split")
    assert {"items", "candidates"} <= set(split.side)
    hand = CDRData.from_split(split)
    assert hand.n_source_items + hand.n_target_items <= split.n_items
    assert hand.item_ranges["target"] == (hand.n_source_items, hand.n_source_items + hand.n_target_items)
    valid, frame = target_part(split, "valid")
    assert valid.matrix.shape == (split.n_users, hand.n_target_items) and len(frame) == len(split.valid)


def test_params_accept_cdr_scenarios(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(
        "seeds: [0]\ndatasets: {pair: {}}\nscenarios:\n"
        "  w: {kind: cdr_warm, dataset: pair, source: src, target: tgt}\n"
        "  c: {kind: cdr_cold, dataset: pair, source: src, target: tgt, split: withhold, beta: 0.2}\n"
        "grid:\n  cdr_cold: {scenarios: [c], methods: [emcdr]}\nmethods: {emcdr: {}}\n"
    )
    params = load_params(path)
    assert params.scenario("c").beta == 0.2
    params.validate()
