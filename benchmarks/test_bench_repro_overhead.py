"""What ``recx repro`` adds to every stage it runs, beyond the stage's own command.

A DVC project with as many stages as the default profile (250), each a no-op command with one
dependency and one output, all stale. Measured side by side in one run:

- ``recx repro``'s executor (:func:`bench.repro.repro` with its stage ledger: the command runs
  directly, DVC's save / commit after it, ``dvc.lock`` written in batches), over every stage;
- the previous way, one ``dvc --wait-for-lock repro --single-item <stage>`` process per stage, over
  a sample of the same stages (each rewrites the whole lock file).

Both run with ``--jobs 1`` so that the figure is CPU seconds of bookkeeping per stage; the ratio is
recorded in ``extra_info``.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_repro_overhead.py --benchmark-only -s``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bench import repro as R

N_STAGES = 250
SAMPLE = 12  # stages timed the old way (each costs seconds)


def _env() -> dict[str, str]:
    return {
        **os.environ, "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@localhost",
        "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@localhost",
    }


def _project(root: Path) -> list[str]:
    names = [f"cell-{i:03d}" for i in range(N_STAGES)]
    stages = {n: {"cmd": f"cp in out/{n}", "deps": ["in"], "outs": [f"out/{n}"]} for n in names}
    stages["report"] = {"cmd": "echo done > listing", "outs": ["listing"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (root / "in").write_text("x\n")
    (root / "out").mkdir()
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=root, env=_env(), check=True)
    return names


def test_per_stage_bookkeeping(benchmark, tmp_path, monkeypatch):
    names = _project(tmp_path)
    monkeypatch.setattr(R, "parallel_phases", lambda params: [[R.StageJob(n, "") for n in names]])

    # the previous executor on a sample, with a full lock file (as late in a run)
    result = R.repro(None, jobs=1, root=tmp_path, logs=Path("logs"), echo=lambda line: None)
    assert not result.failed
    old: list[float] = []
    for name in names[:SAMPLE]:
        (tmp_path / "in").write_text(f"{name}\n")  # stale again
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "--single-item", name],
                       cwd=tmp_path, env=_env(), check=True, capture_output=True)
        old.append(time.perf_counter() - t0)

    (tmp_path / "in").write_text("y\n")  # every stage stale again

    def run() -> None:
        out = R.repro(None, jobs=1, root=tmp_path, logs=Path("logs"), echo=lambda line: None)
        assert not out.failed and len(out.seconds) == N_STAGES

    t0 = time.perf_counter()
    benchmark.pedantic(run, rounds=1, iterations=1)
    new = (time.perf_counter() - t0) / N_STAGES
    old_median = sorted(old)[len(old) // 2]
    benchmark.extra_info.update(
        stages=N_STAGES, seconds_per_stage=new, dvc_repro_single_item_seconds_per_stage=old_median,
        ratio=old_median / new,
    )
    print(f"recx repro: {new:.3f} s per stage over {N_STAGES} stages; one `dvc repro --single-item` "
          f"per stage: {old_median:.2f} s (median of {SAMPLE}); {old_median / new:.0f}x")
    stale = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=tmp_path,
                           env=_env(), capture_output=True, text=True, check=True).stdout
    assert stale.strip() in ("{}", ""), f"not every stage was recorded: {stale[:300]}"
    assert new < old_median, "the executor must cost less per stage than one dvc process per stage"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "--benchmark-only", "-s"]))
