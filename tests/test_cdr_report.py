"""CDR report pieces: the transfer table (means over seeds, gains over references) and the
gain-vs-beta figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.config import CDRColdScenario, CDRWarmScenario
from bench.report.cdr import cdr_beta_figure, cdr_table

SCENARIOS = {
    "w": CDRWarmScenario(name="w", dataset="pair", source="a", target="b"),
    **{
        f"c{int(b * 10)}": CDRColdScenario(name=f"c{int(b * 10)}", dataset="pair", source="a", target="b", split="withhold", beta=b)
        for b in (0.2, 0.5, 0.8)
    },
}


def _records() -> pd.DataFrame:
    rows = []
    for scenario, s in SCENARIOS.items():
        for method, base in (("target_only", 0.10), ("pooled", 0.20), ("emcdr", 0.25)):
            if method == "emcdr" and s.kind == "cdr_warm":
                continue
            for seed in (0, 1):
                rows.append(
                    {"scenario": scenario, "kind": s.kind, "method": method, "seed": seed, "status": "ok",
                     "ndcg@10": base + 0.01 * seed, "sampled_hr@10": 2 * base, "mae": 1.0 - base}
                )
    rows.append({"scenario": "w", "kind": "cdr_warm", "method": "cmf", "seed": 0, "status": "failed"})
    rows.append({"scenario": "t", "kind": "topn", "method": "pop", "seed": 0, "status": "ok", "ndcg@10": 0.9})
    return pd.DataFrame(rows)


def test_table_means_gains_and_flags():
    text = cdr_table(_records(), SCENARIOS)
    assert "### pair: a → b" in text
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "0.1050 ± 0.0071" in lines["target_only"]  # mean ± std over the two seeds
    # pooled vs target_only on ndcg@10: (0.205 - 0.105) / 0.105 = +95.2 %
    assert "+95.2%" in lines["pooled"]
    assert "target_only ‡" in text  # cold scenarios flag the reference that cannot score cold users
    assert "cmf" not in text and "pop" not in text  # failed cells and other kinds are left out
    assert "**0.2550 ± 0.0071**" in text  # best mean is bold
    assert "mae" in text


def test_beta_figure(tmp_path):
    path = cdr_beta_figure(_records(), tmp_path / "fig" / "beta.png", SCENARIOS)
    assert path is not None and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_empty_inputs():
    assert "No completed" in cdr_table([], SCENARIOS)
    assert cdr_beta_figure(pd.DataFrame(columns=["scenario", "kind", "status"]), "x.png", SCENARIOS) is None


def test_table_marks_significance_against_each_columns_reference():
    sig = pd.DataFrame([
        {"scenario": "w", "metric": "ndcg@10", "method": "pooled", "reference": "pooled", "significant": np.nan},
        {"scenario": "w", "metric": "ndcg@10", "method": "target_only", "reference": "pooled",
         "significant": True},
        {"scenario": "w", "metric": "sampled_hr@10", "method": "target_only", "reference": "target_only",
         "significant": np.nan},
        {"scenario": "w", "metric": "sampled_hr@10", "method": "pooled", "reference": "target_only",
         "significant": False},
    ])
    text = cdr_table(_records(), SCENARIOS, sig=sig)
    warm = text[text.index("**w**"):].split("\n\n")[1]
    rows = {line.split("|")[1].strip(): line.split("|")[2:] for line in warm.splitlines()[2:]}
    header = [c.strip() for c in warm.splitlines()[0].split("|")[2:]]
    ndcg, hr = header.index("ndcg@10"), header.index("sampled_hr@10")
    assert rows["target_only"][ndcg].strip().endswith("†")
    assert rows["pooled"][ndcg].strip().endswith("ref")
    assert rows["target_only"][hr].strip().endswith("ref")
    assert not rows["pooled"][hr].strip().endswith(("†", "ref"))
    assert "significantly different from the column's reference" in text
