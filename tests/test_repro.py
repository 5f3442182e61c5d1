"""``recx repro``: the parallel phases name real dvc.yaml stages, and a failing stage is reported
while the other stages of its phase still finish and land in dvc.lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench import kinds
from bench import repro as R
from bench.config import load_params
from tests.conftest import REPO_ROOT


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DVC_NO_ANALYTICS="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@localhost",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@localhost",
    )
    return env


def test_parallel_phases_are_the_tune_stages_then_every_cell_of_dvc_yaml():
    params = load_params(REPO_ROOT / "params.yaml")
    tune, cells = R.parallel_phases(params)
    listed = set(
        subprocess.run(
            [sys.executable, "-m", "dvc", "stage", "list", "--name-only"],
            cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, check=True,
        ).stdout.split()
    )
    assert len(cells) == len(params.cells()) > 0
    tune_stages = {k.tune_stage for k in kinds.KINDS.values() if k.tunable}
    assert {j.name for j in tune} == {n for n in listed if n.split("@")[0] in tune_stages}
    cell_stages = {n for n in listed if n.split("@")[0] in {k.run_stage for k in kinds.KINDS.values()}}
    assert {j.name for j in cells} == cell_stages
    assert all(j.split in params.scenarios for j in cells)


@pytest.fixture
def toy_repo(tmp_path: Path) -> Path:
    """A git + DVC project with three independent stages; ``b`` fails."""
    stages = {
        "a": "mkdir -p out && echo a > out/a",
        "b": "echo 'b is broken' && exit 3",
        "c": "mkdir -p out && echo c > out/c",
    }
    dvc_yaml = {
        "stages": {
            **{name: {"cmd": cmd, "outs": [f"out/{name}"]} for name, cmd in stages.items()},
            "report": {"cmd": "mkdir -p rep && ls out > rep/listing", "outs": ["rep"]},
        }
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml))
    env = _env()
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True)
    return tmp_path


def test_failed_stage_is_reported_and_the_others_are_committed(toy_repo, monkeypatch):
    jobs = [R.StageJob(name, split="") for name in ("a", "b", "c")]
    monkeypatch.setattr(R, "parallel_phases", lambda params: [jobs])
    lines: list[str] = []
    result = R.repro(None, jobs=2, root=toy_repo, logs=Path("logs"), echo=lines.append)

    assert result.failed == ("b",)
    assert set(result.seconds) == {"a", "b", "c"}
    assert (toy_repo / "out" / "a").read_text() == "a\n"
    assert (toy_repo / "out" / "c").read_text() == "c\n"
    lock = yaml.safe_load((toy_repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"a", "c", "report"}  # the failure is not recorded
    # the report is rebuilt from what exists, and the failure summary names the error and the log
    assert (toy_repo / "rep" / "listing").read_text().split() == ["a", "c"]
    assert "b is broken" in (toy_repo / "logs" / "b.log").read_text()
    assert any("FAILED" in line and " b   (" in line for line in lines)
    assert "1 stage(s) failed" in lines[-1] and "logs/b.log" in lines[-1]
    assert "  b: " in lines[-1] and result.errors["b"]


def test_jobs_must_be_positive(toy_repo):
    with pytest.raises(R.RecxError, match="--jobs"):
        R.repro(None, jobs=0, root=toy_repo)


def _write_chain(root: Path, split_cmd: str, tune_cmd: str) -> None:
    """split@x -> tune@x -> run@x-0 -> report, each stage copying its input (foreach names, as in
    the real dvc.yaml)."""
    def one(cmd: str, deps: list[str], out: str) -> dict:
        return {"foreach": ["x"], "do": {"cmd": cmd, "deps": deps, "outs": [out]}}

    stages = {
        "split": one(split_cmd, [], "out/s"),
        "tune": one(tune_cmd, ["out/s"], "out/t"),
        "run": {"foreach": ["x-0"], "do": {"cmd": "cat out/t > out/r", "deps": ["out/t"],
                                           "outs": ["out/r"]}},
        "report": {"cmd": "cat out/r > out/rep", "deps": ["out/r"], "outs": ["out/rep"]},
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))


@pytest.fixture
def chain_repo(tmp_path: Path, monkeypatch) -> Path:
    _write_chain(tmp_path, "mkdir -p out && echo S1 > out/s", "cat out/s > out/t")
    env = _env()
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True)
    phases = [[R.StageJob("tune@x", "")], [R.StageJob("run@x-0", "", after="tune@x")]]
    monkeypatch.setattr(R, "parallel_phases", lambda params: phases)
    return tmp_path


def _status(root: Path) -> str:
    return subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=root, env=_env(),
                          capture_output=True, text=True, check=True).stdout.strip()


def test_reruns_exactly_what_changed_and_then_nothing(chain_repo):
    root = chain_repo
    first = R.repro(None, jobs=2, root=root, logs=Path("logs"), echo=lambda _: None)
    assert set(first.seconds) == {"tune@x", "run@x-0"} and first.failed == ()
    assert (root / "out" / "rep").read_text() == "S1\n"
    assert _status(root) == "{}"

    lines: list[str] = []
    again = R.repro(None, jobs=2, root=root, logs=Path("logs"), echo=lines.append)
    assert again.seconds == {} and lines[-1] == "recx repro: every stage is up to date"

    # an upstream change: only after split@x has run does `dvc status` see tune@x as stale
    _write_chain(root, "mkdir -p out && echo S2 > out/s", "cat out/s > out/t")
    assert set(R.repro(None, jobs=2, root=root, logs=Path("logs"), echo=lambda _: None).seconds) == {
        "tune@x", "run@x-0"}
    assert (root / "out" / "rep").read_text() == "S2\n"

    # only the tune stage is stale; its cell still runs because it reads the new tuning output
    _write_chain(root, "mkdir -p out && echo S2 > out/s", "cat out/s out/s > out/t")
    assert set(R.repro(None, jobs=2, root=root, logs=Path("logs"), echo=lambda _: None).seconds) == {
        "tune@x", "run@x-0"}
    assert (root / "out" / "rep").read_text() == "S2\nS2\n"
    assert _status(root) == "{}"


def test_cells_of_a_failed_tune_stage_are_not_started(chain_repo):
    _write_chain(chain_repo, "mkdir -p out && echo S1 > out/s", "echo 'no trial finished'; exit 3")
    lines: list[str] = []
    result = R.repro(None, jobs=2, root=chain_repo, logs=Path("logs"), echo=lines.append)
    # the report is still attempted; here it has no cell output to read, so it fails too
    assert result.failed == ("tune@x", "report") and result.skipped == ("run@x-0",)
    assert set(result.seconds) == {"tune@x"}
    assert "not started, as a stage they read failed: run@x-0" in lines[-1]
    assert not (chain_repo / "out" / "rep").exists()


def test_dvc_reads_yaml_with_libyaml():
    """DVC re-parses params.yaml once per stage in every `dvc status` / `dvc repro`; with the pure
    Python parser that alone doubles the bookkeeping of a 290-stage pipeline (requirements.lock
    pins ruamel.yaml.clib for this)."""
    from ruamel.yaml import YAML

    assert YAML(typ="safe").Parser.__name__ == "CParser", "install ruamel.yaml.clib"


def test_only_runs_the_chosen_methods_cells(toy_repo, monkeypatch):
    jobs = [R.StageJob(name, split="", method=m) for name, m in (("a", "x"), ("b", "y"), ("c", "z"))]
    monkeypatch.setattr(R, "parallel_phases", lambda params: [jobs])
    result = R.repro(None, jobs=2, root=toy_repo, logs=Path("logs"), echo=lambda _: None,
                     only=["x", "z"])
    assert set(result.seconds) == {"a", "c"} and result.failed == ()
    assert (toy_repo / "rep" / "listing").read_text().split() == ["a", "c"]  # report rebuilt
    with pytest.raises(R.RecxError, match=r"--only: \['nope'\] has no cell"):
        R.repro(None, jobs=2, root=toy_repo, logs=Path("logs"), echo=lambda _: None, only=["nope"])


def test_eta_comes_from_recorded_costs(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "cells.csv").write_text(
        "scenario,kind,method,seed,status,fit_seconds,predict_seconds\n"
        "s,topn,ease,0,ok,2.0,1.0\ns,mtl,mmoe,0,ok,30.0,2.0\n"
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "durations.json").write_text('{"run-topn@s-ease-0": 5.5}')
    est = R._estimates(tmp_path, logs)
    assert est["run-topn@s-ease-0"] == 5.5  # measured by the last recx repro wins
    assert est["run-mtl@s-mmoe-0"] == 32.0 + R.STAGE_OVERHEAD_S
    lines: list[str] = []
    progress = R._Progress(jobs=2, estimates=est, echo=lines.append, live=False)
    progress.add([R.StageJob("run-topn@s-ease-0", "s"), R.StageJob("run-mtl@s-mmoe-0", "s"),
                  R.StageJob("run-topn@s-new-0", "s")])
    assert progress.total == 3
    # unknown stage -> the median of the known estimates; ETA = remaining work over the workers
    assert progress.eta() == pytest.approx((5.5 + 2 * (32.0 + R.STAGE_OVERHEAD_S)) / 2)
    progress.finished("run-topn@s-ease-0", True, 5.0)
    assert lines[-1].startswith("[   1/3] ok ") and "1/3 done" in lines[-1] and "ETA" in lines[-1]


def test_measure_repro_reads_the_progress_lines_repro_prints():
    # benchmarks/measure_repro.py times every stage from these lines: a change of their format
    # must not leave its committed stage_seconds silently empty
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        from measure_repro import stage_seconds
    finally:
        sys.path.remove(str(REPO_ROOT / "benchmarks"))
    lines: list[str] = []
    progress = R._Progress(jobs=2, estimates={}, echo=lines.append, live=False)
    progress.add([R.StageJob("run-topn@s-ease-0", "s"), R.StageJob("run-mtl@s-mmoe-1", "s")])
    progress.finished("run-topn@s-ease-0", True, 5.5)
    progress.finished("run-mtl@s-mmoe-1", False, 123.4)
    assert stage_seconds(["recx repro: done", *lines]) == {
        "run-topn@s-ease-0": 5.5, "run-mtl@s-mmoe-1": 123.4,
    }


def test_a_finished_stage_survives_a_killed_driver_through_the_run_cache(tmp_path, monkeypatch):
    """The ledger saves a stage to DVC's cache and run cache the moment its command ends and
    writes dvc.lock in batches; a driver killed before its flush loses nothing finished."""
    from bench.dvcstages import Ledger

    stages = {name: {"cmd": f"cp in {name}.out", "deps": ["in"], "outs": [f"{name}.out"]}
              for name in ("a", "b")}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (tmp_path / "in").write_text("x\n")
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, env=_env(), check=True)
    monkeypatch.chdir(tmp_path.parent)  # the ledger must not depend on the caller's directory

    ledger = Ledger(tmp_path, flush_s=3600).open()
    args, env = ledger.begin("a", _env())
    assert env["DVC_STAGE"] == "a" and args[-1] == "cp in a.out"
    subprocess.run(args, cwd=tmp_path, env=env, check=True)
    ledger.finished("a")
    ledger.flush()  # within flush_s of the start: nothing written yet
    assert not (tmp_path / "dvc.lock").exists()
    ledger._repo.close()  # the driver dies here: no flush

    (tmp_path / "a.out").unlink()
    again = Ledger(tmp_path).open()
    assert again.begin("a", _env()) is None  # restored from the run cache, not run
    assert (tmp_path / "a.out").read_text() == "x\n"
    again.close()
    assert set(yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]) == {"a"}
    stale = _status(tmp_path)
    assert '"a"' not in stale and '"b"' in stale


def test_a_code_edit_runs_in_one_dvc_session_and_writes_the_lock_once(tmp_path, monkeypatch):
    """When only the code fingerprints are due (a method edit, a new method), ``recx repro`` starts
    no DVC process: the ledger refreshes the fingerprints, runs the stale cell and the report, and
    writes dvc.lock once; ``recx status`` works the same way."""
    from dvc.dvcfile import ProjectFile

    stages = {
        "fingerprint": {"cmd": "mkdir -p fp && cp code fp/x", "always_changed": True,
                        "outs": [{"fp": {"cache": False}}]},
        "cell": {"cmd": "cat fp/x > cell.out", "deps": ["fp/x"], "outs": ["cell.out"]},
        "report": {"cmd": "cat cell.out > report.out", "deps": ["cell.out"],
                   "outs": [{"report.out": {"cache": False}}]},
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (tmp_path / "code").write_text("v1\n")
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, env=_env(), check=True)
    monkeypatch.setattr(R, "parallel_phases", lambda params: [[R.StageJob("cell", "")]])
    first = R.repro(None, jobs=1, root=tmp_path, logs=Path("logs"), echo=lambda _: None)
    assert set(first.seconds) == {"cell"} and not first.failed

    def no_dvc_process(args):
        raise AssertionError(f"a DVC process was started: dvc {' '.join(args)}")

    writes: list[int] = []
    dump = ProjectFile.dump_stages
    monkeypatch.setattr(R, "_dvc_command", no_dvc_process)
    monkeypatch.setattr(ProjectFile, "dump_stages",
                        lambda self, *a, **k: (writes.append(1), dump(self, *a, **k))[1])
    assert R.status(tmp_path) == set()
    (tmp_path / "code").write_text("v2\n")
    assert R.status(tmp_path) == {"cell"}
    writes.clear()
    again = R.repro(None, jobs=1, root=tmp_path, logs=Path("logs"), echo=lambda _: None)
    assert set(again.seconds) == {"cell"} and not again.failed
    assert (tmp_path / "report.out").read_text() == "v2\n"
    assert "Running stage 'fingerprint'" in (tmp_path / "logs" / "fingerprint.log").read_text()
    assert len(writes) == 1, "dvc.lock must be written once per run"
    assert R.status(tmp_path) == set()
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"fingerprint", "cell", "report"}
