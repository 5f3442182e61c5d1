"""The ``report`` stage: run records -> ``reports/``.

Writes, deterministically from the run records, params and splits (running it twice gives
byte-identical files; every date shown comes from the run records):

* ``results.md`` — per scenario: mean ± std over seeds, best bold / second italic, † significance
  against the scenario's reference, 95 % bootstrap CI of the primary metric, cost columns, incomplete
  cells, figures, provenance footer;
* ``results.tex`` — the same tables in booktabs LaTeX;
* ``results.csv`` / ``results.json`` — every metric at every cut-off (json adds significance and
  provenance); ``cells.csv`` — one row per scenario x method x seed with its status;
  ``significance.csv`` — CIs, paired tests and Holm-adjusted p-values;
* ``figures/*.png`` (and ``figures-pdf/*.pdf``) — metric CIs, accuracy vs. training time, MTL
  trade-off, gain vs beta (:mod:`bench.report.style`: one look per method);
* ``index.html`` — the same tables (sortable), figures, methods, tuning and provenance as one
  static page (:mod:`bench.report.html`);
* ``trec/<scenario>/`` — qrels and TREC run files (first seed) for re-scoring with trec_eval / ranx;
* ``metrics/<scenario>.json``, ``plots/{comparison,cost}/<scenario>.csv`` — what ``dvc metrics
  show`` and ``dvc plots show`` read (:mod:`bench.report.dvc_views`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import kinds
from bench.config import Params
from bench.data.sources import load_sources
from bench.report import figures, trec
from bench.report.cite import how_to_cite, provenance_table, scenario_provenance
from bench.report.html import HtmlSection, write_html
from bench.report.collect import collect_records
from bench.report.dvc_views import write_report_views
from bench.report.significance import significance_table
from bench.report.sections import NON_METRIC_COLUMNS, sections
from bench.report.training import capped_cells, training_markdown
from bench.report.tuning import hyperparameter_label, hyperparameter_note, hyperparameter_status, tuning_table
from bench.report.tables import aggregate, to_latex

__all__ = ["build_report"]

def significance_note() -> str:
    """The legend of the significance marks, naming each kind's reference candidates from the
    scenario-kind table."""
    by_refs: dict = {}
    for kind in kinds.kinds().values():
        by_refs.setdefault(kind.references, []).append(kind.name)
    refs = []
    for references, names in by_refs.items():
        who = "the best method" if references is None else (
            f"`{references[0]}`" if len(references) == 1
            else "the best of " + "/".join(f"`{m}`" for m in references)
        )
        refs.append(f"{who} for {'/'.join(names)}")
    return (
        "† = significantly different from the scenario's reference (`ref`: " + ", ".join(refs) + ") "
        "by a paired two-sided t-test on per-user values (each user's value averaged over seeds), "
        "Holm-Bonferroni corrected within each (scenario, metric), p < 0.05; Wilcoxon signed-rank "
        "p-values and Cohen's d_z are in `significance.csv`. A named configuration of a reference "
        "method (`methods: <name>: {method: ...}`) is a reference candidate like the method itself."
    )


def build_report(
    params: Params, *, runs: Path, out: Path, splits: Path | None = None, tuning: Path | None = None,
    prepared: Path | None = None, sources: Path | None = None, citation: Path | None = None,
) -> Path:
    """Write everything listed in the module docstring into ``out``; returns ``results.md``.
    ``prepared`` (``datasets/prepared``), ``sources`` (``datasets/sources.yaml``) and ``citation``
    (``CITATION.cff``) feed the per-scenario provenance and the "How to cite" block."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(runs)
    records = collect_records(params, runs)
    metric_columns = sorted(
        c for c in records.columns
        if c not in NON_METRIC_COLUMNS and pd.api.types.is_numeric_dtype(records[c])
    )
    table = aggregate(records, metric_columns)
    provenance = _provenance(params, records)
    source_table = load_sources(Path(sources)) if sources is not None and Path(sources).is_file() else None
    provenance["scenarios"] = scenario_provenance(params, records, prepared=prepared, sources=source_table)
    commit = provenance["commits"][0][:10] if provenance["commits"] else "unknown"
    used_datasets = list(dict.fromkeys(
        d for p in provenance["scenarios"].values() for d in p.get("pair_of", [p["dataset"]])
    ))
    cite = how_to_cite(citation, source_table, used_datasets,
                       provenance["commits"][0] if provenance["commits"] else None)
    md = [
        "# Results",
        "",
        f"Seeds {list(params.seeds)}; every table shows mean ± std over seeds. " + significance_note(),
        "Cost columns: mean fit and predict wall-clock seconds, peak resident memory of the run "
        "process, learned parameters. Every metric of every cell: `results.csv` (means/stds) and "
        "`cells.csv` (one row per scenario × method × seed).",
        "",
    ]
    n_capped = len(capped_cells(records))
    if n_capped:
        md += [f"**{n_capped} cell(s) stopped at their epoch cap** (see *Training of the epoch-based "
               "methods*): their numbers may understate the method.", ""]
    tex: list[str] = []
    sigs: list[pd.DataFrame] = []
    figure_paths: list[Path] = []
    html_sections: list[HtmlSection] = []
    tex_caption = (
        r"Mean over seeds ($\pm$ std). Best in bold, second underlined. "
        r"$^{\dagger}$: significantly different from the reference (ref) method, paired two-sided "
        r"t-test on per-user values, Holm-corrected, $p<0.05$. " + f"Commit {commit}."
    )

    for section in sections():
        part = records[records["kind"].isin(section.kinds)]
        if part.empty:
            continue
        metrics, primary = section.metrics(params, records)
        metrics = [m for m in metrics if m in records.columns]
        if not metrics:
            continue
        primary = primary if primary in metrics else metrics[0]
        sig = significance_table(part, runs, metrics, base=params.named_configurations())
        sigs.append(sig)
        sub = table[table["kind"].isin(section.kinds)]
        md += [f"## {section.title}", ""]
        status = hyperparameter_status(tuning, {
            scenario: list(dict.fromkeys(part.loc[part["scenario"] == scenario, "method"]))
            for scenario in dict.fromkeys(part["scenario"])
        }, tunable=any(kinds.get(k).tunable for k in section.kinds if k in kinds.kinds()))
        hyper = hyperparameter_note(status)
        if hyper:
            md += [hyper, ""]
        md.append(section.markdown(params, records, sub, sig, metrics, primary, splits=splits))
        for scenario in dict.fromkeys(part["scenario"]):
            slug = primary.replace("@", "_at_")
            for path in (
                figures.bars_with_ci(sig, scenario, primary, out / "figures" / f"{scenario}-{slug}.png"),
                figures.cost_frontier(sub, scenario, primary, out / "figures" / f"{scenario}-cost.png"),
            ):
                if path is not None:
                    figure_paths.append(path)
        figure_paths += section.figures(params, records, out / "figures")
        html_sections.append(HtmlSection(section.title, tuple(metrics), primary,
                                         tuple(dict.fromkeys(part["scenario"]))))
        notes = {s: hyperparameter_label(t).capitalize() + "." for s, t in status.items() if t is not None}
        tex.append(to_latex(sub, metrics, sig=sig, caption=tex_caption, label=f"tab:recx-{section.key}",
                            notes=notes))

    if splits is not None:
        _write_trec(params, records, runs, Path(splits), out / "trec")

    if tuning is not None:
        md.append(tuning_table(params, Path(tuning)))
    md.append(training_markdown(records))
    if figure_paths:
        md += ["## Figures", ""] + [f"![{p.stem}](figures/{p.name})" for p in figure_paths] + [""]
    md.append(_incomplete(records))
    md.append(_provenance_md(provenance))
    md.append(cite)
    (out / "results.md").write_text("\n".join(md).rstrip() + "\n")
    (out / "results.tex").write_text("\n".join(tex))
    sig_all = pd.concat(sigs, ignore_index=True) if sigs else pd.DataFrame()
    table.to_csv(out / "results.csv", index=False, float_format="%.6g")
    records.drop(columns=["split_sha256", "versions", "hardware"], errors="ignore").to_csv(
        out / "cells.csv", index=False, float_format="%.6g"
    )
    sig_all.to_csv(out / "significance.csv", index=False, float_format="%.6g")
    payload = {"results": _records(table), "significance": _records(sig_all), "provenance": provenance}
    (out / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n")
    write_report_views(params, out)
    _write_html(out, params, table, sig_all, html_sections, figure_paths, provenance, cite)
    return out / "results.md"


def _write_html(out: Path, params: Params, table, sig, sections, figure_paths, provenance, cite) -> Path:
    from bench import methods as registry

    scenarios = [s for section in sections for s in section.scenarios]
    per_scenario: dict[str, list[Path]] = {}
    shared = []
    for path in figure_paths:  # <scenario>-<what>.png; the longest matching name wins
        owner = max((s for s in scenarios if path.stem.startswith(f"{s}-")), key=len, default=None)
        (per_scenario.setdefault(owner, []) if owner else shared).append(path)
    t = params.tuning
    tuning = ("off: every method runs with its configured parameters" if not t.n_trials else
              f"{t.n_trials} Optuna TPE trials per method and scenario on the validation part "
              f"({t.metric} for top-N and transfer, {t.mtl_metric} for multi-task; kinds that are "
              f"not tunable, such as tabular_mtl, run as configured), "
              f"timeout {t.timeout_seconds or 'none'} s, pruning {'on' if t.pruning else 'off'}")
    named = params.named_configurations()
    described = {m: registry.get(m).summary for m in set(table["method"]) if m in registry.available()}
    described |= {m: f"{registry.get(b).summary} Named configuration of {b} (params.yaml: methods.{m})."
                  for m, b in named.items() if m in set(table["method"])}
    return write_html(out, table=table, sig=sig, sections=sections, figures=per_scenario,
                      shared_figures=shared, methods=described, tuning=tuning,
                      provenance=provenance, significance_note=significance_note(), cite=cite)


def _write_trec(params: Params, records: pd.DataFrame, runs: Path, splits: Path, out: Path) -> None:
    depth = max(params.evaluation.ks)
    first_seed = params.seeds[0]
    ok = records[(records["status"] == "ok") & (records["seed"] == first_seed) & (records["kind"] == "topn")]
    for scenario, group in ok.groupby("scenario", sort=False):
        test_path = splits / scenario / "test.parquet"
        if not test_path.exists():
            continue
        test = pd.read_parquet(test_path, columns=["user", "item"])
        users = None
        for method in group["method"]:
            topk = pd.read_parquet(runs / scenario / method / str(first_seed) / "topk.parquet")
            trec.write_run(topk, method, depth, out / scenario / f"{method}.seed{first_seed}.run")
            users = topk["user"].unique() if users is None else users
        if users is not None:
            trec.write_qrels(test, users, out / scenario / "qrels.txt")


def _provenance(params: Params, records: pd.DataFrame) -> dict[str, Any]:
    ok = records[records["status"] == "ok"] if "status" in records else records

    def unique(col: str) -> list:
        return sorted({v for v in ok.get(col, []) if isinstance(v, str)})

    return {
        "commits": unique("commit"),
        "dirty_worktree": bool(ok.get("dirty", pd.Series(dtype=bool)).fillna(False).astype(bool).any()),
        "seeds": list(params.seeds),
        "split_sha256": [json.loads(v) for v in unique("split_sha256")],
        "versions": [json.loads(v) for v in unique("versions")],
        "hardware": [json.loads(v) for v in unique("hardware")],
        "runs_started": min(unique("started"), default=None),
        "runs_finished": max(unique("finished"), default=None),
    }


def _provenance_md(p: dict[str, Any]) -> str:
    lines = ["## Provenance", ""]
    lines.append(f"- commit(s): {', '.join(f'`{c}`' for c in p['commits']) or 'unknown'}"
                 + (" (working tree had uncommitted changes)" if p["dirty_worktree"] else ""))
    lines.append(f"- seeds: {p['seeds']}")
    lines.append(f"- runs: {p['runs_started']} to {p['runs_finished']} (UTC)")
    lines += ["", "Per scenario: the dataset, the sha256 of every raw file it was prepared from and of every "
              "split file (first 12 hex digits; the full values are in `results.json`):", ""]
    lines += provenance_table(p.get("scenarios", {})) + [""]
    for v in p["versions"]:
        lines.append("- versions: " + ", ".join(f"{k} {val}" for k, val in sorted(v.items())))
    for h in p["hardware"]:
        lines.append("- hardware: " + ", ".join(f"{k} {val}" for k, val in sorted(h.items())))
    return "\n".join(lines) + "\n"


def _incomplete(records: pd.DataFrame) -> str:
    bad = records[records["status"] != "ok"]
    if bad.empty:
        return ""
    lines = ["## Incomplete cells", "", "Not included in any mean or test:", ""]
    for _, row in bad.iterrows():
        lines.append(f"- `{row['scenario']}/{row['method']}/{row['seed']}`: **{row['status']}** — {row['error']}")
    return "\n".join(lines) + "\n"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    def clean(v: Any) -> Any:
        if isinstance(v, float | np.floating):
            return None if not np.isfinite(v) else float(v)
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        return v

    return [{k: clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
