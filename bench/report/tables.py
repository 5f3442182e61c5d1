"""Result tables from the aggregated cells and the significance table: Markdown (web), LaTeX
(booktabs), CSV and JSON. Failed or missing cells are shown, never hidden.

Cell text: ``mean ± std`` over seeds. Markers: best mean per scenario and metric in bold, second best
underlined (LaTeX) / italic (Markdown); ``†`` = significantly different from the scenario's reference
method (paired two-sided t-test on per-user values, Holm-corrected within the (scenario, metric)
family, p < 0.05); the reference itself is marked ``ref``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bench.report.significance import lower_is_better

__all__ = ["COST_COLUMNS", "aggregate", "to_latex", "to_markdown"]

COST_COLUMNS = ("fit_seconds", "predict_seconds", "peak_rss_mb", "n_parameters")


def aggregate(records: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per (scenario, method): ``<metric>_mean``/``_std`` over ok seeds, cost means, the
    number of ok seeds and the status of the others."""
    rows = []
    for (scenario, method), group in records.groupby(["scenario", "method"], sort=False):
        ok = group[group["status"] == "ok"]
        row = {
            "scenario": scenario,
            "kind": group["kind"].iloc[0],
            "method": method,
            "seeds_ok": len(ok),
            "seeds_total": len(group),
            "status": "ok" if len(ok) == len(group) else _status(group),
        }
        for col in [*metrics, *COST_COLUMNS]:
            values = ok[col].astype(float).dropna() if col in ok else pd.Series(dtype=float)
            row[f"{col}_mean"] = values.mean() if len(values) else np.nan
            row[f"{col}_std"] = values.std(ddof=1) if len(values) > 1 else np.nan  # one seed: no spread
        rows.append(row)
    return pd.DataFrame(rows)


def _status(group: pd.DataFrame) -> str:
    bad = group[group["status"] != "ok"]
    return "; ".join(f"seed {s}: {st}" for s, st in zip(bad["seed"], bad["status"], strict=True))


def _ranks(group: pd.DataFrame, metric: str) -> dict[str, int]:
    """method -> 1 (best) / 2 (second) for the metric's means within one scenario."""
    means = group.set_index("method")[f"{metric}_mean"].dropna()
    if means.empty:
        return {}
    ordered = means.sort_values(ascending=lower_is_better(metric))
    distinct = list(dict.fromkeys(ordered.round(12)))
    out = {}
    for method, value in ordered.round(12).items():
        pos = distinct.index(value) + 1
        if pos <= 2:
            out[method] = pos
    return out


def _marks(sig: pd.DataFrame | None, scenario: str, metric: str, method: str) -> str:
    if sig is None or sig.empty:
        return ""
    row = sig[(sig["scenario"] == scenario) & (sig["metric"] == metric) & (sig["method"] == method)]
    if row.empty:
        return ""
    row = row.iloc[0]
    if row["reference"] == method:
        return "ref"
    return "†" if row.get("significant") is True or row.get("significant") == 1.0 else ""


