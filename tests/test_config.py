"""params.yaml validation: every bad key is refused before any training, with the key and the valid
choices in the message."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from bench.config import load_params
from bench.errors import ConfigError
from tests.conftest import REPO_ROOT

BASE = yaml.safe_load((REPO_ROOT / "profiles" / "ci.yaml").read_text())


def _load(tmp_path: Path, mutate) -> None:
    raw = copy.deepcopy(BASE)
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    load_params(path).validate()


def test_shipped_profiles_are_valid():
    for path in (REPO_ROOT / "params.yaml", *sorted((REPO_ROOT / "profiles").glob("*.yaml"))):
        params = load_params(path)
        params.validate()
        assert params.cells()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["grid"]["topn"]["methods"].append("nope"), r"unknown method 'nope'; registered methods are \[.*'ease'"),
        (lambda r: r["methods"]["ease"].update(regularisation=3.0), r"methods.ease: unknown key\(s\) \['regularisation'\]; valid keys are \['reg'"),
        (lambda r: r["methods"]["ease"].update(reg="high"), r"methods.ease.reg: expected a number, got 'high'"),
        (lambda r: r["evaluation"].update(ks=[0, 10]), r"evaluation: ks must be positive"),
        (lambda r: r["evaluation"].update(metrics=["ndcg", "auc_roc"]), r"unknown metric\(s\) \['auc_roc'\]; valid metrics are"),
        (lambda r: r.update(seeds=[]), r"seeds: must be a non-empty list"),
        (lambda r: r.update(seeds=[1, 1]), r"seeds must be distinct"),
        (lambda r: r["scenarios"]["ml100k-topn"].update(dataset="ml-7m"), r"unknown dataset 'ml-7m'; declared datasets are \['ml-100k'\]"),
        (lambda r: r["scenarios"]["ml100k-topn"].update(split="by_moon_phase"), r"split: 'by_moon_phase' is not one of \['temporal_global'"),
        (lambda r: r["scenarios"]["ml100k-topn"].update(valid_fraction=0.5, test_fraction=0.6), r"must be < 1 so that train is not empty"),
        (lambda r: r["grid"]["topn"].update(scenarios=["ml1m-topn"]), r"unknown scenario 'ml1m-topn'; declared scenarios are"),
        (lambda r: r.update(extra={}), r"unknown section\(s\) \['extra'\]"),
        (lambda r: r["methods"].pop("pop"), r"no block for method 'pop'"),
    ],
)
def test_bad_params_are_rejected_with_key_and_choices(tmp_path, mutate, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, mutate)


def test_cli_reports_config_errors_without_traceback(tmp_path, capsys):
    from bench.cli import main

    raw = copy.deepcopy(BASE)
    raw["grid"]["topn"]["methods"] = ["nope"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["check", "--params", str(path)]) == 2
    err = capsys.readouterr().err
    assert "recx check: error: unknown method 'nope'" in err and "Traceback" not in err


def test_a_profile_extends_another_params_file(tmp_path):
    """``extends``: mappings merge key by key, lists and scalars replace; the paper profile is the
    default one plus its release-pair scenarios."""
    from bench.config import read_params_yaml

    (tmp_path / "base.yaml").write_text(
        "seeds: [0, 1]\nevaluation: {ks: [10], metrics: [ndcg], batch_size: 8}\n"
        "grid: {topn: {scenarios: [a, b], methods: [pop]}}\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "p.yaml").write_text(
        "extends: ../base.yaml\nseeds: [3]\nevaluation: {batch_size: 16}\ngrid: {topn: {scenarios: [c]}}\n"
    )
    got = read_params_yaml(tmp_path / "sub" / "p.yaml")
    assert got["seeds"] == [3]
    assert got["evaluation"] == {"ks": [10], "metrics": ["ndcg"], "batch_size": 16}
    assert got["grid"] == {"topn": {"scenarios": ["c"], "methods": ["pop"]}}
    (tmp_path / "base.yaml").write_text("extends: sub/p.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        read_params_yaml(tmp_path / "sub" / "p.yaml")

    paper, default = (load_params(REPO_ROOT / f) for f in ("profiles/paper.yaml", "params.yaml"))
    assert set(default.scenarios) < set(paper.scenarios)
    assert set(default.grids["topn"].scenarios) < set(paper.grids["topn"].scenarios)
    for kind, grid in default.grids.items():  # the paper profile runs every default cell and more
        assert set(grid.scenarios) <= set(paper.grids[kind].scenarios)
        assert set(grid.methods) <= set(paper.grids[kind].methods)
    assert "lightgcn" in paper.grids["topn"].methods and paper.seeds == default.seeds


def test_workspace_params_of_an_extending_profile_are_the_merged_file(tmp_path):
    from bench.profiles import _write_params

    _write_params(REPO_ROOT / "profiles" / "paper.yaml", tmp_path / "params.yaml")
    merged = load_params(tmp_path / "params.yaml")
    assert "extends" not in yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert merged.scenarios == load_params(REPO_ROOT / "profiles" / "paper.yaml").scenarios
