"""``benchmarks/large_pair.py`` at 1 % of the Movies_and_TV x CDs_and_Vinyl shape: the generated
categories go through the real ``pair`` and ``split`` code, each stage in its own process, with
positive seconds and peak RSS recorded.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_large_pair.py --benchmark-only`` (not part
of ``make test``). The full size is ``benchmarks/large_pair.py`` without ``--scale``.
"""

from __future__ import annotations

import json

from benchmarks.large_pair import STAGES, main


def test_large_pair_small(benchmark, tmp_path):
    out = tmp_path / "large-pair.json"
    argv = ["--scale", "0.01", "--out", str(out), "--keep", str(tmp_path / "scratch")]
    assert benchmark.pedantic(main, args=(argv,), rounds=1, iterations=1, warmup_rounds=0) == 0
    result = json.loads(out.read_text())
    assert list(result["stages"]) == list(STAGES)
    for name, stage in result["stages"].items():
        assert stage["status"] == "ok" and stage["seconds"] > 0 and stage["peak_rss_mb"] > 0, (name, stage)
    pair, split = result["stages"]["pair"]["details"], result["stages"]["split"]["details"]
    generated = result["stages"]["generate"]["details"]
    assert 0 < pair["n_users"] <= generated["shared_users"]
    assert split["test"] == split["valid"] <= pair["n_users"] and split["train"] > split["test"]
