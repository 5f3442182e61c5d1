"""Every parser on the real mirrored files: fetch into a temporary folder, prepare, and compare with the
counts published in the mirror's MANIFEST.md (and, for Amazon, with an independent json-module count)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.data.fetch import fetch_dataset
from bench.data.prepare import PrepareOptions, prepare_dataset
from bench.data.sources import load_sources
from bench.data.tables import PreparedDataset
from bench.errors import DataError
from tests.conftest import REPO_ROOT, prepared_folder

SOURCES = REPO_ROOT / "datasets" / "sources.yaml"

MIRRORED = [
    "ml-100k", "ml-1m", "ml-latest-small",
    "amazon2018-All_Beauty", "amazon2018-AMAZON_FASHION", "amazon2018-Appliances", "amazon2018-Gift_Cards",
    "amazon2018-Magazine_Subscriptions",
    "disencdr-sport-cloth", "disencdr-phone-electronic", "disencdr-sport-phone", "disencdr-electronic-cloth",
    "cdrib-game-video", "cdrib-sport-cloth",
]


@pytest.fixture(scope="module")
def work(data_work) -> Path:
    return data_work


def _accounting(stats: dict) -> None:
    assert stats["rows_read"] == stats["rows_kept"] + sum(stats["dropped"].values())
    assert stats["n_interactions"] == stats["rows_kept"]


@pytest.mark.parametrize("name", MIRRORED)
def test_written_tables_round_trip(prepared, work, name):
    data = prepared(name)
    back = PreparedDataset.read(prepared_folder(work, name, {}))
    assert back.stats == json.loads(json.dumps(data.stats))
    inter = back.interactions
    assert list(inter.columns[:5]) == ["user", "item", "rating", "timestamp", "domain"]
    assert inter["user"].dtype == np.int32 and inter["item"].dtype == np.int32
    assert inter["rating"].dtype == np.float32 and inter["timestamp"].dtype == np.int64
    # dense 0..n-1 indices, users/items tables complete and in index order
    assert inter["user"].min() == 0 and inter["user"].max() == len(back.users) - 1
    assert inter["item"].min() == 0 and inter["item"].max() == len(back.items) - 1
    assert back.users["user"].tolist() == list(range(len(back.users)))
    assert back.items["item"].tolist() == list(range(len(back.items)))
    assert back.users["user_id"].is_unique
    assert not back.items.duplicated(["domain", "item_id"]).any()
    assert not inter.duplicated(["user", "item"]).any()
    _accounting(back.stats)
    assert back.stats["expected"] == {"checked": True, "ok": True, "mismatches": {}}
    assert set(back.stats["inputs"]) == {f.name for f in load_sources(SOURCES).get(name).files}


def test_ml100k(prepared):
    data = prepared("ml-100k")
    s = data.stats
    assert (s["n_interactions"], s["n_users"], s["n_items"]) == (100_000, 943, 1_682)
    assert s["rows_read"] == 100_000 and s["duplicates"] == 0 and sum(s["invalid"].values()) == 0
    counts = data.interactions["rating"].value_counts().sort_index()
    assert counts.to_dict() == {1.0: 6110, 2.0: 11370, 3.0: 27145, 4.0: 34174, 5.0: 21201}
    assert data.users["user_id"].tolist() == [str(u) for u in range(1, 944)]  # numeric order
    first = data.users.iloc[0]
    assert (first["age"], first["gender"], first["occupation"], first["zip"]) == (24, "M", "technician", "85711")
    items = data.items.set_index("item_id")
    assert items.loc["1", "title"] == "Toy Story (1995)"
    assert items.loc["1", "genres"] == "Animation|Children's|Comedy"
    assert items.loc["543", "title"] == "Misérables, Les (1995)"  # Latin-1 decoded
    assert items.loc["1104", "genres"] == "Comedy|Crime|Drama"
    assert s["inputs"]["u.data"] == "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
    # the first u.data row: 196 242 3 881250949
    row = data.interactions.iloc[0]
    assert (data.users.loc[row["user"], "user_id"], data.items.loc[row["item"], "item_id"]) == ("196", "242")
    assert (row["rating"], row["timestamp"]) == (3.0, 881250949)


def test_ml1m(prepared):
    """The complete ML-1M of the mirror (MANIFEST.md section 3)."""
    data = prepared("ml-1m")
    s = data.stats
    assert (s["n_interactions"], s["n_users"], s["n_items"]) == (1_000_209, 6_040, 3_706)
    assert s["duplicates"] == 0 and sum(s["invalid"].values()) == 0
    counts = data.interactions["rating"].value_counts().sort_index()
    assert counts.to_dict() == {1.0: 56174, 2.0: 107557, 3.0: 261197, 4.0: 348971, 5.0: 226310}
    assert s["inputs"]["ratings.dat"] == "506d64ca44484487c11dc2d9a28de5c54948213e6b96285e298afe28d6ea4e0f"
    assert (data.users["gender"] == "M").sum() == 4331
    # the first ratings.dat line: 1::1193::5::978300760
    row = data.interactions.iloc[0]
    assert (data.users.loc[row["user"], "user_id"], data.items.loc[row["item"], "item_id"]) == ("1", "1193")
    assert (row["rating"], row["timestamp"]) == (5.0, 978300760)


def test_committed_lock_pins_ml1m_ratings(tmp_path, mirror):
    """datasets/checksums.lock (committed) holds the first-use sha256 of ratings.dat, and a fetch
    verifies against it."""
    import yaml

    lock = yaml.safe_load((REPO_ROOT / "datasets" / "checksums.lock").read_text())
    assert lock["ml-1m"]["ratings.dat"] == "506d64ca44484487c11dc2d9a28de5c54948213e6b96285e298afe28d6ea4e0f"
    copy = tmp_path / "checksums.lock"
    shutil.copy(REPO_ROOT / "datasets" / "checksums.lock", copy)
    fetch_dataset("ml-1m", sources=SOURCES, out=tmp_path / "raw", mirror=mirror, lock=copy)
    assert copy.read_text() == (REPO_ROOT / "datasets" / "checksums.lock").read_text()


def test_ml_latest_small(prepared):
    data = prepared("ml-latest-small")
    s = data.stats
    assert (s["n_interactions"], s["n_users"], s["n_items"]) == (100_836, 610, 9_724)  # rated movies only
    assert sorted(data.interactions["rating"].unique().tolist()) == [x / 2 for x in range(1, 11)]
    ts = pd.to_datetime(data.interactions["timestamp"], unit="s")
    assert str(ts.min().date()) == "1996-03-29" and str(ts.max().date()) == "2018-09-24"
    items = data.items.set_index("item_id")
    assert items.loc["1", "genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert not items["title"].str.endswith("\r").any()  # CRLF handled
    assert data.items["title"].notna().all()


AMAZON = {
    # category: (lines, reviewers, items, duplicate rows, first date, last date)  -- MANIFEST.md section 4
    "All_Beauty": (5269, 991, 85, 1177, "2004-09-21", "2018-08-23"),
    "AMAZON_FASHION": (3176, 406, 31, 134, "2009-12-25", "2018-07-05"),
    "Appliances": (2277, 47, 48, 2094, "2008-09-16", "2018-04-17"),
    "Gift_Cards": (2972, 458, 148, 7, "2012-01-31", "2018-08-22"),
    "Magazine_Subscriptions": (2375, 348, 157, 73, "2001-11-12", "2018-05-20"),
}


@pytest.mark.parametrize("category", sorted(AMAZON))
def test_amazon2018(prepared, work, category):
    lines, reviewers, items, dups, first, last = AMAZON[category]
    data = prepared(f"amazon2018-{category}")
    s = data.stats
    assert s["rows_read"] == lines and s["duplicates"] == dups
    assert (s["n_interactions"], s["n_users"], s["n_items"]) == (lines - dups, reviewers, items)
    # independent oracle: the json module on the raw file
    with gzip.open(work / "raw" / f"amazon2018-{category}" / f"{category}_5.json.gz", "rt") as fh:
        rows = pd.DataFrame([json.loads(line) for line in fh])[["reviewerID", "asin", "overall", "unixReviewTime"]]
    ts = pd.to_datetime(rows["unixReviewTime"], unit="s")
    assert (str(ts.min().date()), str(ts.max().date())) == (first, last)
    rows["pos"] = np.arange(len(rows))
    for keep in ("last", "first"):
        data = prepared(f"amazon2018-{category}", dedupe=keep) if keep == "first" else data
        expected = rows.sort_values(["unixReviewTime", "pos"]).drop_duplicates(["reviewerID", "asin"], keep=keep)
        got = data.interactions.assign(
            reviewerID=data.users["user_id"].to_numpy()[data.interactions["user"]],
            asin=data.items["item_id"].to_numpy()[data.interactions["item"]],
        )
        merged = got.merge(expected, on=["reviewerID", "asin"], validate="one_to_one")
        assert len(merged) == len(got) == len(expected)
        assert (merged["overall"] == merged["rating"]).all()
        assert (merged["unixReviewTime"] == merged["timestamp"]).all()
        assert (merged["pos"].diff().dropna() > 0).all()  # file order kept
    assert data.users["user_id"].tolist() == sorted(data.users["user_id"])  # string order


DISENCDR = {
    # pair: (users, (train X, train Y), (test users X, test users Y))  -- MANIFEST.md section 5
    "sport-cloth": (9928, (92612, 87829), (8326, 7540)),
    "phone-electronic": (3325, (50407, 115554), (2559, 2560)),
    "sport-phone": (4998, (50558, 42446), (3698, 3999)),
    "electronic-cloth": (15761, (210865, 121083), (13824, 12526)),
}


@pytest.mark.parametrize("pair", sorted(DISENCDR))
def test_disencdr(prepared, pair):
    users, train, test_users = DISENCDR[pair]
    x, y = pair.split("-")
    data = prepared(f"disencdr-{pair}")
    s = data.stats
    inter = data.interactions
    assert s["n_users"] == users
    assert list(s["domains"]) == [x, y]
    for d, n_train, n_test in zip((x, y), train, test_users, strict=True):
        dom = s["domains"][d]
        assert dom["given_split"]["train"]["rows"] == n_train
        assert dom["given_split"]["test"]["users"] == dom["given_split"]["test"]["rows"] == n_test
        assert dom["n_users"] == users  # every user is in both domains (warm)
        assert s["test_original"][d]["rows"] == users
        assert s["test_original"][d]["filtered_out"] == users - n_test
    assert np.isnan(inter["rating"]).all() and (inter["timestamp"] == -1).all()
    assert set(inter["given_split"]) == {"train", "test"}
    # items are distinct across domains: domain X's block first, then Y's
    dom_of_item = data.items["domain"].to_numpy()[inter["item"]]
    assert (dom_of_item == inter["domain"].to_numpy()).all()
    n_x = s["domains"][x]["n_items"]
    assert (data.items["domain"].iloc[:n_x] == x).all() and (data.items["domain"].iloc[n_x:] == y).all()
    assert (data.users["domains"] == f"{x}|{y}").all()


CDRIB = {
    # pair: {domain: (train, valid, test)}, shared users, total users  -- MANIFEST.md section 6, *_data_info.txt
    "game-video": ({"game": (155036, 1381, 1304), "video": (156091, 1435, 1458)}, 2179, 42303),
    "sport-cloth": ({"sport": (163291, 3589, 3546), "cloth": (187880, 3156, 3085)}, 9828, 59329),
}


@pytest.mark.parametrize("pair", sorted(CDRIB))
def test_cdrib(prepared, pair):
    splits, shared, total = CDRIB[pair]
    data = prepared(f"cdrib-{pair}")
    s = data.stats
    for d, (tr, va, te) in splits.items():
        got = s["domains"][d]["given_split"]
        assert (got["train"]["rows"], got["valid"]["rows"], got["test"]["rows"]) == (tr, va, te)
    assert s["n_shared_users"] == shared and s["n_users"] == total
    assert all(c["outside_shared"] == 0 for c in s["cold_start_users"].values())
    users = data.users
    x, y = pair.split("-")
    assert users["user_id"].iloc[:shared].tolist() == [str(u) for u in range(shared)]
    assert (users["domains"].iloc[:shared] == f"{x}|{y}").all()
    assert users["user_id"].iloc[shared].startswith(f"{x}:") and users["user_id"].iloc[-1].startswith(f"{y}:")
    # cold-start users: no training interaction in the domain where they are evaluated
    inter = data.interactions
    for d in (x, y):
        dom = inter[inter["domain"] == d]
        held = set(dom.loc[dom["given_split"] != "train", "user"])
        assert held and not held & set(dom.loc[dom["given_split"] == "train", "user"])
        assert all(u < shared for u in held)


def test_prepare_is_deterministic(prepared, work, mirror):
    prepared("ml-latest-small")
    again = work / "again"
    prepare_dataset("ml-latest-small", sources=SOURCES, raw=work / "raw" / "ml-latest-small", out=again,
                    options=PrepareOptions(), lock=work / "checksums.lock")
    first = prepared_folder(work, "ml-latest-small", {})
    for f in ("interactions.parquet", "users.parquet", "items.parquet", "stats.json"):
        assert (first / f).read_bytes() == (again / f).read_bytes(), f


def test_kcore_matches_a_naive_implementation(prepared):
    k = 20
    data = prepared("ml-latest-small", kcore=k)
    full = prepared("ml-latest-small").interactions[["user", "item"]]
    naive = full.copy()
    rounds = 0
    while True:
        ok = (naive.groupby("user")["item"].transform("size") >= k) & (naive.groupby("item")["user"].transform("size") >= k)
        if ok.all():
            break
        naive, rounds = naive[ok], rounds + 1
    s = data.stats
    assert s["n_interactions"] == len(naive) and s["kcore"]["rounds"] == rounds and rounds > 1
    assert s["dropped"]["kcore"] == len(full) - len(naive)
    assert (s["n_users"], s["n_items"]) == (naive["user"].nunique(), naive["item"].nunique())
    assert data.interactions.groupby("user").size().min() >= k and data.interactions.groupby("item").size().min() >= k
    assert s["expected"] == {"checked": False}
    _accounting(s)


def test_raw_file_changed_after_fetch_is_refused(prepared, work, tmp_path):
    prepared("ml-100k")
    raw = tmp_path / "raw"
    shutil.copytree(work / "raw" / "ml-100k", raw)
    with open(raw / "u.data", "ab") as fh:
        fh.write(b"1\t1\t5\t1\n")
    with pytest.raises(DataError, match=r"u.data: sha256 .* differs from the pinned 06416e59"):
        prepare_dataset("ml-100k", sources=SOURCES, raw=raw, out=tmp_path / "p", options=PrepareOptions())
    (raw / "u.user").unlink()
    with pytest.raises(DataError, match=r"missing raw file\(s\) \['u.user'\]; run `recx fetch ml-100k`"):
        prepare_dataset("ml-100k", sources=SOURCES, raw=raw, out=tmp_path / "p", options=PrepareOptions())
    assert not (tmp_path / "p").exists()


def test_ml1m_parser_with_real_side_files(mirror, tmp_path):
    """ratings.dat is not in the mirror: a small hand-made one exercises the '::' parser, with the real
    Latin-1 users.dat and movies.dat."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in ("users.dat", "movies.dat"):
        shutil.copy(mirror / "ml-1m" / f, raw / f)
    (raw / "ratings.dat").write_bytes(
        b"1::1193::5::978300760\n1::661::3::978302109\n2::73::4::978298413\n"
        b"2::570::2::978299999\n10::1::4::978000000\n1:1193:5:978300761\n3::1::9::978300760\n"
    )
    data = prepare_dataset("ml-1m", sources=SOURCES, raw=raw, out=tmp_path / "p",
                           options=PrepareOptions(max_invalid_fraction=0.5), lock=tmp_path / "lock")
    s = data.stats
    assert s["rows_read"] == 7 and s["n_interactions"] == 5
    assert s["invalid"]["malformed_line"] == 1 and s["invalid"]["bad_rating"] == 1
    assert data.users["user_id"].tolist() == ["1", "2", "10"]
    u1 = data.users.iloc[0]
    assert (u1["gender"], u1["age"], u1["occupation"], u1["zip"]) == ("F", 1, 10, "48067")
    items = data.items.set_index("item_id")
    assert items.loc["73", "title"] == "Misérables, Les (1995)"
    assert items.loc["570", "title"] == "Slingshot, The (Kådisbellan ) (1993)"
    assert items.loc["1", "genres"] == "Animation|Children's|Comedy"
    assert s["expected"]["ok"] is False  # 5 rows, not 1,000,209: recorded, not hidden
