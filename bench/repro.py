"""``recx repro --jobs N``: the whole DVC pipeline, with independent stages spread over N processes.

``dvc repro`` runs one stage at a time. The run cells (``run@``, ``run-mtl@``, ``run-cdr-warm@``,
``run-cdr-cold@``) and the ``tune@`` stages do not depend on each other, and each of them uses one
core (torch methods default to ``num_threads: 1``), so on an N-core machine N of them can run at once.
DVC's documented way to do that is several ``dvc repro`` processes on independent stages: each
releases the repository lock while its command runs and ``--wait-for-lock`` makes the others queue
for the lock instead of failing. This module only orders those processes; DVC still decides what is
out of date, runs the commands, restores from its run cache and writes ``dvc.lock``.

1. one ``dvc status`` names the stale stages; if upstream stages (fetch, prepare, split) are among
   them, one ``dvc repro`` runs those and a second ``dvc status`` sees what their new outputs made
   stale;
2. for each parallel phase (``tune``, then the cells), ``jobs`` workers take the stale stages, and
   the cells of every ``tune@`` stage that just ran, from a queue (largest split first), one
   ``dvc repro --single-item`` each; BLAS/OpenMP threads per worker are ``cores // jobs`` so the
   workers do not oversubscribe;
3. ``dvc repro --single-item report`` rebuilds the report (a plain ``dvc repro`` instead, should
   ``dvc status`` have named a stage outside these phases).

A pipeline that is up to date costs one ``dvc status``. A stage that fails is named at the end with
its log (``artifacts/logs/<stage>.log``), the cells of a failed ``tune@`` stage are not started, and
the other stages go on; every finished stage is already in ``dvc.lock`` and DVC's cache, so an
interrupted or failed run loses nothing and the next ``recx repro`` (or plain ``dvc repro``)
continues from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.config import Params
from bench.errors import RecxError
from bench.report.collect import RUN_STAGES

__all__ = ["ReproResult", "StageJob", "parallel_phases", "repro"]

#: stages run by one ``dvc repro`` before the parallel phases (cheap, and everything depends on them)
UPSTREAM = ("fetch", "prepare", "split", "fingerprint")


@dataclass(frozen=True)
class StageJob:
    """One stage of a parallel phase: its DVC name, the split folder whose size orders the queue and
    the stage of an earlier phase whose output it reads (a cell's ``tune@`` stage), if any."""

    name: str
    split: str
    after: str | None = None


@dataclass(frozen=True)
class ReproResult:
    """What :func:`repro` ran: stage name -> seconds for the parallel stages, the failures, and the
    stages not started because a stage they read from failed."""

    seconds: dict[str, float]
    failed: tuple[str, ...]
    skipped: tuple[str, ...] = ()


def parallel_phases(params: Params) -> list[list[StageJob]]:
    """The parallel phases of the pipeline ``params`` declares: the ``tune@`` stages of the top-N
    grid, then every run cell. Stage names follow dvc.yaml's ``foreach``/``matrix`` keys."""
    tune = []
    if "topn" in params.grids:
        grid = params.grids["topn"]
        tune = [StageJob(f"tune@{s}-{m}", s) for s in grid.scenarios for m in grid.methods]
    # seed-major within a scenario, so that workers running at the same time usually train
    # different methods (the memory-heavy ones are not paired with themselves)
    cells = [
        StageJob(
            f"{RUN_STAGES[params.scenario(s).kind]}@{s}-{m}-{seed}", s,
            after=f"tune@{s}-{m}" if kind == "topn" else None,
        )
        for kind, grid in params.grids.items()
        for s in grid.scenarios
        for seed in params.seeds
        for m in grid.methods
    ]
    return [tune, cells]


def repro(
    params: Params,
    *,
    jobs: int,
    root: Path = Path("."),
    logs: Path = Path("artifacts/logs"),
    echo: Callable[[str], None] = print,
) -> ReproResult:
    """Bring the whole pipeline up to date with ``jobs`` parallel DVC processes (see module doc).

    Raises:
        RecxError: when an upstream stage or the final ``dvc repro`` fails (the message names it).
    """
    if jobs < 1:
        raise RecxError(f"--jobs must be >= 1, got {jobs}")
    root = Path(root)
    env = _worker_env(jobs)
    stale = _stale(root, env)
    upstream = sorted(n for n in stale if n.split("@")[0] in UPSTREAM)
    if upstream:
        _dvc(["repro", *upstream], root, env, what="the upstream stages (fetch, prepare, split)")
        # the stages reading their outputs are only seen as stale once those outputs have changed
        stale = _stale(root, env)
    phases = parallel_phases(params)
    seconds: dict[str, float] = {}
    failed: list[str] = []
    skipped: list[str] = []
    for phase in phases:
        todo = []
        for job in phase:
            if job.after in failed:
                skipped.append(job.name)
            elif job.name in stale or job.after in seconds:
                todo.append(job)
        if not todo:
            continue
        splits = {job.split for job in todo}
        size = {split: _folder_bytes(root / "artifacts" / "splits" / split) for split in splits}
        todo.sort(key=lambda job: -size[job.split])
        echo(f"recx repro: {len(todo)} stale stages over {jobs} workers")
        done, bad = _run_queue([job.name for job in todo], jobs, root, env, root / logs, echo)
        seconds.update(done)
        failed.extend(bad)
    if failed:
        listing = "\n".join(f"  {name}: see {root / logs / (name + '.log')}" for name in failed)
        if skipped:
            listing += f"\n  not started, as a stage they read failed: {', '.join(skipped)}"
        echo(
            f"recx repro: {len(failed)} stage(s) failed; the others are done and recorded in "
            f"dvc.lock:\n{listing}\nfix the cause and rerun `recx repro` (or `dvc repro`)"
        )
        return ReproResult(seconds, tuple(failed), tuple(skipped))
    rest = stale - {job.name for phase in phases for job in phase} - set(upstream)
    if not (upstream or seconds or rest):
        echo("recx repro: every stage is up to date")
    elif rest <= {"report"}:
        _dvc(["repro", "--single-item", "report"], root, env, what="the report stage", capture=False)
    else:  # a stage outside the phases above: let DVC bring everything up to date
        _dvc(["repro"], root, env, what="the final `dvc repro`", capture=False)
    return ReproResult(seconds, ())


# ----------------------------------------------------------------------------- helpers
def _worker_env(jobs: int) -> dict[str, str]:
    """The environment of every DVC process: the interpreter's bin folder first on PATH (so stage
    commands find ``recx``) and ``cores // jobs`` BLAS/OpenMP threads per worker."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def _dvc_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def _dvc(args: Sequence[str], root: Path, env: dict[str, str], *, what: str, capture: bool = True) -> str:
    proc = subprocess.run(
        _dvc_command(args), cwd=root, env=env, text=True,
        stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout or "").splitlines()[-20:])
        raise RecxError(f"{what} failed (`dvc {' '.join(args)}`, exit {proc.returncode})\n{tail}")
    return proc.stdout or ""


def _stale(root: Path, env: dict[str, str]) -> set[str]:
    """Names of the stages ``dvc status`` reports as changed."""
    out = _dvc(["status", "--json"], root, env, what="`dvc status`")
    start = out.find("{")
    return set(json.loads(out[start:]) if start >= 0 else {})


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _run_queue(
    names: list[str], jobs: int, root: Path, env: dict[str, str], logs: Path,
    echo: Callable[[str], None],
) -> tuple[dict[str, float], list[str]]:
    """Run ``dvc repro --single-item <name>`` for every name, ``jobs`` at a time, in queue order."""
    logs.mkdir(parents=True, exist_ok=True)
    queue = list(reversed(names))
    lock = threading.Lock()
    seconds: dict[str, float] = {}
    failed: list[str] = []
    total = len(names)

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                name = queue.pop()
            start = time.perf_counter()
            with open(logs / f"{name}.log", "w") as log:
                rc = subprocess.run(
                    _dvc_command(["--wait-for-lock", "repro", "--single-item", name]),
                    cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                ).returncode
            took = time.perf_counter() - start
            with lock:
                seconds[name] = took
                if rc != 0:
                    failed.append(name)
                echo(f"[{len(seconds):>4}/{total}] {'ok    ' if rc == 0 else 'FAILED'} {took:7.1f} s  {name}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(jobs, total))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seconds, failed
