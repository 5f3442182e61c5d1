"""Cross-domain report pieces: a transfer table per domain pair and the gain-vs-beta figure.

Both take the run records as collected by :func:`bench.report.collect.collect_records` (one row
per cell with ``scenario``, ``kind``, ``method``, ``seed``, ``status`` and the summary metric
columns) — or a list of ``record.json`` dicts — plus the scenario settings
(``params.scenarios``), which say each scenario's dataset, source, target, split and beta::

    from bench.report.cdr import cdr_table, cdr_beta_figure
    records = collect_records(params, Path("artifacts/runs"))
    markdown = cdr_table(records, params.scenarios)
    cdr_beta_figure(records, Path("reports/figures/cdr_gain_vs_beta.png"), params.scenarios)

Gains are relative differences of seed means, ``100 * (m - m_ref) / m_ref`` (lower-is-better metrics
``mae``/``rmse``: ``100 * (m_ref - m) / m_ref``, so a positive gain is always an improvement).
``target_only`` cannot score cold-start users (constant scores): in ``cdr_cold`` scenarios its full
ranking is the evaluation's tie order and its sampled metrics are 0, so gains over it are reported
but flagged, and ``pooled`` (one model on both domains) is the meaningful reference there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import kinds

__all__ = ["CDR_KINDS", "cdr_beta_figure", "cdr_frame", "cdr_table"]

#: the kinds this view shows: those of the report section ``cdr`` (:mod:`bench.kinds`)
CDR_KINDS = tuple(name for name, row in kinds.KINDS.items() if row.section == "cdr")
FULL = ("ndcg@10", "recall@10", "hr@10")
SAMPLED = ("sampled_hr@10", "sampled_ndcg@10", "sampled_mrr@10")
RATING = ("mae", "rmse")
LOWER_IS_BETTER = {"mae", "rmse"}


def cdr_frame(
    records: pd.DataFrame | Iterable[Mapping[str, Any]], scenarios: Mapping[str, Any]
) -> pd.DataFrame:
    """The ok CDR cells as a frame with the scenario settings joined (``dataset``, ``source``,
    ``target``, ``split``, ``beta``, ``pair``)."""
    if isinstance(records, pd.DataFrame):
        frame = records.copy()
    else:
        rows = []
        for r in records:
            row = {k: r.get(k) for k in ("scenario", "kind", "method", "seed", "status")}
            row.update(r.get("metrics", {}))
            row.update(r.get("cost", {}))
            rows.append(row)
        frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame[frame["kind"].isin(CDR_KINDS) & (frame["status"] == "ok")].copy()
    info = []
    for name in frame["scenario"]:
        s = scenarios.get(name)
        if s is None:
            raise KeyError(f"scenario {name!r} of the run records is not in the given scenarios")
        withhold = getattr(s, "split", None) == "withhold"
        info.append(
            {
                "dataset": s.dataset,
                "source": s.source,
                "target": s.target,
                "split": s.split,
                "beta": float(s.beta) if withhold else np.nan,
                "pair": f"{s.dataset}: {s.source} → {s.target}",
            }
        )
    return pd.concat([frame.reset_index(drop=True), pd.DataFrame(info)], axis=1)


def _gain(value: float, ref: float, metric: str) -> float:
    if not np.isfinite(value) or not np.isfinite(ref) or ref == 0:
        return np.nan
    diff = (ref - value) if metric in LOWER_IS_BETTER else (value - ref)
    return 100.0 * diff / abs(ref)


def _fmt_gain(g: float) -> str:
    return "—" if not np.isfinite(g) else f"{g:+.1f}%"


def cdr_table(
    records: pd.DataFrame | Iterable[Mapping[str, Any]],
    scenarios: Mapping[str, Any],
    *,
    metric: str = "ndcg@10",
    full_metrics: Sequence[str] = FULL,
    sampled_metrics: Sequence[str] = SAMPLED,
    references: Sequence[str] | None = None,
    sig: pd.DataFrame | None = None,
) -> str:
    """Markdown: one section per domain pair, one table per scenario of that pair; rows are
    methods, columns the target-domain full-ranking metrics, the sampled-protocol metrics (and
    MAE/RMSE where present) as mean ± std over seeds, then the gains of ``metric`` and of
    ``sampled_<metric>`` over each reference method. The best mean of every column is bold; with
    ``sig`` (:func:`bench.report.significance.significance_table`) a metric cell is marked ``†``
    when the method differs significantly from that column's reference, marked ``ref``."""
    frame = cdr_frame(records, scenarios)
    if frame.empty:
        return "_No completed cross-domain runs._\n"
    out = ["## Cross-domain transfer (target domain)", ""]
    for pair, pframe in frame.groupby("pair", sort=True):
        out += [f"### {pair}", ""]
        for scenario, sframe in pframe.groupby("scenario", sort=True):
            first = sframe.iloc[0]
            desc = f"{first['kind']}, split {first['split']}"
            if np.isfinite(first["beta"]):
                desc += f", beta {first['beta']:g}"
            out += [f"**{scenario}** ({desc}; seeds: {sframe['seed'].nunique()})", ""]
            refs = references if references is not None else kinds.get(first["kind"]).gains_over
            out += _scenario_table(sframe, metric, full_metrics, sampled_metrics, refs, first["kind"], sig)
            out.append("")
    out.append(
        "Full ranking: all target items, each user's target train+valid items excluded. "
        "Sampled: the positive vs the split's saved negatives (pessimistic ties), mean over test "
        "pairs. MAE/RMSE: affine read-out of the scores fitted on validation pairs. Gain: "
        "relative difference of seed means. † = significantly different from the column's reference "
        "(`ref`: the best of target_only/pooled/finetune on that metric; paired t-test on per-user "
        "values, Holm-corrected, p < 0.05). In cdr_cold scenarios target_only cannot score the "
        "cold-start users (constant scores), so gains over it are not meaningful (marked ‡); "
        "compare with pooled."
    )
    return "\n".join(out) + "\n"


