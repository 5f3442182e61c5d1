"""Shared benchmark fixtures: ML-100K fetched from the offline mirror, prepared and split once."""

from __future__ import annotations

import os
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
