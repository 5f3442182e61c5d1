"""``mf`` (BPR matrix factorisation): known answer, determinism, early stopping, device option."""

from __future__ import annotations

import numpy as np
import pytest

from bench import methods
from bench.errors import ConfigError
from methods.mf import MF, MFConfig
from tests.methods.test_torch_helpers import (
    check_fit_contract,
    check_known_answer,
    checkerboard,
    cuda_only,
)

FAST = {"embedding_size": 16, "learning_rate": 0.02, "batch_size": 64, "device": "cpu"}


def test_registered():
    spec = methods.get("mf")
    assert spec.cls is MF and spec.config is MFConfig and "topn" in spec.scenarios


def test_checkerboard_known_answer():
    check_known_answer(MF(MFConfig(**FAST, epochs=40)))


def test_contract_determinism_early_stopping(monkeypatch):
    def make(**kw):
        return MF(MFConfig(**{**FAST, "epochs": 8, "patience": 2, **kw}))

    check_fit_contract(make, monkeypatch)


def test_cold_users_keep_their_initial_factors():
    train, _ = checkerboard(cold_users=2)
    m = MF(MFConfig(**FAST, epochs=3)).fit(train, rng=np.random.default_rng(0))
    # a cold user's scores use the random initial factors: finite and not all equal
    s = m.score(np.array([train.n_users - 1]))
    assert np.isfinite(s).all() and np.ptp(s) > 0


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match="learning_rate must be > 0"):
        MFConfig.from_params({"learning_rate": 0.0}, where="params.yaml: methods.mf")
    with pytest.raises(ConfigError, match="device"):
        MFConfig.from_params({"device": "tpu"}, where="params.yaml: methods.mf")


@cuda_only
def test_cuda_matches_shape_and_is_finite():
    train, valid = checkerboard()
    m = MF(MFConfig(**{**FAST, "device": "cuda"}, epochs=3)).fit(
        train, rng=np.random.default_rng(0), valid=valid
    )
    s = m.score(np.arange(train.n_users))
    assert s.dtype == np.float32 and s.shape == (train.n_users, train.n_items)
    assert np.isfinite(s).all()
