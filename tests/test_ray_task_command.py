"""The body of a Ray task (:func:`bench.ray_executor.run_command`) without Ray: when the worker
process dies, the stage command dies with it, also when the shell in between forks the command
instead of exec-ing it (dash, or any shell running more than one command)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: the stage command's process: honours RECX_DIE_WITH_PARENT as `recx` does, then blocks
GRANDCHILD = (
    "import os, sys, time\n"
    "from bench.ray_executor import DIE_WITH_PARENT_ENV, die_with_parent\n"
    "if os.environ.get(DIE_WITH_PARENT_ENV): die_with_parent()\n"
    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "time.sleep(60)\n"
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_the_stage_command_dies_with_its_worker_through_a_forking_shell(tmp_path):
    pidfile, script = tmp_path / "command.pid", tmp_path / "command.py"
    script.write_text(GRANDCHILD)
    shell = "/bin/dash" if Path("/bin/dash").exists() else "/bin/sh"
    command = f"{sys.executable} {script} {pidfile}; true"  # '; true': every shell must fork
    worker = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from bench.ray_executor import run_command; "
         f"run_command([{shell!r}, '-c', {command!r}], {str(tmp_path)!r}, "
         f"{{'PATH': '/usr/bin:/bin', 'PYTHONPATH': {str(REPO_ROOT)!r}}}, {str(tmp_path / 'log')!r})"],
        cwd=REPO_ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "log").read_text()
            time.sleep(0.05)
        command_pid = int(pidfile.read_text())
        assert _alive(command_pid)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        deadline = time.monotonic() + 10
        while _alive(command_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(command_pid), "the stage command outlived its Ray worker"
    finally:
        worker.kill()
        if pidfile.exists() and pidfile.read_text() and _alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
