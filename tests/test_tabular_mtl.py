"""The tabular_mtl scenario kind (Census-Income, the MMoE paper's setting): settings, split builder and
audit, hand-off, runner, methods, preset, and on the real mirrored files the split counts and one
`recx run` through the CLI.

Known-answer tests run on a ten-person table written here; the real-data tests skip, saying why,
when RECX_DATA_MIRROR is unset."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bench import kinds, methods
from bench.cells.tabular_mtl import run_tabular_mtl
from bench.config import Evaluation, TabularMTLScenario, load_params
from bench.contract import small_params, synthetic_tabular
from bench.data import census
from bench.data.tables import PreparedTable
from bench.errors import ConfigError, LeakageError
from bench.fitting import fit_method
from bench.metrics.classification import auc, auc_placements
from bench.splits.audit import audit_split
from bench.splits.tabular_mtl import split_tabular_mtl
from bench.splits.types import Split
from bench.tabular_mtl import tabular_data
from bench.typed import parse_dataclass
from tests.conftest import REPO_ROOT

SOURCES = REPO_ROOT / "datasets" / "sources.yaml"

# -- a ten-person prepared table: 4 train rows, 6 release-test rows --------------------------------

#: (age, sex, education, marital status, income, part)
ROWS = [
    (20, "F", "Children", "Never married", "- 50000", "train"),
    (30, "M", "Bachelors degree(BA AB BS)", "Divorced", "50000+", "train"),
    (40, "F", "High school graduate", "Never married", "- 50000", "train"),
    (50, "M", "Doctorate degree(PhD EdD)", "Widowed", "50000+", "train"),
    (35, "X", "Children", "Never married", "- 50000", "test"),  # sex X: unseen in train
    (60, "M", "Bachelors degree(BA AB BS)", "Divorced", "50000+", "test"),
    (25, "F", "10th grade", "Never married", "- 50000", "test"),
    (45, "F", "High school graduate", "Widowed", "50000+", "test"),
    (55, "M", "Doctorate degree(PhD EdD)", "Divorced", "- 50000", "test"),
    (18, "M", "Children", "Never married", "- 50000", "test"),
]
AGE_MEAN, AGE_STD = 35.0, float(np.sqrt(125.0))  # of the train ages 20, 30, 40, 50


def _table() -> PreparedTable:
    rows = pd.DataFrame(ROWS, columns=["age", "sex", "education", "marital_status", "income", "part"])
    rows.insert(5, "instance_weight", np.linspace(900.0, 1800.0, len(rows)))
    stats = {
        "format": "tabular",
        "nominal_columns": ["sex", "education", "marital_status", "income"],
        "continuous_columns": ["age", "instance_weight"],
        "parts": {"train": {"rows": 4}, "test": {"rows": 6}},
        "columns": list(rows.columns),
    }
    return PreparedTable("toy-census", rows=rows, stats=stats)


def _scenario(**kw) -> TabularMTLScenario:
    return TabularMTLScenario(name="toy", dataset="toy-census", **kw)


def _split(**kw) -> Split:
    return split_tabular_mtl(_table(), _scenario(**kw))


# -- settings --------------------------------------------------------------------------------------


def test_settings_name_the_key_and_the_valid_choices():
    where = "params.yaml: scenarios.c"
    with pytest.raises(ConfigError, match=r"scenarios.c.task_set: 'set3' is not one of \['income_marital', 'education_marital'\]"):
        parse_dataclass(TabularMTLScenario, {"dataset": "d", "task_set": "set3"}, where=where)
    with pytest.raises(ConfigError, match=r"scenarios.c: valid_share must be in \(0, 1\)"):
        parse_dataclass(TabularMTLScenario, {"dataset": "d", "valid_share": 1.0}, where=where)
    from typing import get_args, get_type_hints

    assert set(get_args(get_type_hints(TabularMTLScenario)["task_set"])) == set(census.TASK_SETS)


def test_methods_that_do_not_apply_are_refused_with_the_reason(tmp_path):
    assert set(methods.available("tabular_mtl")) >= {"logistic", "mmoe", "ple", "shared_bottom", "single_task"}
    assert not {"esmm", "aitm"} & set(methods.available("tabular_mtl"))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({
        "seeds": [0], "datasets": {"census-income-kdd": {}},
        "scenarios": {"c": {"kind": "tabular_mtl", "dataset": "census-income-kdd"}},
        "evaluation": {}, "grid": {"tabular_mtl": {"scenarios": ["c"], "methods": ["mmoe", "esmm"]}},
        "methods": {"mmoe": {}, "esmm": {}},
    }))
    with pytest.raises(ConfigError, match=r"grid.tabular_mtl.methods: method 'esmm' does not support .*"
                                          r"not applicable, ESMM models a click -> conversion cascade"):
        load_params(path).validate()


# -- split builder and audit -----------------------------------------------------------------------


def test_split_is_the_release_train_and_its_test_part_halved_with_the_seed():
    split = _split()
    assert split.train["user"].tolist() == [0, 1, 2, 3]
    valid, test = split.valid["user"].tolist(), split.test["user"].tolist()
    assert len(valid) == len(test) == 3 and sorted(valid + test) == [4, 5, 6, 7, 8, 9]
    assert valid == sorted(valid) and test == sorted(test)
    again = _split()
    assert again.valid["user"].tolist() == valid  # the seed is saved: the same draw
    other = {tuple(_split(seed=s).valid["user"]) for s in range(1, 8)}
    assert len(other | {tuple(valid)}) > 1
    assert split.meta["counts"] == {"release": {"train": 4, "test": 6}, "train": 4, "valid": 3, "test": 3}
    assert audit_split(split) == {"tabular_features": True, "tabular_parts": True, "tabular_encoding": True}


def test_labels_and_positive_counts():
    split = _split()
    assert split.meta["tasks"] == ["task_income_50k", "task_never_married"]
    assert split.train["task_income_50k"].tolist() == [0, 1, 0, 1]
    assert split.train["task_never_married"].tolist() == [1, 0, 1, 0]
    everyone = pd.concat([split.train, split.valid, split.test]).sort_values("user")
    assert everyone["task_income_50k"].tolist() == [int(r[4] == "50000+") for r in ROWS]
    assert split.meta["positives"]["train"] == {"task_income_50k": 2, "task_never_married": 2}
    set2 = _split(task_set="education_marital")
    assert set2.meta["tasks"] == ["task_college", "task_never_married"]
    assert set2.train["task_college"].tolist() == [0, 1, 0, 1]
    assert "education" not in set2.train.columns  # the source of a label is never a feature


def test_features_are_encoded_from_train_only():
    split = _split()
    assert split.meta["features"] == {"categorical": ["sex", "education"], "numeric": ["age"]}
    for col in ("marital_status", "income", "instance_weight", "part"):
        assert col not in split.train.columns
    cats = split.side["categories"]
    assert cats[cats["column"] == "sex"][["value", "code"]].values.tolist() == [["F", 1], ["M", 2]]
    everyone = pd.concat([split.train, split.valid, split.test]).sort_values("user")
    # person 4 has sex X, unseen in train -> 0; education "10th grade" (person 6) likewise
    assert everyone["sex"].tolist() == [1, 2, 1, 2, 0, 2, 1, 1, 2, 2]
    assert everyone.loc[everyone["user"] == 6, "education"].item() == 0
    expected_age = (np.array([r[0] for r in ROWS], dtype=np.float64) - AGE_MEAN) / AGE_STD
    np.testing.assert_allclose(everyone["age"].to_numpy(), expected_age, rtol=1e-6)
    stats = split.side["numeric_stats"]
    assert stats["column"].tolist() == ["age"]
    assert stats["mean"].item() == AGE_MEAN and stats["std"].item() == pytest.approx(AGE_STD)
    assert split.meta["unseen_categories"] == {
        p: int(getattr(split, p)["user"].isin([4, 6]).sum()) for p in ("valid", "test")
    }


def _with_feature(split: Split, column: str, values) -> Split:
    meta = json.loads(json.dumps(split.meta))
    meta["features"]["numeric"].append(column)
    parts = {}
    for part in ("train", "valid", "test"):
        frame = getattr(split, part).copy()
        frame.insert(len(frame.columns) - 2, column, values(frame))
        parts[part] = frame
    return replace(split, meta=meta, **parts)


@pytest.mark.parametrize("column", ["instance_weight", "marital_status", "income", "task_copy", "part"])
def test_audit_refuses_a_leaky_feature_naming_it(column):
    leaky = _with_feature(_split(), column, lambda f: np.zeros(len(f), np.float32))
    with pytest.raises(LeakageError, match=rf"feature column {column!r} is a label, the source of a label or a non-feature"):
        audit_split(leaky)


def test_audit_refuses_other_extra_columns_and_a_person_in_two_parts():
    split = _split()
    with pytest.raises(LeakageError, match=r"train columns differ from user \+ features \+ labels \(unexpected \[.weight.\]"):
        audit_split(replace(split, train=split.train.assign(weight=1.0)))
    moved = pd.concat([split.test, split.valid.iloc[:1]], ignore_index=True)
    with pytest.raises(LeakageError, match=r"1 persons of test also occur in valid, e.g. user"):
        audit_split(replace(split, test=moved))


def test_audit_checks_the_1_to_1_counts_and_train_statistics():
    split = _split()
    unbalanced = replace(split, valid=split.valid.iloc[:2], test=pd.concat([split.test, split.valid.iloc[2:]]))
    with pytest.raises(LeakageError, match=r"valid has 2 of the 6 release test rows, expected floor\(0.5 x 6\)"):
        audit_split(unbalanced)
    shifted = replace(split, train=split.train.assign(age=split.train["age"] + 0.5))
    with pytest.raises(LeakageError, match=r"train.age has mean 0.5 .* standardised with train statistics"):
        audit_split(shifted)
    recoded = replace(split, train=split.train.assign(sex=0))
    with pytest.raises(LeakageError, match=r"train.sex has codes outside 1..2"):
        audit_split(recoded)


def test_split_round_trips_through_its_folder(tmp_path):
    split = _split()
    manifest = split.write(tmp_path / "toy")
    assert manifest["counts"] == {"train": {"rows": 4, "users": 4}, "valid": {"rows": 3, "users": 3},
                                  "test": {"rows": 3, "users": 3}}
    assert set(manifest["sha256"]) == {"train.parquet", "valid.parquet", "test.parquet",
                                       "side_categories.parquet", "side_numeric_stats.parquet"}
    back = Split.read(tmp_path / "toy")
    data = tabular_data(back, "valid")
    assert data.tasks == ("income_50k", "never_married")
    assert data.categorical_names == ("sex", "education") and data.categorical_sizes == (3, 5)
    assert data.row.tolist() == split.valid["user"].tolist()
    assert data.numeric.dtype == np.float32 and data.categorical.dtype == np.int64
    assert set(data.features_only().labels) == set()


# -- metrics and runner ----------------------------------------------------------------------------


def test_auc_placements_average_to_the_pooled_auc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.3
    s = np.round(rng.random(500) + y * 0.4, 1)  # many ties
    v = auc_placements(y, s)
    assert v.mean() == pytest.approx(auc(y, s)) == pytest.approx(roc_auc_score(y, s))
    assert v[y].mean() == pytest.approx(v[~y].mean())
    assert auc_placements([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2]).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert auc_placements([1, 0], [0.5, 0.5]).tolist() == [0.5, 0.5]


class _Constant:
    """Predicts 0.3 for every task and person (AUC 0.5)."""

    def fit(self, data, *, rng, valid=None):
        self.tasks_ = data.tasks
        return self

    def predict(self, data):
        return {t: np.full(len(data), 0.3) for t in self.tasks_}


class _Oracle(_Constant):
    """Knows the test labels by person (AUC 1.0): a known answer for the runner, not a method."""

    def __init__(self, split: Split):
        self.labels = split.test.set_index("user")

    def predict(self, data):
        return {t: 0.1 + 0.8 * self.labels.loc[data.row, f"task_{t}"].to_numpy() for t in self.tasks_}


def _larger_split() -> Split:
    table = _table()
    rows = pd.concat([table.rows] * 6, ignore_index=True)  # 24 train, 36 test rows
    return split_tabular_mtl(replace(table, rows=rows), _scenario(seed=3))


def test_runner_known_answers_constant_half_and_oracle_one():
    split = _larger_split()
    const = run_tabular_mtl(_Constant(), split, Evaluation(), seed=0, method="constant")
    assert const.metrics["income_50k_auc"] == 0.5 and const.metrics["never_married_auc"] == 0.5
    assert const.metrics["mean_auc"] == 0.5
    assert const.metrics["income_50k_logloss"] > 0
    oracle = run_tabular_mtl(_Oracle(split), split, Evaluation(), seed=0, method="oracle")
    assert oracle.metrics["income_50k_auc"] == oracle.metrics["never_married_auc"] == oracle.metrics["mean_auc"] == 1.0
    per = oracle.per_user
    assert per["user"].tolist() == split.test["user"].tolist() and len(per) == 18
    assert set(per.columns) == {"user", "income_50k_auc", "income_50k_logloss", "never_married_auc",
                                "never_married_logloss", "mean_auc"}
    assert per["mean_auc"].mean() == 1.0 and const.per_user["income_50k_auc"].mean() == 0.5
    assert oracle.extra["tasks"] == ["income_50k", "never_married"]


def test_every_applicable_method_learns_the_synthetic_tasks():
    train, valid, test = synthetic_tabular(n=1500, seed=2)
    for name in ("logistic", "single_task", "shared_bottom", "mmoe", "ple"):
        spec = methods.get(name)
        model = spec.cls(spec.config.from_params(small_params(name, {"epochs": 15, "hidden_sizes": (16,)})))
        fit_method(model, train, seed=0, valid=valid, method=name)
        pred = model.predict(test.features_only())
        assert set(pred) == {"a", "b"}
        for t in ("a", "b"):
            assert auc(test.labels[t], pred[t]) > 0.75, (name, t)


def test_the_paper_preset_is_named_documented_and_overridable():
    mmoe = methods.build("mmoe", {"preset": "mmoe_paper_census"}).config
    assert (mmoe.n_experts, mmoe.hidden_sizes, mmoe.tower_sizes) == (8, (4,), (8,))
    assert (mmoe.learning_rate, mmoe.batch_size, mmoe.epochs) == (1e-3, 32, 100)
    assert type(mmoe).from_params(mmoe.to_params()) == mmoe
    capped = methods.build("mmoe", {"preset": "mmoe_paper_census", "epochs": 3}).config
    assert capped.epochs == 3 and capped.n_experts == 8
    assert methods.build("shared_bottom", {"preset": "mmoe_paper_census"}).config.hidden_sizes == (32,)
    # a key the block (or a tuning trial) sets wins even when it equals the class default
    explicit = methods.build("mmoe", {"preset": "mmoe_paper_census", "embedding_size": 16, "n_experts": 4}).config
    assert (explicit.embedding_size, explicit.n_experts, explicit.batch_size) == (16, 4, 32)
    assert methods.build("mmoe", explicit.to_params()).config == explicit  # round trip
    with pytest.raises(ConfigError, match=r"preset 'mmoe_paper_census' gives no sizes for ESMMConfig"):
        methods.build("esmm", {"preset": "mmoe_paper_census"})
    import methods._mtl_presets as presets

    assert "drawbridge/keras-mmoe" in presets.__doc__ and "num_experts=8" in presets.__doc__


def test_the_kind_row_and_the_paper_profile():
    row = kinds.get("tabular_mtl")
    assert row.pairs is False and row.references == ("single_task",)
    assert row.resolve("prepared") is PreparedTable and row.why_not("esmm") and row.why_not("mmoe") is None
    paper = load_params(REPO_ROOT / "profiles" / "paper.yaml")
    paper.validate()
    grid = paper.grids["tabular_mtl"]
    assert set(grid.scenarios) == {"census-income-marital", "census-education-marital"}
    assert {paper.scenario(s).task_set for s in grid.scenarios} == set(census.TASK_SETS)
    assert "tabular_mtl" not in load_params(REPO_ROOT / "params.yaml").grids
    # the neural methods run with the paper's sizes as named configurations, the MovieLens blocks
    # untouched; single_task's configuration is the kind's reference in the paired tests
    neural = {m: paper.base_method(m) for m in grid.methods if m != "logistic"}
    assert sorted(neural.values()) == ["mmoe", "ple", "shared_bottom", "single_task"]
    assert all(paper.build_method(m).config.preset == "mmoe_paper_census" for m in neural)
    assert paper.build_method("mmoe").config.preset == "none"
    from bench.report.significance import _reference

    values = {m: pd.Series([0.9]) for m in grid.methods}
    assert _reference("tabular_mtl", values, "mean_auc", paper.named_configurations()) == "single_task_census"


# -- the real mirrored files -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mirror() -> Path:
    value = os.environ.get("RECX_DATA_MIRROR")
    if not value:
        pytest.skip("RECX_DATA_MIRROR is unset: the real census-income-kdd files are not available "
                    "(set it to the offline mirror, e.g. ../shared/datasets)")
    path = Path(value).resolve()
    if not (path / "census-income-kdd" / "census-income.data.gz").is_file():
        pytest.fail(f"RECX_DATA_MIRROR={path} has no census-income-kdd files; fix the mirror")
    return path


def _recx(args, cwd: Path, mirror: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECX_DATA_MIRROR": str(mirror), "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(["recx", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"recx {args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def real_workspace(mirror, tmp_path_factory) -> Path:
    """fetch + prepare census-income-kdd through the CLI into a temp folder, with a params file of
    one tabular_mtl scenario and one cheap shared_bottom cell."""
    ws = tmp_path_factory.mktemp("census-kind")
    (ws / "params.yaml").write_text(yaml.safe_dump({
        "seeds": [0],
        "datasets": {"census-income-kdd": {}},
        "scenarios": {"census-income-marital": {"kind": "tabular_mtl", "dataset": "census-income-kdd",
                                                "task_set": "income_marital", "seed": 0}},
        "evaluation": {},
        "grid": {"tabular_mtl": {"scenarios": ["census-income-marital"], "methods": ["shared_bottom"]}},
        "methods": {"shared_bottom": {"epochs": 2, "batch_size": 4096, "hidden_sizes": [16],
                                      "tower_sizes": [8], "embedding_size": 4}},
    }))
    _recx(["fetch", "census-income-kdd", "--sources", SOURCES, "--out", ws / "raw"], ws, mirror)
    _recx(["prepare", "census-income-kdd", "--sources", SOURCES, "--raw", ws / "raw", "--out",
           ws / "prepared"], ws, mirror)
    _recx(["split", "census-income-marital", "--prepared", ws / "prepared", "--out", ws / "split"], ws, mirror)
    return ws


def test_real_split_counts_and_labels(real_workspace):
    split = Split.read(real_workspace / "split")
    assert (len(split.train), len(split.valid), len(split.test)) == (199_523, 49_881, 49_881)
    assert len(split.valid) + len(split.test) == 99_762
    pos = split.meta["positives"]
    assert pos["train"] == {"task_income_50k": 12_382, "task_never_married": 86_485}
    assert pos["valid"]["task_income_50k"] + pos["test"]["task_income_50k"] == 6_186
    assert pos["valid"]["task_never_married"] + pos["test"]["task_never_married"] == 43_143
    features = [*split.meta["features"]["categorical"], *split.meta["features"]["numeric"]]
    assert len(features) == 39 and not {"income", "marital_status", "instance_weight"} & set(features)
    assert split.meta["audit"]["tabular_features"] and split.meta["audit"]["tabular_encoding"]
    manifest = json.loads((real_workspace / "split" / "manifest.json").read_text())
    assert manifest["counts"]["valid"] == {"rows": 49_881, "users": 49_881}
    rows = PreparedTable.read(real_workspace / "prepared").rows
    assert (rows.iloc[split.test["user"]]["part"] == "test").all()
    assert (rows.iloc[split.train["user"]]["part"] == "train").all()


def test_real_recx_run_of_one_cheap_method(real_workspace, mirror):
    ws = real_workspace
    out = ws / "runs" / "census-income-marital" / "shared_bottom" / "0"
    _recx(["run", "census-income-marital", "shared_bottom", 0, "--split", ws / "split", "--out", out], ws, mirror)
    record = json.loads((out / "record.json").read_text())
    assert record["status"] == "ok" and record["kind"] == "tabular_mtl"
    m = record["metrics"]
    assert set(m) == {"income_50k_auc", "income_50k_logloss", "never_married_auc", "never_married_logloss", "mean_auc"}
    assert m["income_50k_auc"] > 0.85 and m["never_married_auc"] > 0.95  # two epochs already learn both
    assert record["training"]["epochs_run"] <= 2
    per = pd.read_parquet(out / "per_user.parquet")
    assert len(per) == 49_881 and per["mean_auc"].mean() == pytest.approx(m["mean_auc"])


def test_the_report_section_orders_aucs_first_with_mean_auc_primary():
    from bench.report.sections import sections

    section = next(s for s in sections() if s.key == "tabular_mtl")
    assert section.kinds == ("tabular_mtl",)
    records = pd.DataFrame({
        "kind": ["tabular_mtl"] * 2, "method": ["mmoe", "single_task"], "seed": [0, 0],
        "college_logloss": [0.3, 0.31], "never_married_auc": [0.99, 0.98], "college_auc": [0.9, 0.89],
        "mean_auc": [0.945, 0.935], "never_married_logloss": [0.1, 0.11], "fit_seconds": [1.0, 2.0],
    })
    metrics, primary = section.metrics(None, records)
    assert metrics == ["college_auc", "never_married_auc", "mean_auc", "college_logloss", "never_married_logloss"]
    assert primary == "mean_auc"


def test_published_values_sit_beside_ours_with_their_source():
    from bench.report.published import PUBLISHED, published_table

    records = pd.DataFrame({
        "scenario": ["c"] * 3, "method": ["mmoe", "mmoe", "single_task"], "seed": [0, 1, 0],
        "status": ["ok"] * 3, "income_50k_auc": [0.95, 0.94, 0.93], "never_married_auc": [0.99, 0.99, 0.98],
    })
    text = published_table(records, "c", "income_marital")
    rows = [line for line in text.splitlines() if line.startswith("| `mmoe`")]
    assert len(rows) == sum(p.task_set == "income_marital" for p in PUBLISHED) == 4
    assert rows[0].startswith("| `mmoe` | income_50k_auc | 0.9450 ± 0.0071 (2 seeds) | 0.94465 | mean over its epochs of the test AUC |")
    assert all("PaddleRec" in row and "https://" in row for row in rows)
    assert published_table(records, "c", "education_marital") == ""
    assert "| – |" in published_table(records, "absent", "income_marital")
    named = records.assign(method=records["method"].replace({"mmoe": "mmoe_census"}))
    assert published_table(named, "c", "income_marital", {"mmoe_census": "mmoe"}) == text.replace("`mmoe`", "`mmoe_census`")
    # the method and a named configuration of it: one row each, never pooled into 3 "seeds"
    both = pd.concat([records, named.iloc[[0]]], ignore_index=True)
    text = published_table(both, "c", "income_marital", {"mmoe_census": "mmoe"})
    first = [line for line in text.splitlines() if "| income_50k_auc |" in line and "| mean over" in line]
    assert [line.split(" | ")[0] for line in first] == ["| `mmoe`", "| `mmoe_census`"]
    assert "(2 seeds)" in first[0] and "0.9500 (1 seed)" in first[1]
