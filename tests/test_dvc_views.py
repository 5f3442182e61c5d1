"""DVC's own views: the report's metrics/plots files (known answer on a tiny table), and
`dvc metrics show` / `dvc plots show` on the committed default run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from bench.config import load_params
from bench.report.dvc_views import write_dvc_views
from tests.conftest import REPO_ROOT


def test_views_of_one_scenario(tmp_path):
    table = pd.DataFrame({
        "scenario": ["s", "s", "s", "t"], "method": ["a", "b", "broken", "a"],
        "ndcg@10_mean": [0.1234567, 0.2, float("nan"), 0.9], "recall@10_mean": [0.3, 0.4, None, 0.9],
        "mrr@10_mean": [0.5, 0.6, None, 0.9], "fit_seconds_mean": [1.5, 2.0, None, 1.0],
    })
    sig = pd.DataFrame({"scenario": ["s", "s"], "metric": ["ndcg@10", "ndcg@10"], "method": ["a", "b"],
                        "ci_low": [0.1, 0.15], "ci_high": [0.15, 0.25]})
    write_dvc_views(table, sig, "s", ["recall@10", "ndcg@10", "mrr@10"], "ndcg@10", tmp_path)
    metrics = json.loads((tmp_path / "metrics" / "s.json").read_text())
    assert metrics == {"a": {"ndcg@10": 0.123457, "recall@10": 0.3}, "b": {"ndcg@10": 0.2, "recall@10": 0.4}}
    bars = pd.read_csv(tmp_path / "plots" / "comparison" / "s.csv")
    assert bars.to_dict(orient="list") == {"method": ["a", "b"], "metric": ["ndcg@10"] * 2,
                                           "value": [0.123457, 0.2], "ci_low": [0.1, 0.15],
                                           "ci_high": [0.15, 0.25]}
    cost = pd.read_csv(tmp_path / "plots" / "cost" / "s.csv")
    assert cost[["method", "fit_seconds", "value"]].values.tolist() == [["a", 1.5, 0.123457], ["b", 2.0, 0.2]]


def _dvc(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, check=True)


def test_dvc_metrics_show_lists_every_scenario_and_method_of_the_committed_run():
    shown = json.loads(_dvc("metrics", "show", "--json").stdout)
    data = next(iter(shown.values()))["data"]  # the workspace revision
    params = load_params(REPO_ROOT / "params.yaml")
    for kind, grid in params.grids.items():
        for scenario in grid.scenarios:
            doc = data[f"reports/metrics/{scenario}.json"]["data"]
            assert set(doc) == set(grid.methods), (scenario, sorted(doc))
            assert all(0.0 <= v <= 1.0 for values in doc.values() for v in values.values())


def test_dvc_plots_show_renders_figures_and_data_plots(tmp_path):
    _dvc("plots", "show", "-o", str(tmp_path / "plots"))
    html = (tmp_path / "plots" / "index.html").read_text()
    assert "Primary metric per method (mean over seeds)" in html  # bars, one plot per scenario
    assert "Primary metric vs. mean fit seconds" in html  # accuracy against cost
    params = load_params(REPO_ROOT / "params.yaml")
    assert all(f'"method": "{m}"' in html for grid in params.grids.values() for m in grid.methods)
    images = list((tmp_path / "plots" / "static").glob("*.png"))
    assert len(images) == len(list((REPO_ROOT / "reports" / "figures").glob("*.png"))) > 0



def test_committed_views_agree_with_the_committed_tables(tmp_path):
    """reports/metrics and reports/plots are what the report's results.csv/significance.csv say."""
    import shutil

    from bench.report.dvc_views import write_report_views

    for name in ("results.csv", "significance.csv"):
        shutil.copy(REPO_ROOT / "reports" / name, tmp_path / name)
    write_report_views(load_params(REPO_ROOT / "params.yaml"), tmp_path)
    for sub in ("metrics", "plots/comparison", "plots/cost"):
        ours = {p.name: p.read_text() for p in (tmp_path / sub).iterdir()}
        committed = {p.name: p.read_text() for p in (REPO_ROOT / "reports" / sub).iterdir()}
        assert ours == committed, sub