def _scenario_table(sframe, metric, full_metrics, sampled_metrics, references, kind, sig=None) -> list[str]:
    from bench.report.tables import _marks
    present = [
        m
        for m in (*full_metrics, *sampled_metrics, *RATING)
        if m in sframe.columns and sframe[m].notna().any()
    ]
    stats = sframe.groupby("method")[present].agg(["mean", "std"])
    means = {m: stats[(m, "mean")] for m in present}
    best = {
        m: (means[m].idxmin() if m in LOWER_IS_BETTER else means[m].idxmax())
        for m in present
        if means[m].notna().any()
    }
    gain_metrics = [m for m in (metric, f"sampled_{metric}") if m in present]
    header = ["method", *present] + [f"Δ{g} vs {r}" for r in references for g in gain_metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    scenario = sframe["scenario"].iloc[0]
    for method in stats.index:
        cells = [method + (" ‡" if kind == "cdr_cold" and method == "target_only" else "")]
        for m in present:
            mu, sd = stats.loc[method, (m, "mean")], stats.loc[method, (m, "std")]
            text = "—" if not np.isfinite(mu) else f"{mu:.4f}"
            if np.isfinite(mu) and np.isfinite(sd):  # NaN for one seed: no spread to show
                text += f" ± {sd:.4f}"
            text = f"**{text}**" if best.get(m) == method else text
            mark = _marks(sig, scenario, m, method)
            cells.append(f"{text} {mark}" if mark else text)
        for r in references:
            for g in gain_metrics:
                ref = means[g].get(r, np.nan)
                cells.append("ref" if method == r else _fmt_gain(_gain(means[g][method], ref, g)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def cdr_beta_figure(
    records: pd.DataFrame | Iterable[Mapping[str, Any]],
    out_path: Path,
    scenarios: Mapping[str, Any],
    *,
    metric: str = "ndcg@10",
    reference: str | None = None,
) -> Path | None:
    """PNG + PDF (:func:`bench.report.style.save`) of the cold-start gain against beta: for every domain pair with
    ``cdr_cold / withhold`` scenarios, the left panel shows ``metric`` (mean over seeds, bars = std)
    per method against beta, the right panel each method's relative gain over ``reference``
    (default: the last of the ``cdr_cold`` kind's ``gains_over``, ``pooled``: ``target_only`` cannot
    score cold users). Returns the path, or None
    without data."""
    reference = reference or kinds.get("cdr_cold").gains_over[-1]
    frame = cdr_frame(records, scenarios)
    if frame.empty:
        return None
    frame = frame[(frame["kind"] == "cdr_cold") & frame["beta"].notna()]
    if frame.empty or metric not in frame.columns:
        return None
    import matplotlib.pyplot as plt

    from bench.report.style import method_style, save

    pairs = sorted(frame["pair"].unique())
    fig, axes = plt.subplots(len(pairs), 2, figsize=(11, 3.8 * len(pairs)), squeeze=False)
    handles: dict[str, Any] = {}
    for row, pair in zip(axes, pairs):
        pframe = frame[frame["pair"] == pair]
        agg = pframe.groupby(["method", "beta"])[metric].agg(["mean", "std"]).reset_index()
        ref = agg[agg["method"] == reference].set_index("beta")["mean"]
        for method, m in agg.groupby("method", sort=True):
            m = m.sort_values("beta")
            style = method_style(method)  # the same colour and marker in both panels and every row
            line = row[0].errorbar(
                m["beta"], m["mean"], yerr=m["std"].fillna(0.0), capsize=3, label=method, **style
            )
            handles.setdefault(method, line)
            if method != reference and len(ref):
                gains = [_gain(v, ref.get(b, np.nan), metric) for b, v in zip(m["beta"], m["mean"])]
                row[1].plot(m["beta"], gains, label=method, **style)
        row[0].set(
            title=f"{pair}: cold-start users (mean ± std over seeds)",
            xlabel="beta (share of overlapping users made cold)",
            ylabel=metric,
        )
        row[1].axhline(0.0, color="grey", linewidth=0.8)
        row[1].set(title=f"{pair}: gain over {reference}", xlabel="beta", ylabel=f"{metric} gain (%)")
        for ax in row:
            ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0.0, 0.0, 0.86, 1.0))
    fig.legend(list(handles.values()), list(handles), loc="upper left", bbox_to_anchor=(0.87, 0.98),
               fontsize=8, frameon=False)
    return save(fig, Path(out_path))
