"""Two-domain datasets joined from two prepared categories as a pipeline stage (issue 19): the
``pairs`` section of params.yaml, the rendered ``pair`` stage, ``recx pair``, and the stage on real
mirrored Amazon 2018 categories through DVC."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from bench.config import load_params
from bench.data.tables import PreparedDataset
from bench.errors import ConfigError
from bench.pipeline import declares_pairs, grid_kinds, render_dvc_yaml, sync_dvc_yaml
from bench.splits.cdr_pairs import build_pair
from tests.scratch import scratch_checkout, sh

BASE = """
seeds: [0]
datasets:
  amazon2018-All_Beauty: {}
  amazon2018-Magazine_Subscriptions: {}
evaluation: {}
"""
PAIR = """
pairs:
  beauty-magazines:
    first: amazon2018-All_Beauty
    second: amazon2018-Magazine_Subscriptions
    names: [beauty, magazines]
    min_item_ratings: 1
    min_user_interactions: 1
"""


def _params(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return load_params(path)


def test_pairs_parse_and_scenarios_may_use_them(tmp_path):
    params = _params(tmp_path, BASE + PAIR + """
scenarios:
  bm-warm: {kind: cdr_warm, dataset: beauty-magazines, source: beauty, target: magazines, split: leave_one_out}
""")
    pair = params.pair("beauty-magazines")
    assert (pair.first, pair.names, pair.min_user_interactions) == ("amazon2018-All_Beauty", ("beauty", "magazines"), 1)
    params.validate_cell("bm-warm", "cmf")  # the pair counts as a dataset


@pytest.mark.parametrize("change, message", [
    (("first: amazon2018-All_Beauty", "first: nope"), r"pairs\.beauty-magazines\.first: unknown dataset 'nope'"),
    (("names: [beauty, magazines]", "names: [x, x]"), "two different domain names"),
    (("min_item_ratings: 1", "min_item_ratings: 0"), ">= 1"),
    (("beauty-magazines:", "amazon2018-All_Beauty:"), "also a key of datasets"),
])
def test_bad_pairs_are_refused_naming_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        params = _params(tmp_path, BASE + PAIR.replace(*change))
        params.pair(next(iter(params.pairs)))


def test_the_pair_stage_is_rendered_only_for_a_profile_with_pairs(tmp_path):
    (tmp_path / "params.yaml").write_text(BASE + PAIR)
    assert declares_pairs(tmp_path / "params.yaml")
    sync_dvc_yaml(tmp_path, echo=lambda _: None)
    stage = yaml.safe_load((tmp_path / "dvc.yaml").read_text())["stages"]["pair"]
    assert stage["foreach"] == "${pairs}"
    deps = stage["do"]["deps"]
    assert deps[:2] == ["datasets/prepared/${item.first}", "datasets/prepared/${item.second}"]
    assert "bench/splits/cdr_pairs.py" in deps and stage["do"]["outs"] == ["datasets/prepared/${key}"]
    (tmp_path / "params.yaml").write_text(BASE)
    assert not declares_pairs(tmp_path / "params.yaml")
    assert "pair" not in yaml.safe_load(render_dvc_yaml(grid_kinds(tmp_path / "params.yaml")))["stages"]


def _spec():
    from bench.config import CategoryPair

    return CategoryPair(first="a", second="b", names=("x", "y"), min_item_ratings=1, min_user_interactions=1)


def test_build_pair_writes_a_prepared_folder_and_leaves_nothing_on_failure(tmp_path):
    def single(name, rows, ids):
        inter = pd.DataFrame(rows, columns=["user", "item"]).assign(rating=4.0, timestamp=1, domain=name)
        users = pd.DataFrame({"user": range(len(ids)), "user_id": ids})
        items = pd.DataFrame({"item": range(3), "item_id": [f"{name}{i}" for i in range(3)]})
        PreparedDataset(name, inter, users, items, {"inputs": {"f": "0" * 64}}).write(tmp_path / name)

    single("a", [(0, 0), (0, 1), (1, 0), (2, 2)], ["u1", "u2", "u3"])
    single("b", [(0, 0), (1, 1), (1, 2)], ["u2", "u9"])
    spec = _spec()
    data = build_pair("ab", spec, first=tmp_path / "a", second=tmp_path / "b", out=tmp_path / "ab")
    read = PreparedDataset.read(tmp_path / "ab")
    assert read.users["user_id"].tolist() == ["u2"] and len(read.interactions) == 2
    assert data.stats["inputs"] == {"a/f": "0" * 64, "b/f": "0" * 64}
    single("c", [(0, 0)], ["zz"])  # shares no user with a
    with pytest.raises(Exception, match="share no users"):
        build_pair("ac", spec, first=tmp_path / "a", second=tmp_path / "c", out=tmp_path / "ac")
    assert not (tmp_path / "ac").exists() and not list(tmp_path.glob(".ac.staging-*"))


@pytest.mark.e2e
def test_the_pair_stage_on_real_mirrored_categories(tmp_path, mirror):
    """All_Beauty and Magazine_Subscriptions (Amazon 2018 5-core, in the mirror) share 4 reviewers:
    `dvc repro pair@beauty-magazines` fetches and prepares both and joins them; the counts are those
    of the two prepared categories, the pair's stats carry both releases' pinned sha256, and the
    stage is then up to date."""
    (tmp_path / "profile.yaml").write_text(BASE + PAIR + "scenarios: {}\ngrid: {}\n")
    ws, env = scratch_checkout(tmp_path / "ws", mirror, tmp_path / "profile.yaml")
    sh(["recx", "pipeline"], ws, env)
    sh(["dvc", "repro", "pair@beauty-magazines"], ws, env)
    stats = json.loads((ws / "datasets/prepared/beauty-magazines/stats.json").read_text())
    assert (stats["n_users"], stats["n_items"], stats["n_interactions"]) == (4, 46, 55)
    assert (stats["beauty"]["rows"], stats["magazines"]["rows"]) == (4092, 2302)  # the MANIFEST counts
    assert stats["inputs"]["amazon2018-All_Beauty/All_Beauty_5.json.gz"].startswith("4a6b1eb4")
    data = PreparedDataset.read(ws / "datasets/prepared/beauty-magazines")
    assert data.interactions.groupby("domain").size().to_dict() == {"beauty": 15, "magazines": 40}
    assert np.array_equal(data.users["user"], np.arange(4))
    assert "pair@beauty-magazines" not in sh(["dvc", "status", "pair@beauty-magazines"], ws, env).stdout
