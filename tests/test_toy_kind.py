"""Adding a scenario kind is one module + one row (+ its params): a toy kind (rating prediction,
``tests/toy_kind/toykind.py``) is installed as a plugin (entry points in a scratch ``*.dist-info``,
no edit anywhere in bench/), validated, contract-checked and run end to end through ``dvc repro``
(``recx repro`` on a profile: dvc.yaml gets its ``run-toy`` stage from the kind table) on real
mirrored MovieLens-100K."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.scratch import scratch_checkout, sh

pytestmark = pytest.mark.e2e

TOY = Path(__file__).parent / "toy_kind" / "toykind.py"

PROFILE = {
    "seeds": [0, 1],
    "datasets": {"ml-100k": {"kcore": 0, "max_invalid_fraction": 0.001}},
    "scenarios": {"ml100k-toy": {"kind": "toy", "dataset": "ml-100k", "test_fraction": 0.2}},
    "evaluation": {"ks": [10], "metrics": ["ndcg"], "batch_size": 1024, "topk_saved": 10},
    "grid": {"toy": {"scenarios": ["ml100k-toy"], "methods": ["toy_user_mean"]}},
    "methods": {"toy_user_mean": {"shrinkage": 5.0}},
}


def install_toy(site: Path) -> None:
    """The toy module plus a distribution's metadata naming it in both entry point groups."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy2(TOY, site / "toykind.py")
    dist = site / "recx_toy_kind-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: recx-toy-kind\nVersion: 0.1\n")
    (dist / "top_level.txt").write_text("toykind\n")
    (dist / "entry_points.txt").write_text(
        "[recxbench.kinds]\ntoy = toykind\n\n[recxbench.methods]\ntoy = toykind\n"
    )


@pytest.fixture(scope="module")
def toy(tmp_path_factory, mirror):
    ws, env = scratch_checkout(tmp_path_factory.mktemp("recx-toy"), mirror, None)
    site = tmp_path_factory.mktemp("toy-site")
    install_toy(site)
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    (ws / "profiles" / "toy.yaml").write_text(yaml.safe_dump(PROFILE, sort_keys=False))
    return ws, env


def test_the_toy_kind_is_registered_validated_and_contract_checked(toy):
    ws, env = toy
    code = (
        "from bench import kinds, methods\n"
        "from bench.config import load_params\n"
        "from bench.contract import check_method\n"
        "assert 'toy' in kinds.kinds() and methods.available('toy') == ['toy_user_mean']\n"
        "load_params('profiles/toy.yaml').validate()\n"
        "check_method('toy_user_mean', 'toy')\n"
        "print('OK')\n"
    )
    out = sh([sys.executable, "-c", code], ws, env)
    assert out.stdout.strip() == "OK"


def test_the_toy_kind_runs_through_dvc_repro(toy):
    ws, env = toy
    out = sh(["recx", "repro", "--profile", "toy", "--jobs", "2"], ws, env)
    assert "FAILED" not in out.stdout + out.stderr
    space = ws / "workspaces" / "toy"
    stages = yaml.safe_load((space / "dvc.yaml").read_text())["stages"]
    assert "run-toy" in stages and "run-topn" not in stages  # rendered for this profile's kinds
    lock = yaml.safe_load((space / "dvc.lock").read_text())["stages"]
    assert {"split@ml100k-toy", "run-toy@ml100k-toy-toy_user_mean-0",
            "run-toy@ml100k-toy-toy_user_mean-1", "report"} <= set(lock)
    record = json.loads((space / "artifacts/runs/ml100k-toy/toy_user_mean/0/record.json").read_text())
    assert record["status"] == "ok" and record["kind"] == "toy"
    assert 0.5 < record["metrics"]["rmse"] < 1.5  # MovieLens ratings: a user-mean model is ~1.0
    assert record["code"]["fingerprint_sha256"]
    cells = pd.read_csv(space / "reports" / "cells.csv")
    assert set(cells["kind"]) == {"toy"} and (cells["status"] == "ok").all()
    assert "## toy" in (space / "reports" / "results.md").read_text()
    # nothing is stale afterwards, and the root project was not touched
    status = sh(["recx", "status", "--profile", "toy"], ws, env).stdout
    assert "every stage is up to date" in status, status
    assert subprocess.run(["git", "status", "--porcelain", "--", "dvc.yaml", "reports"], cwd=ws,
                          capture_output=True, text=True).stdout == ""
