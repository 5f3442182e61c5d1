"""Result tables: mean and standard deviation over seeds per (scenario, method), with cost columns;
Markdown for the web, CSV for machines. Failed or missing cells are shown, never hidden."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COST_COLUMNS", "aggregate", "to_markdown"]

COST_COLUMNS = ("fit_seconds", "predict_seconds", "peak_rss_mb", "n_parameters")


def aggregate(records: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Long table: one row per (scenario, method) with ``<metric>_mean``/``_std``, cost means, the
    number of ok seeds and the status of the others."""
    rows = []
    for (scenario, method), group in records.groupby(["scenario", "method"], sort=False):
        ok = group[group["status"] == "ok"]
        row = {
            "scenario": scenario,
            "method": method,
            "seeds_ok": len(ok),
            "seeds_total": len(group),
            "status": "ok" if len(ok) == len(group) else _status(group),
        }
        for col in [*metrics, *COST_COLUMNS]:
            values = ok[col].astype(float) if col in ok else pd.Series(dtype=float)
            row[f"{col}_mean"] = values.mean() if len(values) else np.nan
            row[f"{col}_std"] = values.std(ddof=1) if len(values) > 1 else (0.0 if len(values) else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def _status(group: pd.DataFrame) -> str:
    bad = group[group["status"] != "ok"]
    return "; ".join(f"seed {s}: {st}" for s, st in zip(bad["seed"], bad["status"], strict=True))


def to_markdown(table: pd.DataFrame, metrics: list[str], *, caption: str) -> str:
    """A GitHub-flavoured Markdown table: ``mean ± std`` per metric, best mean in bold per scenario
    (higher is better for every ranking metric), cost columns, and the status of incomplete cells."""
    lines = [caption, ""]
    for scenario, group in table.groupby("scenario", sort=False):
        lines.append(f"### {scenario}")
        lines.append("")
        header = ["method", *metrics, "fit s", "predict s", "peak MB", "params", "seeds"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        best = {m: group[f"{m}_mean"].max() for m in metrics}
        for _, row in group.iterrows():
            cells = [f"`{row['method']}`"]
            for m in metrics:
                mean, std = row[f"{m}_mean"], row[f"{m}_std"]
                if np.isnan(mean):
                    cells.append("—")
                    continue
                text = f"{mean:.4f} ± {std:.4f}"
                cells.append(f"**{text}**" if np.isclose(mean, best[m]) else text)
            cells.append(_fmt(row["fit_seconds_mean"], "{:.2f}"))
            cells.append(_fmt(row["predict_seconds_mean"], "{:.2f}"))
            cells.append(_fmt(row["peak_rss_mb_mean"], "{:.0f}"))
            cells.append(_fmt(row["n_parameters_mean"], "{:,.0f}"))
            seeds = f"{row['seeds_ok']}/{row['seeds_total']}"
            cells.append(seeds if row["status"] == "ok" else f"{seeds} ⚠ {row['status']}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _fmt(value: float, pattern: str) -> str:
    return "—" if value is None or np.isnan(value) else pattern.format(value)
