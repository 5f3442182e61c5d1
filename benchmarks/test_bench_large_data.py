"""``benchmarks/large_data.py`` end to end at a tiny size: every stage runs through the real code in
its own process and is recorded with positive seconds and peak RSS.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_large_data.py --benchmark-only`` (not part
of ``make test``; ``make bench`` runs it). The full ML-20M size is ``benchmarks/large_data.py``
without size options (README "Beyond one machine").
"""

from __future__ import annotations

import json

from benchmarks.large_data import STAGES, main

ROWS, USERS, ITEMS = 20_000, 500, 300


def test_large_data_small(benchmark, tmp_path):
    out = tmp_path / "large-data.json"
    argv = ["--rows", str(ROWS), "--users", str(USERS), "--items", str(ITEMS), "--out", str(out),
            "--keep", str(tmp_path / "scratch")]
    code = benchmark.pedantic(main, args=(argv,), rounds=1, iterations=1, warmup_rounds=0)
    assert code == 0
    result = json.loads(out.read_text())
    assert list(result["stages"]) == list(STAGES)
    for name, stage in result["stages"].items():  # EASE fits the budget at 300 items: it runs too
        assert stage["status"] == "ok", (name, stage)
        assert stage["seconds"] > 0 and stage["process_seconds"] >= stage["seconds"], name
        assert stage["peak_rss_mb"] > 0 and stage["peak_rss_mb"] >= stage["rss_before_mb"], name
    stages = result["stages"]
    gen = stages["generate"]["details"]
    assert gen["user_ratings"]["min"] == 20 and gen["rating_share_ge_4"] > 0.4
    prepared = stages["prepare"]["details"]
    # the real parser read every generated row, and prepare's own count check agrees
    assert (prepared["rows_read"], prepared["rows_kept"]) == (ROWS, ROWS)
    assert (prepared["n_users"], prepared["n_items"]) == (USERS, ITEMS)
    assert prepared["expected"] == {"checked": True, "ok": True, "mismatches": {}}
    split = stages["split"]["details"]
    assert split["audit"]["per_user_order"] and split["test"] > 0.9 * USERS
    assert stages["evaluate"]["details"]["n_evaluated_users"] == split["test"]
    assert 0.0 <= stages["evaluate"]["details"]["metrics"]["ndcg@10"] <= 1.0
    assert result["sizes"] == {"rows": ROWS, "users": USERS, "items": ITEMS, "ml20m_shape": False}
    assert result["within_budget"] and result["git"]["commit"]
    benchmark.extra_info.update(
        {n: {"seconds": s["seconds"], "peak_rss_mb": s["peak_rss_mb"]} for n, s in stages.items()}
    )
