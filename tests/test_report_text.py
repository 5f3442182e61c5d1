"""Markdown/LaTeX details of the report tables: no spread printed for a single seed, significance
headings that name each column's reference, and the MTL column groups."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.mtl import mtl_table
from bench.report.sections import significance_markdown
from bench.report.tables import aggregate, to_latex, to_markdown


def _records(seeds) -> pd.DataFrame:
    return pd.DataFrame([{"scenario": "s", "kind": "topn", "method": m, "seed": s, "status": "ok",
                          "ndcg@10": v + 0.01 * s, "fit_seconds": 1.0, "n_parameters": 10}
                         for m, v in (("a", 0.1), ("b", 0.2)) for s in seeds])


def _tex(table: pd.DataFrame) -> str:
    return to_latex(table, ["ndcg@10"], sig=None, caption="c", label="tab:x")


def test_one_seed_prints_no_spread_and_several_seeds_do():
    one = aggregate(_records([0]), ["ndcg@10"])
    assert one["ndcg@10_std"].isna().all()
    assert "±" not in to_markdown(one, ["ndcg@10"]) and r"\pm" not in _tex(one)
    three = aggregate(_records([0, 1, 2]), ["ndcg@10"])
    assert "0.2100 ± 0.0100" in to_markdown(three, ["ndcg@10"])
    assert r"$\pm$0.0100" in _tex(three)


def _sig(refs: dict[str, str]) -> pd.DataFrame:
    rows = []
    for metric, ref in refs.items():
        for method in ("a", "b"):
            rows.append({"scenario": "s", "metric": metric, "method": method, "reference": ref,
                         "mean_diff": np.nan if method == ref else 0.01,
                         "t_pvalue_holm": np.nan if method == ref else 0.01})
    return pd.DataFrame(rows)


def test_significance_heading_names_the_reference_of_each_column_when_they_differ():
    mixed = significance_markdown(_sig({"ndcg@10": "a", "hr@10": "b"}), "s", ["ndcg@10", "hr@10"])
    assert "against each column's reference" in mixed
    assert "| method | ndcg@10 (vs `a`) | hr@10 (vs `b`) |" in mixed
    same = significance_markdown(_sig({"ndcg@10": "a", "hr@10": "a"}), "s", ["ndcg@10", "hr@10"])
    assert same.startswith("Paired tests against `a`") and "| method | ndcg@10 | hr@10 |" in same


def test_mtl_table_keeps_delta_m_and_fit_out_of_the_rating_group():
    summary = pd.DataFrame({
        "click_auc": [0.8, 0.81], "rating_rmse": [1.0, 0.99], "rating_mae": [0.8, 0.79],
        "delta_m": [0.0, 0.5], "fit_seconds": [2.0, 3.0], "n_seeds": [3, 3],
    }, index=pd.Index(["single_task", "mmoe"], name="method"))
    header, _, labels = mtl_table(summary, baseline="single_task").splitlines()[:3]
    groups = [c.strip() for c in header.split("|")[1:-1]]
    names = [c.strip().strip("*") for c in labels.split("|")[1:-1]]
    assert groups[names.index("Δm (%)")] == "all tasks" and groups[names.index("fit (s)")] == "cost"
    assert groups[names.index("RMSE")] == "rating"


def test_each_mtl_table_names_its_protocol_and_the_share_of_cold_test_impressions(tmp_path):
    """The MTL caption reads the split manifest: cold test impressions / test rows (86.0 % of the
    real ML-100K global cut, 0 % under the warm-user protocol)."""
    import json

    from bench.config import load_params
    from bench.report.sections import _mtl_protocol
    from tests.conftest import REPO_ROOT

    params = load_params(REPO_ROOT / "params.yaml")
    for name, cold in (("ml100k-mtl", 25_746), ("ml100k-mtl-warm", 0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps(
            {"meta": {"cold": {"test_user": cold}}, "counts": {"test": {"rows": 29_941}}}))
    assert _mtl_protocol(params, "ml100k-mtl", tmp_path) == (
        "**Protocol:** Global temporal cut (no future interaction in train). Cold test impressions "
        "(user absent from train, scored from features only): 86.0 % (25,746 of 29,941).")
    assert _mtl_protocol(params, "ml100k-mtl-warm", tmp_path).startswith("**Protocol:** Warm-user")
    assert "0.0 % (0 of 29,941)" in _mtl_protocol(params, "ml100k-mtl-warm", tmp_path)
    assert _mtl_protocol(params, "ml100k-mtl", None).endswith("in train).")
