"""One report section per scenario family: which metrics it tests and how its tables and figures
look. Top-N uses the generic tables; multi-task and cross-domain add their own views
(:mod:`bench.report.mtl`, :mod:`bench.report.cdr`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import kinds
from bench.config import Params
from bench.errors import ConfigError
from bench.report.collect import TRAINING_COLUMNS
from bench.report.tables import to_markdown

__all__ = ["NON_METRIC_COLUMNS", "SECTIONS", "Section", "sections"]

NON_METRIC_COLUMNS = frozenset(
    {"seed", "n_evaluated_users", "dirty", "fit_seconds", "predict_seconds", "peak_rss_mb", "n_parameters"}
    | set(TRAINING_COLUMNS)
)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    kinds: tuple[str, ...]
    metrics: Callable[[Params, pd.DataFrame], tuple[list[str], str]]
    markdown: Callable[..., str]
    figures: Callable[[Params, pd.DataFrame, Path], list[Path]]


def _k(params: Params) -> int:
    ks = params.evaluation.ks
    return 10 if 10 in ks else ks[0]


def _topn_metrics(params: Params, records: pd.DataFrame) -> tuple[list[str], str]:
    k = _k(params)
    shown = [f"{m}@{k}" for m in params.evaluation.metrics]
    return shown, f"ndcg@{k}"


def _topn_markdown(params, records, table, sig, metrics, primary, *, splits: Path | None = None) -> str:
    return (
        "Full ranking over all items; each user's train and validation items excluded. Best mean per "
        "scenario and metric in **bold**, second in *italics*.\n\n"
        + to_markdown(table, metrics, sig=sig, primary=primary)
    )


def _no_figures(params, records, folder) -> list[Path]:
    return []


def _mtl_metrics(params: Params, records: pd.DataFrame) -> tuple[list[str], str]:
    k = _k(params)
    return ["click_auc", "like_auc", "ctcvr_auc", f"like_ndcg@{k}", "rating_rmse"], "like_auc"


def _mtl_markdown(params, records, table, sig, metrics, primary, *, splits: Path | None = None) -> str:
    from bench.report.mtl import mtl_table, protocol_comparison

    parts, protocols = [], {}
    for scenario in dict.fromkeys(table["scenario"]):
        caption = _mtl_protocol(params, scenario, splits)
        parts += [f"### {scenario}", "", mtl_table(records, scenario=scenario, caption=caption), ""]
        parts += [significance_markdown(sig, scenario, metrics), ""]
        protocols[scenario] = _protocol_row(params, scenario, splits)
    comparison = protocol_comparison(records, sig, {s: r for s, r in protocols.items() if r is not None})
    if comparison:
        parts += ["### Protocols side by side", "", comparison]
    return "\n".join(parts)


#: how each MTL protocol splits the rated interactions (the table caption's first words)
MTL_PROTOCOLS = {
    "temporal_global": "Global temporal cut (no future interaction in train)",
    "per_user_temporal": "Warm-user protocol (each user's last ratings are valid/test)",
}


def _cold_share(scenario: str, splits: Path | None) -> tuple[int, int] | None:
    """(cold test impressions, test impressions) from the scenario's split manifest, if written."""
    manifest = Path(splits) / scenario / "manifest.json" if splits is not None else None
    if manifest is None or not manifest.is_file():
        return None
    written = json.loads(manifest.read_text())
    cold, rows = written["meta"].get("cold", {}).get("test_user"), written["counts"]["test"]["rows"]
    return (cold, rows) if cold is not None and rows else None


def _protocol_row(params: Params, scenario: str, splits: Path | None) -> tuple[str, str, float | None] | None:
    """(dataset, protocol, cold share) of an MTL scenario for :func:`protocol_comparison`."""
    config = params.scenarios.get(scenario)
    if config is None or getattr(config, "split", None) is None:
        return None
    share = _cold_share(scenario, splits)
    return config.dataset, MTL_PROTOCOLS.get(config.split, config.split).split(" (")[0], (
        None if share is None else share[0] / share[1])


