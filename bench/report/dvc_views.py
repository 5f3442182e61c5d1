"""What DVC's own views read: ``dvc metrics show`` / ``dvc metrics diff`` and ``dvc plots show``.

* ``metrics/<scenario>.json`` — ``{method: {metric: mean over seeds}}`` for the scenario's headline
  metrics (the section's primary metric and the next one it shows); cells that failed are absent;
* ``plots/comparison/<scenario>.csv`` — per method the primary metric's mean with its 95 % bootstrap
  CI over users (bars in ``dvc plots show``);
* ``plots/cost/<scenario>.csv`` — per method the mean fit seconds next to the primary metric
  (accuracy against training cost).

They are derived from the report's own ``results.csv`` (means over seeds) and ``significance.csv``
(CIs) by :func:`write_report_views`, so they can never disagree with the tables, and ``recx report
--views-only`` rebuilds them from a committed report. ``dvc.yaml`` declares them (top-level
``metrics:`` and ``plots:``, beside ``reports/figures``), so the committed report answers ``dvc
metrics show`` on any clone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

__all__ = ["HEADLINE_METRICS", "write_dvc_views", "write_report_views"]

#: metrics per scenario in ``metrics/<scenario>.json`` (the primary metric first)
HEADLINE_METRICS = 2


def write_report_views(params, out: Path) -> list[str]:
    """Write the views of every scenario of the report in ``out`` from its ``results.csv`` and
    ``significance.csv``; returns the scenarios written."""
    from bench.report.sections import sections

    out = Path(out)
    table = pd.read_csv(out / "results.csv")
    try:
        sig = pd.read_csv(out / "significance.csv")
    except pd.errors.EmptyDataError:
        sig = pd.DataFrame(columns=["scenario", "metric", "method", "ci_low", "ci_high"])
    done = []
    for section in sections():
        part = table[table["kind"].isin(section.kinds)]
        if part.empty:
            continue
        metrics, primary = section.metrics(params, part)
        metrics = [m for m in metrics if f"{m}_mean" in part.columns]
        if not metrics:
            continue
        primary = primary if primary in metrics else metrics[0]
        for scenario in dict.fromkeys(part["scenario"]):
            write_dvc_views(part, sig, scenario, metrics, primary, out)
            done.append(scenario)
    return done


def write_dvc_views(
    table: pd.DataFrame, sig: pd.DataFrame, scenario: str, metrics: list[str], primary: str, out: Path
) -> None:
    """Write the three files above for one ``scenario`` (``table``: aggregated means per method)."""
    rows = table[(table["scenario"] == scenario)]
    headline = [primary, *[m for m in metrics if m != primary]][:HEADLINE_METRICS]
    doc: dict[str, dict[str, float]] = {}
    for row in rows.to_dict(orient="records"):
        values = {m: _round(row.get(f"{m}_mean")) for m in headline}
        values = {m: v for m, v in values.items() if v is not None}
        if values:
            doc[row["method"]] = values
    _write(out / "metrics" / f"{scenario}.json", json.dumps(doc, indent=2) + "\n")

    ci = sig[(sig["scenario"] == scenario) & (sig["metric"] == primary)] if not sig.empty else sig
    ci = ci.set_index("method") if not ci.empty else None
    comparison, cost = [], []
    for row in rows.to_dict(orient="records"):
        value = _round(row.get(f"{primary}_mean"))
        if value is None:
            continue
        low = high = None
        if ci is not None and row["method"] in ci.index:
            low, high = _round(ci.at[row["method"], "ci_low"]), _round(ci.at[row["method"], "ci_high"])
        comparison.append({"method": row["method"], "metric": primary, "value": value,
                           "ci_low": low, "ci_high": high})
        fit = _round(row.get("fit_seconds_mean"))
        if fit is not None:
            cost.append({"method": row["method"], "fit_seconds": fit, "metric": primary, "value": value})
    _write(out / "plots" / "comparison" / f"{scenario}.csv",
           pd.DataFrame(comparison, columns=["method", "metric", "value", "ci_low", "ci_high"])
           .to_csv(index=False))
    _write(out / "plots" / "cost" / f"{scenario}.csv",
           pd.DataFrame(cost, columns=["method", "fit_seconds", "metric", "value"]).to_csv(index=False))


def _round(value: object) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return float(f"{v:.6g}") if math.isfinite(v) else None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
