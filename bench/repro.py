"""``recx repro --jobs N``: the whole DVC pipeline, with independent stages spread over N processes.

``dvc repro`` runs one stage at a time. The run cells (``run-<kind>@``, one stage per scenario kind of
:mod:`bench.kinds`) and the ``tune-<kind>@`` stages do not depend on each other, and each of them uses one
core (torch methods default to ``num_threads: 1``), so on an N-core machine N of them can run at once.
DVC still decides what is out of date (``dvc status``) and records every finished stage in
``dvc.lock`` and its cache; for the parallel phases this module runs the stage commands itself and
records them through :class:`bench.dvcstages.Ledger` (DVC's own calls, made once in this process, the
lock file written in batches): one ``dvc repro --single-item`` process per stage cost ~5.6 s of DVC
bookkeeping per stage, more than most cells' work.

1. the ledger's ``dvc status`` names the stale stages; the upstream ones (fetch, prepare, split)
   run with the always-run ``fingerprint`` in one ``dvc repro`` whose output (DVC's lines, download
   bars) is shown and kept in ``artifacts/logs/upstream.log``; when only the fingerprints are due
   (a code edit, a new method) the ledger runs that stage itself; a second status then sees what
   their outputs (new data, changed code fingerprints) made stale;
2. for each parallel phase (``tune``, then the cells), ``jobs`` workers take the stale stages, and
   the cells of every ``tune-<kind>@`` stage that just ran, from a queue (largest split first): each
   stage is restored from DVC's run cache or its command runs, its output in
   ``artifacts/logs/<stage>.log``; BLAS/OpenMP
   threads per worker are ``cores // jobs``. A live line shows cells done / total, the running
   cells (with their last epoch line), elapsed time and an ETA from the recorded costs of earlier
   runs (``artifacts/logs/durations.json``, else ``reports/cells.csv``);
3. the ledger runs the ``report`` stage — also when cells failed, so the report marks them (a plain
   ``dvc repro`` instead, should ``dvc status`` have named a stage outside these phases and nothing
   have failed) — and writes ``dvc.lock`` once more. An incremental run (one new method) thus loads
   DVC once and writes ``dvc.lock`` once, where separate ``dvc status`` / ``dvc repro`` processes
   parsed the pipeline five times and rewrote the lock three times.

``--executor ray`` (:mod:`bench.ray_executor`) runs the commands of step 2 as Ray tasks on a local
or existing cluster instead of local processes; steps 1 and 3, the ledger and the failure handling
below are the same.

A failed stage is never recorded in ``dvc.lock`` (``recx run`` exits non-zero on a failed cell), so
the next ``recx repro`` runs exactly the failed stages again. A cell whose process was killed
(SIGKILL, e.g. by the out-of-memory killer) leaves no record; this module writes a ``status:
failed`` record in its place so the report marks it, and DVC still sees the cell as stale. The run
ends with a summary of every failure (first line of the error, log path) and a non-zero exit.
Interrupting ``recx repro`` (Ctrl-C, SIGTERM) stops every worker's whole process group and writes
every stage already finished into ``dvc.lock``; even a killed driver loses nothing finished, as each
stage is in DVC's run cache the moment it ends.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bench.config import Params
from bench.dvcstages import Ledger
from bench.errors import RecxError
from bench import kinds

__all__ = ["Interrupted", "ReproResult", "StageJob", "parallel_phases", "repro", "status"]

#: stages run by one ``dvc repro`` before the parallel phases (cheap, and everything depends on them)
UPSTREAM = ("fetch", "prepare", "pair", "split", "fingerprint")

#: the always-run stage that hashes the code of every cell path (``dvc status`` always lists it)
ALWAYS = ("fingerprint",)

#: seconds a stage costs beyond its cell's fit + predict time (process start, imports, recording)
STAGE_OVERHEAD_S = 3.0

#: the log line of a stage restored from DVC's run cache instead of run
RESTORED_LINE = "restored from DVC's run cache (same deps and params as an earlier run):"

#: without a terminal, a line about the running cells every this many seconds
HEARTBEAT_S = 60.0


class Interrupted(RecxError):
    """``recx repro`` was stopped by a signal; its workers have been stopped too."""

    def __init__(self, signum: int):
        self.exit_code = 128 + signum
        super().__init__(
            f"interrupted by {signal.Signals(signum).name}; every worker was stopped. Finished stages "
            "are recorded in dvc.lock; rerun `recx repro` to continue"
        )


@dataclass(frozen=True)
class StageJob:
    """One stage of a parallel phase: its DVC name, the split folder whose size orders the queue, the
    stage of an earlier phase whose output it reads (a cell's ``tune-<kind>@`` stage), and for a run cell
    its method and output folder (relative to the project root)."""

    name: str
    split: str
    after: str | None = None
    method: str | None = None
    out: str | None = None


@dataclass(frozen=True)
class ReproResult:
    """What :func:`repro` ran: stage name -> seconds for the parallel stages, the failures, the
    stages not started because a stage they read from failed, and one line per failure."""

    seconds: dict[str, float]
    failed: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)


def parallel_phases(params: Params) -> list[list[StageJob]]:
    """The parallel phases of the pipeline ``params`` declares: the ``tune-<kind>@`` stages of the
    tunable kinds' grids, then every run cell. Stage names follow dvc.yaml's ``matrix`` keys
    (:mod:`bench.pipeline`)."""
    tunable = {k for k in params.grids if kinds.get(k).tunable}
    tune = [
        StageJob(f"{kinds.get(k).tune_stage}@{s}-{m}", s, method=m)
        for k in tunable for s in params.grids[k].scenarios for m in params.grids[k].methods
    ]
    # seed-major within a scenario, so that workers running at the same time usually train
    # different methods (the memory-heavy ones are not paired with themselves)
    cells = [
        StageJob(
            kinds.get(kind).stage(s, m, seed), s,
            after=f"{kinds.get(kind).tune_stage}@{s}-{m}" if kind in tunable else None,
            method=m, out=f"artifacts/runs/{s}/{m}/{seed}",
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
    echo: Callable[[str], None] = lambda line: print(line, flush=True),
    only: Iterable[str] | None = None,
    live: bool | None = None,
    executor: str = "local",
    address: str | None = None,
) -> ReproResult:
    """Bring the pipeline up to date with ``jobs`` stage commands at a time (see module doc).

    Args:
        only: run the tune stages and cells of these methods only (upstream stages and the report
            as usual); the other stale cells stay stale.
        live: rewrite one progress line on stderr (default: when stderr is a terminal).
        executor: ``local`` (processes on this machine) or ``ray`` (the tune stages and cells as
            Ray tasks, :mod:`bench.ray_executor`; upstream stages and the report stay local).
        address: with ``ray``, an existing cluster to join (None: start a local one with ``jobs``
            CPUs, bound to 127.0.0.1).

    Raises:
        RecxError: when an upstream stage fails (the message names it and its log).
        Interrupted: on SIGINT / SIGTERM, after stopping every worker.
    """
    if jobs < 1:
        raise RecxError(f"--jobs must be >= 1, got {jobs}")
    root = Path(root)
    logs = root / logs
    logs.mkdir(parents=True, exist_ok=True)
    only = set(only) if only is not None else None
    phases = parallel_phases(params)
    if only is not None:  # a typo stops here, before any stage runs
        _check_only(only, phases)
        phases = [[j for j in phase if j.method in only] for phase in phases]
    if executor not in EXECUTORS:
        raise RecxError(f"--executor must be one of {list(EXECUTORS)}, got {executor!r}")
    env = _worker_env(jobs)
    seconds: dict[str, float] = {}
    failed: list[str] = []
    skipped: list[str] = []
    errors: dict[str, str] = {}
    with _Processes() as procs, _launcher(executor, address, jobs, procs) as launcher:
        with procs.critical():
            ledger = Ledger(root).open()
        try:
            echo("recx repro: checking what is stale (dvc status)")
            stale = ledger.stale()
            upstream = sorted(n for n in stale if n.split("@")[0] in UPSTREAM)
            shown = [n for n in upstream if n not in ALWAYS]
            if shown:  # data stages: DVC's own `dvc repro`, whose download bars are shown
                echo(f"recx repro: running {len(shown)} upstream stage(s) and the code fingerprints")
                with procs.critical():
                    ledger.close()
                rc = procs.stream(_dvc_command(["repro", *upstream]), root, env, logs / "upstream.log")
                if rc != 0:
                    raise RecxError(
                        f"the upstream stages (fetch, prepare, pair, split, fingerprint) failed (`dvc repro`, "
                        f"exit {rc}); see {logs / 'upstream.log'}"
                    )
                with procs.critical():
                    ledger = Ledger(root).open()
            elif upstream:
                echo("recx repro: refreshing the code fingerprints")
                for name in upstream:
                    if _run_one(name, ledger, procs, root, env, logs, relay=False) != 0:
                        raise RecxError(f"the code fingerprints failed (stage {name}); see "
                                        f"{logs / (name + '.log')}")
            if upstream:  # the stages reading their outputs are only seen as stale now
                stale = ledger.stale() - set(ALWAYS)
            # the plan: stale stages, plus the cells of every tune stage that will run (they read
            # its new output); counted up front so that progress and ETA cover every phase
            planned: set[str] = set()
            plan = []
            for phase in phases:
                todo = [j for j in phase if j.name in stale or j.after in planned]
                planned.update(j.name for j in todo)
                plan.append(todo)
            progress = _Progress(
                jobs=jobs, estimates=_estimates(root, logs), echo=echo,
                live=sys.stderr.isatty() if live is None else live,
            )
            progress.add([j for todo in plan for j in todo])
            restored: set[str] = set()
            for todo in plan:
                blocked = [j for j in todo if j.after in failed]
                skipped.extend(j.name for j in blocked)
                progress.drop(blocked)
                todo = [j for j in todo if j.after not in failed]
                if not todo:
                    continue
                splits = {job.split for job in todo}
                size = {s: _folder_bytes(root / "artifacts" / "splits" / s) for s in splits}
                todo.sort(key=lambda job: -size[job.split])
                where = "Ray tasks" if executor == "ray" else "workers"
                echo(f"recx repro: {len(todo)} stale stages over {jobs} {where} (logs in {logs})")
                done, bad, back = _run_queue(todo, jobs, root, env, logs, procs, progress, ledger,
                                             launcher=launcher, params=params)
                seconds.update(done)
                failed.extend(bad)
                restored |= back
            progress.finish()
            _save_durations(logs, {n: s for n, s in seconds.items()
                                   if n not in failed and n not in restored})

            rest = stale - {job.name for phase in parallel_phases(params) for job in phase} - set(upstream)
            errors.update({name: _first_error(root, logs, name, phases) for name in failed})
            fallback = False
            if not (shown or seconds or rest):
                echo("recx repro: every stage is up to date")
            elif failed or only is not None or rest <= {"report"}:
                # the report is rebuilt from the cells that exist; failed cells are marked in it
                echo("recx repro: rebuilding the report")
                if _run_one("report", ledger, procs, root, env, logs, relay=True) != 0:
                    failed.append("report")
                    errors["report"] = _log_error(logs / "report.log")
            else:
                fallback = True
        finally:
            with procs.critical():  # every finished stage into dvc.lock, also on an interrupt
                ledger.close()
        if fallback:  # a stage outside the phases above: let DVC bring everything up to date
            rc = procs.stream(_dvc_command(["repro"]), root, env, logs / "final.log")
            if rc != 0:
                failed.append("final")
                errors["final"] = _log_error(logs / "final.log")
    if failed:
        listing = "\n".join(
            f"  {name}: {errors.get(name) or 'failed'}\n      log: {logs / (name + '.log')}"
            for name in failed
        )
        if skipped:
            listing += f"\n  not started, as a stage they read failed: {', '.join(skipped)}"
        echo(
            f"recx repro: {len(failed)} stage(s) failed; they are not recorded in dvc.lock, the "
            f"others are:\n{listing}\nfix the cause and rerun `recx repro`: it reruns exactly the "
            "failed stages"
        )
    return ReproResult(seconds, tuple(failed), tuple(skipped), errors)


def status(root: Path = Path(".")) -> set[str]:
    """The stale stages after the code fingerprints are refreshed (plain ``dvc status`` lists
    ``fingerprint`` as always changed and sees a code edit only once that stage has rewritten the
    fingerprint files). ``recx repro`` runs these, plus the cells of every stale ``tune-<kind>@`` stage."""
    root = Path(root)
    env = _worker_env(1)
    logs = root / "artifacts" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with _Processes() as procs:
        with procs.critical():
            ledger = Ledger(root).open()
        try:
            for name in ALWAYS:
                if _run_one(name, ledger, procs, root, env, logs, relay=False) != 0:
                    raise RecxError(f"stage {name} failed; see {logs / (name + '.log')}:\n"
                                    + _read_tail(logs / f"{name}.log", 4096))
            return ledger.stale() - set(ALWAYS)
        finally:
            with procs.critical():
                ledger.close()


def _run_one(name: str, ledger: Ledger, procs: _Processes, root: Path, env: dict[str, str],
             logs: Path, *, relay: bool) -> int:
    """Run one stage outside the parallel phases through ``ledger`` (restored from the run cache
    where it can be), its output in ``logs/<name>.log`` (and on stderr with ``relay``); returns its
    exit status (1 when DVC could not prepare or record it, the reason in the log)."""
    log = logs / f"{name}.log"
    try:
        with procs.critical():
            command = ledger.begin(name, env)
    except RecxError as exc:
        log.write_text(f"ERROR: {exc}\n")
        return 1
    if command is None:
        log.write_text(f"{RESTORED_LINE} {name}\n")
        return 0
    args, cmd_env = command
    rc = procs.stream(args, root, cmd_env, log, relay=relay,
                      header=f"Running stage '{name}':\n> {args[-1]}\n")
    if rc == 0:
        try:
            with procs.critical():
                ledger.finished(name)
        except RecxError as exc:
            with open(log, "a") as tail:
                tail.write(f"ERROR: {exc}\n")
            return 1
    return rc


def _check_only(only: set[str], phases: list[list[StageJob]]) -> None:
    known = {j.method for phase in phases for j in phase}
    unknown = sorted(only - known)
    if unknown:
        raise RecxError(
            f"--only: {unknown} has no cell in this profile's grids; methods with cells are "
            f"{sorted(m for m in known if m)}"
        )


# ----------------------------------------------------------------------------- processes
class _Processes:
    """Every child process this run started (each in its own session, so a signal reaches its
    whole tree: ``dvc`` and the ``recx`` command under it). SIGINT / SIGTERM stop them all and raise
    :class:`Interrupted` in the main thread."""

    def __init__(self) -> None:
        self._running: set[subprocess.Popen] = set()
        self._previous: dict[int, object] = {}
        self._deferred: list[int] | None = None

    def __enter__(self) -> _Processes:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig in self._previous:  # a second Ctrl-C must not cut the shutdown short
            signal.signal(sig, signal.SIG_IGN)
        try:
            self.stop_all()
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._deferred is not None:
            self._deferred.append(signum)
        else:
            raise Interrupted(signum)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """Hold SIGINT / SIGTERM back while DVC writes the cache or ``dvc.lock``; raise
        :class:`Interrupted` for them afterwards."""
        if self._deferred is not None:  # nested
            yield
            return
        self._deferred = []
        try:
            yield
        finally:
            pending, self._deferred = self._deferred, None
            if pending:
                raise Interrupted(pending[0])

    def start(self, args: Sequence[str], root: Path, env: dict[str, str], out: IO, *,
              resources: object = None) -> subprocess.Popen:
        """Start ``args`` as a local process (``resources``: only the Ray executor uses them)."""
        proc = subprocess.Popen(args, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self._running.add(proc)
        return proc

    def done(self, proc: subprocess.Popen) -> None:
        self._running.discard(proc)

    def stream(self, args: Sequence[str], root: Path, env: dict[str, str], log: Path, *,
               relay: bool = True, header: str = "") -> int:
        """Run ``args`` to the end, its output kept in ``log`` (after ``header``) and, with
        ``relay``, shown on stderr as it comes (download bars included); returns the exit status."""
        with open(log, "wb") as keep:
            keep.write(header.encode())
            proc = self.start(args, root, env, subprocess.PIPE)
            while chunk := os.read(proc.stdout.fileno(), 65536):
                keep.write(chunk)
                if relay:
                    sys.stderr.buffer.write(chunk)
                    sys.stderr.flush()
            rc = proc.wait()  # on an interrupt the process stays listed, so stop_all() stops it
            proc.stdout.close()
            self.done(proc)
            return rc

    def stop_all(self, grace: float = 5.0) -> None:
        """Stop every running process group: SIGINT (DVC finishes writing ``dvc.lock`` and exits),
        then SIGTERM, then SIGKILL, each after ``grace`` seconds without exit."""
        running = [p for p in self._running if p.poll() is None]
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            for proc in running:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(p.poll() is None for p in running):
                time.sleep(0.1)
            running = [p for p in running if p.poll() is None]
            if not running:
                break


#: where the parallel phases' stage commands run (``recx repro --executor``)
EXECUTORS = ("local", "ray")


@contextlib.contextmanager
def _launcher(executor: str, address: str | None, jobs: int, procs: _Processes):
    """``procs`` itself for the local executor; a connected :class:`bench.ray_executor.RayExecutor`
    (cancelled and disconnected on exit, an interrupt included) for Ray."""
    if executor == "local":
        yield procs
        return
    from bench.ray_executor import RayExecutor

    with RayExecutor(address=address, jobs=jobs) as ray_executor:
        yield ray_executor


def _resources(block) -> dict[str, float] | None:
    from bench.ray_executor import task_resources

    return task_resources(block)


def _worker_env(jobs: int) -> dict[str, str]:
    """The environment of every stage command and DVC process: the interpreter's bin folder first
    on PATH (so stage commands find ``recx``) and ``cores // jobs`` BLAS/OpenMP threads per worker."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def _dvc_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _run_queue(
    todo: list[StageJob], jobs: int, root: Path, env: dict[str, str], logs: Path,
    procs: _Processes, progress: _Progress, ledger: Ledger, *, launcher=None, params: Params | None = None,
) -> tuple[dict[str, float], list[str], set[str]]:
    """Run every job's stage command, ``jobs`` at a time, in queue order, through ``launcher``
    (local processes by default, or Ray tasks); ``ledger`` restores a stage from DVC's run cache
    instead where it can, and records every stage whose command exited 0. Returns the seconds per
    stage, the failed stages and the restored ones."""
    launcher = launcher or procs
    queue = list(reversed(todo))
    running: dict[str, tuple[StageJob, subprocess.Popen, float, IO]] = {}
    seconds: dict[str, float] = {}
    failed: list[str] = []
    restored: set[str] = set()
    try:
        while queue or running:
            while queue and len(running) < jobs:
                job = queue.pop()
                start = time.monotonic()
                log = open(logs / f"{job.name}.log", "w")
                try:
                    with procs.critical():
                        command = ledger.begin(job.name, env)
                except RecxError as exc:
                    log.write(f"ERROR: {exc}\n")
                    log.close()
                    failed.append(job.name)
                    progress.finished(job.name, False, time.monotonic() - start)
                    continue
                if command is None:
                    log.write(f"{RESTORED_LINE} {job.name}\n")
                    log.close()
                    restored.add(job.name)
                    seconds[job.name] = time.monotonic() - start
                    progress.finished(job.name, True, seconds[job.name])
                    continue
                args, cmd_env = command
                log.write(f"Running stage '{job.name}':\n> {args[-1]}\n")
                log.flush()
                block = params.methods.get(job.method) if params is not None and job.method else None
                proc = launcher.start(args, root, cmd_env, log, resources=_resources(block))
                running[job.name] = (job, proc, start, log)
            for name, (job, proc, start, log) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                log.close()
                launcher.done(proc)
                del running[name]
                took = time.monotonic() - start
                seconds[name] = took
                if rc == 0:
                    try:
                        with procs.critical():
                            ledger.finished(name)
                    except RecxError as exc:
                        rc = 1
                        with open(logs / f"{name}.log", "a") as tail:
                            tail.write(f"ERROR: {exc}\n")
                if rc != 0:
                    failed.append(name)
                    _mark_killed(root, logs, job, rc)
                progress.finished(name, rc == 0, took)
            with procs.critical():
                ledger.flush()
            progress.tick({n: (start, logs / f"{n}.log") for n, (_, _, start, _) in running.items()})
            time.sleep(0.2)
    finally:
        for _, proc, _, log in running.values():
            log.close()
    return seconds, failed, restored


