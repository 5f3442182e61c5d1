"""The report's "Tuning" section: the budget every method got and, per scenario and method, the
validation score of the configured params (trial 0) against the tuned ones, with the chosen params.

Reads the ``tune`` stage's ``artifacts/tuning/<scenario>/<method>/best.json`` files
(:mod:`bench.tune`); deterministic (the same files give the same Markdown).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.config import Params

__all__ = ["tuning_table"]


def tuning_table(params: Params, tuning_dir: Path) -> str:
    """Markdown "Tuning" section for the top-N grid of ``params``.

    One table per scenario: method, trials run (complete / pruned / failed), tuning time, validation
    metric of the configured params (trial 0) and of the tuned params, their difference, and the
    chosen values of the searched hyperparameters. Cells whose ``best.json`` is missing are listed
    as such. With ``tuning.n_trials: 0`` a single line says that tuning was off.
    """
    tuning = params.tuning
    lines = ["## Tuning", ""]
    if tuning.n_trials == 0:
        lines += [
            "Tuning was off (`tuning.n_trials: 0`): every method ran with its configured "
            "`methods.<name>` block.",
            "",
        ]
        return "\n".join(lines)
    budget = f"{tuning.n_trials} trials"
    if tuning.timeout_seconds is not None:
        budget += f" and at most {tuning.timeout_seconds:g} s of wall clock"
    metric = tuning.metric
    lines += [
        f"Every method got the same budget: Optuna TPE (seed {tuning.seed}), {budget} per "
        f"(scenario, method); trial 0 is the configured `methods.<name>` block. Objective: "
        f"{metric} on the validation part (full ranking, training items excluded); test data is "
        f"never read while tuning. "
        + (
            "Epoch-based methods are pruned by the median rule on their per-epoch validation score."
            if tuning.pruning
            else "No pruning."
        )
        + " The run cells above use the tuned params.",
        "",
    ]
    grid = params.grids.get("topn")
    scenarios = grid.scenarios if grid else ()
    for scenario in scenarios:
        lines += [
            f"### {scenario}",
            "",
            f"| method | trials (complete / pruned / failed) | time (s) | default valid {metric} "
            f"| tuned valid {metric} | Δ | chosen params |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for method in grid.methods:
            lines.append(_row(method, Path(tuning_dir) / scenario / method / "best.json"))
        lines.append("")
    return "\n".join(lines)


def _row(method: str, path: Path) -> str:
    if not path.exists():
        return f"| `{method}` | missing | | | | | |"
    best = json.loads(path.read_text())
    if best.get("n_trials") == 0:
        return f"| `{method}` | off | | | | | configured |"
    default, tuned = best.get("default_valid"), best.get("best_valid")
    delta = f"{tuned - default:+.4f}" if default is not None and tuned is not None else ""
    trials = (
        f"{best.get('n_trials_run', 0)} ({best.get('n_complete', 0)} / {best.get('n_pruned', 0)} / "
        f"{best.get('n_failed', 0)})"
    )
    space = best.get("search_space") or {}
    if not space:
        chosen = "nothing to tune"
    elif best.get("best_trial") == 0:
        chosen = "configured (trial 0 won)"
    else:
        chosen = ", ".join(f"{k}={_fmt(best['params'].get(k))}" for k in space)
    seconds = best.get("seconds")
    return (
        f"| `{method}` | {trials} | {'' if seconds is None else f'{seconds:.0f}'} | {_fmt(default)} "
        f"| {_fmt(tuned)} | {delta} | {chosen} |"
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    return f"{value:.4f}" if 1e-3 <= abs(value) < 1e4 else f"{value:.3g}"
