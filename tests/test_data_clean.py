"""Malformed input: every bad row is counted under its reason, duplicates are resolved as configured,
and too many invalid rows stop ``prepare`` with a DataError naming the file. Known-answer tests for
de-duplication, k-core and option validation."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.data.clean import dedupe, kcore
from bench.data.prepare import PrepareOptions, prepare_dataset
from bench.errors import ConfigError, DataError
from bench.typed import parse_dataclass
from tests.conftest import REPO_ROOT

SOURCES = REPO_ROOT / "datasets" / "sources.yaml"

RATINGS = """\
userId,movieId,rating,timestamp
1,10,4.0,100
1,11,3.5,200
this is garbage
2,10,,300
2,11,7.0,300
2,12,nan,300
,13,4.0,300
,14,9.0,x
x,13,4.0,300
3,10,4.0,-5
3,11,4.0,abc
3,12,4.0,1.5e9
1,10,5.0,150
1,2,3,4,5
2,"12,4.0,300
3,13,2.25,400
3,14,0.0,400
2,13,4.5,300

-1,5,3.0,100
4,5,3.0,100
"""

EXPECTED_INVALID = {"malformed_line": 2, "missing_id": 2, "bad_id": 3, "bad_rating": 5, "bad_timestamp": 3}


def _sources(tmp_path: Path, entries: dict) -> Path:
    doc = yaml.safe_load(SOURCES.read_text())
    doc["datasets"] = entries
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _toy_ml(tmp_path: Path) -> tuple[Path, Path]:
    sources = _sources(tmp_path, {
        "toy": {
            "parser": "movielens-csv", "licence": "test", "citation": "test", "base_url": "http://127.0.0.1/",
            "rating_scale": {"min": 0.5, "max": 5.0, "step": 0.5},
            "files": [{"name": "ratings.csv"}, {"name": "movies.csv"}],
        }
    })
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "ratings.csv").write_text(RATINGS.replace("\n", "\r\n"))
    (raw / "movies.csv").write_text('movieId,title,genres\r\n5,"Five, The (1990)",Drama\r\n10,Ten (1991),Comedy|Drama\r\n')
    return sources, raw


def test_malformed_rows_are_counted_per_reason(tmp_path):
    sources, raw = _toy_ml(tmp_path)
    data = prepare_dataset("toy", sources=sources, raw=raw, out=tmp_path / "p",
                           options=PrepareOptions(max_invalid_fraction=1.0), lock=tmp_path / "lock")
    s = data.stats
    assert s["rows_read"] == 20  # header and the blank line are not rows
    assert s["invalid"] == EXPECTED_INVALID
    assert s["files"]["ratings.csv"]["invalid"] == EXPECTED_INVALID
    assert s["duplicates"] == 1
    assert s["dropped"] == {**EXPECTED_INVALID, "duplicate": 1, "kcore": 0}
    assert s["rows_kept"] == s["n_interactions"] == 4
    assert s["rows_read"] == s["rows_kept"] + sum(s["dropped"].values())
    assert data.users["user_id"].tolist() == ["1", "2", "4"]
    assert data.items["item_id"].tolist() == ["5", "10", "11", "13"]
    kept = {
        (data.users["user_id"][u], data.items["item_id"][i]): (r, t)
        for u, i, r, t in data.interactions[["user", "item", "rating", "timestamp"]].itertuples(index=False)
    }
    assert kept == {("1", "10"): (5.0, 150), ("1", "11"): (3.5, 200), ("2", "13"): (4.5, 300), ("4", "5"): (3.0, 100)}
    assert data.items.set_index("item_id").loc["5", "title"] == "Five, The (1990)"
    assert data.items["title"].isna().sum() == 2  # items 11 and 13 are not in movies.csv
    examples = s["files"]["ratings.csv"]["examples"]
    assert len(examples) == 3 and examples[0] == "malformed: this is garbage"


def test_dedupe_first_keeps_the_earliest(tmp_path):
    sources, raw = _toy_ml(tmp_path)
    data = prepare_dataset("toy", sources=sources, raw=raw, out=tmp_path / "p",
                           options=PrepareOptions(max_invalid_fraction=1.0, dedupe="first"), lock=tmp_path / "lock")
    row = data.interactions[(data.interactions["user"] == 0) & (data.interactions["item"] == 1)]
    assert row[["rating", "timestamp"]].to_numpy().tolist() == [[4.0, 100]]


def test_too_many_invalid_rows_stop_prepare(tmp_path):
    sources, raw = _toy_ml(tmp_path)
    with pytest.raises(DataError) as err:
        prepare_dataset("toy", sources=sources, raw=raw, out=tmp_path / "p",
                        options=PrepareOptions(max_invalid_fraction=0.5), lock=tmp_path / "lock")
    msg = str(err.value)
    assert str(raw / "ratings.csv") in msg
    assert "15 of 20 rows are invalid" in msg and "'bad_rating': 5" in msg and "'malformed_line': 2" in msg
    assert "max_invalid_fraction" in msg
    assert not (tmp_path / "p").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


AMAZON_LINES = [
    '{"reviewerID": "A1", "asin": "0001", "overall": 5.0, "unixReviewTime": 100, '
    '"reviewText": "he wrote \\"asin\\": \\"B9\\" and \\"overall\\": 1.0"}',
    "{'reviewerID': 'A2', 'asin': '0002', 'overall': 4.0, 'unixReviewTime': 200}",
    '{"reviewerID": "A3", "asin": "0001", "unixReviewTime": 300}',
    "not json at all",
    '{"reviewerID": "A4", "asin": "0003", "overall": 3.0, "unixReviewTime": 400',
    '{"reviewerID": "", "asin": "0003", "overall": 3.0, "unixReviewTime": 400}',
    '{"asin": "0004", "reviewerID": "A5", "overall": 2.0, "unixReviewTime": 500, "style": {"Size:": " L"}}',
    '{"reviewerID": "A1", "asin": "0001", "overall": 1.0, "unixReviewTime": 50}',
    '{"overall": 6.0, "reviewerID": "A6", "asin": "0005", "unixReviewTime": 600}',
]


def test_amazon_json_lines_with_both_quote_styles(tmp_path):
    """A user-declared 2014 category (template entry) with a hand-made file: keys inside review text
    are not mistaken for fields, ASINs keep their leading zeros, bad lines are counted."""
    sources = _sources(tmp_path, {"amazon2014-Test": {"template": "amazon2014-5core", "category": "Test"}})
    raw = tmp_path / "raw"
    raw.mkdir()
    with gzip.open(raw / "reviews_Test_5.json.gz", "wt") as fh:
        fh.write("\n".join(AMAZON_LINES) + "\n")
    data = prepare_dataset("amazon2014-Test", sources=sources, raw=raw, out=tmp_path / "p",
                           options=PrepareOptions(max_invalid_fraction=0.6), lock=tmp_path / "lock")
    s = data.stats
    assert s["rows_read"] == 9
    assert s["invalid"] == {"malformed_line": 2, "missing_id": 1, "bad_id": 0, "bad_rating": 2, "bad_timestamp": 0}
    assert s["duplicates"] == 1
    assert data.items["item_id"].tolist() == ["0001", "0002", "0004"]
    assert data.users["user_id"].tolist() == ["A1", "A2", "A5"]
    a1 = data.interactions[data.interactions["user"] == 0]
    assert a1[["item", "rating", "timestamp"]].to_numpy().tolist() == [[0, 5.0, 100]]
    assert (data.interactions["domain"] == "amazon2014-Test").all()


def test_amazon_ratings_csv(tmp_path):
    sources = _sources(tmp_path, {"amazon2014-ratings-Test": {"template": "amazon2014-ratings", "category": "Test"}})
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "ratings_Test.csv").write_text(
        "A1,0001,5.0,1400000000\nA2,0001,4.0,1400000001\nA1,0002,3.0,1400000002\nA3,0003,,1\nA2,0002,2.0,1400000003\n"
    )
    data = prepare_dataset("amazon2014-ratings-Test", sources=sources, raw=raw, out=tmp_path / "p",
                           options=PrepareOptions(max_invalid_fraction=0.25, kcore=2), lock=tmp_path / "lock")
    s = data.stats
    assert s["invalid"]["bad_rating"] == 1 and s["rows_read"] == 5
    assert (s["n_interactions"], s["n_users"], s["n_items"]) == (4, 2, 2)
    assert data.items["item_id"].tolist() == ["0001", "0002"]


def test_cdrib_pair_with_mismatched_folders_is_refused(tmp_path, mirror):
    sources = _sources(tmp_path, {
        "pair": {
            "parser": "cdrib-pair", "licence": "t", "citation": "t", "base_url": "http://127.0.0.1/",
            "options": {"domains": ["game", "video"]},
            "files": [{"name": f"{folder}/{f}.txt"} for folder in ("game_video", "video_game")
                      for f in ("train", "valid", "test", "common_new_reindex")],
        }
    })
    raw = tmp_path / "raw"
    for folder, src in (("game_video", "game_video"), ("video_game", "cloth_sport")):
        (raw / folder).mkdir(parents=True)
        for f in ("train", "valid", "test", "common_new_reindex"):
            (raw / folder / f"{f}.txt").write_bytes((mirror / "amazon-cdr-cdrib" / src / f"{f}.txt").read_bytes())
    with pytest.raises(DataError, match=r"list 2179 and 9828 overlapping users"):
        prepare_dataset("pair", sources=sources, raw=raw, out=tmp_path / "p", options=PrepareOptions())


def test_dedupe_known_answer():
    user = np.array([0, 0, 0, 1, 1])
    item = np.array([0, 0, 0, 0, 1])
    ts = np.array([5, 5, 3, 9, 9])
    assert dedupe(user, item, ts, 2, keep="last").tolist() == [False, True, False, True, True]
    assert dedupe(user, item, ts, 2, keep="first").tolist() == [False, False, True, True, True]
    assert dedupe(np.array([0, 1]), np.array([0, 0]), np.array([1, 1]), 1, keep="last").tolist() == [True, True]


def test_kcore_known_answer():
    """Removing user 3 starves item 2, which starves user 2: three rounds, the 2x2 block remains."""
    user = np.array([0, 0, 1, 1, 2, 2, 3])
    item = np.array([0, 1, 0, 1, 1, 2, 2])
    mask, rounds = kcore(user, item, 2, 4, 3)
    assert mask.tolist() == [True, True, True, True, False, False, False] and rounds == 3
    mask, rounds = kcore(user, item, 0, 4, 3)
    assert mask.all() and rounds == 0


def test_prepare_options_are_validated_with_key_names():
    assert parse_dataclass(PrepareOptions, {"kcore": 5, "max_invalid_fraction": 0}, where="params.yaml: datasets.x") == (
        PrepareOptions(kcore=5, max_invalid_fraction=0.0)
    )
    with pytest.raises(ConfigError, match=r"datasets.x: unknown key\(s\) \['kcor'\]"):
        parse_dataclass(PrepareOptions, {"kcor": 5}, where="params.yaml: datasets.x")
    with pytest.raises(ConfigError, match=r"datasets.x.dedupe: 'middle' is not one of \['last', 'first'\]"):
        parse_dataclass(PrepareOptions, {"dedupe": "middle"}, where="params.yaml: datasets.x")
    with pytest.raises(ConfigError, match="kcore must be >= 0"):
        parse_dataclass(PrepareOptions, {"kcore": -1}, where="params.yaml: datasets.x")
    with pytest.raises(ConfigError, match=r"max_invalid_fraction must be in \[0, 1\]"):
        parse_dataclass(PrepareOptions, {"max_invalid_fraction": 2}, where="params.yaml: datasets.x")
