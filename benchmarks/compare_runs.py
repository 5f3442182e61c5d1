"""Do two runs give the same numbers? Compare the metrics of run records with another set of runs
(exactly) or with a committed report (at its 6 significant digits).

    .venv/bin/python benchmarks/compare_runs.py RUNS --against OTHER_RUNS
    .venv/bin/python benchmarks/compare_runs.py RUNS --cells reports/cells.csv

``RUNS`` and ``OTHER_RUNS`` are ``artifacts/runs`` folders (``<scenario>/<method>/<seed>/record.json``).
With ``--against`` every ``ok`` cell present in both is compared metric by metric, bit for bit (the
way to show that a change leaves the numbers alone: run the cells with the old and the new commit on
the same machine). With ``--cells`` each record is matched with its row of a report's ``cells.csv``.
Cost columns (seconds, memory) are never compared. Prints one line per difference and a summary;
exits 1 when anything differs or nothing was compared.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

Key = tuple[str, str, int]


def _records(runs: Path) -> dict[Key, Mapping[str, float]]:
    out = {}
    for path in sorted(Path(runs).glob("*/*/*/record.json")):
        record = json.loads(path.read_text())
        if record.get("status") == "ok":
            out[(record["scenario"], record["method"], int(record["seed"]))] = record["metrics"]
    return out


def _committed(cells: Path) -> dict[Key, Mapping[str, float]]:
    frame = pd.read_csv(cells)
    frame = frame[frame["status"] == "ok"].set_index(["scenario", "method", "seed"])
    return {key: row.dropna().to_dict() for key, row in frame.iterrows()}


def _nan(v: float) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _exact(a: float, b: float) -> bool:
    return (_nan(a) and _nan(b)) or a == b


def _six_digits(a: float, b: float) -> bool:
    return (_nan(a) and _nan(b)) or float(f"{a:.6g}") == float(f"{b:.6g}")


def compare(
    ours: Mapping[Key, Mapping[str, float]], theirs: Mapping[Key, Mapping[str, float]],
    same: Callable[[float, float], bool], *, all_ours: bool,
) -> tuple[int, int, list[str]]:
    """Cells compared, values compared, and one line per difference. ``all_ours``: a cell of
    ``ours`` missing from ``theirs`` is a difference (else only common cells are compared)."""
    n_cells = n_values = 0
    problems = []
    for key, metrics in sorted(ours.items()):
        name = "/".join(map(str, key))
        if key not in theirs:
            if all_ours:
                problems.append(f"{name}: not in the reference")
            continue
        n_cells += 1
        for metric, value in sorted(metrics.items()):
            if metric not in theirs[key]:
                problems.append(f"{name}: {metric} missing from the reference")
                continue
            n_values += 1
            if not same(float(value), float(theirs[key][metric])):
                problems.append(f"{name}: {metric} {value!r} != {theirs[key][metric]!r}")
    return n_cells, n_values, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--against", type=Path, help="another runs folder: compare bit for bit")
    group.add_argument("--cells", type=Path, help="a report's cells.csv: compare at 6 digits")
    args = parser.parse_args(argv)
    ours = _records(args.runs)
    if args.against is not None:
        reference, what = _records(args.against), str(args.against)
        n_cells, n_values, problems = compare(ours, reference, _exact, all_ours=False)
    else:
        reference, what = _committed(args.cells), str(args.cells)
        n_cells, n_values, problems = compare(ours, reference, _six_digits, all_ours=True)
    for line in problems:
        print(line)
    verdict = "identical" if n_cells and not problems else "DIFFERENT"
    print(f"{n_cells} cells, {n_values} metric values compared with {what}: {verdict}"
          + (f" ({len(problems)} differences)" if problems else ""))
    return 0 if verdict == "identical" else 1


if __name__ == "__main__":
    sys.exit(main())
