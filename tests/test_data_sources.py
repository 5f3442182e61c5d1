"""datasets/sources.yaml: the real file loads with every required dataset, and bad declarations are
reported with the dataset and key named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.data.sources import describe_datasets, load_sources
from bench.errors import ConfigError
from tests.conftest import REPO_ROOT

SOURCES = REPO_ROOT / "datasets" / "sources.yaml"

REQUIRED = {
    "ml-100k": "movielens-100k",
    "ml-1m": "movielens-1m",
    "ml-latest-small": "movielens-csv",
    "ml-20m": "movielens-csv",
    "ml-25m": "movielens-csv",
    "ml-32m": "movielens-csv",
    "amazon2018-All_Beauty": "amazon-json",
    "amazon2018-AMAZON_FASHION": "amazon-json",
    "amazon2018-Appliances": "amazon-json",
    "amazon2018-Gift_Cards": "amazon-json",
    "amazon2018-Magazine_Subscriptions": "amazon-json",
    "disencdr-sport-cloth": "disencdr-pair",
    "disencdr-phone-electronic": "disencdr-pair",
    "disencdr-sport-phone": "disencdr-pair",
    "disencdr-electronic-cloth": "disencdr-pair",
    "cdrib-game-video": "cdrib-pair",
    "cdrib-sport-cloth": "cdrib-pair",
}


def test_real_sources_declare_every_dataset_with_its_parser():
    catalog = load_sources(SOURCES)
    assert {name: catalog.get(name).parser for name in REQUIRED} == REQUIRED


def test_real_sources_pins():
    catalog = load_sources(SOURCES)
    ml100k = catalog.get("ml-100k")
    assert ml100k.archive.sha256 == "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
    assert ml100k.archive.urls == ("https://files.grouplens.org/datasets/movielens/ml-100k.zip",)
    assert ml100k.file("u.data").member == "ml-100k/u.data"
    assert ml100k.file("u.data").sha256 == "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
    # ml-1m ratings.dat: trust on first use, anchored by the published git blob id
    ratings = catalog.get("ml-1m").file("ratings.dat")
    assert ratings.sha256 is None and ratings.git_blob == "77a7c4b150f588c23bb9e1f068aa996c0b413695"
    assert catalog.get("ml-32m").archive.sha256 is None
    beauty = catalog.get("amazon2018-All_Beauty")
    assert beauty.mirror_folder == "amazon-2018-5core"
    assert [f.name for f in beauty.files] == ["All_Beauty_5.json.gz"]
    assert beauty.files[0].urls[0] == (
        "https://jmcauley.ucsd.edu/data/amazon_v2/categoryFilesSmall/All_Beauty_5.json.gz"
    )
    assert beauty.files[0].sha256 == "4a6b1eb40c4f58328f3f34181a6ef00f8e3423d801128617cc408a83c9bd0027"
    pair = catalog.get("disencdr-sport-cloth")
    assert list(pair.options["domains"]) == ["sport", "cloth"]
    assert pair.file("cloth_sport/train.txt").urls == (
        "https://raw.githubusercontent.com/cjx96/DisenCDR/4e6d60bad4d5185c99ab60423b48f87f88aa03a3"
        "/dataset/cloth_sport/train.txt",
    )
    cdrib = catalog.get("cdrib-game-video")
    assert {f.name for f in cdrib.files} >= {"game_video/valid.txt", "video_game/common_new_reindex.txt"}
    assert "bd9894565ce06e9ab187f8a52ba03919aaee5e13" in cdrib.files[0].urls[0]
    # every mirrored file is pinned
    for name in REQUIRED:
        ds = catalog.get(name)
        if ds.mirror_folder in ("ml-100k", "ml-latest-small", "amazon-2018-5core", "amazon-cdr-disencdr",
                                "amazon-cdr-cdrib"):
            assert all(f.sha256 for f in ds.files), name


def test_mirror_matches_declared_pins(mirror):
    """The pins in sources.yaml agree with the mirror's own SHA256SUMS for every mirrored file."""
    sums = {}
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        sums[path] = digest
    catalog = load_sources(SOURCES)
    checked = 0
    for ds in catalog.datasets.values():
        for f in ds.files:
            key = f"{ds.mirror_folder}/{f.name}"
            if key in sums and f.sha256:
                assert f.sha256 == sums[key], key
                checked += 1
    assert checked == 4 + 2 + 2 + 5 + 4 * 6 + 2 * 8  # ml-100k, latest-small, ml-1m, amazon, disencdr, cdrib


