"""`recx repro --executor ray` (issue 19) on the real ci grid: a local Ray cluster (2 CPUs, bound to
127.0.0.1) runs the tune stages and cells, DVC records them, and the report equals the local
executor's (timestamps and cost columns aside) with `recx status` clean; a Ray worker SIGKILLed in
the middle of a cell is retried by Ray and the run still completes. Skipped where Ray is not
installed (`make ray` / `pip install recxbench[ray]`; .ci/run installs it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.ray_executor import task_resources
from tests.conftest import REPO_ROOT
from tests.procs import gone_within
from tests.scratch import scratch_checkout, sh

ray = pytest.importorskip("ray", reason="Ray is an optional extra: `make ray` installs requirements-ray.lock")

pytestmark = pytest.mark.e2e

#: columns of cells.csv / results.csv that describe this run (cost, time, the scratch checkout's
#: commit), not its result
RUN_COLUMNS = ("fit_seconds", "predict_seconds", "peak_rss_mb", "started", "finished", "commit")


def _table(ws: Path, name: str) -> pd.DataFrame:
    table = pd.read_csv(ws / "reports" / name)
    table = table.drop(columns=[c for c in table.columns if c.startswith(RUN_COLUMNS)])
    keys = [c for c in ("scenario", "method", "seed") if c in table.columns]
    return table.sort_values(keys).reset_index(drop=True)


def _status(ws: Path, env: dict[str, str]) -> str:
    return sh(["recx", "status"], ws, env).stdout


@pytest.fixture(scope="module")
def local_and_ray(tmp_path_factory, mirror):
    """The ci profile run once by the local executor and once through a local Ray cluster."""
    out = {}
    for name, extra in (("local", []), ("ray", ["--executor", "ray"])):
        ws, env = scratch_checkout(tmp_path_factory.mktemp(f"recx-{name}"), mirror,
                                   REPO_ROOT / "profiles" / "ci.yaml")
        run = sh(["recx", "repro", "--jobs", "2", *extra], ws, env)
        out[name] = (ws, env, run.stdout + run.stderr)
    return out


def test_the_ray_executor_gives_the_local_executors_report_and_a_clean_status(local_and_ray):
    (local, _, _), (ws, env, output) = local_and_ray["local"], local_and_ray["ray"]
    assert "over 2 Ray tasks" in output, output
    assert re.search(r"\[ray worker pid \d+ on ", (ws / "artifacts/logs/run-topn@ml100k-topn-ease-0.log").read_text())
    for name in ("cells.csv", "results.csv"):
        pd.testing.assert_frame_equal(_table(ws, name), _table(local, name))
    assert (ws / "reports/significance.csv").read_bytes() == (local / "reports/significance.csv").read_bytes()
    assert "every stage is up to date" in _status(ws, env)


#: appended to methods/mf.py: the first `recx run` of an mf cell started by a Ray worker SIGKILLs
#: that worker one second into the cell (fault injection from inside the cell, so the kill lands
#: mid-cell however fast or slow the machine is). The worker is the nearest of the cell's three
#: closest ancestors whose command line names Ray: its parent, or its grandparent when DVC's
#: `$SHELL -c` forks instead of exec-ing (dash, CI's /bin/sh). The marker file (worker pid, this
#: process's pid, the cell's arguments) makes it happen once. The killed attempt must then die with
#: its worker (the worker -> shell -> recx chain of PR_SET_PDEATHSIG); if it is still alive 30 s
#: later it writes `<marker>.survived` and exits, and the test fails either way.
KILL_MY_RAY_WORKER_ONCE = """

def _kill_my_ray_worker_once(marker={marker!r}):
    import os, signal, sys, threading, time

    def parent_of(pid):
        with open(f"/proc/{{pid}}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])

    def cmdline(pid):
        with open(f"/proc/{{pid}}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").lower()

    if "run" not in sys.argv[1:2]:
        return
    try:
        worker = os.getppid()
        for _ in range(3):
            if "ray" in cmdline(worker):
                break
            worker = parent_of(worker)
        else:
            return
    except (OSError, ValueError, IndexError):
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"{{worker}} {{os.getpid()}} {{' '.join(sys.argv[2:])}}".encode())
    os.close(fd)
    threading.Timer(1.0, os.kill, (worker, signal.SIGKILL)).start()
    time.sleep(30)
    open(marker + ".survived", "w").write(str(os.getpid()))
    os._exit(1)


