"""Per-scenario provenance (which split and raw-file hashes belong to which scenario) and the
"How to cite" block (recxbench from CITATION.cff, each dataset's BibTeX once)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd

from bench.data.sources import load_sources
from bench.report.cite import how_to_cite, provenance_table, recxbench_bibtex, scenario_provenance
from tests.conftest import REPO_ROOT

SOURCES = load_sources(REPO_ROOT / "datasets" / "sources.yaml")


def _params():
    datasets = {"a-topn": "ml-100k", "b-topn": "ml-1m", "c-warm": "disencdr-sport-phone"}
    return SimpleNamespace(scenario=lambda name: SimpleNamespace(dataset=datasets[name]))


def _records() -> pd.DataFrame:
    rows = []
    for scenario, tag in (("a-topn", "1"), ("b-topn", "2"), ("c-warm", "3")):
        split = json.dumps({"train.parquet": tag * 64, "test.parquet": tag * 63 + "f"})
        rows += [{"scenario": scenario, "status": "ok", "split_sha256": split} for _ in range(2)]
    rows.append({"scenario": "b-topn", "status": "failed", "split_sha256": None})
    return pd.DataFrame(rows)


def test_each_scenario_names_its_own_split_and_raw_file_hashes(tmp_path):
    prepared = tmp_path / "prepared"
    for ds, h in (("ml-100k", "a"), ("ml-1m", "b")):
        (prepared / ds).mkdir(parents=True)
        (prepared / ds / "stats.json").write_text(json.dumps({"inputs": {"ratings": h * 64}}))
    prov = scenario_provenance(_params(), _records(), prepared=prepared, sources=SOURCES)
    assert list(prov) == ["a-topn", "b-topn", "c-warm"]
    assert prov["b-topn"]["dataset"] == "ml-1m" and prov["b-topn"]["raw_sha256"] == {"ratings": "b" * 64}
    assert prov["b-topn"]["split_sha256"]["train.parquet"] == "2" * 64
    assert "raw_sha256" not in prov["c-warm"]  # no prepared stats given for it: absent, not invented
    assert "Harper" in prov["a-topn"]["citation"] and prov["c-warm"]["title"].startswith("DisenCDR")
    rows = provenance_table(prov)
    assert "| `b-topn` | `ml-1m` | ratings `bbbbbbbbbbbb` | test.parquet `222222222222`, train.parquet `222222222222` |" in rows


def test_how_to_cite_gives_recxbench_and_each_dataset_bibtex_once():
    text = how_to_cite(REPO_ROOT / "CITATION.cff", SOURCES, ["ml-100k", "ml-1m", "disencdr-sport-phone"], "abc123")
    assert text.count("@software{recxbench") == 1 and "note = {commit abc123}" in text
    assert text.count("@article{harper2015movielens") == 1  # ML-100K and ML-1M share the citation
    assert "`ml-100k`, `ml-1m`:" in text and "@inproceedings{cao2022disencdr" in text
    bib = recxbench_bibtex(REPO_ROOT / "CITATION.cff", None)
    assert "version = {" in bib and "date = {" in bib and "author = {{The recxbench developers}}" in bib
