"""CoNet's full-ranking scorer (fused two-tower GEMMs in pair tiles) against the plain training
forward ``model(xs, xt)`` over every explicit (user, item) pair: same logits up to float rounding,
for any depth, any tile size (including tiles smaller than one user's row) and repeated users."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.cdr_conet import CoNet, CoNetConfig, _CoNet, _PairScorer, _score
from tests.cdr_data import cdr_data

N_USERS, N_S, N_T, DIM = 11, 9, 23, 6


def _reference(model: _CoNet, ms: torch.Tensor, users: np.ndarray, n_t: int) -> np.ndarray:
    """Target logits as in training: ``xs = [e_u ; s_u]``, ``xt = [e_u ; e_j]`` for each pair."""
    u = torch.as_tensor(users).repeat_interleave(n_t)
    j = torch.arange(n_t).repeat(len(users))
    eu = model.user[u]
    with torch.no_grad():
        _, yt = model(torch.cat([eu, ms[u]], 1), torch.cat([eu, model.item_t[j]], 1))
    return yt.reshape(len(users), n_t).numpy()


def _random_model(widths: tuple[int, ...], seed: int) -> tuple[_CoNet, torch.Tensor]:
    """A model whose deep layers still vary across pairs: unit embeddings, weights scaled up by 2
    (the training init shrinks the signal layer by layer, which would make the check vacuous)."""
    gen = torch.Generator().manual_seed(seed)
    model = _CoNet(N_USERS, N_S, N_T, DIM, widths, 1.0, "cpu", gen)
    with torch.no_grad():
        for layers in (model.w_s, model.w_t, model.h):
            for p in layers.parameters():
                p.mul_(2.0)
    ms = torch.randn(N_USERS, DIM, generator=gen)
    return model, ms


@pytest.mark.parametrize("widths", [(5,), (8, 4), (6, 5, 3), (7, 6, 5, 4)])
@pytest.mark.parametrize("n_pairs", [1, 7, N_T - 1, N_T, 3 * N_T + 2, 10_000])
def test_tiled_scores_equal_the_training_forward(widths, n_pairs):
    model, ms = _random_model(widths, seed=len(widths) * 100 + n_pairs)
    users = np.array([3, 0, 10, 3, 7, 1, 2])  # a repeat, not sorted
    got = _score(_PairScorer(model, ms, N_T), users, n_pairs, torch.device("cpu"))
    want = _reference(model, ms, users, N_T)
    assert got.shape == (len(users), N_T) and got.dtype == np.float32
    assert want.std() > 0.1, "the check needs logits that vary across pairs"
    assert torch.allclose(torch.from_numpy(got), torch.from_numpy(want), atol=1e-5)


def test_no_users_gives_an_empty_score_matrix():
    model, ms = _random_model((8, 4), seed=0)
    none = np.array([], dtype=np.int64)
    got = _score(_PairScorer(model, ms, N_T), none, 100, torch.device("cpu"))
    assert got.shape == (0, N_T)


def test_fitted_model_scores_through_the_training_forward():
    cdr, valid, _ = cdr_data(n_users=40, n_s=20, n_t=15, cold=8)
    cfg = CoNetConfig(
        epochs=2, embedding_size=8, batch_size=64, layers=(8, 4), device="cpu", num_threads=1,
        score_batch_pairs=20,
    )
    model = CoNet(cfg).fit(cdr, rng=np.random.default_rng(3), valid=valid)
    users = np.arange(cdr.n_users)
    want = _reference(model.model_, model.source_summary_, users, cdr.n_target_items)
    assert np.allclose(model.score(users), want, atol=1e-5)


def test_score_batch_pairs_must_be_positive():
    with pytest.raises(ValueError, match="score_batch_pairs"):
        CoNetConfig(score_batch_pairs=0)
