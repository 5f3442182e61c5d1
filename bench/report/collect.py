"""Gather the run records (and per-user tables) of every cell the grids declare."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench import kinds
from bench.config import Params

__all__ = ["TRAINING_COLUMNS", "collect_records", "load_per_user"]

#: How an epoch-based cell's training ended (the record's ``training``; empty for other methods).
TRAINING_COLUMNS = (
    "training_epochs_run", "training_max_epochs", "training_best_epoch", "training_stop_reason",
)


def collect_records(params: Params, runs: Path) -> pd.DataFrame:
    """One row per declared (scenario, method, seed) cell: ``kind``, ``status`` (ok / failed /
    missing), the error message, every summary metric and cost column, provenance fields. Cells
    absent from ``runs`` are ``missing`` rather than silently dropped."""
    rows = []
    for scenario, method, seed in params.cells():
        path = Path(runs) / scenario / method / str(seed) / "record.json"
        kind = params.scenario(scenario).kind
        row: dict = {
            "scenario": scenario,
            "kind": kind,
            "method": method,
            "seed": seed,
        }
        if not path.exists():
            row["status"] = "missing"
            row["error"] = f"no record at {path}; run `dvc repro {kinds.get(kind).stage(scenario, method, seed)}`"
        else:
            record = json.loads(path.read_text())
            row["status"] = record["status"]
            row["error"] = record.get("error", {}).get("message") if record["status"] != "ok" else None
            row.update(record.get("metrics", {}))
            row.update(record.get("cost", {}))
            training = record.get("training") or {}
            for key in TRAINING_COLUMNS:
                row[key] = training.get(key.removeprefix("training_"))
            row["commit"] = (record.get("git") or {}).get("commit")
            row["dirty"] = (record.get("git") or {}).get("dirty")
            row["started"] = record.get("started")
            row["finished"] = record.get("finished")
            row["split_sha256"] = json.dumps(
                (record.get("data") or {}).get("split_sha256", {}), sort_keys=True
            )
            row["versions"] = json.dumps(record.get("versions", {}), sort_keys=True)
            row["hardware"] = json.dumps(record.get("hardware", {}), sort_keys=True)
        rows.append(row)
    return pd.DataFrame(rows)


def load_per_user(runs: Path, records: pd.DataFrame, scenario: str, method: str) -> pd.DataFrame | None:
    """Per-user metrics of one (scenario, method), averaged over its ok seeds (index: user).

    Users are the unit of analysis: a user's value is the mean over the seeds; users missing from a
    seed (should not happen for a fixed split) are averaged over the seeds that have them."""
    ok = records[
        (records["scenario"] == scenario) & (records["method"] == method) & (records["status"] == "ok")
    ]
    if ok.empty:
        return None
    frames = [
        pd.read_parquet(Path(runs) / scenario / method / str(seed) / "per_user.parquet")
        for seed in ok["seed"]
    ]
    return pd.concat(frames).groupby("user").mean().sort_index()
