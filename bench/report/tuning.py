"""The report's "Tuning" section: the budget every method got and, per scenario and method, the
validation score of the configured params (trial 0) against the tuned ones, with the chosen params.

Reads the ``tune`` stage's ``artifacts/tuning/<scenario>/<method>/best.json`` files
(:mod:`bench.tune`); deterministic (the same files give the same Markdown).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import kinds
from bench.config import Params

__all__ = ["hyperparameter_label", "hyperparameter_note", "hyperparameter_status", "tuning_table"]


def tuning_table(params: Params, tuning_dir: Path) -> str:
    """Markdown "Tuning" section for every tunable kind's grid of ``params`` (each with its kind's
    validation objective).

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
    lines += [
        f"Every method got the same budget: Optuna TPE (seed {tuning.seed}), {budget} per "
        f"(scenario, method); trial 0 is the configured `methods.<name>` block. Objective, on the "
        f"validation part only (test data is never read while tuning): {tuning.metric} with full "
        f"ranking, training items excluded, for top-N and (target domain) transfer; "
        f"{tuning.mtl_metric} of the valid impressions for multi-task. "
        + (
            "Epoch-based methods are pruned by the median rule on their per-epoch validation score."
            if tuning.pruning
            else "No pruning."
        )
        + " The run cells above use the tuned params"
        + "".join(f" (`{kind}` is not tunable: its cells use their configured blocks)"
                  for kind, grid in params.grids.items() if grid.scenarios and not kinds.get(kind).tunable)
        + ".",
        "",
    ]
    for kind, grid in params.grids.items():
        row = kinds.get(kind)
        if not row.tunable:
            continue
        objective = row.resolve("tuner").objective(tuning)
        for scenario in grid.scenarios:
            lines += [
                f"### {scenario}",
                "",
                f"| method | trials (complete / pruned / failed) | time (s) | default valid {objective} "
                f"| tuned valid {objective} | Δ | chosen params |",
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



def hyperparameter_status(
    tuning_dir: Path | None, cells: dict[str, list[str]], *, tunable: bool = True
) -> dict[str, int | None]:
    """Per scenario of ``cells`` (scenario -> its methods): the tuning budget (trials per method)
    its tables rest on, read from the tune stage's ``best.json`` files (0 = the configured
    defaults, untuned, which is also every scenario of a kind that is not ``tunable``; None =
    unknown: no tuning folder, or a method without a record)."""
    status: dict[str, int | None] = {}
    if not tunable:
        return dict.fromkeys(cells, 0)
    for scenario, methods in cells.items():
        trials: set[int] = set()
        for method in methods:
            path = Path(tuning_dir) / scenario / method / "best.json" if tuning_dir is not None else None
            if path is None or not path.is_file():
                trials = set()
                break
            trials.add(int(json.loads(path.read_text()).get("n_trials") or 0))
        status[scenario] = max(trials) if trials else None
    return status


def hyperparameter_label(trials: int | None) -> str:
    """``"tuned hyperparameters (N trials per method)"``, ``"untuned (configured hyperparameters)"``
    or ``""`` when unknown."""
    if trials is None:
        return ""
    return (f"tuned hyperparameters (budget {trials} trials per method)" if trials
            else "untuned (configured hyperparameters)")


def hyperparameter_note(status: dict[str, int | None]) -> str:
    """The section's Markdown line from :func:`hyperparameter_status`: whether its tables use tuned
    or configured (default) hyperparameters; empty when nothing is known."""
    known = {s: t for s, t in status.items() if t is not None}
    if not known:
        return ""
    if set(known.values()) == {0} and len(known) == len(status):
        return ("**Hyperparameters:** untuned, as configured in `methods.<name>` (the method's "
                "defaults unless the block or a preset sets them), in every table of this section.")
    groups: dict[int | None, list[str]] = {}
    for scenario, trials in status.items():
        groups.setdefault(trials, []).append(f"`{scenario}`")
    parts = [
        (f"tuned on the validation part (a budget of {t} trials per method; trials completed, "
         "pruned and the time used per method in *Tuning*)" if t
         else "untuned, as configured" if t == 0 else "unknown (no tuning record)")
        + " in " + ", ".join(names)
        for t, names in sorted(groups.items(), key=lambda kv: -1 if kv[0] is None else kv[0], reverse=True)
    ]
    return "**Hyperparameters:** " + "; ".join(parts) + "."
