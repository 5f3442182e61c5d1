"""MTL evaluation (known answers, cross-checks), the MTL hand-off and a real run cell (issue 4)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from bench.evaluate import check_predictions, evaluate_mtl
from bench.config import load_params
from bench.errors import MethodError
from bench.metrics.classification import gauc
from bench.metrics.grouped import group_auc, group_ndcg
from bench.multitask import TASKS, mtl_data, mtl_vocab
from bench.run import run_cell
from bench.splits.build import build_split
from tests.mtl_fixtures import synthetic_mtl
from tests.test_mtl_split import toy_dataset


def test_group_ndcg_known_answer():
    """User 0: scores rank rows (r1, r0, r2), relevant {r0} -> DCG = 1/log2(3), IDCG = 1.
    User 1: no relevant row -> NaN. User 2: relevant ranked first -> 1."""
    groups = np.array([0, 0, 0, 1, 1, 2, 2])
    labels = np.array([1, 0, 0, 0, 0, 0, 1])
    scores = np.array([0.5, 0.9, 0.1, 0.3, 0.2, 0.1, 0.8])
    users, values = group_ndcg(groups, labels, scores, k=10)
    np.testing.assert_array_equal(users, [0, 1, 2])
    assert values[0] == pytest.approx(1 / np.log2(3)) and np.isnan(values[1]) and values[2] == 1.0
    _, at1 = group_ndcg(groups, labels, scores, k=1)
    assert at1[0] == 0.0


def test_group_auc_matches_sklearn_and_gauc():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 12, 400)
    labels = rng.random(400) < 0.4
    scores = np.round(rng.random(400) + labels * 0.3, 2)  # ties included
    users, values = group_auc(groups, labels, scores)
    sizes = np.bincount(np.searchsorted(users, groups))
    for u, v in zip(users, values, strict=True):
        m = groups == u
        expected = roc_auc_score(labels[m], scores[m]) if 0 < labels[m].sum() < m.sum() else np.nan
        np.testing.assert_allclose(v, expected)
    ok = np.isfinite(values)
    assert gauc(groups, labels, scores) == pytest.approx(np.average(values[ok], weights=sizes[ok]))


def test_evaluate_perfect_and_constant_predictions():
    _, _, test = synthetic_mtl(n_users=20, n_items=60, per_user=50, fractions=(0.2, 0.1), seed=1)
    perfect = {t: test.labels[t].astype(np.float64) for t in TASKS}
    per_user, summary = evaluate_mtl(test, perfect, ks=(5, 10))
    for t in ("click", "like", "ctcvr"):
        assert summary[f"{t}_auc"] == 1.0 and summary[f"{t}_gauc"] == 1.0
        assert summary[f"{t}_logloss"] < 1e-5
    assert summary["rating_rmse"] == 0.0 and summary["rating_mae"] == 0.0
    assert summary["like_ndcg@10"] == 1.0 and summary["ctcvr_ndcg@5"] == 1.0
    assert len(per_user) == np.unique(test.user).size
    assert {"user", "n_impressions", "n_clicks", "click_auc", "like_ndcg@10", "rating_rmse"} <= set(per_user)
    constant = {t: np.full(len(test), 0.5) for t in TASKS}
    _, summary = evaluate_mtl(test, constant, ks=(10,))
    assert summary["click_auc"] == 0.5 and summary["click_logloss"] == pytest.approx(np.log(2))


def test_check_predictions_names_the_problem():
    n = 4
    good = {t: np.full(n, 0.5) for t in TASKS}
    check_predictions(good, n, "m")
    with pytest.raises(MethodError, match=r"lacks task\(s\) \['rating'\]"):
        check_predictions({t: v for t, v in good.items() if t != "rating"}, n, "m")
    with pytest.raises(MethodError, match="non-finite"):
        check_predictions({**good, "like": np.array([0.1, np.nan, 0.2, 0.3])}, n, "m")
    with pytest.raises(MethodError, match="probabilities"):
        check_predictions({**good, "click": np.full(n, 1.5)}, n, "m")
    with pytest.raises(MethodError, match=r"shape \(3,\)"):
        check_predictions({**good, "ctcvr": np.zeros(3)}, n, "m")


def test_handoff_from_a_split_maps_cold_ids_to_slot_zero():
    split = build_split_in_memory()
    vocab = mtl_vocab(split)
    train, test = mtl_data(split, "train", vocab), mtl_data(split, "test", vocab)
    assert train.user_id.min() >= 1 and train.item_id.min() >= 1
    cold = ~np.isin(test.user, split.train["user"].unique())
    assert (test.user_id[cold] == 0).all() and (test.user_id[~cold] > 0).all()
    assert train.field_names == ("age", "gender", "occupation", "zip")
    assert train.item_genres.shape[1] == 4
    np.testing.assert_array_equal(train.masks["like"], train.labels["click"] > 0)
    assert not test.features_only().has_labels


def build_split_in_memory():
    from bench.config import MTLScenario
    from bench.splits.mtl import split_mtl

    return split_mtl(toy_dataset(n_users=40, n_items=50), MTLScenario(name="toy-mtl", dataset="toy"))


def write_params(tmp_path, methods_block):
    params = {
        "seeds": [0],
        "datasets": {"toy": {}},
        "scenarios": {"toy-mtl": {"kind": "mtl", "dataset": "toy", "n_negatives": 2}},
        "evaluation": {"ks": [5, 10]},
        "grid": {"mtl": {"scenarios": ["toy-mtl"], "methods": sorted(methods_block)}},
        "methods": methods_block,
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return load_params(path)


def test_run_cell_end_to_end(tmp_path):
    toy_dataset(n_users=40, n_items=50).write(tmp_path / "prepared")
    small = {"epochs": 3, "batch_size": 128, "embedding_size": 4, "hidden_sizes": [8], "device": "cpu", "num_threads": 1}
    params = write_params(tmp_path, {"shared_bottom": small, "multioutput_linear": {}})
    build_split(params.scenario("toy-mtl"), prepared=tmp_path / "prepared", out=tmp_path / "split")
    for method in ("shared_bottom", "multioutput_linear"):
        out = tmp_path / "runs" / method
        outcome = run_cell(params, scenario="toy-mtl", method=method, seed=0, split=tmp_path / "split", out=out)
        assert outcome.ok, outcome.record.get("error")
        record = json.loads((out / "record.json").read_text())
        assert record["kind"] == "mtl" and record["cost"]["n_parameters"] > 0
        assert {"click_auc", "like_gauc", "ctcvr_logloss", "rating_rmse", "like_ndcg@10", "ctcvr_ndcg@5"} <= set(record["metrics"])
        per_user = pd.read_parquet(out / "per_user.parquet")
        assert per_user["user"].is_unique and len(per_user) == record["n_evaluated_users"]


def test_run_cell_records_a_broken_method_as_failed(tmp_path, monkeypatch):
    toy_dataset(n_users=40, n_items=50).write(tmp_path / "prepared")
    params = write_params(tmp_path, {"multioutput_linear": {}})
    build_split(params.scenario("toy-mtl"), prepared=tmp_path / "prepared", out=tmp_path / "split")
    from methods.mtl_linear import MultiOutputLinear

    monkeypatch.setattr(MultiOutputLinear, "predict", lambda self, data: {"click": np.zeros(len(data))})
    outcome = run_cell(params, scenario="toy-mtl", method="multioutput_linear", seed=0, split=tmp_path / "split", out=tmp_path / "run")
    assert outcome.record["status"] == "failed"
    assert "lacks task(s)" in outcome.record["error"]["message"]
