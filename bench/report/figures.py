"""Figures (matplotlib, Agg backend, deterministic PNG + PDF, :mod:`bench.report.style`): the metric
with its bootstrap CI per method and scenario, and accuracy against training time (the cost
frontier)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.report.style import legend_outside, method_style, save  # noqa: E402

__all__ = ["bars_with_ci", "cost_frontier", "save"]


def bars_with_ci(sig: pd.DataFrame, scenario: str, metric: str, path: Path) -> Path | None:
    """Per-user mean with its 95 % bootstrap CI per method (a dot and whiskers in the method's colour
    and marker), best at the top; the reference method's mean is a dashed line. The axis spans the
    data, not 0..max, so close methods stay apart."""
    if sig.empty:
        return None
    rows = sig[(sig["scenario"] == scenario) & (sig["metric"] == metric)].sort_values("mean")
    if rows.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(rows) + 1.3))
    labels = []
    for y, row in enumerate(rows.itertuples(index=False)):
        style = method_style(row.method)
        ax.errorbar(
            [row.mean], [y], xerr=[[row.mean - row.ci_low], [row.ci_high - row.mean]],
            fmt=style["marker"], color=style["color"], capsize=3, markersize=6,
        )
        ref = row.method == row.reference
        labels.append(f"{row.method} (ref)" if ref else row.method)
        if ref:
            ax.axvline(row.mean, color=style["color"], linestyle="--", linewidth=0.8, alpha=0.7)
    ax.set_yticks(np.arange(len(rows)), labels)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(f"{metric} (mean over users, 95% bootstrap CI)")
    ax.set_title(f"{scenario}: {metric}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return save(fig, path)


def cost_frontier(table: pd.DataFrame, scenario: str, metric: str, path: Path) -> Path | None:
    """Accuracy (mean over seeds) against mean fit time, log scale, one marker per method in its
    colour (legend outside the axes); the Pareto frontier is drawn."""
    if f"{metric}_mean" not in table:
        return None
    rows = table[(table["scenario"] == scenario)].dropna(subset=[f"{metric}_mean", "fit_seconds_mean"])
    if rows.empty:
        return None
    x = np.maximum(rows["fit_seconds_mean"].to_numpy(), 1e-3)
    y = rows[f"{metric}_mean"].to_numpy()
    fig, ax = plt.subplots(figsize=(6, 4))
    order = np.argsort(x, kind="stable")
    best, fx, fy = -np.inf, [], []
    for i in order:
        if y[i] > best:
            best = y[i]
            fx.append(x[i])
            fy.append(y[i])
    ax.step(fx, fy, where="post", color="#7f7f7f", alpha=0.6, label="Pareto frontier", zorder=1)
    for xi, yi, name in zip(x, y, rows["method"], strict=True):
        style = method_style(name)
        ax.scatter([xi], [yi], color=style["color"], marker=style["marker"], s=40, label=name, zorder=2)
    ax.set_xscale("log")
    log_ticks(ax.xaxis)
    ax.set_xlabel("fit time (s, mean over seeds, log scale)")
    ax.set_ylabel(metric)
    ax.set_title(f"{scenario}: accuracy vs. training cost", fontsize=10)
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return save(fig, path)


def log_ticks(axis) -> None:
    """Readable ticks on a log axis (call it after plotting): labels at 1, 2 and 5 per decade when
    the data span less than two decades, at each decade otherwise, formatted plainly, and no labels
    on the minor ticks (which matplotlib otherwise prints over each other)."""
    from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

    lo, hi = sorted(axis.get_view_interval())
    decades = np.log10(hi / lo) if lo > 0 else np.inf
    subs = (1.0, 2.0, 5.0) if decades < 2 else (1.0,)  # 1-2-5 only where decades alone are too few
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_formatter(NullFormatter())
