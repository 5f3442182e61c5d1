"""Equal tuning for every kind (issue 17, item 4): the tune stage searches multi-task and transfer
methods through their kind's tuner with the same protocol as top-N, and never opens the test part
(nor a transfer split's saved test candidates): the result on a split whose test files are deleted
or replaced by garbage equals the result on the clean split, and only train/valid and the side
tables the kind needs are ever read. The run stage then uses the tuned params."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from bench.config import CDRWarmScenario, MTLScenario, load_params
from bench.errors import DataError
from bench.run import run_cell
from bench.splits.build import build_split
from bench.splits.types import Split
from bench.tune import tune_cell
from bench.tuners.mtl import mtl_objective
from tests.cdr_data import prepared_pair
from tests.test_mtl_split import toy_dataset

optuna.logging.set_verbosity(optuna.logging.WARNING)

PARAMS = {
    "seeds": [0],
    "datasets": {"toy": {}, "pair": {}},
    "scenarios": {
        "toy-mtl": {"kind": "mtl", "dataset": "toy"},
        "pair-warm": {"kind": "cdr_warm", "dataset": "pair", "source": "src", "target": "tgt",
                      "n_negatives": 6},
    },
    "evaluation": {"ks": [5], "metrics": ["recall", "ndcg"], "topk_saved": 5},
    "grid": {
        "mtl": {"scenarios": ["toy-mtl"], "methods": ["shared_bottom", "multioutput_linear"]},
        "cdr_warm": {"scenarios": ["pair-warm"], "methods": ["cmf", "target_only"]},
    },
    "methods": {
        "shared_bottom": {"epochs": 3, "device": "cpu", "batch_size": 64},
        "multioutput_linear": {},
        "cmf": {"epochs": 3, "device": "cpu"},
        "target_only": {"epochs": 3, "device": "cpu"},
    },
    "tuning": {"n_trials": 3, "seed": 0},
}
SCENARIO = {"shared_bottom": "toy-mtl", "cmf": "pair-warm"}


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("tune-kinds")
    out = {}
    for name, data, scenario in (
        ("toy-mtl", toy_dataset(), MTLScenario(name="toy-mtl", dataset="toy")),
        ("pair-warm", prepared_pair(),
         CDRWarmScenario(name="pair-warm", dataset="pair", source="src", target="tgt", n_negatives=6)),
    ):
        data.write(tmp / "prepared" / name)
        build_split(scenario, prepared=tmp / "prepared" / name, out=tmp / "splits" / name)
        out[name] = tmp / "splits" / name
    return out


def _params(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(copy.deepcopy(PARAMS)))
    return load_params(path)


def _without_test(split: Path, tmp_path: Path, how: str) -> Path:
    """A copy of ``split`` whose test part and every test-only side table are deleted or garbage."""
    folder = tmp_path / f"{split.name}-{how}" / split.name
    shutil.copytree(split, folder, dirs_exist_ok=True)
    for name in ("test.parquet", "side_candidates.parquet"):
        path = folder / name
        if path.exists():
            path.unlink() if how == "deleted" else path.write_bytes(b"\x00garbage" * 40)
    return folder


@pytest.mark.parametrize("method", ["shared_bottom", "cmf"])
def test_tuning_an_mtl_and_a_cdr_method_never_opens_the_test_part(tmp_path, splits, method, monkeypatch):
    params = _params(tmp_path)
    scenario = SCENARIO[method]
    clean = tune_cell(params, scenario=scenario, method=method, split=splits[scenario], out=tmp_path / "clean")
    assert clean.best["n_trials_run"] == 3 and clean.best["best_valid"] >= clean.best["default_valid"]
    broken = _without_test(splits[scenario], tmp_path, "garbage")
    with pytest.raises(DataError, match="test.parquet"):  # the poison is real: a full read fails
        Split.read(broken)

    opened: list[str] = []
    real = pd.read_parquet
    monkeypatch.setattr(pd, "read_parquet", lambda p, *a, **k: opened.append(Path(p).name) or real(p, *a, **k))
    for how in ("deleted", "garbage"):
        folder = _without_test(splits[scenario], tmp_path, how)
        result = tune_cell(params, scenario=scenario, method=method, split=folder, out=tmp_path / how)
        assert result.params == clean.params, how
        assert result.best["best_valid"] == clean.best["best_valid"], how
    assert opened and not {"test.parquet", "side_candidates.parquet"} & set(opened)
    assert {"train.parquet", "valid.parquet"} <= set(opened)


def test_each_kind_records_its_own_objective_and_run_uses_the_tuned_params(tmp_path, splits):
    params = _params(tmp_path)
    mtl = tune_cell(params, scenario="toy-mtl", method="shared_bottom", split=splits["toy-mtl"],
                    out=tmp_path / "t-mtl")
    cdr = tune_cell(params, scenario="pair-warm", method="cmf", split=splits["pair-warm"],
                    out=tmp_path / "t-cdr")
    assert mtl.best["metric"] == "mean_auc" and cdr.best["metric"] == "target ndcg@10"
    outcome = run_cell(params, scenario="pair-warm", method="cmf", seed=0, split=splits["pair-warm"],
                       out=tmp_path / "run", tuned=tmp_path / "t-cdr" / "best.json")
    assert outcome.ok and outcome.record["tuning"]["n_trials"] == 3
    tuned = json.loads((tmp_path / "t-cdr" / "best.json").read_text())["params"]
    assert {k: outcome.record["params"][k] for k in tuned} == tuned


def test_mtl_objective_is_the_mean_of_the_binary_task_aucs():
    summary = {"click_auc": 0.9, "like_auc": 0.6, "ctcvr_auc": 0.75, "rating_rmse": 1.0}
    assert mtl_objective(summary, "mean_auc") == pytest.approx(0.75)
    assert mtl_objective(summary, "like_auc") == 0.6
