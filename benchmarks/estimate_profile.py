"""Expected wall time of a profile from recorded costs, before running it.

    .venv/bin/python benchmarks/estimate_profile.py --profile paper --jobs 2
    .venv/bin/python benchmarks/estimate_profile.py --profile benchmarks/paper-cheapest.yaml \\
        --costs benchmarks/results/repro-default.json        # predict a measured run, to check

Every run cell of the profile (``run-<kind>@<scenario>-<method>-<seed>``) gets a cost in seconds:

* **recorded** — its own stage seconds in one of the ``--costs`` files (``measure_repro.py``
  results: ``from_scratch.stage_seconds``, or a flat ``{stage: seconds}`` mapping);
* **scaled** — otherwise the mean recorded cost of the same (kind, method) on the nearest recorded
  scenario (same dataset, then same split protocol, then same cold share ``beta``, then closest dataset size in
  interactions, from ``datasets/prepared/<dataset>/stats.json``): a fixed per-cell overhead (the
  cheapest recorded cell) plus the rest times the ratio of the two sizes. An epoch of every method here is one pass over the training
  pairs, so its cost grows about linearly with them; the number of epochs to convergence is
  assumed to stay the same, which is the estimate's main uncertainty;
* **unknown** — no recorded cell of that (kind, method): listed, and not counted.

The stages outside the cell scheduler (fetch, prepare, split, fingerprint, report) add the largest
wall time recorded for them (``upstream_wall_seconds`` + ``report_wall_seconds``). The cells are then packed onto ``--jobs`` workers longest first (what
``recx repro`` does with its own estimates) to give the expected wall time. Prints the total, the
core-hours per scenario and the cells that were scaled; ``--out`` writes it as JSON.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.config import load_params  # noqa: E402
from bench.profiles import profile_params  # noqa: E402

DEFAULT_COSTS = ("benchmarks/results/repro-default.json", "benchmarks/results/repro-paper-cheapest.json")
RUN_STAGE = re.compile(r"^run-(?P<kind>[a-z_]+)@(?P<rest>.+)-(?P<seed>\d+)$")


def read_costs(paths: list[Path]) -> list[dict[str, float]]:
    """Stage seconds of each recorded run (one mapping per file)."""
    runs = []
    for path in paths:
        data = json.loads(path.read_text())
        runs.append(data.get("from_scratch", {}).get("stage_seconds", data))
    return runs


def _upstream_seconds(path: Path) -> float:
    """Wall seconds of a recorded run's stages outside the cell scheduler (0 when not recorded)."""
    run = json.loads(path.read_text()).get("from_scratch", {})
    return float(run.get("upstream_wall_seconds", 0.0)) + float(run.get("report_wall_seconds", 0.0))


def cells(params) -> list[tuple[str, str, str, int]]:
    """``(kind, scenario, method, seed)`` of every run cell of a profile."""
    return [
        (kind, scenario, method, seed)
        for kind, grid in params.grids.items()
        for scenario in grid.scenarios
        for method in grid.methods
        for seed in params.seeds
    ]


def stage(kind: str, scenario: str, method: str, seed: int) -> str:
    return f"run-{kind}@{scenario}-{method}-{seed}"


def dataset_size(prepared: Path, dataset: str) -> int | None:
    stats = prepared / dataset / "stats.json"
    return json.loads(stats.read_text())["n_interactions"] if stats.is_file() else None


