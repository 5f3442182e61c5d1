"""``recx repro --executor ray``: the tune stages and run cells as Ray tasks.

DVC still decides what is stale and records every stage: :mod:`bench.repro` runs the upstream
stages and the report in the driver as always, and for the parallel phases hands each stage's
command (the one DVC would run, prepared by :class:`bench.dvcstages.Ledger`) to :meth:`RayExecutor.start`
instead of starting a local process. A Ray task runs that command in the *same working directory*
(``cwd``: the repository or profile workspace) and appends its output to the stage's log there; the
driver records the stage in ``dvc.lock`` and DVC's cache when the task returns exit status 0, exactly
as for a local process. So every node of a cluster must see the working directory at the same path
(a shared filesystem) and have the same environment (the same ``requirements.lock`` +
``requirements-ray.lock``, at the same interpreter path, and the data: ``RECX_DATA_MIRROR`` or the
already-fetched ``datasets/``).

Failures behave as with local processes: a command that exits non-zero is a failed stage (not
retried, not recorded, listed at the end); a task whose *worker* dies (a killed process, a lost node)
is retried up to ``retries`` times by Ray (run cells write their outputs atomically, so a retry starts
clean); an interrupt cancels every task (``ray.cancel(force=True)`` kills the worker, and the stage
command dies with it). The command is DVC's ``$SHELL -c "recx ..."``: the shell is started with
``PR_SET_PDEATHSIG``, and since a shell such as dash forks ``recx`` instead of exec-ing it (and the
kernel clears that setting in a forked child), ``recx`` asks for the same signal itself when it finds
:data:`DIE_WITH_PARENT_ENV` set (:func:`die_with_parent`): worker dies -> shell dies -> ``recx`` dies,
so no orphaned attempt keeps writing beside its retry (Linux; elsewhere a killed worker's command
runs to its end).

Security: Ray's endpoints were long unauthenticated (the "ShadowRay" job-submission exposure; Ray
2.60 adds token authentication by default). The local cluster this module starts binds every
endpoint to 127.0.0.1 (:data:`LOOPBACK_ENV`; checked after start), with the dashboard and its job
API off; ``--address`` joins an existing cluster, which must live on a private network.

Resources per task: ``num_cpus`` = the method's ``num_threads`` (at least 1), ``num_gpus`` = 1 for
``device: cuda``; Ray then never runs more tasks on a node than it has cores.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.errors import RecxError

__all__ = ["DIE_WITH_PARENT_ENV", "RayExecutor", "die_with_parent", "run_command", "task_resources"]

#: Ray retries of a task whose worker died (not of a command that failed)
RETRIES = 2

#: with "0", Ray binds every endpoint of a local node to the loopback address (its setting for
#: single-machine use, ``ray._private.ray_constants.ENABLE_RAY_CLUSTER``); read at ``import ray``
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def task_resources(block: Mapping[str, Any] | None) -> dict[str, float]:
    """Ray resources of one stage from its method's ``params.yaml`` block."""
    block = block or {}
    cpus = max(1, int(block.get("num_threads") or 1))
    return {"num_cpus": cpus, "num_gpus": 1 if block.get("device") == "cuda" else 0}


#: set by :func:`run_command` in a stage command's environment to the Ray worker's pid: ``recx``
#: then calls :func:`die_with_parent` with it first thing (and removes it from its own environment)
DIE_WITH_PARENT_ENV = "RECX_DIE_WITH_PARENT"

PR_SET_PDEATHSIG = 1


def _libc_prctl() -> Any:
    """``prctl`` of the C library this process runs on (glibc or musl), or None where there is none
    (not Linux). Resolved once at import: ``dlopen`` must not run in a forked child of a
    multithreaded Ray worker (the loader lock may be held by another thread)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def die_with_parent(worker: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux ``PR_SET_PDEATHSIG``; a
    no-op where there is no ``prctl``). ``worker`` is the Ray worker this process belongs to: its
    parent, or its grandparent through a shell that forked it. If the worker is neither any more,
    it died before the request took effect (while this process was starting up), so nobody will
    stop this process: it kills itself instead of running on as an orphan beside the retry."""
    if _PRCTL is None or _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        return
    parent = os.getppid()
    if parent != worker and _parent_of(parent) != worker:
        os.kill(os.getpid(), signal.SIGKILL)


