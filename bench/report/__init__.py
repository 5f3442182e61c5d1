"""The ``report`` stage: run records -> ``reports/`` (Markdown and CSV result tables)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.config import Params
from bench.report.collect import collect_records
from bench.report.tables import aggregate, to_markdown

__all__ = ["build_report"]


def build_report(params: Params, *, runs: Path, out: Path) -> Path:
    """Write ``results.md``, ``results.csv`` and ``cells.csv`` (every cell's status) into ``out``.

    Output depends only on the run records and params, so running it twice gives identical files.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = collect_records(params, runs)
    metrics = [f"{m}@{k}" for m in params.evaluation.metrics for k in params.evaluation.ks]
    table = aggregate(records, metrics)
    shown = [m for m in metrics if m.endswith(tuple(f"@{k}" for k in (10,)))] or metrics[:6]
    caption = _caption(params, records)
    (out / "results.md").write_text(to_markdown(table, shown, caption=caption) + _footer(records))
    table.to_csv(out / "results.csv", index=False, float_format="%.6g")
    records.drop(columns=["split_sha256"], errors="ignore").to_csv(
        out / "cells.csv", index=False, float_format="%.6g"
    )
    return out / "results.md"


def _caption(params: Params, records) -> str:
    seeds = ", ".join(str(s) for s in params.seeds)
    return (
        "# Results\n\n"
        f"Mean ± standard deviation over seeds ({seeds}). Full ranking over all items; each user's "
        "train and validation items excluded. Best mean per scenario in bold. Cost columns: mean fit "
        "and predict wall-clock seconds, peak resident memory of the run process, learned parameters. "
        "All metrics at every cut-off: `results.csv`; per cell: `cells.csv`."
    )


def _footer(records) -> str:
    ok = records[records["status"] == "ok"]
    commits = sorted({c for c in ok.get("commit", []) if isinstance(c, str)})
    hashes = sorted(set(ok.get("split_sha256", [])))
    lines = ["", "---", "", "Provenance:", ""]
    lines.append(f"- commits: {', '.join(c[:12] for c in commits) or 'unknown'}")
    for h in hashes:
        lines.append(f"- split files sha256: `{json.loads(h)}`")
    finished = sorted(x for x in ok.get("finished", []) if isinstance(x, str))
    if finished:
        lines.append(f"- runs finished between {finished[0]} and {finished[-1]}")
    bad = records[records["status"] != "ok"]
    if len(bad):
        lines.append("")
        lines.append("Incomplete cells (not included in the means):")
        lines.append("")
        for _, row in bad.iterrows():
            lines.append(f"- `{row['scenario']}/{row['method']}/{row['seed']}`: {row['status']} — {row['error']}")
    return "\n".join(lines) + "\n"
