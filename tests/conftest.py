"""Shared fixtures. Data tests read the offline mirror named by ``RECX_DATA_MIRROR`` (CI sets it to
``../shared/datasets``); when unset, the conventional location beside the checkout is used."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def mirror_path() -> Path:
    value = os.environ.get("RECX_DATA_MIRROR")
    path = Path(value).resolve() if value else (REPO_ROOT.parent / "shared" / "datasets")
    return path


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The offline dataset mirror; a missing mirror is an error, not a skip (tests must not pass
    vacuously)."""
    path = mirror_path()
    if not (path / "ml-100k" / "u.data").exists():
        pytest.fail(
            f"dataset mirror not found at {path}; set RECX_DATA_MIRROR to the folder holding ml-100k/"
        )
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def data_work(tmp_path_factory, mirror) -> Path:
    """Scratch folder of :func:`prepared` (raw fetches, prepared tables, a private checksum lock)."""
    return tmp_path_factory.mktemp("data")


def prepared_folder(data_work: Path, name: str, options: dict) -> Path:
    """Where :func:`prepared` writes ``name`` prepared with ``options``."""
    tag = "-".join(f"{k}{v}" for k, v in sorted(options.items())) or "default"
    return data_work / "prepared" / tag / name


@pytest.fixture(scope="session")
def prepared(data_work, mirror):
    """``prepared(name, **options)``: fetch ``name`` from the mirror and prepare it, once per session
    and options (real files, real parsers)."""
    from bench.data.fetch import fetch_dataset
    from bench.data.prepare import PrepareOptions, prepare_dataset

    sources = REPO_ROOT / "datasets" / "sources.yaml"
    lock = data_work / "checksums.lock"
    done: dict = {}

    def get(name: str, **options):
        raw = data_work / "raw" / name
        if not (raw / "fetch.json").exists():
            fetch_dataset(name, sources=sources, out=raw, mirror=mirror, lock=lock)
        out = prepared_folder(data_work, name, options)
        if out not in done:
            done[out] = prepare_dataset(
                name, sources=sources, raw=raw, out=out, options=PrepareOptions(**options), lock=lock,
            )
        return done[out]

    return get