# ----------------------------------------------------------------------------- failures
def _mark_killed(root: Path, logs: Path, job: StageJob, returncode: int) -> None:
    """A run cell whose command was killed by a signal (``returncode`` < 0, or 128 + the signal
    from the shell) without writing its record: write a ``failed`` record so the report marks the
    cell (``dvc.lock`` does not record it)."""
    if job.out is None or 0 <= returncode < 128:
        return  # the command exited by itself (its error is in the log)
    record = root / job.out / "record.json"
    if record.exists():
        return
    log = logs / f"{job.name}.log"
    signum = -returncode if returncode < 0 else returncode - 128
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    scenario, method, seed = Path(job.out).parts[-3:]
    message = (
        f"the cell's process was killed by {name} before writing a record (SIGKILL: e.g. the "
        f"out-of-memory killer); see {log}"
    )
    record.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    record.write_text(json.dumps({
        "scenario": scenario, "method": method, "seed": int(seed), "status": "failed",
        "error": {"type": "Killed", "message": message}, "finished": now,
        "written_by": "recx repro (the cell wrote no record)",
    }, indent=2, sort_keys=True) + "\n")


def _first_error(root: Path, logs: Path, name: str, phases: list[list[StageJob]]) -> str:
    """First line of a failed stage's error: from its cell record, else from its log."""
    job = next((j for phase in phases for j in phase if j.name == name), None)
    if job is not None and job.out is not None:
        path = root / job.out / "record.json"
        try:
            message = json.loads(path.read_text()).get("error", {}).get("message") or ""
        except (OSError, ValueError):
            message = ""
        if message:
            return message.strip().splitlines()[0]
    return _log_error(logs / f"{name}.log")


