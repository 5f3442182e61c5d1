"""MTL report pieces: delta_m known answer, the Markdown table and the trade-off figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.report.mtl import delta_m, mtl_summary, mtl_table, mtl_tradeoff_figure, protocol_comparison, separation


def records() -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        rows.append({"scenario": "s", "method": "single_task", "seed": seed, "status": "ok",
                     "click_auc": 0.80, "like_auc": 0.60, "ctcvr_auc": 0.70, "rating_rmse": 1.00,
                     "like_ndcg@10": 0.5, "fit_seconds": 2.0})
        rows.append({"scenario": "s", "method": "mmoe", "seed": seed, "status": "ok",
                     "click_auc": 0.80 + 0.01 * seed, "like_auc": 0.66, "ctcvr_auc": 0.70, "rating_rmse": 0.90,
                     "like_ndcg@10": 0.6, "fit_seconds": 1.0})
    rows.append({"scenario": "s", "method": "esmm", "seed": 0, "status": "failed"})
    return pd.DataFrame(rows)


def test_delta_m_known_answer():
    """mmoe vs single_task: click +0.005/0.8, like +0.06/0.6 = +10 %, ctcvr 0, rating -0.1/1.0 -> +10 %
    (lower is better); delta_m = (0.625 + 10 + 0 + 10) / 4 = 5.15625 %."""
    summary = mtl_summary(records())
    assert summary.loc["mmoe", "delta_m"] == pytest.approx(5.15625)
    assert summary.loc["single_task", "delta_m"] == 0.0
    assert "esmm" not in summary.index  # failed cells are left out
    assert summary.loc["mmoe", "n_seeds"] == 2
    means = pd.DataFrame({"click_auc": [0.5, 0.6]}, index=["single_task", "x"])
    assert delta_m(means)["x"] == pytest.approx(20.0)
    assert np.isnan(delta_m(means, baseline="absent")).all()


def test_mtl_table_markdown():
    text = mtl_table(records(), scenario="s")
    lines = text.splitlines()
    assert lines[0].startswith("| method | click |") and "| like |" in lines[0] and "| rating |" in lines[0]
    assert "**AUC**" in lines[2] and "**Δm (%)**" in lines[2]
    mmoe = next(line for line in lines if line.startswith("| `mmoe`"))
    assert "**+5.16**" in mmoe and "**0.6600 ± 0.0000**" in mmoe
    assert "Mean ± std over 2 seed(s)" in text


def test_tradeoff_figure(tmp_path):
    out = mtl_tradeoff_figure(records(), tmp_path / "fig" / "tradeoff.png", x="like_auc", y="rating_rmse")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError, match="no metric column 'nope'"):
        mtl_tradeoff_figure(records(), tmp_path / "x.png", x="nope")


def test_separation_known_answer():
    """click AUC: spread 0.005 over the median seed-std (0 and 0.00707) 0.00354 = sqrt(2); the other
    tasks have zero seed noise and are skipped; one method or one seed gives NaN."""
    assert separation(records(), "s") == pytest.approx(np.sqrt(2))
    assert np.isnan(separation(records()[records()["method"] == "mmoe"], "s"))


def test_protocol_comparison_lists_the_scenarios_of_a_dataset_under_two_protocols():
    two = pd.concat([records(), records().assign(scenario="w")], ignore_index=True)
    sig = pd.DataFrame({
        "scenario": ["s", "s", "w", "w", "w"],
        "metric": ["click_auc", "click_auc", "click_auc", "click_auc", "like_auc"],
        "method": ["single_task", "mmoe", "single_task", "mmoe", "mmoe"],
        "reference": ["single_task"] * 5,
        "t_pvalue": [np.nan, 0.5, np.nan, 0.01, 0.02],
        "n_paired": [90, 90, 400, 400, 380],
        "significant": [np.nan, False, np.nan, True, True],
    })
    text = protocol_comparison(two, sig, {"s": ("ml", "global", 0.86), "w": ("ml", "warm", 0.0),
                                          "x": ("other", "global", None)})
    rows = [line for line in text.splitlines() if line.startswith("| ml ")]
    assert rows == ["| ml | s | global | 86.0 % | 90 | 0 of 1 | 1.4 |",
                    "| ml | w | warm | 0.0 % | 390 | 2 of 2 | 1.4 |"]
    assert protocol_comparison(two, sig, {"s": ("ml", "global", 0.86)}) == ""
    no_ref = sig.assign(reference=np.nan)  # a metric without a reference counts no comparison
    assert "| 0 of 0 |" in protocol_comparison(two, no_ref, {"s": ("ml", "global", 0.86), "w": ("ml", "warm", 0.0)})
