"""dvc.yaml is the rendering of bench/pipeline.py and the scenario-kind table, and every kind of the
table gets its stages (run-<kind>, tune-<kind> for tunable kinds) with the right dependencies."""

from __future__ import annotations

import yaml

from bench import kinds
from bench.pipeline import declares_pairs, grid_kinds, render_dvc_yaml, sync_dvc_yaml
from tests.conftest import REPO_ROOT


def test_committed_dvc_yaml_is_the_rendering_of_the_kind_table():
    expected = render_dvc_yaml(grid_kinds(REPO_ROOT / "params.yaml"), pairs=declares_pairs(REPO_ROOT / "params.yaml"))
    assert (REPO_ROOT / "dvc.yaml").read_text() == expected, "run `recx pipeline` and commit dvc.yaml"


def test_every_kind_gets_its_stages_and_dependencies():
    stages = yaml.safe_load(render_dvc_yaml())["stages"]
    for kind in kinds.kinds().values():
        run = stages[kind.run_stage]
        assert f"artifacts/fingerprints/{kind.name}/${{item.method}}.json" in run["deps"]
        assert "--fingerprint" in run["cmd"]
        assert ("tuning" in run["params"]) == kind.tunable
        assert (kind.tune_stage in stages) == kind.tunable
    assert stages["tune-topn"]["deps"][-1] == "artifacts/fingerprints/tune/${item.method}.json"
    assert not any(d.endswith("test.parquet") for d in stages["tune-topn"]["deps"])  # never test


def test_only_the_params_kinds_are_rendered_and_sync_rewrites_a_stale_file(tmp_path):
    (tmp_path / "params.yaml").write_text("grid:\n  mtl: {scenarios: [s], methods: [m]}\n")
    assert grid_kinds(tmp_path / "params.yaml") == ["mtl"]
    assert sync_dvc_yaml(tmp_path, echo=lambda _: None)
    stages = yaml.safe_load((tmp_path / "dvc.yaml").read_text())["stages"]
    assert {"run-mtl", "tune-mtl"} <= set(stages) and not {"run-topn", "tune-topn"} & set(stages)
    assert "artifacts/tuning" in stages["report"]["deps"] and "tuning" in stages["report"]["params"]
    assert not sync_dvc_yaml(tmp_path, echo=lambda _: None)  # up to date: untouched
    report = yaml.safe_load(render_dvc_yaml([]))["stages"]["report"]  # no tunable kind with cells
    assert "artifacts/tuning" not in report["deps"] and "tuning" not in report["params"]


def test_a_kind_without_cells_gets_no_stages_and_the_report_no_tuning_dependency(tmp_path):
    """A profile restricted to one transfer pair (top-N and MTL scenarios emptied) has no top-N or
    MTL stages; its report depends on artifacts/tuning only because tune-cdr_warm writes it (with
    no tunable kind left it does not: the first test)."""
    (tmp_path / "params.yaml").write_text(
        "grid:\n  topn: {scenarios: [], methods: [pop]}\n  mtl: {scenarios: [s], methods: []}\n"
        "  cdr_warm: {scenarios: [w], methods: [cmf]}\n"
    )
    assert grid_kinds(tmp_path / "params.yaml") == ["cdr_warm"]
    sync_dvc_yaml(tmp_path, echo=lambda _: None)
    stages = yaml.safe_load((tmp_path / "dvc.yaml").read_text())["stages"]
    assert set(stages) >= {"run-cdr_warm", "tune-cdr_warm", "report"}
    assert not {"tune-topn", "run-topn", "run-mtl", "tune-mtl"} & set(stages)
    assert "artifacts/tuning" in stages["report"]["deps"]  # written by tune-cdr_warm
