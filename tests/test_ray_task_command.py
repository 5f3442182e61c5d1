"""The body of a Ray task (:func:`bench.ray_executor.run_command`) without Ray: when the worker
process dies, the stage command dies with it, also when the shell in between forks the command
instead of exec-ing it (dash, or any shell running more than one command), and also when the
worker dies while the command is still starting up."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.ray_executor import _parent_of
from tests.conftest import REPO_ROOT
from tests.procs import alive, gone_within

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")

#: the stage command: `recx`'s own entry point (bench.cli.main, which honours RECX_DIE_WITH_PARENT),
#: with a parser whose command writes the pid file and blocks; argv: pid file, startup delay (s)
COMMAND = (
    "import os, sys, time\n"
    "time.sleep(float(sys.argv[2]))  # interpreter start-up and imports, stretched\n"
    "import bench.cli as cli\n"
    "class Blocking:\n"
    "    def parse_args(self, argv):\n"
    "        open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "        time.sleep(60)\n"
    "cli._parser = Blocking\n"
    "cli.main([])\n"
)


def _worker(tmp_path: Path, startup: float) -> tuple[subprocess.Popen, Path]:
    """A stand-in Ray worker: a process running run_command over a shell that must fork."""
    pidfile, script = tmp_path / "command.pid", tmp_path / "command.py"
    script.write_text(COMMAND)
    shell = "/bin/dash" if Path("/bin/dash").exists() else "/bin/sh"
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(pidfile))} {startup}; true"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-c",
         "from bench.ray_executor import run_command; "
         f"run_command([{shell!r}, '-c', {command!r}], {str(tmp_path)!r}, {env!r}, {str(tmp_path / 'log')!r})"],
        cwd=REPO_ROOT,
    )
    return worker, pidfile


def _command_pids(worker_pid: int) -> list[int]:
    """The stage commands below the worker: children of its children whose command line names
    command.py (read from /proc: `ps` truncates command lines to $COLUMNS)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        children.setdefault(_parent_of(int(proc.name)), []).append(int(proc.name))
    found = []
    for shell in children.get(worker_pid, []):
        for pid in children.get(shell, []):
            try:
                if b"command.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                continue
    return found


def test_the_stage_command_dies_with_its_worker_through_a_forking_shell(tmp_path):
    worker, pidfile = _worker(tmp_path, startup=0)
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "log").read_text()
            time.sleep(0.05)
        command = int(pidfile.read_text())
        assert alive(command)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        assert gone_within(command, 10), "the stage command outlived its Ray worker"
    finally:
        worker.kill()
        if pidfile.exists() and pidfile.read_text() and alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_a_command_whose_worker_died_during_its_startup_kills_itself(tmp_path):
    worker, pidfile = _worker(tmp_path, startup=3)
    command = None
    try:
        deadline = time.monotonic() + 30
        while not (found := _command_pids(worker.pid)):
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "log").read_text()
            time.sleep(0.05)
        command = found[0]
        os.kill(worker.pid, signal.SIGKILL)  # while the command sleeps before importing bench.cli
        worker.wait()
        assert gone_within(command, 15), "an orphaned stage command ran on"
        assert not pidfile.exists(), "the orphan got as far as running its command"
    finally:
        worker.kill()
        if command is not None and alive(command):
            os.kill(command, signal.SIGKILL)
