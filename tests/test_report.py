"""The report stage on real run cells of a toy split: deterministic outputs, TREC exports that an
independent tool (ranx) re-scores to the same numbers, structurally valid LaTeX, real figures,
and failed cells shown instead of hidden."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from bench.config import TopNScenario, load_params
from bench.data.tables import PreparedDataset
from bench.report import build_report
from bench.run import run_cell
from bench.splits.build import build_split

METHODS = ["random", "pop", "itemknn"]


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    n_users, n_items = 80, 50
    users = np.repeat(np.arange(n_users), 12)
    # popularity-skewed items so methods differ
    p = np.arange(n_items, 0, -1, dtype=float) ** 1.2
    items = np.concatenate([rng.choice(n_items, 12, replace=False, p=p / p.sum()) for _ in range(n_users)])
    inter = pd.DataFrame({"user": users, "item": items, "rating": 5.0,
                          "timestamp": rng.integers(0, 100_000, len(users)), "domain": "toy"})
    PreparedDataset("toy", inter, pd.DataFrame({"user": np.arange(n_users)}),
                    pd.DataFrame({"item": np.arange(n_items)}), {}).write(root / "prepared")
    build_split(TopNScenario(name="toy-topn", dataset="toy"), prepared=root / "prepared",
                out=root / "splits" / "toy-topn")
    params = {
        "seeds": [0, 1],
        "datasets": {"toy": {}},
        "scenarios": {"toy-topn": {"kind": "topn", "dataset": "toy"}},
        "evaluation": {"ks": [5, 10], "metrics": ["recall", "ndcg", "mrr", "map"], "topk_saved": 10},
        "grid": {"topn": {"scenarios": ["toy-topn"], "methods": METHODS}},
        "methods": {m: {} for m in METHODS},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    loaded = load_params(root / "params.yaml")
    for m in METHODS:
        for seed in (0, 1):
            if (m, seed) == ("itemknn", 1):
                continue  # left missing on purpose: the report must show it
            run_cell(loaded, scenario="toy-topn", method=m, seed=seed,
                     split=root / "splits" / "toy-topn", out=root / "runs" / "toy-topn" / m / str(seed))
    build_report(loaded, runs=root / "runs", out=root / "reports", splits=root / "splits")
    return root, loaded


def test_report_is_byte_identical_when_rerun(reported):
    root, params = reported
    build_report(params, runs=root / "runs", out=root / "again", splits=root / "splits")
    first = sorted(p.relative_to(root / "reports") for p in (root / "reports").rglob("*") if p.is_file())
    second = sorted(p.relative_to(root / "again") for p in (root / "again").rglob("*") if p.is_file())
    assert first == second and len(first) >= 10
    for rel in first:
        assert (root / "reports" / rel).read_bytes() == (root / "again" / rel).read_bytes(), rel


def test_markdown_marks_missing_cells_and_significance(reported):
    root, _ = reported
    md = (root / "reports" / "results.md").read_text()
    assert "`itemknn`" in md and "1/2 ⚠ seed 1: missing" in md
    assert "## Incomplete cells" in md and "toy-topn/itemknn/1" in md
    assert "ref" in md and "Holm" in md
    assert "## Provenance" in md


def test_trec_exports_rescore_to_the_same_numbers_with_ranx(reported):
    from ranx import Qrels, Run, evaluate

    root, _ = reported
    trec = root / "reports" / "trec" / "toy-topn"
    cells = pd.read_csv(root / "reports" / "cells.csv")
    qrels = Qrels.from_file(str(trec / "qrels.txt"), kind="trec")
    for method in METHODS:
        run = Run.from_file(str(trec / f"{method}.seed0.run"), kind="trec")
        ours = cells[(cells["method"] == method) & (cells["seed"] == 0)].iloc[0]
        theirs = evaluate(qrels, run, ["ndcg@10", "recall@10", "mrr@10", "ndcg@5"], make_comparable=True)
        for metric, value in theirs.items():
            assert value == pytest.approx(ours[metric], abs=1e-5), (method, metric)


def test_latex_is_structurally_valid(reported):
    root, _ = reported
    tex = (root / "reports" / "results.tex").read_text()
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") == 1
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    start = re.search(r"\\begin\{tabular\}\{[lrc]+\}", tex).start()  # the outer tabular
    body = tex[start: tex.index(r"\end{tabular}}", start)]  # closed inside the shrink-only \resizebox
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", body).group(1)
    rows = [r for r in body.split("\n") if r.endswith(r"\\")]
    assert len(rows) == 1 + len(METHODS)
    for row in rows:
        assert row.count("&") == len(spec) - 1, row
    depth = 0
    for ch in tex.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    assert r"\textbf{" in tex and r"\underline{" in tex and "_" not in tex.replace(r"\_", "")


def test_figures_are_real_images(reported):
    root, _ = reported
    pngs = sorted((root / "reports" / "figures").glob("*.png"))
    assert len(pngs) == 2
    for png in pngs:
        img = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert img.shape[0] > 150 and img.shape[1] > 300
        assert img.std() > 10  # not a blank canvas


def test_json_carries_significance_and_provenance(reported):
    root, _ = reported
    payload = json.loads((root / "reports" / "results.json").read_text())
    assert payload["provenance"]["seeds"] == [0, 1]
    assert payload["provenance"]["versions"] and payload["provenance"]["split_sha256"]
    sig = pd.DataFrame(payload["significance"])
    fam = sig[sig["metric"] == "ndcg@10"]
    assert fam["reference"].nunique() == 1
    assert fam.dropna(subset=["t_pvalue_holm"])["t_pvalue_holm"].ge(fam.dropna(subset=["t_pvalue"])["t_pvalue"]).all()


def test_training_section_flags_cells_stopped_at_their_epoch_cap():
    from bench.report.training import capped_cells, training_markdown

    records = pd.DataFrame([
        {"scenario": "s", "method": "mf", "seed": 0, "status": "ok", "training_epochs_run": 40,
         "training_max_epochs": 1000, "training_best_epoch": 12, "training_stop_reason": "patience"},
        {"scenario": "s", "method": "mf", "seed": 1, "status": "ok", "training_epochs_run": 1000,
         "training_max_epochs": 1000, "training_best_epoch": 998, "training_stop_reason": "epoch_cap"},
        {"scenario": "s", "method": "pop", "seed": 0, "status": "ok", "training_epochs_run": None,
         "training_max_epochs": None, "training_best_epoch": None, "training_stop_reason": None},
    ])
    assert capped_cells(records)[["method", "seed"]].values.tolist() == [["mf", 1]]
    md = training_markdown(records)
    assert "| s | mf | 520 (40–1000) | 505 | 1000 | 1 | 1 |" in md
    assert "- `s/mf/1`: best epoch 998 of 1000" in md
    assert "pop" not in md  # methods without a training log are not listed
    assert training_markdown(records.iloc[[0]]).endswith("No cell stopped at its epoch cap.\n")