def test_describe_lists_name_size_licence_citation():
    text = describe_datasets(SOURCES)
    lines = text.splitlines()
    assert lines[0].split() == ["name", "size", "licence", "citation"]
    row = next(line for line in lines if line.startswith("ml-100k "))
    assert "4.9 MB zip" in row and "Research use only" in row and "Harper et al., ACM TiiS 2015" in row
    assert sum(1 for line in lines[2:] if line.strip()) == len(load_sources(SOURCES).datasets)


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _toy(**over) -> dict:
    entry = {
        "parser": "movielens-csv",
        "licence": "test",
        "citation": "test",
        "base_url": "http://127.0.0.1/",
        "files": [{"name": "ratings.csv", "sha256": None}, {"name": "movies.csv"}],
    }
    entry.update(over)
    return {"version": 1, "datasets": {"toy": entry}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"parsr": "x"}, "datasets.toy: unknown key(s) ['parsr']"),
        ({"parser": "nope"}, "datasets.toy.parser: unknown parser 'nope'"),
        ({"files": [{"name": "../evil", "sha256": None}]}, "not a safe relative path"),
        ({"files": [{"name": "/etc/passwd"}]}, "not a safe relative path"),
        ({"files": [{"name": "a.csv", "sha256": "abc"}]}, "datasets.toy.files[0] (a.csv).sha256: expected 64"),
        ({"files": [{"name": "a.csv", "url": "ftp://x/a"}]}, "expected an http(s) URL"),
        ({"base_url": None, "files": [{"name": "a.csv"}]}, "datasets.toy.files[0] (a.csv): no source"),
        ({"rating_scale": {"min": 5, "max": 1}}, "datasets.toy.rating_scale: expected min <= max"),
        ({"archive": {"name": "t.zip", "url": "http://h/t.zip", "prefix": "../"}}, "not a safe relative path"),
        ({"files": [{"name": "a.csv", "member": "x/../../a.csv"}]}, "datasets.toy.files[0] (a.csv).member"),
    ],
)
def test_bad_declarations_name_dataset_and_key(tmp_path, change, message):
    with pytest.raises(ConfigError) as err:
        load_sources(_write(tmp_path, _toy(**change)))
    assert message in str(err.value)


def test_unknown_dataset_lists_declared_ones(tmp_path):
    catalog = load_sources(_write(tmp_path, _toy()))
    with pytest.raises(ConfigError, match=r"unknown dataset 'toy2'; declared datasets are \['toy'\]"):
        catalog.get("toy2")


def test_adding_an_amazon_category_from_a_template(tmp_path):
    """A user declares amazon2014-Musical_Instruments with two lines; the template supplies the rest."""
    doc = yaml.safe_load(SOURCES.read_text())
    doc["datasets"]["amazon2014-Musical_Instruments"] = {"template": "amazon2014-5core", "category": "Musical_Instruments"}
    doc["datasets"]["amazon2014-ratings-Automotive"] = {"template": "amazon2014-ratings", "category": "Automotive"}
    catalog = load_sources(_write(tmp_path, doc))
    music = catalog.get("amazon2014-Musical_Instruments")
    assert music.parser == "amazon-json"
    assert music.files[0].name == "reviews_Musical_Instruments_5.json.gz"
    assert music.files[0].urls == (
        "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/reviews_Musical_Instruments_5.json.gz",
    )
    assert music.files[0].sha256 is None  # trust on first use
    assert "Musical_Instruments" in music.title
    auto = catalog.get("amazon2014-ratings-Automotive")
    assert auto.parser == "amazon-ratings-csv"
    assert auto.files[0].urls[0].endswith("/ratings_Automotive.csv")


def test_template_errors(tmp_path):
    doc = {"version": 1, "templates": {}, "datasets": {"a": {"template": "nope", "category": "X"}}}
    with pytest.raises(ConfigError, match=r"datasets.a.template: unknown template 'nope'"):
        load_sources(_write(tmp_path, doc))
    doc = yaml.safe_load(SOURCES.read_text())
    doc["datasets"] = {"a": {"template": "amazon2018-5core", "category": "../x"}}
    with pytest.raises(ConfigError, match=r"datasets.a.category"):
        load_sources(_write(tmp_path, doc))
