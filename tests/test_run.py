"""The run stage on a synthetic split: records, per-user tables, and failing plugins confined to
their own cell."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import yaml

from bench import methods
from bench.config import TopNScenario, load_params
from bench.data.tables import PreparedDataset
from bench.methods import Config, MethodSpec
from bench.run import count_parameters, run_cell
from bench.splits.build import build_split


@dataclass(frozen=True, kw_only=True)
class _BrokenConfig(Config):
    mode: str = "raise"


class _Broken:
    """Test double: raises in fit or returns NaN scores."""

    def __init__(self, config):
        self.config = config

    def fit(self, data, *, rng, valid=None):
        if self.config.mode == "raise":
            raise RuntimeError("boom: simulated plugin crash")
        self.n_items_ = data.n_items
        return self

    def score(self, users):
        return np.full((len(users), self.n_items_), np.nan, dtype=np.float32)


@pytest.fixture
def cell_env(tmp_path, monkeypatch):
    monkeypatch.setitem(
        methods._REGISTRY, "broken", MethodSpec("broken", _Broken, _BrokenConfig, frozenset({"topn"}))
    )
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    users = np.repeat(np.arange(n_users), 10)
    items = np.concatenate([rng.choice(n_items, 10, replace=False) for _ in range(n_users)])
    inter = pd.DataFrame(
        {"user": users, "item": items, "rating": 5.0, "timestamp": rng.integers(0, 10_000, len(users)), "domain": "toy"}
    )
    data = PreparedDataset(
        "toy", inter, pd.DataFrame({"user": np.arange(n_users)}), pd.DataFrame({"item": np.arange(n_items)}), {}
    )
    data.write(tmp_path / "prepared")
    build_split(TopNScenario(name="toy-topn", dataset="toy"), prepared=tmp_path / "prepared", out=tmp_path / "split")
    params = {
        "seeds": [0],
        "datasets": {"toy": {}},
        "scenarios": {"toy-topn": {"kind": "topn", "dataset": "toy"}},
        "evaluation": {"ks": [5, 10], "metrics": ["recall", "ndcg"], "topk_saved": 10},
        "grid": {"topn": {"scenarios": ["toy-topn"], "methods": ["pop", "broken", "mf"]}},
        "methods": {"pop": {}, "broken": {"mode": "raise"}, "mf": {"epochs": 3, "embedding_size": 4}},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_ok_cell_writes_record_per_user_and_topk(cell_env):
    params = load_params(cell_env / "params.yaml")
    outcome = run_cell(params, scenario="toy-topn", method="pop", seed=0, split=cell_env / "split", out=cell_env / "out")
    assert outcome.ok
    record = json.loads((cell_env / "out" / "record.json").read_text())
    per_user = pd.read_parquet(cell_env / "out" / "per_user.parquet")
    topk = pd.read_parquet(cell_env / "out" / "topk.parquet")
    assert set(record["metrics"]) >= {"recall@5", "ndcg@10"}
    assert len(per_user) == record["n_evaluated_users"] > 0
    assert per_user["ndcg@10"].between(0, 1).all()
    assert record["metrics"]["ndcg@10"] == pytest.approx(per_user["ndcg@10"].mean())
    assert topk.groupby("user").size().eq(10).all()
    assert record["cost"]["n_parameters"] == 30  # pop: one count per item
    assert record["data"]["split_sha256"] and record["versions"]["numpy"]
    assert "training" not in record  # pop has no training log


def test_epoch_based_cell_records_how_training_ended(cell_env):
    params = load_params(cell_env / "params.yaml")
    run_cell(params, scenario="toy-topn", method="mf", seed=0, split=cell_env / "split", out=cell_env / "out")
    training = json.loads((cell_env / "out" / "record.json").read_text())["training"]
    assert training["epochs_run"] == training["max_epochs"] == 3
    assert training["stop_reason"] == "epoch_cap"  # 3 epochs never exhaust the patience
    assert 1 <= training["best_epoch"] <= 3 and 0 <= training["best_valid_score"] <= 1


@pytest.mark.parametrize(("mode", "message"), [("raise", "boom: simulated plugin crash"), ("nan", "non-finite")])
def test_failing_method_fails_only_its_cell(cell_env, mode, message):
    raw = yaml.safe_load((cell_env / "params.yaml").read_text())
    raw["methods"]["broken"]["mode"] = mode
    (cell_env / "params.yaml").write_text(yaml.safe_dump(raw))
    params = load_params(cell_env / "params.yaml")
    outcome = run_cell(params, scenario="toy-topn", method="broken", seed=0, split=cell_env / "split", out=cell_env / "bad")
    assert not outcome.ok
    record = json.loads((cell_env / "bad" / "record.json").read_text())
    assert record["status"] == "failed" and message in record["error"]["message"]

    from bench.report import build_report

    run_cell(params, scenario="toy-topn", method="pop", seed=0, split=cell_env / "split", out=cell_env / "runs/toy-topn/pop/0")
    (cell_env / "runs/toy-topn/broken").mkdir(parents=True)
    (cell_env / "bad").rename(cell_env / "runs/toy-topn/broken/0")
    build_report(params, runs=cell_env / "runs", out=cell_env / "reports")
    md = (cell_env / "reports" / "results.md").read_text()
    assert "`pop`" in md and "`broken`" in md and "failed" in md


def test_count_parameters_counts_learned_float_arrays():
    class M:
        pass

    m = M()
    m.config = object()
    m.user_factors_ = np.zeros((3, 2), dtype=np.float32)
    m.item_factors_ = np.zeros((5, 2), dtype=np.float32)
    m.n_users_ = 3
    m._cache = np.zeros(100)
    assert count_parameters(m) == 16


def test_training_summary_of_a_method_with_one_log_per_part():
    from bench.fitting import TrainingLog, training_summary

    class PerTask:
        training_logs_ = {
            "click": TrainingLog(epochs_run=9, max_epochs=40, best_epoch=6, best_score=0.5, stop_reason="patience"),
            "like": TrainingLog(epochs_run=40, max_epochs=40, best_epoch=40, best_score=0.7, stop_reason="epoch_cap"),
        }

    got = training_summary(PerTask())
    assert got["epochs_run"] == 40 and got["stop_reason"] == "epoch_cap"
    assert got["parts"]["click"]["best_epoch"] == 6
    assert training_summary(object()) is None
