"""``lightgcn`` (He et al., 2020): known answer, determinism, early stopping, device option."""

from __future__ import annotations

import numpy as np
import pytest

from bench import methods
from bench.errors import ConfigError
from methods.lightgcn import LightGCN, LightGCNConfig, normalized_adjacency
from tests.methods.test_torch_helpers import (
    check_fit_contract,
    check_known_answer,
    checkerboard,
    cuda_only,
)

FAST = {"embedding_size": 16, "learning_rate": 0.05, "batch_size": 64, "device": "cpu"}


def test_registered():
    spec = methods.get("lightgcn")
    assert spec.cls is LightGCN and spec.config is LightGCNConfig and "topn" in spec.scenarios


def test_checkerboard_known_answer():
    check_known_answer(LightGCN(LightGCNConfig(**FAST, epochs=40)))


def test_contract_determinism_early_stopping(monkeypatch):
    def make(**kw):
        return LightGCN(LightGCNConfig(**{**FAST, "epochs": 8, "patience": 2, **kw}))

    check_fit_contract(make, monkeypatch)


def test_cold_users_get_finite_scores():
    train, _ = checkerboard(cold_users=2)
    m = LightGCN(LightGCNConfig(**FAST, epochs=3)).fit(train, rng=np.random.default_rng(0))
    # a cold user's final embedding is its random ego embedding / (K + 1): finite, not constant
    s = m.score(np.array([train.n_users - 1]))
    assert np.isfinite(s).all() and np.ptp(s) > 0


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match="learning_rate must be > 0"):
        LightGCNConfig.from_params({"learning_rate": 0.0}, where="params.yaml: methods.lightgcn")
    with pytest.raises(ConfigError, match="device"):
        LightGCNConfig.from_params({"device": "tpu"}, where="params.yaml: methods.lightgcn")


def test_normalized_adjacency_known_answer():
    """R = [[1, 1], [0, 1], [0, 0]] (user 2 is cold): degrees users (2, 1, 0), items (1, 2), so
    A_hat[u0, i0] = 1/sqrt(2*1), A_hat[u0, i1] = 1/sqrt(2*2), A_hat[u1, i1] = 1/sqrt(1*2)."""
    import scipy.sparse as sp

    r = sp.csr_matrix(np.array([[1, 1], [0, 1], [0, 0]], dtype=np.float32))
    a = normalized_adjacency(r).toarray()
    expected = np.zeros((5, 5), dtype=np.float32)
    expected[0, 3], expected[0, 4], expected[1, 4] = 1 / np.sqrt(2), 0.5, 1 / np.sqrt(2)
    expected += expected.T
    np.testing.assert_allclose(a, expected, rtol=1e-6)
    assert a.dtype == np.float32


@cuda_only
def test_cuda_matches_shape_and_is_finite():
    train, valid = checkerboard()
    m = LightGCN(LightGCNConfig(**{**FAST, "device": "cuda"}, epochs=3)).fit(
        train, rng=np.random.default_rng(0), valid=valid
    )
    s = m.score(np.arange(train.n_users))
    assert s.dtype == np.float32 and s.shape == (train.n_users, train.n_items)
    assert np.isfinite(s).all()
