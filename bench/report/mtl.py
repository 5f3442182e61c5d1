"""Multi-task report pieces: the MTL table (tasks as column groups, delta_m) and the task trade-off plot.

Both read the tidy run records (one row per (scenario, method, seed) cell with a ``status`` column and
the summary metrics of :mod:`bench.cells.mtl` as columns — what :func:`bench.report.collect.collect_records`
returns). Failed or missing cells are left out.

delta_m (Maninis, Radosavovic & Kokkinos, CVPR 2019; Vandenhende et al., TPAMI 2021) of method m
against the single-task baseline b, over the tasks' primary metrics :data:`PRIMARY`:

    delta_m = 100 / T * sum_t (-1)^{l_t} (M_{m,t} - M_{b,t}) / M_{b,t}

with ``l_t = 1`` when lower is better (rating RMSE); metric values are means over seeds.
Positive = better than training one model per task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench import kinds

__all__ = [
    "GROUPS", "LOWER_IS_BETTER", "PRIMARY", "delta_m", "mtl_summary", "mtl_table", "mtl_tradeoff_figure",
    "protocol_comparison", "separation",
]

#: task -> primary metric used by delta_m
PRIMARY: Mapping[str, str] = {"click": "click_auc", "like": "like_auc", "ctcvr": "ctcvr_auc", "rating": "rating_rmse"}
#: task column groups of the table: (task, [(metric column, label)])
GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("click", (("click_auc", "AUC"), ("click_gauc", "GAUC"), ("click_logloss", "LogLoss"))),
    ("like", (("like_auc", "AUC"), ("like_gauc", "GAUC"), ("like_logloss", "LogLoss"), ("like_ndcg@10", "NDCG@10"))),
    ("ctcvr", (("ctcvr_auc", "AUC"), ("ctcvr_gauc", "GAUC"), ("ctcvr_logloss", "LogLoss"), ("ctcvr_ndcg@10", "NDCG@10"))),
    ("rating", (("rating_rmse", "RMSE"), ("rating_mae", "MAE"))),
)
LOWER_IS_BETTER = frozenset({"click_logloss", "like_logloss", "ctcvr_logloss", "rating_rmse", "rating_mae", "fit_seconds"})


def _ok(records: pd.DataFrame, scenario: str | None) -> pd.DataFrame:
    frame = records
    if "status" in frame.columns:
        frame = frame[frame["status"] == "ok"]
    if scenario is not None:
        frame = frame[frame["scenario"] == scenario]
    return frame


def _baseline() -> str:
    """The method delta_m is relative to: the first of the ``mtl`` kind's ``gains_over``."""
    return kinds.get("mtl").gains_over[0]


def delta_m(means: pd.DataFrame, baseline: str | None = None, primary: Mapping[str, str] = PRIMARY) -> pd.Series:
    """delta_m in percent per method (index of ``means``: method; columns: metrics); NaN for every
    method when the baseline row is absent. ``baseline`` defaults to the first of the ``mtl`` kind's
    ``gains_over`` (:mod:`bench.kinds`)."""
    baseline = baseline or _baseline()
    if baseline not in means.index:
        return pd.Series(np.nan, index=means.index, name="delta_m")
    cols = [c for c in primary.values() if c in means.columns]
    base = means.loc[baseline, cols].astype(float)
    sign = np.array([-1.0 if c in LOWER_IS_BETTER else 1.0 for c in cols])
    rel = (means[cols].astype(float) - base) / base * sign
    return (100.0 * rel.mean(axis=1)).rename("delta_m")


def mtl_summary(records: pd.DataFrame, *, scenario: str | None = None, baseline: str | None = None) -> pd.DataFrame:
    """One row per method: ``<metric>`` means, ``<metric>_std`` over seeds, ``n_seeds``, ``delta_m``."""
    frame = _ok(records, scenario)
    metrics = [c for _, cols in GROUPS for c, _ in cols if c in frame.columns]
    metrics += [c for c in ("fit_seconds",) if c in frame.columns]
    grouped = frame.groupby("method", sort=True)
    means = grouped[metrics].mean()
    stds = grouped[metrics].std(ddof=1).add_suffix("_std")
    out = pd.concat([means, stds], axis=1)
    out["n_seeds"] = grouped["seed"].nunique() if "seed" in frame.columns else grouped.size()
    out["delta_m"] = delta_m(means, baseline)
    return out


