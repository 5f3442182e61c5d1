"""The ``run`` stage: fit one method on one split with one seed, evaluate it, write the cell.

Outputs in ``artifacts/runs/<scenario>/<method>/<seed>/``:

* ``per_user.parquet`` — one row per evaluated test user, one column per metric (``ndcg@10`` ...);
* ``topk.parquet`` — the ranked top-K list per user (``user``, ``rank``, ``item``);
* ``record.json`` — status, summary metrics, cost (fit/predict seconds, peak RSS, parameter count),
  the method's params, seed, scenario, data hashes, git commit, package versions and hardware; with
  ``--tuned`` also ``tuning`` (``n_trials``, ``default_valid``, ``best_valid``, ``params_source``).

With ``tuned`` (the ``tune`` stage's ``best.json``, :mod:`bench.tune`) the method is built from the tuned
params, validated through its config like any params; with tuning off they are the configured ones.

How a method is fitted and evaluated depends on the scenario kind (:mod:`bench.cells`); for top-N the
method is fitted on ``train`` (``valid`` is passed for early stopping and nothing else) and ranks ALL
items for every test user, with the user's train and valid items excluded.

A method that raises or returns non-finite scores does not stop the pipeline: the cell is written with
``status: failed``, the error message and its traceback (also printed to stderr, i.e. the stage log),
the report marks it, and the other cells are unaffected. ``recx run`` then exits non-zero, so DVC
never records the failed cell as up to date (nor in its run cache) and the next ``dvc repro`` /
``recx repro`` runs it again.
The cell is written atomically (temp folder + rename), so an interrupted run leaves no output.
"""

from __future__ import annotations

import json
import resource
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bench import progress, provenance
from bench.atomic import staged_dir
from bench.config import Params
from bench.cells import runner
from bench.errors import ConfigError
from bench.splits.types import Split

__all__ = ["RunOutcome", "count_parameters", "run_cell"]


@dataclass(frozen=True)
class RunOutcome:
    """What :func:`run_cell` wrote."""

    out: Path
    record: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.record["status"] == "ok"


def count_parameters(method: object) -> int:
    """Learned numbers held by a fitted method: sizes of its ``*_`` arrays, sparse matrices
    (non-zeros) and torch tensors / modules."""
    total = 0
    for name, value in vars(method).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        total += _size(value)
    return total


def _size(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.size) if value.dtype.kind in "fc" else 0
    if sp.issparse(value):
        return 0 if value.dtype.kind not in "fc" else int(value.nnz)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return 0
    if isinstance(value, torch.nn.Module):
        return int(sum(p.numel() for p in value.parameters()))
    if isinstance(value, torch.Tensor):
        return int(value.numel())
    return 0


def run_cell(
    params: Params,
    *,
    scenario: str,
    method: str,
    seed: int,
    split: Path,
    out: Path,
    tuned: Path | None = None,
) -> RunOutcome:
    """Fit and evaluate the cell ``(scenario, method, seed)``; see the module docstring."""
    params.validate()
    if seed not in params.seeds:
        raise ConfigError(f"{params.where('seeds')}: seed {seed} is not listed in {list(params.seeds)}")
    scenario_cfg = params.scenario(scenario)
    model = params.build_method(method)  # validates hyperparameters before any data is read
    tuning = None
    if tuned is not None:
        from bench.tune import load_tuned

        model, tuning = load_tuned(params, scenario=scenario, method=method, path=Path(tuned))
    data = Split.read(split)
    evaluation = params.evaluation

    record: dict[str, Any] = {
        "scenario": scenario,
        "kind": scenario_cfg.kind,
        "dataset": scenario_cfg.dataset,
        "method": method,
        "seed": seed,
        "params": model.config.to_params(),
        "method_source_sha256": provenance.source_sha256(model),
        "code": _code_identity(scenario_cfg.kind, method),
        "evaluation": {
            "ks": list(evaluation.ks),
            "metrics": list(evaluation.metrics),
        },
        "data": {
            "split": scenario,
            "split_sha256": _manifest_hashes(split),
            "n_users": data.n_users,
            "n_items": data.n_items,
            "n_train": len(data.train),
            "n_valid": len(data.valid),
            "n_test": len(data.test),
        },
        "git": provenance.git_commit(),
        "versions": provenance.package_versions(),
        "hardware": provenance.hardware(),
        "started": _now(),
    }
    if tuning is not None:
        record["tuning"] = tuning

    per_user = topk = users = None
    try:
        with progress.epochs_to(progress.EpochPrinter(f"{scenario}/{method}/{seed}")):
            result = runner(scenario_cfg.kind)(model, data, evaluation, seed=seed, method=method)
        per_user, topk, users = result.per_user, result.topk, result.users
        record.update(
            status="ok",
            metrics=result.metrics,
            cost={
                "fit_seconds": round(result.fit_seconds, 4),
                "predict_seconds": round(result.predict_seconds, 4),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "n_parameters": count_parameters(model),
            },
            **result.extra,
        )
    except Exception as exc:  # a crashing plugin fails its own cell, not the pipeline
        record.update(
            status="failed",
            error={"type": type(exc).__name__, "message": str(exc)},
            traceback=traceback.format_exc(),
        )
        print(record["traceback"], file=sys.stderr, end="")
        print(f"recx run: cell {scenario}/{method}/{seed} FAILED: {exc}", file=sys.stderr)
    record["finished"] = _now()
    _write_cell(Path(out), record, per_user, topk, users)
    return RunOutcome(Path(out), record)


def _write_cell(
    out: Path,
    record: dict[str, Any],
    per_user: pd.DataFrame | None,
    topk: np.ndarray | None,
    users: np.ndarray | None,
) -> None:
    with staged_dir(out) as tmp:
        if per_user is None:
            per_user = pd.DataFrame({"user": pd.Series([], dtype="int64")})
        per_user.to_parquet(tmp / "per_user.parquet", index=False)
        if topk is None or users is None:
            topk = np.empty((0, 0), dtype=np.int64)
            users = np.empty(0, dtype=np.int64)
        n, k = topk.shape
        pd.DataFrame(
            {
                "user": np.repeat(users.astype(np.int64), k),
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int16), n),
                "item": topk.reshape(-1).astype(np.int64),
            }
        ).to_parquet(tmp / "topk.parquet", index=False)
        (tmp / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True, default=_json) + "\n")


def _code_identity(kind: str, method: str) -> dict[str, Any]:
    """The cell's code fingerprint (:mod:`bench.fingerprint`): the sha256 of the same JSON the
    ``fingerprint`` stage writes for it, and how many modules it covers."""
    import hashlib

    from bench.fingerprint import fingerprint

    fp = fingerprint(kind, method)
    return {
        "fingerprint_sha256": hashlib.sha256(fp.to_json().encode()).hexdigest(),
        "n_modules": len(fp.modules),
        "packages": dict(sorted(fp.packages.items())),
    }


def _manifest_hashes(split: Path) -> dict[str, str]:
    return json.loads((Path(split) / "manifest.json").read_text())["sha256"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
