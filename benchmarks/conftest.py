"""Shared benchmark fixtures: ML-100K fetched from the offline mirror, prepared and split once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mirror() -> Path | None:
    value = os.environ.get("RECX_DATA_MIRROR")
    path = Path(value) if value else REPO.parent / "shared" / "datasets"
    return path if (path / "ml-100k").exists() else None


@pytest.fixture(scope="session")
def ml100k_prepared(tmp_path_factory) -> Path:
    from bench.data.fetch import fetch_dataset
    from bench.data.prepare import PrepareOptions, prepare_dataset

    root = tmp_path_factory.mktemp("ml100k")
    fetch_dataset("ml-100k", sources=REPO / "datasets/sources.yaml", out=root / "raw", mirror=mirror(),
                  progress=False)
    prepare_dataset("ml-100k", sources=REPO / "datasets/sources.yaml", raw=root / "raw",
                    out=root / "prepared", options=PrepareOptions())
    return root / "prepared"


#: ML-1M MTL training rows every MTL throughput benchmark trains one epoch on (fixed, seed 0)
ML1M_ROWS = 400_000


@pytest.fixture(scope="session")
def ml1m_prepared(tmp_path_factory) -> Path:
    """ML-1M fetched from the mirror (verified against ``datasets/checksums.lock``) and prepared."""
    from bench.data.fetch import fetch_dataset
    from bench.data.prepare import PrepareOptions, prepare_dataset

    data = mirror()
    if data is None or not (data / "ml-1m" / "ratings.dat").exists():
        pytest.skip("no ml-1m in the dataset mirror; set RECX_DATA_MIRROR")
    tmp = tmp_path_factory.mktemp("ml1m")
    lock = tmp / "checksums.lock"
    shutil.copy(REPO / "datasets" / "checksums.lock", lock)
    sources = REPO / "datasets" / "sources.yaml"
    fetch_dataset("ml-1m", sources=sources, out=tmp / "raw", mirror=data, lock=lock, progress=False)
    prepare_dataset("ml-1m", sources=sources, raw=tmp / "raw", out=tmp / "prepared",
                    options=PrepareOptions(), lock=lock)
    return tmp / "prepared"


@pytest.fixture(scope="session")
def ml1m_mtl_train(ml1m_prepared, tmp_path_factory):
    import numpy as np

    from bench.config import MTLScenario
    from bench.multitask import mtl_data, mtl_vocab
    from bench.splits.build import build_split

    split = build_split(MTLScenario(name="ml1m-mtl", dataset="ml-1m"), prepared=ml1m_prepared,
                        out=tmp_path_factory.mktemp("ml1m-mtl") / "split")
    train = mtl_data(split, "train", mtl_vocab(split))
    rows = np.sort(np.random.default_rng(0).choice(len(train), size=min(ML1M_ROWS, len(train)), replace=False))
    return train.subset(rows)