def _mtl_protocol(params: Params, scenario: str, splits: Path | None) -> str | None:
    """The table caption naming the scenario's protocol and, from its split manifest, the share of
    test impressions whose user never occurs in train (cold users are scored from features only)."""
    try:
        split = params.scenario(scenario).split
    except (ConfigError, KeyError, AttributeError):  # not declared, or a kind without protocols
        return None
    text = f"**Protocol:** {MTL_PROTOCOLS.get(split, split)}."
    share = _cold_share(scenario, splits)
    if share is not None:
        cold, rows = share
        text += (f" Cold test impressions (user absent from train, scored from features only): "
                 f"{100 * cold / rows:.1f} % ({cold:,} of {rows:,}).")
    return text


def _mtl_figures(params, records, folder) -> list[Path]:
    from bench.report.mtl import mtl_tradeoff_figure

    paths = []
    ok = records[(records["kind"] == "mtl") & (records["status"] == "ok")]
    for scenario in dict.fromkeys(ok["scenario"]):
        if {"like_auc", "rating_rmse"} <= set(ok.columns):
            paths.append(
                mtl_tradeoff_figure(records, folder / f"{scenario}-tradeoff.png", scenario=scenario)
            )
    return paths


def _tabular_mtl_metrics(params: Params, records: pd.DataFrame) -> tuple[list[str], str]:
    """Per-task AUCs, then ``mean_auc`` (primary), then the loglosses; the task names come from the
    records (they differ by task set: ``income_50k_auc`` / ``college_auc``)."""
    shown, _ = _generic_metrics(_section_kinds("tabular_mtl"))(params, records)
    aucs = [m for m in shown if m.endswith("_auc") and m != "mean_auc"]
    rest = [m for m in shown if m not in aucs and m != "mean_auc"]
    return [*aucs, "mean_auc", *rest], "mean_auc"


def _tabular_mtl_markdown(params, records, table, sig, metrics, primary, *,
                          splits: Path | None = None) -> str:
    from bench.report.published import published_table

    shares = {getattr(params.scenarios.get(s), "valid_share", None) for s in dict.fromkeys(table["scenario"])}
    share = shares.pop() if len(shares) == 1 else None
    halves = ("1:1" if share == 0.5 else f"{share:g} : {1 - share:g}") if share is not None else "by each scenario's `valid_share`"
    text = (
        f"One row per person; UCI train -> train, UCI test split {halves} at random into valid and "
        "test; pooled AUC and logloss per task on test. Paired tests on per-person values (DeLong "
        "pseudo-values of the AUC, whose mean is the pooled AUC and whose spread is DeLong's "
        "variance; the person's cross-entropy) against `single_task` (or its named configuration). "
        "The † marks come from the paired t-test; the Wilcoxon p-values that `significance.csv` "
        "also lists do not test an AUC difference for the AUC columns (a pseudo-value's scale "
        "depends on the person's class) and should not be read for them."
        "\n\n" + to_markdown(table, metrics, sig=sig, primary=primary)
    )
    for scenario in dict.fromkeys(table["scenario"]):
        config = params.scenarios.get(scenario)
        beside = (published_table(records, scenario, config.task_set, params.named_configurations())
                  if config is not None else "")
        if beside:
            text += (f"\n#### {scenario} beside published values\n\n" + beside
                     + "\nOurs: the cells of this table, with the hyperparameters of their run records "
                     "(the profile's `methods` blocks) and the test AUC of the best-validation epoch. "
                     "The MMoE paper's own tables could not be consulted offline; the reference is a "
                     "public re-implementation whose max is an epoch chosen on test (see "
                     "`bench/report/published.py`).\n")
    return text


def _cdr_metrics(params: Params, records: pd.DataFrame) -> tuple[list[str], str]:
    k = _k(params)
    candidates = [f"ndcg@{k}", f"recall@{k}", f"hr@{k}", f"sampled_hr@{k}", f"sampled_ndcg@{k}", "mae", "rmse"]
    return candidates, f"ndcg@{k}"


def _cdr_markdown(params, records, table, sig, metrics, primary, *, splits: Path | None = None) -> str:
    from bench.report.cdr import cdr_table

    body = cdr_table(records, params.scenarios, sig=sig)
    body = body.replace("## Cross-domain transfer (target domain)\n\n", "")
    parts = [body]
    for scenario in dict.fromkeys(table["scenario"]):
        parts += [f"Significance, {scenario}:", "", significance_markdown(sig, scenario, metrics), ""]
    return "\n".join(parts)