def estimate(params, recorded: dict[str, float], prepared: Path) -> tuple[list[dict], list[str]]:
    """One row per cell with its seconds and how they were obtained; the (kind, method) pairs
    without any recorded cell."""
    by_pair: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name, seconds in recorded.items():
        m = RUN_STAGE.match(name)
        if m:  # method names have no '-', scenario names may
            scenario, method = m["rest"].rsplit("-", 1)
            by_pair[(m["kind"], method)][scenario].append(seconds)
    datasets = {sc.dataset for sc in params.scenarios.values()}
    n_rows = {d: dataset_size(prepared, d) for d in datasets}  # one stats.json read per dataset
    size = {s: n_rows[sc.dataset] for s, sc in params.scenarios.items()}
    overhead = min(recorded.values(), default=0.0)  # the cheapest cell: process start, reads, writes
    rows, unknown = [], set()
    for kind, scenario, method, seed in cells(params):
        name = stage(kind, scenario, method, seed)
        if name in recorded:
            rows.append({"stage": name, "scenario": scenario, "seconds": recorded[name], "how": "recorded"})
            continue
        refs = by_pair.get((kind, method), {})
        refs = {s: v for s, v in refs.items() if size.get(s)}
        if not refs or not size.get(scenario):
            unknown.add(f"{kind}/{method}")
            continue
        ref = min(refs, key=lambda s: _distance(params.scenario(s), size[s], params.scenario(scenario), size[scenario]))
        ratio = size[scenario] / size[ref]
        seconds = overhead + max(sum(refs[ref]) / len(refs[ref]) - overhead, 0.0) * ratio
        rows.append({"stage": name, "scenario": scenario, "seconds": round(seconds, 1),
                     "how": f"scaled from {ref} ({ratio:.2f}x)"})
    return rows, sorted(unknown)


def _distance(ref, ref_size: int, target, target_size: int) -> tuple:
    """Which recorded scenario a cell is scaled from: the same dataset first, then the same split
    protocol (a given release split, leave-one-out, withheld cold users ...), then the same
    cold-user share, then the closest dataset size (log ratio)."""
    same = lambda field: getattr(ref, field, None) == getattr(target, field, None)  # noqa: E731
    return (not same("dataset"), not same("split"), not same("beta"), abs(math.log(target_size / ref_size)))


def pack(seconds: list[float], jobs: int) -> float:
    """Makespan of longest-first greedy packing onto ``jobs`` workers."""
    workers = [0.0] * max(jobs, 1)
    for s in sorted(seconds, reverse=True):
        heapq.heappush(workers, heapq.heappop(workers) + s)
    return max(workers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--costs", type=Path, action="append", help="measure_repro results (repeatable)")
    ap.add_argument("--prepared", type=Path, default=REPO / "datasets" / "prepared",
                    help="prepared datasets (their stats.json give the sizes)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    params = load_params(profile_params(args.profile, REPO))
    paths = args.costs or [REPO / p for p in DEFAULT_COSTS]
    runs = read_costs(paths)
    recorded: dict[str, float] = {}
    for run in runs:
        recorded.update({k: v for k, v in run.items() if k.startswith("run-")})
    # fetch/prepare/split/fingerprint and the report run outside the cell scheduler: their wall time
    # is recorded separately (measure_repro results); the largest recorded one is used
    upstream = max((_upstream_seconds(path) for path in paths), default=0.0)
    rows, unknown = estimate(params, recorded, args.prepared)
    cell_seconds = [r["seconds"] for r in rows]
    wall = upstream + pack(cell_seconds, args.jobs)
    per_scenario: dict[str, float] = defaultdict(float)
    for r in rows:
        per_scenario[r["scenario"]] += r["seconds"]
    n_scaled = sum(r["how"] != "recorded" for r in rows)
    print(f"profile {args.profile}: {len(rows)} cells ({len(rows) - n_scaled} recorded, {n_scaled} scaled), "
          f"{sum(cell_seconds) / 3600:.1f} core-hours of cells + {upstream / 60:.1f} min of upstream stages and report")
    print(f"expected wall time with --jobs {args.jobs}: {wall / 3600:.1f} h ({wall / 60:.0f} min)")
    for scenario, seconds in sorted(per_scenario.items(), key=lambda kv: -kv[1]):
        how = {r["how"] for r in rows if r["scenario"] == scenario}
        print(f"  {scenario:34s} {seconds / 3600:6.2f} core-h  {'; '.join(sorted(how))}")
    if unknown:
        print(f"no recorded cell, not counted: {', '.join(unknown)}")
    if args.out:
        args.out.write_text(json.dumps({
            "profile": args.profile, "jobs": args.jobs, "expected_wall_seconds": round(wall),
            "cell_core_seconds": round(sum(cell_seconds)), "upstream_wall_seconds": round(upstream),
            "unknown": unknown, "cells": rows,
        }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