_kill_my_ray_worker_once()
"""


def test_a_killed_ray_worker_is_retried_and_the_run_completes(local_and_ray, tmp_path):
    ws, env, _ = local_and_ray["ray"]
    method, marker = ws / "methods" / "mf.py", tmp_path / "killed"
    text = method.read_text()
    method.write_text(text + KILL_MY_RAY_WORKER_ONCE.format(marker=str(marker)))
    try:
        run = subprocess.run(["recx", "repro", "--jobs", "2", "--executor", "ray"], cwd=ws, env=env,
                             capture_output=True, text=True, timeout=900)
        output = run.stdout + run.stderr
        assert marker.exists(), f"no mf cell ran in a Ray worker:\n{output}"
        killed_pid, attempt, scenario, _, seed = marker.read_text().split()[:5]  # then the options
        assert gone_within(int(attempt), 10) and not Path(f"{marker}.survived").exists(), (
            "the killed worker's cell process outlived it")
        assert run.returncode == 0, output
        (cell,) = (ws / "artifacts/logs").glob(f"run-*@{scenario}-mf-{seed}.log")
        pids = re.findall(r"\[ray worker pid (\d+)", cell.read_text())
        assert killed_pid in pids and len(pids) >= 2, pids  # the killed attempt, then the retry
        record = json.loads((ws / f"artifacts/runs/{scenario}/mf/{seed}/record.json").read_text())
        assert record["status"] == "ok"
        assert "every stage is up to date" in _status(ws, env)
    finally:
        method.write_text(text)


def test_task_resources_follow_the_method_block():
    assert task_resources({}) == {"num_cpus": 1, "num_gpus": 0}
    assert task_resources({"num_threads": 4, "device": "cuda"}) == {"num_cpus": 4, "num_gpus": 1}
    assert task_resources(None) == {"num_cpus": 1, "num_gpus": 0}


def test_the_local_cluster_binds_to_loopback_with_the_dashboard_off():
    """In a fresh process (as `recx repro` is): every listening socket of the Ray processes is on
    127.0.0.1 and no dashboard runs; and when Ray was imported too early to bind to loopback, the
    executor refuses to run instead of exposing the cluster."""
    probe = """
import json, psutil
from bench.ray_executor import RayExecutor
with RayExecutor(address=None, jobs=1) as executor:
    addrs, dashboard = set(), False
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "dashboard.py" in line:  # Ray keeps a minimal head process without web server or job API
            dashboard |= "--minimal" not in line or "--disable-frontend" not in line
        if "ray" in line or "raylet" in line or "gcs_server" in line:
            try:
                addrs |= {c.laddr.ip for c in proc.net_connections("tcp") if c.status == "LISTEN"}
            except psutil.Error:
                pass
    import urllib.request
    try:
        urllib.request.urlopen("http://127.0.0.1:8265/api/jobs/", timeout=3)
        jobs_api = True
    except OSError:
        jobs_api = False
    print(json.dumps({"cpus": executor.cpus, "addrs": sorted(addrs), "dashboard": dashboard,
                      "jobs_api": jobs_api}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=180,
                         cwd=REPO_ROOT, env=env)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["cpus"] == 1 and not seen["dashboard"] and not seen["jobs_api"]
    assert seen["addrs"] and set(seen["addrs"]) <= {"127.0.0.1", "::ffff:127.0.0.1"}, seen

    early = "import ray\nfrom bench.ray_executor import RayExecutor\nRayExecutor(address=None, jobs=1).__enter__()"
    out = subprocess.run([sys.executable, "-c", early], capture_output=True, text=True, timeout=180,
                         cwd=REPO_ROOT, env=env)
    assert out.returncode != 0 and "not to 127.0.0.1" in out.stderr
