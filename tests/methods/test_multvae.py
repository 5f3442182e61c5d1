"""``multvae`` (Liang et al., 2018): known answer, determinism, early stopping, annealing, device."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from bench import methods
from bench.errors import ConfigError
from methods.multvae import MultVAE, MultVAEConfig, anneal_steps, kl_weight
from tests.methods.test_torch_helpers import (
    check_fit_contract,
    check_known_answer,
    checkerboard,
    cuda_only,
)

FAST = {"embedding_size": 8, "hidden_size": 32, "learning_rate": 0.01, "batch_size": 16,
        "device": "cpu"}


def test_registered():
    spec = methods.get("multvae")
    assert spec.cls is MultVAE and spec.config is MultVAEConfig and "topn" in spec.scenarios


def test_paper_defaults():
    c = MultVAEConfig()
    assert (c.hidden_size, c.embedding_size, c.dropout, c.beta_max) == (600, 200, 0.5, 0.2)


def test_checkerboard_known_answer():
    check_known_answer(MultVAE(MultVAEConfig(**FAST, epochs=60)))


def test_contract_determinism_early_stopping(monkeypatch):
    def make(**kw):
        return MultVAE(MultVAEConfig(**{**FAST, "epochs": 8, "patience": 2, **kw}))

    check_fit_contract(make, monkeypatch)


def test_scores_are_eval_mode_and_use_the_stored_training_rows():
    train, _ = checkerboard()
    m = MultVAE(MultVAEConfig(**FAST, epochs=5)).fit(train, rng=np.random.default_rng(0))
    users = np.arange(train.n_users)
    s = m.score(users)
    assert np.array_equal(s, m.score(users))  # no dropout / sampling at scoring time
    assert m.train_.dtype == bool and (m.train_ != train.matrix.astype(bool)).nnz == 0
    assert not np.shares_memory(m.train_.indices, train.matrix.indices)
    # cold users (last two rows) are encoded from an empty row: identical, finite scores
    assert np.isfinite(s).all() and np.array_equal(s[-1], s[-2])


def test_default_anneal_schedule_is_the_reference_one_in_epochs():
    # the reference ML-20M run: 234 steps per epoch -> its 200,000 steps exactly
    assert anneal_steps(234) == 200_000
    # ML-100K leave-last-out: 943 users in batches of 500 = 2 steps per epoch; beta reaches 0.2
    # after 0.2 * 1709 = 342 steps = 171 epochs, as in the reference run (40,000 / 234)
    steps = anneal_steps(2)
    assert steps == 1709
    assert kl_weight(171 * 2, beta_max=0.2, total_anneal_steps=steps) == pytest.approx(0.2, abs=1e-3)
    assert anneal_steps(2, 200_000) == 200_000  # an explicit value is kept


def test_kl_weight_schedule():
    w = [kl_weight(s, beta_max=0.2, total_anneal_steps=10) for s in (0, 1, 2, 3, 100)]
    assert w == pytest.approx([0.0, 0.1, 0.2, 0.2, 0.2])
    assert kl_weight(5, beta_max=0.2, total_anneal_steps=200_000) == pytest.approx(2.5e-5)


def test_kl_term_changes_the_fit():
    """With annealing capped at 0.2 after two steps the fit differs from beta_max = 0 (no KL)."""
    train, _ = checkerboard()
    users = np.arange(train.n_users)

    def fit(**kw):
        cfg = MultVAEConfig(**FAST, epochs=3, **kw)
        return MultVAE(cfg).fit(train, rng=np.random.default_rng(0)).score(users)

    assert not np.array_equal(fit(beta_max=0.0), fit(beta_max=0.2, total_anneal_steps=10))


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match="dropout must be in"):
        MultVAEConfig.from_params({"dropout": 1.0}, where="params.yaml: methods.multvae")


@cuda_only
def test_cuda_matches_shape_and_is_finite():
    train, valid = checkerboard()
    m = MultVAE(MultVAEConfig(**{**FAST, "device": "cuda"}, epochs=3)).fit(
        train, rng=np.random.default_rng(0), valid=valid
    )
    s = m.score(np.arange(train.n_users))
    assert s.dtype == np.float32 and s.shape == (train.n_users, train.n_items)
    assert np.isfinite(s).all()
    assert isinstance(m.train_, sp.csr_matrix)


def test_sparse_first_layer_is_the_dense_layer():
    """The encoder's sparse input (normalised rows, dropout read at the interactions) gives the
    dense formulation's first-layer output and gradients: normalize(x) * keep / (1 - p) @ W1 + b1,
    with W1 the transposed weight of the Linear layer the same generator would have built."""
    import torch
    import torch.nn.functional as F

    from methods.multvae import _VAE, _input, _linear

    rng = np.random.default_rng(3)
    dense = (rng.random((12, 40)) < 0.2).astype(np.float32)
    dense[5] = 0.0  # an empty row stays zero
    matrix = sp.csr_matrix(dense)
    users = np.array([0, 5, 3, 11, 7])
    cpu = torch.device("cpu")
    vae = _VAE(40, 16, 4, cpu, torch.Generator().manual_seed(0))
    linear = _linear(40, 16, cpu, torch.Generator().manual_seed(0))  # the dense layer's draw
    assert torch.equal(vae.enc1_weight, linear.weight.t()) and torch.equal(vae.enc1_bias, linear.bias)
    p = 0.3
    keep = torch.rand((len(users), 40), generator=torch.Generator().manual_seed(1)) >= p

    def loss(mu, logvar):
        return mu.sum() + logvar.square().sum()

    loss(*vae.encode(*_input(matrix, users, cpu, keep=keep, dropout=p, transpose=True))).backward()
    sparse = [vae.enc1_weight.grad.clone(), vae.enc1_bias.grad.clone()]
    with torch.no_grad():
        sparse_out = torch.cat(vae.encode(_input(matrix, users, cpu, keep=keep, dropout=p)[0]), 1)

    vae.zero_grad()
    h = F.normalize(torch.from_numpy(dense[users]), dim=1) * keep / (1 - p)
    out = vae.enc2(torch.tanh(h @ vae.enc1_weight + vae.enc1_bias))
    loss(out[:, :4], out[:, 4:]).backward()
    torch.testing.assert_close(sparse_out, out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sparse[0], vae.enc1_weight.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sparse[1], vae.enc1_bias.grad, rtol=1e-5, atol=1e-6)
    # without dropout (scoring): the dense normalised rows
    with torch.no_grad():
        plain = F.normalize(torch.from_numpy(dense[users]), dim=1)
        expected = vae.decode(vae.enc2(torch.tanh(plain @ vae.enc1_weight + vae.enc1_bias))[:, :4])
        torch.testing.assert_close(vae.logits(_input(matrix, users, cpu)[0]), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="needs x_t"):  # gradients without the transpose: refused
        vae.encode(_input(matrix, users, cpu)[0])