def mtl_table(
    records: pd.DataFrame,
    *,
    scenario: str | None = None,
    baseline: str | None = None,
    digits: int = 4,
    caption: str | None = None,
) -> str:
    """Markdown table: one row per method; tasks as column groups (the header row names the task over
    its first column, the first body row the metrics); then delta_m (%) against ``baseline`` and mean
    fit seconds. Cells are ``mean ± std`` over seeds; the best mean of each column is bold."""
    baseline = baseline or _baseline()
    summary = mtl_summary(records, scenario=scenario, baseline=baseline)
    columns = [(task, c, label) for task, cols in GROUPS for c, label in cols if c in summary.columns]
    extra = [("all tasks", "delta_m", "Δm (%)")]  # its own group: not a rating column
    if "fit_seconds" in summary.columns:
        extra.append(("cost", "fit_seconds", "fit (s)"))
    columns += extra
    head = ["method"]
    seen: set[str] = set()
    for task, _, _ in columns:
        head.append(task if task and task not in seen else "")
        seen.add(task)
    lines = []
    if caption:
        lines += [caption, ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join([":--"] + ["--:"] * len(columns)) + "|")
    lines.append("| " + " | ".join([""] + [f"**{label}**" for _, _, label in columns]) + " |")
    best = {}
    for _, c, _ in columns:
        values = summary[c].astype(float)
        if c == "delta_m":
            values = values.drop(index=baseline, errors="ignore")
        if values.notna().any():
            best[c] = values.idxmin() if c in LOWER_IS_BETTER else values.idxmax()
    for method, row in summary.iterrows():
        cells = [f"`{method}`"]
        for _, c, _ in columns:
            cells.append(_cell(row, c, digits, bold=best.get(c) == method))
        lines.append("| " + " | ".join(cells) + " |")
    seeds = int(summary["n_seeds"].max()) if len(summary) else 0
    lines.append("")
    lines.append(
        f"Mean ± std over {seeds} seed(s). Δm: mean over tasks of the relative gain over `{baseline}` "
        f"on click AUC, like AUC, ctcvr AUC and rating RMSE (lower is better), in percent. "
        "click/ctcvr over all test impressions; like/rating over rated (clicked) ones. The paired "
        "tests below compare *per-user* values (e.g. each user's own AUC, users with one class "
        "skipped, averaged over seeds), while the AUC columns pool all test impressions: a per-user "
        "AUC scores only the ranking within each user, a pooled AUC also the ranking across users, "
        "so a test's sign can differ from its column's."
    )
    return "\n".join(lines) + "\n"


def separation(records: pd.DataFrame, scenario: str, primary: Mapping[str, str] = PRIMARY) -> float:
    """How well a scenario separates its methods: per primary task metric, the spread of the method
    means (best minus worst) over the median seed-std of the methods; the median of that over the
    tasks. Above ~2 the ranking of methods is larger than the seed noise; NaN with fewer than two
    methods or one seed."""
    summary = mtl_summary(records, scenario=scenario)
    ratios = []
    for col in primary.values():
        if col not in summary.columns or len(summary) < 2:
            continue
        noise = summary[f"{col}_std"].median()
        if np.isfinite(noise) and noise > 0:
            ratios.append((summary[col].max() - summary[col].min()) / noise)
    return float(np.median(ratios)) if ratios else float("nan")


