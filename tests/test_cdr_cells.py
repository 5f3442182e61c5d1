"""The CDR cell runner: full ranking + saved-candidate protocol + rating read-out on the target domain,
top-K lists in split item ids, and a whole ``run`` cell written through :func:`bench.run.run_cell`."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import yaml

from bench import methods
from bench.cdr import CDRData, target_part
from bench.cells import runner
from bench.cells.cdr import run_cdr
from bench.config import CDRColdScenario, CDRWarmScenario, Evaluation, load_params
from bench.methods import Config
from bench.run import run_cell
from bench.splits.build import build_split
from bench.splits.cdr import split_cdr_cold, split_cdr_warm
from tests.cdr_data import prepared_pair

EVAL = Evaluation(ks=(5, 10), metrics=("ndcg", "recall"), topk_saved=10)


@dataclass(frozen=True, kw_only=True)
class _OracleConfig(Config):
    pass


class _Oracle:
    """Test double: knows the test items (score 1, else 0) -> perfect sampled and full ranking."""

    def __init__(self, config):
        self.config = config

    def fit(self, data: CDRData, *, rng, valid=None):
        self.scores_ = np.zeros((data.n_users, data.n_target_items), dtype=np.float32)
        return self

    def score(self, users):
        return self.scores_[users]


def test_runner_dispatch():
    assert runner("cdr_warm") is run_cdr and runner("cdr_cold") is run_cdr


def test_oracle_gets_perfect_metrics():
    split = split_cdr_warm(prepared_pair(), CDRWarmScenario(name="w", dataset="pair", source="src", target="tgt", n_negatives=12))
    model = _Oracle(_OracleConfig())
    test, frame = target_part(split, "test")
    original_fit = model.fit

    def fit(data, *, rng, valid=None):
        original_fit(data, rng=rng, valid=valid)
        model.scores_[frame["user"].to_numpy(), frame["item"].to_numpy()] = 1.0
        return model

    model.fit = fit
    result = run_cdr(model, split, EVAL, seed=0, method="oracle")
    assert result.metrics["sampled_hr@10"] == 1.0 and result.metrics["sampled_mrr@10"] == 1.0
    assert result.metrics["ndcg@10"] == pytest.approx(1.0)
    # top-K lists are in split item ids, all target-domain items
    target_items = set(split.side["items"].query("role == 'target'")["item"])
    assert set(result.topk[:, 0]) <= target_items
    assert result.extra["sampled"]["n_negatives"] == 12


def test_constant_scores_get_zero_under_pessimistic_ties():
    split = split_cdr_warm(prepared_pair(), CDRWarmScenario(name="w", dataset="pair", source="src", target="tgt", n_negatives=12))
    result = run_cdr(_Oracle(_OracleConfig()), split, EVAL, seed=0, method="const")
    assert result.metrics["sampled_hr@10"] == 0.0


def test_cold_cell_reports_ranking_sampled_and_rating_columns():
    split = split_cdr_cold(
        prepared_pair(n_users=80),
        CDRColdScenario(name="c", dataset="pair", source="src", target="tgt", split="withhold", beta=0.5, n_negatives=12),
    )
    model = methods.build("pooled", {"epochs": 3, "embedding_size": 8, "batch_size": 128, "device": "cpu"})
    result = run_cdr(model, split, EVAL, seed=0, method="pooled")
    cols = set(result.per_user.columns)
    assert {"user", "ndcg@10", "recall@5", "sampled_hr@10", "sampled_ndcg@10", "sampled_mrr@10", "mae", "rmse"} <= cols
    assert set(result.per_user["user"]) == set(split.test["user"])
    assert all(np.isfinite(v) for v in result.metrics.values())
    assert result.extra["cdr"]["n_cold_users"] == split.valid["user"].nunique() + split.test["user"].nunique()
    assert "rating_readout" in result.extra


def test_run_cell_writes_a_cdr_record(tmp_path):
    data = prepared_pair()
    data.write(tmp_path / "prepared")
    params = {
        "seeds": [0],
        "datasets": {"pair": {}},
        "scenarios": {"pair-warm": {"kind": "cdr_warm", "dataset": "pair", "source": "src", "target": "tgt", "n_negatives": 12}},
        "evaluation": {"ks": [5, 10], "metrics": ["ndcg"], "topk_saved": 10},
        "grid": {"cdr_warm": {"scenarios": ["pair-warm"], "methods": ["cmf"]}},
        "methods": {"cmf": {"epochs": 2, "embedding_size": 8, "device": "cpu"}},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = load_params(tmp_path / "params.yaml")
    build_split(p.scenario("pair-warm"), prepared=tmp_path / "prepared", out=tmp_path / "split")
    out = run_cell(p, scenario="pair-warm", method="cmf", seed=0, split=tmp_path / "split", out=tmp_path / "run")
    assert out.ok, out.record.get("error")
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    assert record["kind"] == "cdr_warm" and "sampled_hr@10" in record["metrics"]
    topk = pd.read_parquet(tmp_path / "run" / "topk.parquet")
    assert topk["item"].isin(data.items.query("domain == 'tgt'")["item"]).all()
