"""Is the stopping rule converged? For each epoch-based method of a scenario (any kind), train with
the configured patience P and with 2P (same seed, everything else equal) and compare the best
validation score and a test metric of the restored state, over several seeds. A method that trains a
fixed number of epochs without validation (``als``, ``bpr``: ``implicit`` has no early stopping) is
checked the same way with ``epochs`` E vs 2E, its validation NDCG@10 computed after the fit (top-N
kind only). Each fit runs through the kind's own cell runner, exactly as ``recx run`` does.

    .venv/bin/python benchmarks/check_convergence.py --splits artifacts/splits \\
        --scenario ml100k-topn --methods mf,multvae,lightgcn --seeds 0,1,2
    .venv/bin/python benchmarks/check_convergence.py --splits artifacts/splits \\
        --scenario ml100k-genre-warm --methods target_only,cmf,bitgcf --metric ndcg@10
    .venv/bin/python benchmarks/check_convergence.py --splits artifacts/splits \\
        --scenario ml100k-topn --methods als,bpr --out benchmarks/results/convergence-ml100k-topn-implicit.json

The splits are a pipeline run's ``artifacts/splits`` (or a profile workspace's). The method blocks of
``params.yaml`` (``--params``) are used with ``patience`` (and ``epochs``, raised so the cap does not
bind) overridden. Prints one line per (method, seed) and per method the mean gain of 2P over P with
the seed-std of P's best validation score; writes the rows as JSON to ``--out`` (default
``benchmarks/results/convergence-<scenario>.json``). The issue's criterion: the gain in best
validation NDCG@10 is below one seed-std.

``--reuse RUNS`` (a pipeline run's ``artifacts/runs``) takes the configured-budget fit from the
committed cell record instead of refitting it, when that record is provably the same fit: same
method block, and it stopped by patience before its epoch cap (so raising the cap for the check
does not change its trajectory; same seed, same numbers). This halves the cost on ML-1M.

Not part of ``make test`` (minutes per method).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import methods as registry  # noqa: E402
from bench.cells import runner  # noqa: E402
from bench.config import load_params  # noqa: E402
from bench.fitting import training_summary  # noqa: E402
from bench.splits.types import Split  # noqa: E402
from methods._torch import validation_evaluator  # noqa: E402


def _budget(config) -> tuple[str, int]:
    """The knob that sets how long a method trains: ``patience`` for validated early stopping,
    ``epochs`` for a fixed budget."""
    if hasattr(config, "patience"):
        return "patience", config.patience
    return "epochs", config.epochs


def _valid_ndcg(model, split: Split, method: str) -> float:
    """Validation score of a fitted top-N method, computed by the early-stopping evaluator itself."""
    evaluate = validation_evaluator(
        lambda: model.score, train=split.interactions("train"), valid=split.interactions("valid"),
        method=method,
    )
    return evaluate()


def _fit(params, scenario: str, method: str, split: Split, seed: int, overrides: dict, metric: str) -> dict:
    block = {**(params.methods.get(method) or {}), **overrides}
    model = registry.build(method, block)
    kind = params.scenario(scenario).kind
    result = runner(kind)(model, split, params.evaluation, seed=seed, method=method)
    summary = training_summary(model) or {}
    if summary.get("best_valid_score") is None and kind == "topn":
        summary["best_valid_score"] = _valid_ndcg(model, split, method)
    return {
        **summary,
        "fit_seconds": round(result.fit_seconds, 2),
        "test": result.metrics[metric],
        "metric": metric,
    }


def _reused(runs: Path | None, scenario: str, method: str, seed: int, block: dict, metric: str) -> dict | None:
    """The committed cell's record as a check row, or None when it is not the same fit."""
    if runs is None:
        return None
    path = runs / scenario / method / str(seed) / "record.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    training = record.get("training") or {}
    same_block = all(record["params"].get(k) == v for k, v in block.items() if k != "epochs")
    if record.get("status") != "ok" or not same_block or training.get("stop_reason") != "patience":
        return None
    return {**training, "fit_seconds": record["cost"]["fit_seconds"], "test": record["metrics"][metric],
            "metric": metric, "reused": str(path)}


def _num(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:.4f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--splits", type=Path, required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--methods", default="mf,multvae,lightgcn")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--metric", default="ndcg@10", help="test metric to compare (a cell summary metric)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--reuse", type=Path, help="a run's artifacts/runs: take the configured-budget fit from it")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    split = Split.read(args.splits / args.scenario)
    rows = []
    for method in args.methods.split(","):
        base = params.build_method(method).config
        knob, value = _budget(base)
        cap = 4 * base.epochs  # so that the cap does not end either patience run
        for seed in (int(s) for s in args.seeds.split(",")):
            for budget in (value, 2 * value):
                t0 = time.perf_counter()
                overrides = {"patience": budget, "epochs": cap} if knob == "patience" else {"epochs": budget}
                block = {**(params.methods.get(method) or {}), "patience": value}
                row = (_reused(args.reuse, args.scenario, method, seed, block, args.metric)
                       if budget == value and knob == "patience" else None)
                row = row or _fit(params, args.scenario, method, split, seed, overrides, args.metric)
                row.update(method=method, seed=seed, scenario=args.scenario, knob=knob, budget=budget)
                rows.append(row)
                print(
                    f"{method:10s} seed {seed} {knob} {budget:4d}: epochs {row['epochs_run']:4d} "
                    f"best @ {row['best_epoch']:4d} valid {_num(row['best_valid_score'])} "
                    f"test {args.metric} {row['test']:.4f} ({row['stop_reason']}, "
                    f"{time.perf_counter() - t0:.0f} s)", flush=True,
                )
    print()
    for method in args.methods.split(","):
        mine = [r for r in rows if r["method"] == method]
        p = min(r["budget"] for r in mine)
        short = {r["seed"]: r for r in mine if r["budget"] == p}
        long = {r["seed"]: r for r in mine if r["budget"] == 2 * p}
        if any(r["best_valid_score"] is None for r in mine):  # e.g. a per-task method's summary
            print(f"{method:10s} no single validation score recorded: compare its runs above")
            continue
        gains = [long[s]["best_valid_score"] - short[s]["best_valid_score"] for s in short]
        test_gains = [long[s]["test"] - short[s]["test"] for s in short]
        std = statistics.stdev(r["best_valid_score"] for r in short.values()) if len(short) > 1 else float("nan")
        verdict = "converged" if statistics.mean(gains) < std else "STILL MOVES"
        print(
            f"{method:10s} {mine[0]['knob']} {p} -> {2 * p}: best valid {statistics.mean(gains):+.4f} "
            f"(seed-std {std:.4f}: {verdict}), test {args.metric} {statistics.mean(test_gains):+.4f}"
        )
    out = args.out or REPO / "benchmarks" / "results" / f"convergence-{args.scenario}.json"
    out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