def protocol_comparison(
    records: pd.DataFrame, sig: pd.DataFrame, protocols: Mapping[str, tuple[str, str, float | None]]
) -> str:
    """Markdown table comparing the MTL scenarios of one dataset under different protocols.

    ``protocols``: scenario -> (dataset, protocol name, share of cold test impressions or None).
    Per scenario: the protocol, the cold share, the users in the paired tests, how many
    (method, task metric) comparisons against the reference differ significantly after Holm, and
    :func:`separation`. Empty string when no dataset has two protocols.
    """
    by_dataset: dict[str, list[str]] = {}
    for scenario, (dataset, _, _) in protocols.items():
        by_dataset.setdefault(dataset, []).append(scenario)
    groups = {d: s for d, s in by_dataset.items() if len(s) > 1}
    if not groups:
        return ""
    lines = [
        "| dataset | scenario | protocol | cold test impressions | users tested | significant after Holm "
        "| separation |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for dataset, scenarios in groups.items():
        for scenario in scenarios:
            _, protocol, cold = protocols[scenario]
            tests = sig[(sig["scenario"] == scenario) & sig["reference"].notna()
                        & (sig["method"] != sig["reference"])]
            if "t_pvalue" in tests:
                tests = tests[tests["t_pvalue"].notna()]
            n_sig, n_all = int(tests["significant"].fillna(False).astype(bool).sum()), len(tests)
            users = int(tests["n_paired"].median()) if len(tests) and "n_paired" in tests else 0
            cold_text = "–" if cold is None else f"{100 * cold:.1f} %"
            sep = separation(records, scenario)
            lines.append(
                f"| {dataset} | {scenario} | {protocol} | {cold_text} | {users:,} | {n_sig} of {n_all} "
                f"| {'–' if not np.isfinite(sep) else f'{sep:.1f}'} |"
            )
    lines += [
        "",
        "Users tested: median number of users in the paired tests. Significant: (method, metric) "
        "comparisons against the reference whose Holm-adjusted paired t-test p < 0.05. Separation: "
        "per task (click AUC, like AUC, ctcvr AUC, rating RMSE) the spread of the method means over "
        "their median seed-std, the median over tasks -- above ~2 the methods differ by more than "
        "seed noise.",
    ]
    return "\n".join(lines) + "\n"


def _cell(row: pd.Series, column: str, digits: int, bold: bool) -> str:
    value = row.get(column)
    if value is None or not np.isfinite(value):
        return "–"
    if column == "delta_m":
        text = f"{value:+.2f}"
    elif column == "fit_seconds":
        text = f"{value:.1f}"
    else:
        std = row.get(f"{column}_std")
        text = f"{value:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None and np.isfinite(std) else "")
    return f"**{text}**" if bold else text


def mtl_tradeoff_figure(
    records: pd.DataFrame,
    out_path: Path,
    *,
    x: str = "like_auc",
    y: str = "rating_rmse",
    scenario: str | None = None,
    methods: Sequence[str] | None = None,
) -> Path:
    """Scatter of one task metric against another (PNG + PDF, :func:`bench.report.style.save`): one
    small point per (method, seed), one large marker per method mean, legend outside the axes.
    Returns ``out_path``."""
    import matplotlib.pyplot as plt

    from bench.report.style import legend_outside, method_style, save

    frame = _ok(records, scenario)
    for col in (x, y):
        if col not in frame.columns:
            raise KeyError(f"records have no metric column {col!r}; available: {sorted(frame.columns)}")
    names = list(methods) if methods is not None else sorted(frame["method"].unique())
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for name in names:
        sub = frame[frame["method"] == name]
        if sub.empty:
            continue
        style = method_style(name)
        ax.scatter(sub[x], sub[y], s=14, color=style["color"], marker=style["marker"], alpha=0.45)
        ax.scatter([sub[x].mean()], [sub[y].mean()], s=70, color=style["color"], marker=style["marker"],
                   edgecolor="black", label=name)
    ax.set_xlabel(x + (" (lower is better)" if x in LOWER_IS_BETTER else " (higher is better)"))
    ax.set_ylabel(y + (" (lower is better)" if y in LOWER_IS_BETTER else " (higher is better)"))
    title = "MTL task trade-off" + (f": {scenario}" if scenario else "")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return save(fig, Path(out_path))
