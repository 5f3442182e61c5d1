"""Per (scenario, metric) family: bootstrap CIs and corrected paired tests against a reference.

The reference of a scenario is the best of its kind's ``references`` (:mod:`bench.kinds`; e.g.
``single_task`` for ``mtl``, the best of ``target_only``, ``pooled`` and ``finetune`` for the
cross-domain kinds), or the method with the best mean where the row declares none (``topn``). Within one family all comparisons are Holm-corrected
together (see :mod:`bench.stats`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench import kinds, stats
from bench.report.collect import load_per_user

__all__ = ["significance_table"]

LOWER_IS_BETTER = ("rmse", "mae", "logloss", "arp")


def lower_is_better(metric: str) -> bool:
    return any(part in metric.lower() for part in LOWER_IS_BETTER)


def significance_table(
    records: pd.DataFrame,
    runs: Path,
    metrics: Sequence[str],
    *,
    alpha: float = 0.05,
    seed: int = 0,
    loader: Callable[..., pd.DataFrame | None] = load_per_user,
    base: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per (scenario, metric, method): mean over users of the seed-averaged per-user values,
    95 % bootstrap CI, the reference method, paired test statistics, Holm-adjusted p-values and
    ``significant`` (Holm-adjusted t-test p < alpha). The reference's own row has NaN tests.
    ``base``: named configuration -> its registered method, so that e.g. ``single_task_census``
    can be a kind's reference ``single_task``."""
    rows = []
    for scenario, group in records.groupby("scenario", sort=False):
        kind = group["kind"].iloc[0]
        methods = list(dict.fromkeys(group["method"]))
        per_user = {m: loader(runs, records, scenario, m) for m in methods}
        per_user = {m: f for m, f in per_user.items() if f is not None}
        for metric in metrics:
            values = {m: f[metric].dropna() for m, f in per_user.items() if metric in f}
            values = {m: v for m, v in values.items() if len(v)}
            if not values:
                continue
            ref = _reference(kind, values, metric, base or {})
            family = []
            for method, series in values.items():
                lo, hi = stats.bootstrap_ci(series.to_numpy(), seed=seed)
                row = {
                    "scenario": scenario,
                    "metric": metric,
                    "method": method,
                    "reference": ref,
                    "n_users": int(series.size),
                    "mean": float(series.mean()),
                    "ci_low": lo,
                    "ci_high": hi,
                }
                if ref is not None and method != ref:
                    joined = pd.concat([series, values[ref]], axis=1, join="inner").dropna()
                    test = stats.paired_test(joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy())
                    row.update(
                        n_paired=test.n,
                        mean_diff=test.mean_diff,
                        t_pvalue=test.t_pvalue,
                        wilcoxon_pvalue=test.wilcoxon_pvalue,
                        effect_size=test.effect_size,
                    )
                    family.append(len(rows))
                rows.append(row)
            if family:
                t_adj = stats.holm([rows[i]["t_pvalue"] for i in family])
                w_adj = stats.holm([rows[i]["wilcoxon_pvalue"] for i in family])
                for i, t, w in zip(family, t_adj, w_adj, strict=True):
                    rows[i].update(t_pvalue_holm=float(t), wilcoxon_pvalue_holm=float(w))
                    rows[i]["significant"] = bool(t < alpha)
    table = pd.DataFrame(rows)
    for col in ("n_paired", "mean_diff", "t_pvalue", "wilcoxon_pvalue", "effect_size",
                "t_pvalue_holm", "wilcoxon_pvalue_holm", "significant"):
        if col not in table:
            table[col] = np.nan
    return table


def _reference(kind: str, values: dict[str, pd.Series], metric: str, base: Mapping[str, str]) -> str | None:
    allowed = kinds.get(kind).references
    candidates = [m for m in values if allowed is None or base.get(m, m) in allowed]
    if not candidates:
        return None
    sign = -1.0 if lower_is_better(metric) else 1.0
    return max(candidates, key=lambda m: (sign * values[m].mean(), m))
