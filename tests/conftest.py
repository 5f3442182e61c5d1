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
