"""``recx export``: every format re-reads to exactly the split it came from — rebuilt as Parquet with
the split's dtypes, each part has the sha256 its manifest records — on a hand-made split with a
side table, and on a real mirrored release pair."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.errors import DataError, RecxError
from bench.export import FORMATS, export_split, read_recbole_inter
from bench.splits.build import build_split
from bench.splits.types import PARTS, Split, sha256_file
from tests.conftest import REPO_ROOT, prepared_folder


def _split(tmp_path) -> tuple[Split, dict]:
    rng = np.random.default_rng(0)

    def part(n: int) -> pd.DataFrame:
        return pd.DataFrame({
            "user": rng.integers(0, 9, n).astype(np.int32),
            "item": rng.integers(0, 7, n).astype(np.int32),
            "rating": rng.integers(1, 6, n).astype(np.float32),
            "timestamp": rng.integers(10**9, 2 * 10**9, n).astype(np.int64),
            "like": rng.random(n) < 0.5,
        })

    candidates = pd.DataFrame({"user": np.repeat(np.arange(3, dtype=np.int32), 4),
                               "item": rng.integers(0, 7, 12).astype(np.int32)})
    split = Split("toy-topn", part(30), part(5), part(6), n_users=9, n_items=7,
                  meta={"kind": "topn"}, side={"candidates": candidates})
    manifest = split.write(tmp_path / "split")
    return split, manifest


def _same_bytes(frame: pd.DataFrame, like: pd.DataFrame, tmp_path, expected_sha: str) -> None:
    """``frame`` cast to ``like``'s dtypes and written as the split writes it has ``expected_sha``."""
    rebuilt = frame[list(like.columns)].astype(like.dtypes.to_dict())
    pd.testing.assert_frame_equal(rebuilt, like)
    path = tmp_path / "rebuilt.parquet"
    rebuilt.to_parquet(path, index=False)
    assert sha256_file(path) == expected_sha


def test_csv_and_recbole_exports_rebuild_the_split_byte_for_byte(tmp_path):
    split, manifest = _split(tmp_path)
    csv = export_split(tmp_path / "split", tmp_path / "csv", "csv", echo=lambda _: None)
    rb = export_split(tmp_path / "split", tmp_path / "rb", "recbole", echo=lambda _: None)
    for part in PARTS:
        like, sha = getattr(split, part), manifest["sha256"][f"{part}.parquet"]
        _same_bytes(pd.read_csv(tmp_path / "csv" / f"{part}.csv"), like, tmp_path, sha)
        inter = tmp_path / "rb" / "toy-topn" / f"toy-topn.{part}.inter"
        _same_bytes(read_recbole_inter(inter), like, tmp_path, sha)
    header = (tmp_path / "rb" / "toy-topn" / "toy-topn.train.inter").read_text().splitlines()[0]
    assert header.split("\t") == ["user_id:token", "item_id:token", "rating:float", "timestamp:float",
                                  "like:float"]
    side = split.side["candidates"]
    for folder in (tmp_path / "csv", tmp_path / "rb" / "toy-topn"):
        _same_bytes(pd.read_csv(folder / "side_candidates.csv"), side, tmp_path,
                    manifest["sha256"]["side_candidates.parquet"])
    config = (tmp_path / "rb" / "toy-topn" / "toy-topn.yaml").read_text()
    assert "benchmark_filename: [train, valid, test]" in config
    assert f"data_path: {(tmp_path / 'rb').resolve()}" in config  # the final folder, not the staging one
    for files, folder in ((csv, tmp_path / "csv"), (rb, tmp_path / "rb")):
        record = json.loads((folder / "export.json").read_text())
        assert record["source_sha256"] == manifest["sha256"]
        assert files[-1] == folder / "export.json" and all(p.is_file() for p in files)
        assert record["files"] == {str(p.relative_to(folder)): sha256_file(p) for p in files[:-1]}


def test_trec_qrels_hold_exactly_the_valid_and_test_pairs(tmp_path):
    split, _ = _split(tmp_path)
    export_split(tmp_path / "split", tmp_path / "trec", "trec", echo=lambda _: None)
    for part in ("valid", "test"):
        rows = [line.split() for line in (tmp_path / "trec" / f"{part}.qrels").read_text().splitlines()]
        assert all(r[1] == "0" and r[3] == "1" for r in rows)
        got = sorted((int(r[0]), int(r[2])) for r in rows)
        frame = getattr(split, part)
        assert got == sorted(zip(frame["user"].tolist(), frame["item"].tolist()))


def test_bad_format_or_tampered_split_fails_before_writing(tmp_path):
    _split(tmp_path)
    with pytest.raises(RecxError, match=r"unknown format 'lenskit'; choose one of \['csv', 'recbole', 'trec'\]"):
        export_split(tmp_path / "split", tmp_path / "out", "lenskit")
    with pytest.raises(DataError, match="run `dvc repro split@nowhere`"):
        export_split(tmp_path / "nowhere", tmp_path / "out", "csv")
    pd.read_parquet(tmp_path / "split" / "test.parquet").iloc[1:].to_parquet(
        tmp_path / "split" / "test.parquet", index=False)
    with pytest.raises(DataError, match="does not match the manifest"):
        export_split(tmp_path / "split", tmp_path / "out", "csv")
    assert not (tmp_path / "out").exists()
    assert set(FORMATS) == {"csv", "recbole", "trec"}


def test_cli_exports_a_real_release_pair_with_its_saved_negatives(prepared, data_work, tmp_path, capsys):
    from bench.config import load_params

    params = load_params(REPO_ROOT / "params.yaml")
    name = "disencdr-sport-phone-warm"
    scenario = params.scenario(name)
    options = dict(params.datasets.get(scenario.dataset) or {})
    prepared(scenario.dataset, **options)
    split_dir = tmp_path / name
    split = build_split(scenario, prepared=prepared_folder(data_work, scenario.dataset, options),
                        out=split_dir)
    assert split.side, "the release pair's split saves its sampled candidate sets as side tables"
    out = tmp_path / "export"
    assert main(["export", name, "--format", "recbole", "--split", str(split_dir), "--out", str(out)]) == 0
    assert f"recx export: {name} as recbole" in capsys.readouterr().out
    manifest = json.loads((split_dir / "manifest.json").read_text())
    for part in PARTS:
        back = read_recbole_inter(out / name / f"{name}.{part}.inter")
        _same_bytes(back, getattr(split, part), tmp_path, manifest["sha256"][f"{part}.parquet"])