def _cdr_figures(params, records, folder) -> list[Path]:
    from bench.report.cdr import cdr_beta_figure

    path = cdr_beta_figure(records, folder / "cdr-gain-vs-beta.png", params.scenarios)
    return [path] if path is not None else []


def significance_markdown(sig: pd.DataFrame, scenario: str, metrics: list[str]) -> str:
    """Compact table: per method and metric, the difference to the reference and the Holm-adjusted
    t-test p-value (†: p < 0.05)."""
    rows = sig[sig["scenario"] == scenario] if not sig.empty else sig
    if rows.empty:
        return "_No per-user values to test._"
    shown = [m for m in metrics if m in set(rows["metric"])]
    refs = {m: rows.loc[rows["metric"] == m, "reference"].dropna() for m in shown}
    refs = {m: r.iloc[0] if len(r) else None for m, r in refs.items()}
    if len(set(refs.values())) == 1:
        intro = f"Paired tests against `{next(iter(refs.values()))}`"
        header = shown
    else:  # the reference is chosen per metric (the best of the kind's references): name it per column
        intro = "Paired tests against each column's reference (named under the metric)"
        header = [f"{m} (vs `{refs[m]}`)" for m in shown]
    lines = [
        f"{intro} (difference of per-user means, Holm-adjusted p):",
        "",
        "| method | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(shown),
    ]
    for method in dict.fromkeys(rows["method"]):
        cells = []
        for m in shown:
            r = rows[(rows["method"] == method) & (rows["metric"] == m)]
            if r.empty:
                cells.append("—")
            elif method == r["reference"].iloc[0]:
                cells.append("ref")
            elif pd.isna(r["t_pvalue_holm"].iloc[0]):
                cells.append("—")
            else:
                mark = " †" if r["t_pvalue_holm"].iloc[0] < 0.05 else ""
                cells.append(f"{r['mean_diff'].iloc[0]:+.4f} (p={r['t_pvalue_holm'].iloc[0]:.3g}){mark}")
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _generic_metrics(kind_names: tuple[str, ...]):
    def metrics(params: Params, records: pd.DataFrame) -> tuple[list[str], str]:
        part = records[records["kind"].isin(kind_names)]
        shown = sorted(
            c for c in part.columns
            if c not in NON_METRIC_COLUMNS and pd.api.types.is_numeric_dtype(part[c]) and part[c].notna().any()
        )
        return shown, shown[0] if shown else ""

    return metrics


def _generic_markdown(params, records, table, sig, metrics, primary, *, splits: Path | None = None) -> str:
    return to_markdown(table, metrics, sig=sig, primary=primary)


def sections() -> tuple[Section, ...]:
    """:data:`SECTIONS`, plus a generic one (every numeric metric of its records) for each section
    key that a plugin kind's row names and no view here knows."""
    known = {s.key for s in SECTIONS}
    extra = dict.fromkeys(row.section for row in kinds.kinds().values() if row.section not in known)
    return SECTIONS + tuple(
        Section(key, key, _section_kinds(key), _generic_metrics(_section_kinds(key)),
                _generic_markdown, _no_figures)
        for key in extra
    )


def _section_kinds(key: str) -> tuple[str, ...]:
    """The kinds whose :mod:`bench.kinds` row names report section ``key``."""
    return tuple(name for name, row in kinds.kinds().items() if row.section == key)


SECTIONS: tuple[Section, ...] = (
    Section("topn", "Top-N recommendation", _section_kinds("topn"), _topn_metrics, _topn_markdown,
            _no_figures),
    Section("mtl", "Multi-task learning", _section_kinds("mtl"), _mtl_metrics, _mtl_markdown,
            _mtl_figures),
    Section("cdr", "Cross-domain transfer (target domain)", _section_kinds("cdr"), _cdr_metrics,
            _cdr_markdown, _cdr_figures),
    Section("tabular_mtl", "Multi-task learning on tabular data (Census-Income)",
            _section_kinds("tabular_mtl"), _tabular_mtl_metrics, _tabular_mtl_markdown, _no_figures),
)
