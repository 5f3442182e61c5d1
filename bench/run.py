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
import sys
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
from bench.cells import CellResult, runner
from bench.fitting import failure, peak_rss_mb, training_summary
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
    torch = sys.modules.get("torch")  # a method holding tensors has imported torch already
    if torch is None:
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
    fingerprint: Path | None = None,
) -> RunOutcome:
    """Fit and evaluate the cell ``(scenario, method, seed)``; see the module docstring.

    Only this cell's part of ``params`` is validated and only its method is built, before any data
    is read. ``fingerprint`` is the cell's file from the ``fingerprint`` stage (its sha256 goes into
    the record); without it the fingerprint is computed here.
    """
    scenario_cfg = params.validate_cell(scenario, method, seed)
    model, tuning = _build(params, scenario, method, tuned)
    data = Split.read(split)
    record = _record(params, scenario_cfg, method, seed, model, data, split, fingerprint)
    if tuning is not None:
        record["tuning"] = tuning
    result = None
    try:
        with progress.epochs_to(progress.EpochPrinter(f"{scenario}/{method}/{seed}")):
            result = runner(scenario_cfg.kind)(model, data, params.evaluation, seed=seed, method=method)
        record.update(status="ok", metrics=result.metrics, cost=_cost(result, model), **result.extra)
        training = training_summary(model)
        if training is not None:
            record["training"] = training
    except Exception as exc:  # a crashing plugin fails its own cell, not the pipeline
        record.update(status="failed", **failure(exc, what=f"run: cell {scenario}/{method}/{seed}"))
    record["finished"] = _now()
    _write_cell(Path(out), record, result)
    return RunOutcome(Path(out), record)


def _build(params: Params, scenario: str, method: str, tuned: Path | None):
    """The unfitted method (configured, or tuned by ``best.json``) and the record's ``tuning``."""
    if tuned is None:
        return params.build_method(method), None
    from bench.tune import load_tuned

    return load_tuned(params, scenario=scenario, method=method, path=Path(tuned))


def _record(params, scenario_cfg, method, seed, model, data, split, fingerprint) -> dict[str, Any]:
    """Everything known about the cell before it runs: identity, params, data, provenance."""
    return {
        "scenario": scenario_cfg.name,
        "kind": scenario_cfg.kind,
        "dataset": scenario_cfg.dataset,
        "method": method,
        "base_method": params.base_method(method),  # the registered method (a named configuration's)
        "seed": seed,
        "params": model.config.to_params(),
        "method_source_sha256": provenance.source_sha256(model),
        "code": _code_identity(scenario_cfg.kind, params.base_method(method), fingerprint),
        "evaluation": {
            "ks": list(params.evaluation.ks),
            "metrics": list(params.evaluation.metrics),
        },
        "data": {
            "split": scenario_cfg.name,
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


def _cost(result, model) -> dict[str, Any]:
    return {
        "fit_seconds": round(result.fit_seconds, 4),
        "predict_seconds": round(result.predict_seconds, 4),
        "peak_rss_mb": round(max(result.peak_rss_mb, peak_rss_mb()), 1),
        "n_parameters": count_parameters(model),
    }


def _write_cell(out: Path, record: dict[str, Any], result: CellResult | None) -> None:
    per_user = result.per_user if result is not None else None
    topk = result.topk if result is not None else None
    users = result.users if result is not None else None
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


def _code_identity(kind: str, method: str, path: Path | None) -> dict[str, Any]:
    """The cell's code fingerprint (:mod:`bench.fingerprint`): the sha256 of the JSON the
    ``fingerprint`` stage wrote for it (read from ``path``, or computed when not given), how many
    modules it covers and the library versions it records."""
    import hashlib

    from bench.fingerprint import Fingerprint, fingerprint

    if path is not None and Path(path).is_file():
        text = Path(path).read_text()
        fp = Fingerprint.from_json(text)
    else:
        fp = fingerprint(kind, method)
        text = fp.to_json()
    return {
        "fingerprint_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "n_modules": len(fp.modules),
        "packages": dict(sorted(fp.packages.items())),
    }


def _manifest_hashes(split: Path) -> dict[str, str]:
    return json.loads((Path(split) / "manifest.json").read_text())["sha256"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
