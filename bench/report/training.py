"""How the epoch-based cells trained: epochs run, best epoch, why training stopped, and every cell
that ran into its epoch cap (a cell the stopping rule did not end may be under-trained)."""

from __future__ import annotations

import pandas as pd

__all__ = ["capped_cells", "training_markdown"]

RULE = (
    "Every epoch-based method (all families) trains with the same rule: evaluate on the validation "
    "part after each epoch (NDCG@10 for the ranking kinds), keep the best state, stop once the mean of the last "
    "`smoothing` validation scores has not improved for `patience` evaluations (and at least "
    "`min_epochs` epochs ran), then restore the best state. A cell that stops at `epochs` instead "
    "is listed below as *stopped at its epoch cap*."
)


def capped_cells(records: pd.DataFrame) -> pd.DataFrame:
    """The ok cells whose training ended at the epoch cap."""
    if "training_stop_reason" not in records:
        return records.iloc[:0]
    return records[(records["status"] == "ok") & (records["training_stop_reason"] == "epoch_cap")]


def training_markdown(records: pd.DataFrame) -> str:
    """The report's "Training" section, or "" when no cell recorded a training log."""
    if "training_stop_reason" not in records:
        return ""
    cells = records[(records["status"] == "ok") & records["training_stop_reason"].notna()]
    if cells.empty:
        return ""
    lines = ["## Training of the epoch-based methods", "", RULE, ""]
    lines += [
        "| scenario | method | epochs run (mean, min–max) | best epoch (mean) | epoch cap | stopped by the rule | at the cap |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for (scenario, method), g in cells.groupby(["scenario", "method"], sort=False):
        run = g["training_epochs_run"].astype(float)
        reasons = g["training_stop_reason"]
        lines.append(
            f"| {scenario} | {method} | {run.mean():.0f} ({run.min():.0f}–{run.max():.0f}) "
            f"| {g['training_best_epoch'].astype(float).mean():.0f} "
            f"| {g['training_max_epochs'].max():.0f} | {int((reasons == 'patience').sum())} "
            f"| {int((reasons == 'epoch_cap').sum())} |"
        )
    capped = capped_cells(records)
    lines.append("")
    if capped.empty:
        lines.append("No cell stopped at its epoch cap.")
    else:
        lines.append("**Stopped at the epoch cap** (still improving on validation; may be under-trained):")
        lines.append("")
        for _, row in capped.iterrows():
            lines.append(
                f"- `{row['scenario']}/{row['method']}/{row['seed']}`: best epoch "
                f"{row['training_best_epoch']:.0f} of {row['training_max_epochs']:.0f}"
            )
    return "\n".join(lines) + "\n"

