"""End to end, on real mirrored MovieLens-100K (ci profile) in a scratch checkout whose code the pipeline
runs: code is a dependency (a method edit reruns exactly its cells, a helper edit stales its
dependents, a documentation edit stales nothing), a failure is never cached (a raising method fails
its cell, `recx repro` exits non-zero with a summary and reruns exactly that cell after the fix), a
SIGKILLed cell is marked in the rebuilt report, SIGTERM of `recx repro` leaves no worker, and
`make repro PROFILE=ci` runs the profile in its own workspace without touching reports/."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO_ROOT
from tests.scratch import scratch_checkout, sh

pytestmark = pytest.mark.e2e

SCENARIO = "ml100k-topn"


def cells(method: str) -> set[str]:
    return {f"tune-topn@{SCENARIO}-{method}", f"run-topn@{SCENARIO}-{method}-0"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory, mirror) -> tuple[Path, dict[str, str]]:
    ws, env = scratch_checkout(tmp_path_factory.mktemp("recx-repro"), mirror,
                               REPO_ROOT / "profiles" / "ci.yaml")
    sh(["recx", "repro", "--jobs", "2"], ws, env)
    return ws, env


def recx_status(ws: Path, env: dict[str, str]) -> set[str]:
    out = sh(["recx", "status"], ws, env).stdout.split("\n")
    return {line for line in out if line and not line.startswith("recx status:")}


def ran(output: str) -> set[str]:
    """Stages a `recx repro` ran, from its per-stage lines."""
    return set(re.findall(r"\] (?:ok|FAILED) +[\d.]+ s +(\S+)", output))


def edit(ws: Path, rel: str, old: str, new: str) -> None:
    path = ws / rel
    text = path.read_text()
    assert old in text, f"{rel} no longer contains {old!r}; update the test"
    path.write_text(text.replace(old, new, 1))


def revert(ws: Path, env: dict[str, str], *rels: str) -> None:
    sh(["git", "checkout", "--", *rels], ws, env)


def record(ws: Path, method: str) -> dict:
    return json.loads((ws / f"artifacts/runs/{SCENARIO}/{method}/0/record.json").read_text())


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_documentation_edit_stales_nothing(repo):
    ws, env = repo
    edit(ws, "methods/ease.py", '"""``ease``: Embarrassingly', '"""``ease`` (edited docs): Embarrassingly')
    edit(ws, "methods/ease.py", "from __future__ import annotations\n",
         "from __future__ import annotations\n\n# a comment added by the e2e test\n")
    try:
        assert recx_status(ws, env) == set()
    finally:
        revert(ws, env, "methods/ease.py")


def test_method_edit_reruns_exactly_its_cells(repo):
    ws, env = repo
    before = record(ws, "ease")["metrics"]
    edit(ws, "methods/ease.py", "reg: float = 500.0", "reg: float = 5000.0")
    try:
        assert recx_status(ws, env) == cells("ease")
        out = sh(["recx", "repro", "--jobs", "2"], ws, env)
        assert ran(out.stdout) == cells("ease"), out.stdout
        assert record(ws, "ease")["metrics"] != before  # the edit reached the numbers
        assert recx_status(ws, env) == set()
    finally:
        revert(ws, env, "methods/ease.py")
    out = sh(["recx", "repro", "--jobs", "2"], ws, env)
    assert ran(out.stdout) == cells("ease")
    assert record(ws, "ease")["metrics"] == before  # same code, same seed -> same numbers


def test_shared_code_edit_stales_every_dependent(repo):
    ws, env = repo
    edit(ws, "methods/_torch.py", "__all__ = [", "_EDITED_BY_E2E = 1\n__all__ = [")
    try:
        assert recx_status(ws, env) == cells("mf")  # only mf imports the torch helpers
    finally:
        revert(ws, env, "methods/_torch.py")
    edit(ws, "bench/evaluate/ranking.py", "__all__ = [", "_EDITED_BY_E2E = 1\n__all__ = [")
    try:
        assert recx_status(ws, env) == cells("pop") | cells("ease") | cells("mf")
    finally:
        revert(ws, env, "bench/evaluate/ranking.py")
    assert recx_status(ws, env) == set()


def test_make_repro_profile_runs_in_its_own_workspace(repo):
    ws, env = repo
    reports, lock = digest(ws / "reports"), (ws / "dvc.lock").read_bytes()
    venv = ws / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.prefix))
    # -o: never (re)install into the test's interpreter from the scratch copy
    out = sh(["make", "-o", ".venv/.installed", "repro", "PROFILE=ci", "JOBS=2"], ws, env)
    assert "profile 'ci' runs in" in out.stderr
    results = (ws / "workspaces/ci/reports/results.md").read_text()
    assert all(f"`{m}`" in results for m in ("pop", "ease", "mf"))
    assert digest(ws / "reports") == reports and (ws / "dvc.lock").read_bytes() == lock
    assert not [line for line in sh(["git", "status", "--porcelain"], ws, env).stdout.splitlines()
                if "workspaces" in line]  # git-ignored

    bad = sh(["recx", "repro", "--profile", "nope"], ws, env, check=False)
    assert bad.returncode == 2 and "unknown profile 'nope'" in bad.stderr and "ci" in bad.stderr
    removed = sh(["recx", "repro", "--params", "profiles/tuned.yaml"], ws, env, check=False)
    assert removed.returncode == 2 and "--params" in removed.stderr  # refused, never ignored


def test_failing_method_fails_its_cell_and_reruns_after_the_fix(repo):
    ws, env = repo
    edit(ws, "methods/naive.py", "        counts = np.bincount(data.matrix.indices, minlength=data.n_items)",
         '        raise RuntimeError("boom from the e2e test")')
    try:
        out = sh(["recx", "repro", "--jobs", "2"], ws, env, check=False)
        assert out.returncode != 0
        summary = out.stdout[out.stdout.index("stage(s) failed"):]
        assert f"run-topn@{SCENARIO}-pop-0: boom from the e2e test" in summary
        log = ws / f"artifacts/logs/run-topn@{SCENARIO}-pop-0.log"
        assert str(log) in summary
        assert "Traceback" in log.read_text() and "RuntimeError: boom" in log.read_text()
        assert record(ws, "pop")["status"] == "failed"
        results = (ws / "reports/results.md").read_text()  # rebuilt, with the cell marked
        assert f"`{SCENARIO}/pop/0`: **failed** — boom from the e2e test" in results
        assert f"run-topn@{SCENARIO}-pop-0" in recx_status(ws, env)  # not recorded as up to date
    finally:
        revert(ws, env, "methods/naive.py")
    out = sh(["recx", "repro", "--jobs", "2"], ws, env)
    assert {s for s in ran(out.stdout) if s.startswith("run-topn@")} == {f"run-topn@{SCENARIO}-pop-0"}
    assert record(ws, "pop")["status"] == "ok"
    assert "Incomplete cells" not in (ws / "reports/results.md").read_text()


def _descendants_matching(proc: psutil.Process, *words: str) -> list[psutil.Process]:
    out = []
    for child in proc.children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if all(w in cmd for w in words) and any(part.endswith("recx") for part in cmd):
            out.append(child)
    return out


def _repro_until(ws: Path, env: dict[str, str], *words: str):
    """Start `recx repro` (output in a file, so a full pipe never blocks it) and wait until one of
    its descendants is a `recx` command with all of ``words``; returns the process, its output file
    and those descendants."""
    out = open(ws.parent / "repro-under-test.log", "w+")
    proc = subprocess.Popen(["recx", "repro", "--jobs", "2"], cwd=ws, env=env, text=True,
                            stdout=out, stderr=subprocess.STDOUT)
    parent = psutil.Process(proc.pid)
    deadline, found = time.monotonic() + 180, []
    while not found and time.monotonic() < deadline and proc.poll() is None:
        found = _descendants_matching(parent, *words)
        time.sleep(0.05)
    return proc, out, found


def _output(proc: subprocess.Popen, out) -> str:
    proc.wait(timeout=300)
    out.seek(0)
    return out.read()


def test_sigkilled_cell_is_marked_and_the_report_rebuilt(repo):
    ws, env = repo
    edit(ws, "methods/ease.py", "__all__ = [", "_EDITED_BY_E2E = 1\n__all__ = [")
    try:
        proc, out, killed = _repro_until(ws, env, "run", "ease")
        for cell in killed:
            cell.send_signal(signal.SIGKILL)  # as the out-of-memory killer would
        output = _output(proc, out)
        assert killed, output
        assert proc.returncode != 0
        assert "killed by SIGKILL" in output
        rec = record(ws, "ease")
        assert rec["status"] == "failed" and rec["error"]["type"] == "Killed"
        results = (ws / "reports/results.md").read_text()
        assert f"`{SCENARIO}/ease/0`: **failed** — the cell's process was killed by SIGKILL" in results
        assert f"run-topn@{SCENARIO}-ease-0" in recx_status(ws, env)
    finally:
        revert(ws, env, "methods/ease.py")
    sh(["recx", "repro", "--jobs", "2"], ws, env)
    assert record(ws, "ease")["status"] == "ok"


def test_sigterm_stops_every_worker(repo):
    ws, env = repo
    edit(ws, "methods/mf.py", "__all__ = [", "_EDITED_BY_E2E = 1\n__all__ = [")
    try:
        proc, out, workers = _repro_until(ws, env, "mf")
        assert workers, "no mf worker started"
        parent = psutil.Process(proc.pid)
        tree = parent.children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        output = _output(proc, out)
        assert proc.returncode == 128 + signal.SIGTERM, output
        assert "interrupted by SIGTERM" in output
        _, alive = psutil.wait_procs(tree, timeout=15)
        assert not alive, [p.cmdline() for p in alive if p.is_running()]
    finally:
        revert(ws, env, "methods/mf.py")
    assert os.path.exists(ws / "dvc.lock")