def to_markdown(
    table: pd.DataFrame, metrics: list[str], *, sig: pd.DataFrame | None = None, primary: str | None = None
) -> str:
    """GitHub-flavoured Markdown, one table per scenario."""
    lines: list[str] = []
    for scenario, group in table.groupby("scenario", sort=False):
        shown = [m for m in metrics if group[f"{m}_mean"].notna().any()]
        lines += [f"### {scenario}", ""]
        header = ["method", *shown]
        if primary in shown and sig is not None:
            header.append(f"95% CI {primary}")
        header += ["fit s", "predict s", "peak MB", "params", "seeds"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        ranks = {m: _ranks(group, m) for m in shown}
        for _, row in group.iterrows():
            method = row["method"]
            cells = [f"`{method}`"]
            for m in shown:
                mean, std = row[f"{m}_mean"], row[f"{m}_std"]
                if np.isnan(mean):
                    cells.append("—")
                    continue
                text = f"{mean:.4f}" + (f" ± {std:.4f}" if np.isfinite(std) else "")
                rank = ranks[m].get(method)
                text = f"**{text}**" if rank == 1 else f"*{text}*" if rank == 2 else text
                mark = _marks(sig, scenario, m, method)
                cells.append(f"{text} {mark}".strip())
            if primary in shown and sig is not None:
                cells.append(_ci_text(sig, scenario, primary, method))
            cells.append(_fmt(row["fit_seconds_mean"], "{:.2f}"))
            cells.append(_fmt(row["predict_seconds_mean"], "{:.2f}"))
            cells.append(_fmt(row["peak_rss_mb_mean"], "{:.0f}"))
            cells.append(_fmt(row["n_parameters_mean"], "{:,.0f}"))
            seeds = f"{row['seeds_ok']}/{row['seeds_total']}"
            cells.append(seeds if row["status"] == "ok" else f"{seeds} ⚠ {row['status']}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _ci_text(sig: pd.DataFrame, scenario: str, metric: str, method: str) -> str:
    row = sig[(sig["scenario"] == scenario) & (sig["metric"] == metric) & (sig["method"] == method)]
    if row.empty:
        return "—"
    return f"[{row['ci_low'].iloc[0]:.4f}, {row['ci_high'].iloc[0]:.4f}]"


def _fmt(value: float, pattern: str) -> str:
    return "—" if value is None or np.isnan(value) else pattern.format(value)


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(
    table: pd.DataFrame, metrics: list[str], *, sig: pd.DataFrame | None, caption: str, label: str,
    notes: Mapping[str, str] | None = None,
) -> str:
    """A booktabs ``table`` per scenario (needs ``\\usepackage{booktabs}`` and ``graphicx``;
    ``\\dagger`` is math), made to fit a one-column article: long metric names are stacked on two
    header lines, each std sits in small type under its mean, parameter counts are compact (2.8M),
    and a table still wider than ``\\linewidth`` is scaled down to it (never up), so no table
    overflows the text block. ``notes``: scenario -> plain text appended to its caption (escaped)."""
    out: list[str] = []
    for scenario, group in table.groupby("scenario", sort=False):
        shown = [m for m in metrics if group[f"{m}_mean"].notna().any()]
        ranks = {m: _ranks(group, m) for m in shown}
        cols = "l" + "r" * (len(shown) + 2)
        out += [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\caption{{{latex_escape(scenario)}: {caption}"
            + (f" {latex_escape(notes[scenario])}" if notes and scenario in notes else "") + "}",
            rf"\label{{{label}:{latex_escape(scenario).replace(chr(92), '')}}}",
            r"\setlength{\tabcolsep}{4pt}",
            r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
            rf"\begin{{tabular}}{{{cols}}}",
            r"\toprule",
            " & ".join(["Method", *[_tex_header(m) for m in shown], _tex_header("Fit (s)"),
                        "Params"]) + r" \\",
            r"\midrule",
        ]
        for _, row in group.iterrows():
            method = row["method"]
            cells = [latex_escape(method)]
            for m in shown:
                mean, std = row[f"{m}_mean"], row[f"{m}_std"]
                if np.isnan(mean):
                    cells.append("--")
                    continue
                text = f"{mean:.4f}"
                rank = ranks[m].get(method)
                if rank == 1:
                    text = rf"\textbf{{{text}}}"
                elif rank == 2:
                    text = rf"\underline{{{text}}}"
                mark = _marks(sig, scenario, m, method)
                suffix = r"$^{\dagger}$" if mark == "†" else (r"$^{\mathrm{ref}}$" if mark == "ref" else "")
                if np.isfinite(std):  # the std in small type under the mean
                    cells.append(rf"\begin{{tabular}}[t]{{@{{}}r@{{}}}}{text}{suffix}\\"
                                 rf"\scriptsize$\pm${std:.4f}\end{{tabular}}")
                else:
                    cells.append(f"{text}{suffix}")
            cells.append(_fmt(row["fit_seconds_mean"], "{:.1f}").replace("—", "--"))
            cells.append(_compact(row["n_parameters_mean"]))
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(out)


def _tex_header(name: str) -> str:
    """A column name, on two stacked lines when long (``sampled`` / ``ndcg@10``)."""
    if len(name) <= 8:
        return latex_escape(name)
    for sep in ("_", "@", " "):
        if sep in name:
            head, _, tail = name.partition(sep)
            tail = (sep if sep == "@" else "") + tail
            return rf"\begin{{tabular}}[b]{{@{{}}r@{{}}}}{latex_escape(head)}\\{latex_escape(tail)}\end{{tabular}}"
    return latex_escape(name)


def _compact(value: float) -> str:
    """A parameter count in at most 5 characters: 0, 950, 168k, 2.8M."""
    if value is None or not np.isfinite(value):
        return "--"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            q = value / scale
            return f"{q:.1f}{unit}" if q < 10 else f"{q:.0f}{unit}"
    return f"{value:.0f}"
