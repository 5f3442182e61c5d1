"""Gather the run records of every cell the grid declares into one tidy table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.config import Params

__all__ = ["collect_records"]


def collect_records(params: Params, runs: Path) -> pd.DataFrame:
    """One row per declared (scenario, method, seed) cell: ``status`` (ok / failed / missing),
    the error message, every summary metric and cost column. Cells absent from ``runs`` are
    ``missing`` rather than silently dropped."""
    rows = []
    for scenario, method, seed in params.cells():
        path = Path(runs) / scenario / method / str(seed) / "record.json"
        row: dict = {"scenario": scenario, "method": method, "seed": seed}
        if not path.exists():
            row["status"] = "missing"
            row["error"] = f"no record at {path}"
        else:
            record = json.loads(path.read_text())
            row["status"] = record["status"]
            row["error"] = record.get("error", {}).get("message") if record["status"] != "ok" else None
            row.update(record.get("metrics", {}))
            row.update(record.get("cost", {}))
            row["commit"] = (record.get("git") or {}).get("commit")
            row["finished"] = record.get("finished")
            row["split_sha256"] = json.dumps(record["data"]["split_sha256"], sort_keys=True)
        rows.append(row)
    return pd.DataFrame(rows)
