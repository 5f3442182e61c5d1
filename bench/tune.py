"""The ``tune`` stage: the same hyperparameter search, budget and validation objective for every method.

Untuned baselines make new methods look good (Ferrari Dacrema et al., RecSys 2019; Rendle et al.,
2020), so every method of a cell gets exactly the same protocol (``params.yaml: tuning``):

* **search**: Optuna TPE seeded with ``tuning.seed`` over the method's declared ``search_space``
  (:class:`bench.methods.Config`); sampled values override the configured ``methods.<name>`` block,
  every other field keeps its configured value;
* **trial 0 is the configured block itself**, so the default is always evaluated under the same
  protocol and tuning can only keep or beat it on validation (the search space is widened where
  needed so that the configured values are a point of it);
* **budget**: ``tuning.n_trials`` trials (trial 0 included) and optionally ``tuning.timeout_seconds``
  of wall-clock time (no trial starts after it), equal for every method; a method without a search
  space evaluates only trial 0;
* **objective**: the kind's validation objective (its :class:`bench.cells.Tuner`, named by the
  :mod:`bench.kinds` row): ``tuning.metric`` (e.g. NDCG@10) on the split's ``valid`` part for the
  ranking kinds (top-N: full ranking over all items; transfer: over the target items; each user's
  training items excluded), ``tuning.mtl_metric`` (mean AUC of the binary tasks) on the valid
  impressions for multi-task; the method is fitted on ``train`` with ``valid`` given for early
  stopping, exactly as in a run cell. Trial ``t`` fits with seed ``(tuning.seed, t)``;
* **test is never read**: the tuner opens only ``train.parquet``, ``valid.parquet`` and the side
  tables its kind needs (never a transfer split's saved test candidates), each verified against the
  manifest, and the DVC stage depends on nothing else of the split;
* **pruning** (``tuning.pruning``): epoch-based methods report their per-epoch validation score
  through :mod:`bench.progress`; a median rule stops trials that are behind the completed ones;
* a trial whose method raises is recorded as failed and the search goes on; if no trial completes the
  stage fails with every trial's error.

Outputs in ``artifacts/tuning/<scenario>/<method>/``:

* ``best.json`` — ``params`` (the best trial's values merged over the configured block: what ``run``
  uses), ``params_source`` (``tuned``, or ``configured`` when tuning is off or trial 0 won),
  ``configured``, ``best_valid``, ``default_valid`` (trial 0), ``best_trial``, the budget
  (``n_trials``, ``timeout_seconds``), trial counts, the search space, sampler and pruner settings
  with their seed and the Optuna version;
* ``trials.csv`` — one row per trial: ``number``, ``state`` (COMPLETE, PRUNED, FAIL), ``value`` (the
  objective, complete trials only), ``last_reported`` (last per-epoch validation score reported for
  pruning), ``seconds``, ``default`` (trial 0), ``pruned_at_step``, ``error`` and one
  ``param.<name>`` column per searched hyperparameter (the values actually fitted).

With ``n_trials: 0`` nothing is fitted: ``best.json`` holds the configured params and ``trials.csv``
only its header. Two runs with the same seed choose the same params (without ``timeout_seconds``,
which makes the number of trials depend on the machine).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import kinds, methods, progress
from bench.atomic import staged_dir
from bench.config import Params, Tuning
from bench.errors import ConfigError, DataError, MethodError
from bench.interactions import Interactions
from bench.methods import Categorical, Config, Distribution, FloatRange, IntRange
from bench.splits.types import read_manifest, verified

__all__ = [
    "PRUNER_STARTUP_TRIALS",
    "PRUNER_WARMUP_STEPS",
    "TrainValid",
    "TuneResult",
    "load_tuned",
    "read_train_valid",
    "search_space",
    "tune_cell",
]

#: median pruner: trials that are never pruned (they set the median) and epochs before pruning starts
PRUNER_STARTUP_TRIALS = 5
PRUNER_WARMUP_STEPS = 10

TUNED_PARTS = ("train", "valid")


# ----------------------------------------------------------------------------- data: train + valid only
@dataclass(frozen=True, eq=False)
class TrainValid:
    """What tuning may see of a split: ``train`` and ``valid`` in the split's global index space.

    There is deliberately no ``test`` attribute: a tuner holding a :class:`TrainValid` cannot reach
    test data.
    """

    name: str
    train: Interactions
    valid: Interactions
    n_users: int
    n_items: int


def read_train_valid(folder: Path) -> TrainValid:
    """Read only ``train.parquet`` and ``valid.parquet`` of a split folder (each verified against the
    manifest's sha256); ``test.parquet`` is never opened, so it may even be missing.

    Raises:
        DataError: no manifest, a missing part, or a part modified after the split was built.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    n_users, n_items = int(manifest["n_users"]), int(manifest["n_items"])
    parts = {
        part: Interactions.from_frame(
            pd.read_parquet(verified(folder, manifest, f"{part}.parquet")), n_users, n_items
        )
        for part in TUNED_PARTS
    }
    return TrainValid(
        name=str(manifest.get("name", folder.name)), n_users=n_users, n_items=n_items, **parts
    )


# ----------------------------------------------------------------------------- search space
def search_space(config: Config, *, where: str) -> dict[str, Distribution]:
    """The config's declared ``search_space``, widened so that the configured value of every searched
    field is a point of it (trial 0 evaluates the configured block).

    Ranges are stretched to the configured value; a categorical gets it as an extra choice. A
    non-positive value on a log scale (e.g. ``reg: 0``) cannot be a point of the range: the range is
    kept and trial 0 is still fitted with the configured value (the sampler sees the lower bound).

    Raises:
        ConfigError: the search space names a field the config does not have.
    """
    fields = {f.name for f in dataclasses.fields(config)}
    space: dict[str, Distribution] = {}
    for name, dist in type(config).search_space.items():
        if name not in fields:
            raise ConfigError(
                f"{where}: search_space names {name!r}, which is not a field of "
                f"{type(config).__name__} (fields: {sorted(fields)})"
            )
        value = getattr(config, name)
        if isinstance(dist, Categorical):
            if value not in dist.choices:
                dist = Categorical((*dist.choices, value))
        elif isinstance(dist, IntRange | FloatRange):
            if not (dist.log and value <= 0):
                cast = int if isinstance(dist, IntRange) else float
                dist = dataclasses.replace(
                    dist, low=cast(min(dist.low, value)), high=cast(max(dist.high, value))
                )
        else:
            raise ConfigError(
                f"{where}: search_space[{name!r}] = {dist!r} is not an IntRange, FloatRange or "
                f"Categorical"
            )
        space[name] = dist
    return space


def _suggest(trial: Any, name: str, dist: Distribution) -> Any:
    if isinstance(dist, Categorical):
        return trial.suggest_categorical(name, list(dist.choices))
    if isinstance(dist, IntRange):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


def _enqueued(dist: Distribution, value: Any) -> Any:
    """The configured value as the sampler can record it (the lower bound for a non-positive value
    on a log scale, see :func:`search_space`)."""
    if isinstance(dist, IntRange | FloatRange) and dist.log and value <= 0:
        return dist.low
    return value


def _describe(dist: Distribution) -> dict[str, Any]:
    if isinstance(dist, Categorical):
        return {"type": "categorical", "choices": list(dist.choices)}
    kind = "int" if isinstance(dist, IntRange) else "float"
    return {"type": kind, "low": dist.low, "high": dist.high, "log": dist.log}


# ----------------------------------------------------------------------------- the stage
@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune_cell` wrote: ``best`` is the content of ``best.json``, ``trials`` of
    ``trials.csv``."""

    out: Path
    best: dict[str, Any]
    trials: pd.DataFrame

    @property
    def params(self) -> dict[str, Any]:
        return self.best["params"]


def tune_cell(params: Params, *, scenario: str, method: str, split: Path, out: Path) -> TuneResult:
    """Tune ``method`` on ``scenario``'s split (train + valid only); see the module docstring."""
    tuning = params.tuning
    scenario_cfg = params.validate_cell(scenario, method)
    configured = params.build_method(method).config  # validated before any data is read
    space = search_space(configured, where=params.where("methods", method))
    best = _header(params, scenario, method, configured, space)
    columns = ["number", "state", "value", "last_reported", "seconds", "default"]
    columns += ["pruned_at_step", "error", *(f"param.{name}" for name in space)]

    if tuning.n_trials == 0:
        best.update(
            params=best["configured"], params_source="configured", best_trial=None,
            best_valid=None, default_valid=None, n_trials_run=0,
        )
        trials = pd.DataFrame(columns=columns)
        _write(Path(out), best, trials)
        return TuneResult(Path(out), best, trials)

    _check_tunable(params, scenario, scenario_cfg.kind)
    tuner = kinds.get(scenario_cfg.kind).resolve("tuner")
    data = tuner.read(Path(split))
    study, seconds = _search(params, method, configured, space, data, tuner)
    trials = _trials_frame(study, space, columns)
    best.update(_outcome(study, trials, tuning, best["configured"], scenario, method, out,
                         base=params.base_method(method)))
    best["seconds"] = round(seconds, 2)
    _write(Path(out), best, trials)
    return TuneResult(Path(out), best, trials)


def _header(params: Params, scenario: str, method: str, configured: Config, space) -> dict[str, Any]:
    """What ``best.json`` says about the search before it runs."""
    kind = kinds.get(params.scenario(scenario).kind)
    return {
        "scenario": scenario,
        "method": method,
        "metric": kind.resolve("tuner").objective(params.tuning) if kind.tunable else params.tuning.metric,
        "n_trials": params.tuning.n_trials,
        "timeout_seconds": params.tuning.timeout_seconds,
        "tuning": dataclasses.asdict(params.tuning),
        "configured": _plain(configured.to_params()),
        "search_space": {name: _describe(d) for name, d in space.items()},
    }


def _check_tunable(params: Params, scenario: str, kind: str) -> None:
    if not kinds.get(kind).tunable:
        tunable = sorted(k for k, row in kinds.kinds().items() if row.tunable)
        raise ConfigError(
            f"{params.where('tuning')}: tuning is implemented for the kinds {tunable}; scenario "
            f"{scenario!r} is of kind {kind!r} (set tuning.n_trials: 0)"
        )


def _search(params: Params, method: str, configured: Config, space, data: Any, tuner: Any):
    """Run the seeded study; returns it and its wall-clock seconds."""
    study, n_run, sampler_info, pruner_info = _study(params.tuning, space, configured)
    study.set_user_attr("sampler", sampler_info)
    study.set_user_attr("pruner", pruner_info)
    objective = _objective(
        methods.get(params.base_method(method)), configured, space, data, params.tuning, tuner,
        evaluation=params.evaluation, where=params.where("methods", method),
    )
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n_run, timeout=params.tuning.timeout_seconds, catch=(Exception,))
    return study, time.perf_counter() - t0


class FirstStageReporter:
    """Forwards a trial's per-epoch validation scores to Optuna for pruning, until the epoch count
    restarts.

    A method that trains several networks in one fit (``single_task``: one per task; ``finetune``,
    ``emcdr``, ``ptupcdr``: a source stage, then the target) restarts its epoch count at 1 for each;
    Optuna ignores a step reported twice and the median rule compares trials at the same step, so
    a later stage's scores would be judged against other trials' earlier-stage scores. Such methods
    declare ``prunable = False`` and are not pruned at all (their first stage is a proxy: another
    task, or the source domain); for any other method a restart ends the reporting, so the trial
    runs to its end instead of being judged on mismatched steps."""

    def __init__(self, trial: Any):
        self.trial, self.last, self.done = trial, 0, False

    def __call__(self, step: int, value: float) -> None:
        import optuna

        if self.done or step <= self.last:
            self.done = True
            return
        self.last = step
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_step", step)
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at step {step}")


def _outcome(study, trials: pd.DataFrame, tuning: Tuning, configured: dict[str, Any], scenario: str,
             method: str, out: Path, base: str | None = None) -> dict[str, Any]:
    """The winner (ties -> the earlier trial) and the trial counts; every trial failing is an error.
    ``base``: the registered method of a named configuration ``method`` (default: ``method``)."""
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        errors = "; ".join(
            f"trial {t.number}: {t.user_attrs.get('error', t.state.name)}" for t in study.trials
        )
        raise MethodError(
            f"{method}: every tuning trial on {scenario!r} failed ({len(study.trials)} trials): "
            f"{errors}. Fix the method or its params.yaml block (methods.{method})"
        )
    winner = max(complete, key=lambda t: (t.value, -t.number))
    default = next((t for t in study.trials if t.user_attrs.get("default")), None)
    tuned = {**configured, **_plain(winner.user_attrs["params"])}
    methods.build(base or method, tuned, where=f"{out}/best.json: params")  # the chosen params validate
    counts = trials["state"].value_counts()
    return dict(
        params=tuned,
        params_source="configured" if winner.number == 0 else "tuned",
        best_trial=winner.number,
        best_valid=float(winner.value),
        default_valid=(
            float(default.value)
            if default is not None and default.state == optuna.trial.TrialState.COMPLETE
            else None
        ),
        n_trials_run=len(study.trials),
        n_complete=int(counts.get("COMPLETE", 0)),
        n_pruned=int(counts.get("PRUNED", 0)),
        n_failed=int(counts.get("FAIL", 0)),
        sampler=study.user_attrs["sampler"],
        pruner=study.user_attrs["pruner"],
        seed=tuning.seed,
        optuna_version=optuna.__version__,
    )


def _study(tuning: Tuning, space: dict[str, Distribution], configured: Config):
    """The seeded study with trial 0 (the configured values) enqueued; returns it, the number of
    trials to run and the sampler / pruner settings for ``best.json``."""
    import optuna

    n_run = tuning.n_trials if space else 1  # nothing to search: evaluate the configured block only
    n_startup = max(1, min(10, tuning.n_trials // 3))
    sampler = optuna.samplers.TPESampler(seed=tuning.seed, n_startup_trials=n_startup)
    if tuning.pruning:
        pruner = optuna.pruners.MedianPruner(
            n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_STEPS
        )
        pruner_info = {
            "name": "MedianPruner",
            "n_startup_trials": PRUNER_STARTUP_TRIALS,
            "n_warmup_steps": PRUNER_WARMUP_STEPS,
        }
    else:
        pruner, pruner_info = optuna.pruners.NopPruner(), None
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.enqueue_trial(
        {name: _enqueued(d, getattr(configured, name)) for name, d in space.items()},
        user_attrs={"default": True},
    )
    sampler_info = {"name": "TPESampler", "seed": tuning.seed, "n_startup_trials": n_startup}
    return study, n_run, sampler_info, pruner_info


def _objective(
    spec: methods.MethodSpec,
    configured: Config,
    space: dict[str, Distribution],
    data: Any,
    tuning: Tuning,
    tuner: Any,
    *,
    evaluation: Any,
    where: str,
):
    import optuna

    objective_name = tuner.objective(tuning)

    def objective(trial: optuna.Trial) -> float:
        values = {name: _suggest(trial, name, dist) for name, dist in space.items()}
        if trial.user_attrs.get("default"):
            config = configured
            values = {name: getattr(configured, name) for name in space}
        trial.set_user_attr("params", _plain(values))
        try:
            if not trial.user_attrs.get("default"):
                merged = {**configured.to_params(), **values}
                config = spec.config.from_params(
                    merged, where=f"{where} (tuning trial {trial.number})"
                )
            model = spec.cls(config)

            printer = progress.EpochPrinter(f"{spec.name} trial {trial.number}")
            prune = tuning.pruning and getattr(spec.cls, "prunable", True)
            with progress.reporting(FirstStageReporter(trial)) if prune else nullcontext(), \
                    progress.epochs_to(printer):
                value = tuner.fit_score(
                    model, data, seed=[tuning.seed, trial.number], method=spec.name, tuning=tuning,
                    evaluation=evaluation,
                )
        except optuna.TrialPruned:
            raise
        except Exception as exc:  # a crashing trial fails alone (recorded), the search goes on
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise
        if not math.isfinite(value):
            trial.set_user_attr("error", f"non-finite validation score {value}")
        print(f"{spec.name} trial {trial.number}: {objective_name} on valid = {value:.5f}",
              file=sys.stderr, flush=True)
        return value

    return objective


def _trials_frame(study: Any, space: dict[str, Distribution], columns: list[str]) -> pd.DataFrame:
    rows = []
    for t in study.trials:
        used = t.user_attrs.get("params", t.params)
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value if t.state.name == "COMPLETE" else float("nan"),
                "last_reported": (
                    t.intermediate_values[t.last_step] if t.last_step is not None else float("nan")
                ),
                "seconds": (
                    round(t.duration.total_seconds(), 3) if t.duration is not None else float("nan")
                ),
                "default": bool(t.user_attrs.get("default", False)),
                "pruned_at_step": t.user_attrs.get("pruned_at_step"),
                "error": t.user_attrs.get("error", ""),
                **{f"param.{name}": used.get(name) for name in space},
            }
        )
    frame = pd.DataFrame(rows, columns=columns)
    frame["pruned_at_step"] = frame["pruned_at_step"].astype("Int64")
    return frame


def _write(out: Path, best: dict[str, Any], trials: pd.DataFrame) -> None:
    with staged_dir(out) as tmp:
        (tmp / "best.json").write_text(json.dumps(best, indent=2, sort_keys=True) + "\n")
        trials.to_csv(tmp / "trials.csv", index=False)


def _plain(value: Any) -> Any:
    """JSON-shaped copy (tuples -> lists, numpy scalars -> Python), so that what is compared equals
    what ``best.json`` holds after a round trip."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ----------------------------------------------------------------------------- used by `run`
def load_tuned(
    params: Params, *, scenario: str, method: str, path: Path
) -> tuple[Any, dict[str, Any]]:
    """The unfitted method a run cell uses with ``--tuned best.json``, and the ``tuning`` entry of its
    record (``n_trials``, ``default_valid``, ``best_valid``, ``best_trial``, ``metric``,
    ``params_source``).

    With tuning off (``tuning.n_trials: 0``, in params.yaml and in ``best.json``) the configured
    ``methods.<name>`` block is used as it is. Otherwise the params of ``best.json`` are validated
    through the method's config like any params.

    Raises:
        ConfigError: ``best.json`` is missing, belongs to another cell, or is stale: it was tuned for
            another ``tuning`` section or ``methods.<name>`` block than params.yaml now holds.
    """
    path = Path(path)
    stage = f"{kinds.get(params.scenario(scenario).kind).tune_stage}@{scenario}-{method}"
    if not path.exists():
        raise ConfigError(
            f"{path}: no tuning result; run `dvc repro {stage}` (or `recx tune "
            f"{scenario} {method}`) first"
        )
    best = json.loads(path.read_text())
    if (best.get("scenario"), best.get("method")) != (scenario, method):
        raise ConfigError(
            f"{path}: tuned for {best.get('scenario')}/{best.get('method')}, not {scenario}/{method}"
        )
    configured = params.build_method(method)  # the one build when tuning is off
    now = dataclasses.asdict(params.tuning)
    off = params.tuning.n_trials == 0 and best.get("n_trials") == 0
    if not off:
        stale = [
            key
            for key, current, saved in (
                ("tuning", _plain(now), best.get("tuning")),
                (f"methods.{method}", _plain(configured.config.to_params()), best.get("configured")),
            )
            if current != saved
        ]
        if stale:
            raise ConfigError(
                f"{path} is stale: {params.path.name} section(s) {stale} changed since it was tuned; "
                f"re-run `dvc repro {stage}`"
            )
    info = {
        "n_trials": best.get("n_trials"),
        "timeout_seconds": best.get("timeout_seconds"),
        "metric": best.get("metric"),
        "default_valid": best.get("default_valid"),
        "best_valid": best.get("best_valid"),
        "best_trial": best.get("best_trial"),
        "params_source": "configured" if off else best.get("params_source", "tuned"),
    }
    if off:
        return configured, info
    model = methods.build(params.base_method(method), best["params"], where=f"{path}: params")
    return model, info
