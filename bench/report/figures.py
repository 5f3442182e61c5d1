"""Figures (matplotlib, Agg backend, deterministic PNGs): metric bars with bootstrap CIs per scenario,
and accuracy against training time (the cost frontier)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["bars_with_ci", "cost_frontier", "save"]

PNG_METADATA = {"Software": None}  # no version/timestamp text: identical inputs -> identical bytes


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata=PNG_METADATA)
    plt.close(fig)
    return path


def bars_with_ci(sig: pd.DataFrame, scenario: str, metric: str, path: Path) -> Path | None:
    """Horizontal bars of the per-user mean with its 95 % bootstrap CI, best at the top."""
    if sig.empty:
        return None
    rows = sig[(sig["scenario"] == scenario) & (sig["metric"] == metric)].sort_values("mean")
    if rows.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(rows) + 1.2))
    y = np.arange(len(rows))
    err = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]])
    colors = ["#d62728" if m == r else "#1f77b4" for m, r in zip(rows["method"], rows["reference"], strict=True)]
    ax.barh(y, rows["mean"], xerr=err, color=colors, capsize=3)
    ax.set_yticks(y, rows["method"])
    ax.set_xlabel(f"{metric} (mean over users, 95% bootstrap CI)")
    ax.set_title(f"{scenario}: {metric}  (red = reference)")
    ax.grid(axis="x", alpha=0.3)
    return save(fig, path)


def cost_frontier(table: pd.DataFrame, scenario: str, metric: str, path: Path) -> Path | None:
    """Accuracy (mean over seeds) against mean fit time, log scale; the Pareto frontier is drawn."""
    if f"{metric}_mean" not in table:
        return None
    rows = table[(table["scenario"] == scenario)].dropna(subset=[f"{metric}_mean", "fit_seconds_mean"])
    if rows.empty:
        return None
    x = np.maximum(rows["fit_seconds_mean"].to_numpy(), 1e-3)
    y = rows[f"{metric}_mean"].to_numpy()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x, y, color="#1f77b4")
    for xi, yi, name in zip(x, y, rows["method"], strict=True):
        ax.annotate(name, (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=8)
    order = np.argsort(x, kind="stable")
    best, fx, fy = -np.inf, [], []
    for i in order:
        if y[i] > best:
            best = y[i]
            fx.append(x[i])
            fy.append(y[i])
    ax.step(fx, fy, where="post", color="#d62728", alpha=0.6, label="Pareto frontier")
    ax.set_xscale("log")
    ax.set_xlabel("fit time (s, mean over seeds, log scale)")
    ax.set_ylabel(metric)
    ax.set_title(f"{scenario}: accuracy vs. training cost")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return save(fig, path)
