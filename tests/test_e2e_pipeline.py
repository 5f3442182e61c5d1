"""End to end: the real pipeline on the `ci` profile over real mirrored MovieLens-100K, in a scratch
copy of this checkout, run the way `make repro` runs it (`recx repro`: DVC with the cells in parallel
processes); then adding one method to params.yaml and a plain `dvc repro` re-runs only the new cells."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.scratch import scratch_checkout, sh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, mirror) -> tuple[Path, dict[str, str]]:
    """A scratch git+DVC checkout of the project with profiles/ci.yaml as params.yaml."""
    return scratch_checkout(tmp_path_factory.mktemp("recx-e2e"), mirror, REPO_ROOT / "profiles" / "ci.yaml")


@pytest.fixture(scope="module")
def first_repro(workspace) -> str:
    ws, env = workspace
    return sh(["recx", "repro", "--jobs", "2"], ws, env).stdout


def test_repro_produces_report_from_real_data(workspace, first_repro):
    ws, env = workspace
    # every stage ran through DVC: nothing is left stale (but the always-run code fingerprints) and
    # every cell is in dvc.lock
    status = json.loads(sh(["dvc", "status", "--json"], ws, env).stdout or "{}")
    assert status == {"fingerprint": ["always changed"]}, status
    lock = yaml.safe_load((ws / "dvc.lock").read_text())["stages"]
    assert {"run-topn@ml100k-topn-ease-0", "report"} <= set(lock)
    stats = json.loads((ws / "datasets/prepared/ml-100k/stats.json").read_text())
    assert stats["n_interactions"] == 100_000
    results = (ws / "reports" / "results.md").read_text()
    for method in ("pop", "ease", "mf"):
        assert f"`{method}`" in results
    rec = {
        m: json.loads((ws / f"artifacts/runs/ml100k-topn/{m}/0/record.json").read_text())
        for m in ("pop", "ease", "mf")
    }
    assert all(r["status"] == "ok" for r in rec.values()), {m: r.get("error") for m, r in rec.items()}
    # EASE must beat popularity by a wide margin on real data (a broken metric or split would not)
    assert rec["ease"]["metrics"]["ndcg@10"] > 1.3 * rec["pop"]["metrics"]["ndcg@10"]
    assert rec["ease"]["git"]["commit"] and rec["ease"]["versions"]["numpy"]
    assert rec["ease"]["cost"]["fit_seconds"] > 0
    per_user = ws / "artifacts/runs/ml100k-topn/ease/0/per_user.parquet"
    import pandas as pd

    frame = pd.read_parquet(per_user)
    assert len(frame) == rec["ease"]["n_evaluated_users"] > 50
    assert abs(frame["ndcg@10"].mean() - rec["ease"]["metrics"]["ndcg@10"]) < 1e-9


def test_adding_a_method_runs_only_new_cells(workspace, first_repro):
    ws, env = workspace
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["grid"]["topn"]["methods"].append("itemknn")
    params["methods"]["itemknn"] = {}
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    status = json.loads(sh(["dvc", "status", "--json"], ws, env).stdout or "{}")
    assert set(status) - {"fingerprint"} == {
        "tune-topn@ml100k-topn-itemknn", "run-topn@ml100k-topn-itemknn-0", "report"}, status

    out = sh(["dvc", "repro"], ws, env).stdout
    assert "Running stage 'run-topn@ml100k-topn-itemknn-0'" in out
    for cell in ("pop", "ease", "mf"):
        assert f"Running stage 'run-topn@ml100k-topn-{cell}-0'" not in out
    assert "`itemknn`" in (ws / "reports" / "results.md").read_text()


def test_killed_run_leaves_nothing_dvc_accepts_and_rerun_matches(workspace, first_repro):
    """SIGKILL a run cell mid-training: no output is accepted, `dvc repro` completes it, and the
    numbers equal an uninterrupted run of the same cell."""
    import signal
    import time

    import psutil

    ws, env = workspace
    params = yaml.safe_load((ws / "params.yaml").read_text())
    # long enough (tens of seconds) to be killed mid-fit; one thread keeps the timing predictable
    params["methods"]["mf"] = {"epochs": 150, "patience": 1000, "num_threads": 1}
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stage = "run-topn@ml100k-topn-mf-0"
    cell = ws / "artifacts/runs/ml100k-topn/mf/0"

    proc = subprocess.Popen(["dvc", "repro", "-s", stage], cwd=ws, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        runs = [p for p in psutil.Process(proc.pid).children(recursive=True)
                if "run" in p.cmdline() and any("recx" in part for part in p.cmdline())]
        if runs and sum(runs[0].cpu_times()[:2]) > 5.0:  # past imports and data loading: fitting
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.2)
    proc.wait(timeout=30)
    assert killed, "the run finished before it could be killed; make the cell longer"
    assert not (cell / "record.json").exists()
    status = json.loads(sh(["dvc", "status", "--json"], ws, env).stdout or "{}")
    assert stage in status

    sh(["dvc", "repro"], ws, env)
    interrupted_then_rerun = json.loads((cell / "record.json").read_text())
    sh(["dvc", "repro", "-f", "-s", stage], ws, env)
    uninterrupted = json.loads((cell / "record.json").read_text())
    assert interrupted_then_rerun["status"] == uninterrupted["status"] == "ok"
    assert interrupted_then_rerun["metrics"] == uninterrupted["metrics"]
    assert not list(cell.parent.glob(".0.staging-*"))