def _log_error(log: Path) -> str:
    lines = [line.strip() for line in _read_tail(log).splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("recx ") and "error:" in line:
            return line
    for line in reversed(lines):
        if line.startswith("ERROR"):
            return line
    return lines[-1] if lines else "no output"


def _read_tail(path: Path, size: int = 65536) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


# ----------------------------------------------------------------------------- progress
def _estimates(root: Path, logs: Path) -> dict[str, float]:
    """Expected seconds per stage: what the last ``recx repro`` measured, else the committed
    report's cell costs (fit + predict + :data:`STAGE_OVERHEAD_S`)."""
    out: dict[str, float] = {}
    cells = root / "reports" / "cells.csv"
    if cells.exists():
        import pandas as pd

        frame = pd.read_csv(cells)
        if {"scenario", "method", "seed", "kind", "fit_seconds", "predict_seconds"} <= set(frame):
            for row in frame.dropna(subset=["fit_seconds"]).itertuples():
                stage = kinds.kinds().get(row.kind)
                if stage:
                    cost = float(row.fit_seconds) + float(row.predict_seconds) + STAGE_OVERHEAD_S
                    if math.isfinite(cost):
                        out[stage.stage(row.scenario, row.method, row.seed)] = cost
    try:
        out.update(json.loads((logs / "durations.json").read_text()))
    except (OSError, ValueError):
        pass
    return out


def _save_durations(logs: Path, seconds: dict[str, float]) -> None:
    if not seconds:
        return
    path = logs / "durations.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known.update({name: round(s, 1) for name, s in seconds.items()})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(sorted(known.items())), indent=1) + "\n")
    tmp.replace(path)


class _Progress:
    """Cells done / total, running cells, elapsed time and ETA: a permanent line per finished stage,
    plus a rewritten live line on a terminal (or a heartbeat line every :data:`HEARTBEAT_S`)."""

    def __init__(self, *, jobs: int, estimates: dict[str, float], echo: Callable[[str], None],
                 live: bool):
        self.total, self.jobs, self.estimates, self.echo, self.live = 0, jobs, estimates, echo, live
        self.start = time.monotonic()
        self.done = 0
        self.pending: dict[str, float] = {}
        self.running: dict[str, tuple[float, Path]] = {}
        self._beat = time.monotonic()
        self._drawn = False

    def add(self, jobs: list[StageJob]) -> None:
        known = [self.estimates[j.name] for j in jobs if j.name in self.estimates]
        default = sorted(known)[len(known) // 2] if known else 30.0
        for job in jobs:
            self.pending[job.name] = self.estimates.get(job.name, default)
        self.total += len(jobs)

    def drop(self, jobs: list[StageJob]) -> None:
        """Jobs that will not run after all (a stage they read failed)."""
        for job in jobs:
            if self.pending.pop(job.name, None) is not None:
                self.total -= 1

    def eta(self) -> float:
        """Seconds left: the remaining work spread over the workers, but never less than the
        longest remaining stage."""
        now = time.monotonic()
        left = [v for n, v in self.pending.items() if n not in self.running]
        left += [max(self.pending.get(n, 0.0) - (now - s), 0.0) for n, (s, _) in self.running.items()]
        return max(sum(left) / max(1, self.jobs), max(left, default=0.0))

    def status(self) -> str:
        elapsed = time.monotonic() - self.start
        return (f"{self.done}/{self.total} done, {len(self.running)} running, elapsed "
                f"{_clock(elapsed)}, ETA {_clock(self.eta())}")

    def finished(self, name: str, ok: bool, seconds: float) -> None:
        self.done += 1
        self.pending.pop(name, None)
        self.running.pop(name, None)
        self._clear()
        self.echo(f"[{self.done:>4}/{self.total}] {'ok    ' if ok else 'FAILED'} {seconds:7.1f} s  "
                  f"{name}   ({self.status()})")

    def tick(self, running: dict[str, tuple[float, Path]]) -> None:
        self.running = running
        now = time.monotonic()
        if self.live:
            names = ", ".join(f"{n} {_clock(now - s)}" for n, (s, _) in running.items())
            line = f"recx repro: {self.status()} | {names}"
            width = 160
            sys.stderr.write("\r" + line[:width].ljust(width if self._drawn else 0))
            sys.stderr.flush()
            self._drawn = True
        elif now - self._beat >= HEARTBEAT_S and running:
            self._beat = now
            lines = [f"recx repro: {self.status()}; running:"]
            for n, (s, log) in running.items():
                last = _last_progress_line(log)
                lines.append(f"  {n} {_clock(now - s)}" + (f"  {last}" if last else ""))
            self.echo("\n".join(lines))

    def finish(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r" + " " * 160 + "\r")
            sys.stderr.flush()
            self._drawn = False


def _last_progress_line(log: Path) -> str:
    for line in reversed(_read_tail(log, 8192).splitlines()):
        if " epoch " in line or " trial " in line:
            return line.strip()[-110:]
    return ""


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0)) if math.isfinite(seconds) else 0
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