def run_command(args: Sequence[str], cwd: str, env: Mapping[str, str], log: str) -> int:
    """The body of every Ray task: run one stage command to the end in ``cwd``, its output appended
    to ``log``; returns the exit status. The command (DVC's ``$SHELL -c ...``) and the ``recx`` it
    starts die with this worker (:func:`die_with_parent`, Linux)."""
    worker = os.getpid()
    with open(log, "ab") as out:
        out.write(f"[ray worker pid {worker} on {os.uname().nodename}]\n".encode())
        out.flush()
        proc = subprocess.Popen(list(args), cwd=cwd, env={**env, DIE_WITH_PARENT_ENV: str(worker)},
                                stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=functools.partial(die_with_parent, worker))
        return proc.wait()


@dataclass(eq=False)
class _Task:
    """A submitted stage: polled like a ``subprocess.Popen``."""

    ref: Any
    log: str
    ray: Any

    def poll(self) -> int | None:
        ready, _ = self.ray.wait([self.ref], timeout=0)
        if not ready:
            return None
        try:
            return int(self.ray.get(self.ref))
        except self.ray.exceptions.RayError as exc:  # the worker died more often than retried
            with open(self.log, "a") as out:
                out.write(f"ERROR: the Ray task failed after {RETRIES} retries: "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}\n")
            return 1


class RayExecutor:
    """Runs stage commands as Ray tasks (a context manager: connects on enter, cancels and
    disconnects on exit).

    Args:
        address: an existing cluster (``ray://...`` or ``host:port``); None starts a local one with
            ``jobs`` CPUs, bound to 127.0.0.1, dashboard off.
        jobs: CPUs of the local cluster.
        retries: Ray retries of a task whose worker died.
    """

    def __init__(self, *, address: str | None, jobs: int, retries: int = RETRIES):
        self.address, self.jobs, self.retries = address, jobs, retries
        self._running: set[_Task] = set()
        self._ray: Any = None
        self._remote: Any = None

    def __enter__(self) -> RayExecutor:
        local = self.address is None
        if local:  # Ray's own switch for a loopback-only node (read when ray is first imported)
            os.environ.setdefault(LOOPBACK_ENV, "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports to anyone
        # Ray starts its workers at niceness 15 (so the node's own services stay responsive); a
        # stage is the run's main work, at the priority local processes have
        os.environ.setdefault("RAY_worker_niceness", "0")
        try:
            import ray
        except ImportError as exc:
            raise RecxError(
                "--executor ray needs Ray: `pip install recxbench[ray]` (or `make ray`, which installs "
                "the pinned requirements-ray.lock)"
            ) from exc
        common = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if local:
            ray.init(num_cpus=self.jobs, **common)
            ip = ray.nodes()[0]["NodeManagerAddress"]
            if not ip.startswith("127."):
                ray.shutdown()
                raise RecxError(
                    f"the local Ray cluster bound to {ip}, not to 127.0.0.1 (Ray was imported before "
                    f"{LOOPBACK_ENV}=0 could take effect); run `recx repro --executor ray` in a fresh "
                    "process"
                )
        else:
            ray.init(address=self.address, **common)
        self._ray = ray
        self._remote = ray.remote(max_retries=self.retries, retry_exceptions=False)(run_command)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop_all()
        finally:
            if self._ray is not None:
                self._ray.shutdown()

    @property
    def cpus(self) -> int:
        """CPUs the cluster has (what ``recx repro`` keeps busy)."""
        return int(self._ray.cluster_resources().get("CPU", self.jobs))

    def start(self, args: Sequence[str], root: Path, env: dict[str, str], out: IO, *,
              resources: Mapping[str, float] | None = None) -> _Task:
        """Submit one stage command; its log is ``out``'s file (the driver wrote the header)."""
        out.flush()
        options = dict(resources or {"num_cpus": 1})
        ref = self._remote.options(**options).remote(list(args), str(Path(root).resolve()), env, out.name)
        task = _Task(ref, out.name, self._ray)
        self._running.add(task)
        return task

    def done(self, task: _Task) -> None:
        self._running.discard(task)

    def stop_all(self) -> None:
        """Cancel every running task (its worker is killed, and the command with it)."""
        for task in list(self._running):
            try:
                self._ray.cancel(task.ref, force=True)
            except Exception:  # already finished or gone
                pass
        self._running.clear()
