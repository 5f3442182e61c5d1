"""Wall time and peak memory of the whole pipeline, from scratch, as ``make repro`` runs it.

    .venv/bin/python benchmarks/measure_repro.py --profile default --jobs 2
    .venv/bin/python benchmarks/measure_repro.py --profile ci --jobs 2 --add-method itemknn
    .venv/bin/python benchmarks/measure_repro.py --profile ci --jobs 2 --executor ray --out ...
    .venv/bin/python benchmarks/measure_repro.py --existing /tmp/recx-measure-XXXX \
        --method-file benchmarks/example_method.py --add-method my_method

Clones the current commit into a scratch folder (with ``profiles/<profile>.yaml`` as params.yaml
unless the profile is ``default``), gives it an EMPTY DVC cache (so nothing is restored from the run
cache), runs ``recx repro --jobs N`` there and samples, twice a second, the resident memory of the
whole process tree (DVC and every stage). With ``--add-method M`` it then appends ``M`` to the top-N
grid (``--method-file`` first copies a method module into the clone's ``methods/``) and times the
incremental ``recx repro``; ``--existing DIR`` skips the clone and the from-scratch run and times only
that increment in a scratch folder an earlier measurement kept. Results go to
``benchmarks/results/repro-<profile>.json`` (wall seconds, peak total and peak single-process RSS,
seconds per stage, commit, cores, load average before the run).

The scratch clone runs the clone's own code (``PYTHONPATH`` points at it), and the data come from
``RECX_DATA_MIRROR`` as in the tests. Not part of ``make test``: the default profile takes most of an
hour on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]


def _tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """(sum, max) resident bytes over ``proc`` and all its descendants."""
    total = biggest = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        biggest = max(biggest, rss)
    return total, biggest


#: ``recx repro``'s line per finished stage (``bench.repro._Progress.finished``):
#: ``[  20/251] ok         9.6 s  STAGE   (20/251 done, ...)``
FINISHED_LINE = re.compile(r"^\[\s*\d+/\d+\]\s+(?:ok|FAILED)\s+([\d.]+) s\s+(\S+)")


def stage_seconds(lines: list[str]) -> dict[str, float]:
    """Seconds per finished stage, read from ``recx repro``'s output lines."""
    return {m.group(2): float(m.group(1)) for m in map(FINISHED_LINE.match, lines) if m}


def timed_repro(ws: Path, env: dict[str, str], jobs: int, executor: str = "local") -> dict:
    """Run ``recx repro --jobs [--executor]`` in ``ws``; wall seconds, peak RSS and per-stage seconds."""
    recx = Path(sys.executable).parent / "recx"
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(recx), "repro", "--jobs", str(jobs), "--executor", executor], cwd=ws, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    peak = {"total": 0, "single": 0}
    watched = psutil.Process(proc.pid)

    def sample() -> None:
        while proc.poll() is None:
            total, single = _tree_rss(watched)
            peak["total"], peak["single"] = max(peak["total"], total), max(peak["single"], single)
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = []
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line.rstrip("\n"))
    proc.wait()
    sampler.join()
    wall = time.perf_counter() - start
    stages = stage_seconds(lines)
    return {
        "returncode": proc.returncode,
        "wall_seconds": round(wall, 1),
        "peak_rss_total_mb": round(peak["total"] / 2**20, 1),
        "peak_rss_single_process_mb": round(peak["single"] / 2**20, 1),
        "n_parallel_stages": len(stages),
        "stage_seconds": stages,
    }


def _default_out(profile: str) -> Path:
    return REPO / "benchmarks" / "results" / f"repro-{profile}.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default", help="default, or a name in profiles/")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--add-method", help="then add this top-N method and time the incremental rerun")
    ap.add_argument("--method-file", type=Path, help="module to copy into methods/ before --add-method")
    ap.add_argument("--keep", type=Path, help="scratch folder to use and keep (default: temporary)")
    ap.add_argument("--existing", type=Path, help="time only --add-method in this kept scratch folder")
    ap.add_argument("--executor", choices=("local", "ray"), default="local",
                    help="recx repro --executor (ray: a local Ray cluster with --jobs CPUs)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    env = dict(os.environ)
    env.setdefault("RECX_DATA_MIRROR", str(REPO.parent / "shared" / "datasets"))
    if args.existing:
        ws = args.existing
        result = json.loads((args.out or _default_out(args.profile)).read_text())
    else:
        ws = args.keep or Path(tempfile.mkdtemp(prefix="recx-measure-"))
        if ws.exists() and any(ws.iterdir()):
            sys.exit(f"{ws} is not empty; pass an empty or new folder to --keep")
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
        subprocess.run(["git", "clone", "-q", str(REPO), str(ws)], check=True)
        if args.profile != "default":
            shutil.copy(ws / "profiles" / f"{args.profile}.yaml", ws / "params.yaml")
    env.update(
        PYTHONPATH=str(ws), DVC_NO_ANALYTICS="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    if not args.existing:
        subprocess.run([sys.executable, "-m", "dvc", "config", "--local", "cache.dir",
                        str(ws / ".cache")], cwd=ws, env=env, check=True)
        result = {
            "profile": args.profile, "jobs": args.jobs, "executor": args.executor, "commit": commit,
            "cores": os.cpu_count(), "load_avg_1min_before": os.getloadavg()[0], "scratch": str(ws),
            "from_scratch": timed_repro(ws, env, args.jobs, args.executor),
        }
    if args.add_method:
        if args.method_file:
            shutil.copy(args.method_file, ws / "methods" / args.method_file.name)
        params = yaml.safe_load((ws / "params.yaml").read_text())
        if args.add_method in params["grid"]["topn"]["methods"]:
            sys.exit(f"{args.add_method} is already in {ws / 'params.yaml'}'s top-N grid: measure in a "
                     "folder without it (remove it from the grid and its artifacts/runs folders, then "
                     "`recx repro` there)")
        params["grid"]["topn"]["methods"].append(args.add_method)
        params["methods"].setdefault(args.add_method, {})
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        code = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ws, capture_output=True, text=True,
                              check=True).stdout.strip()
        result["incremental"] = {"added": args.add_method, "commit": code,
                                 **timed_repro(ws, env, args.jobs, args.executor)}
    out = args.out or _default_out(args.profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result["from_scratch"].items() if k != "stage_seconds"}))
    if "incremental" in result:
        print(json.dumps({k: v for k, v in result["incremental"].items() if k != "stage_seconds"}))
    runs = [result["from_scratch"], *([result["incremental"]] if "incremental" in result else [])]
    return 0 if all(run["returncode"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
