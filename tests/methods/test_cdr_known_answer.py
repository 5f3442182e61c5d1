"""Known answer: two synthetic domains generated from SHARED user factors (three user groups, each
preferring its own block of items in both domains; item ids shuffled). The last 40 users are cold in
the target. Their source behaviour reveals their group, so the mapping methods (EMCDR, PTUPCDR) must
rank their held-out target item far better than ``target_only``, which has no target evidence about
them and documents constant scores (a random ranking of the shuffled items: NDCG@10 around 0.08)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bench import methods
from bench.evaluate import evaluate_sampled, evaluate_topn
from bench.interactions import Interactions
from tests.cdr_data import cdr_data

N_USERS, N_COLD = 200, 40
SETTINGS = {"embedding_size": 16, "epochs": 100, "patience": 10, "device": "cpu", "num_threads": 1}
#: NDCG@10 of a uniformly random ranking of the 49 rankable items for one relevant item
RANDOM_NDCG = sum(1 / np.log2(r + 1) for r in range(1, 11)) / 49


@pytest.fixture(scope="module")
def world():
    data, valid, tgt = cdr_data(n_users=N_USERS, n_s=60, n_t=50, cold=N_COLD, seed=3)
    cold = np.arange(N_USERS - N_COLD, N_USERS)
    assert set(data.cold_users) == set(cold)
    truth = Interactions.from_frame(pd.DataFrame({"user": cold, "item": tgt[cold, 0]}), N_USERS, 50).matrix
    return data, valid, truth, cold, tgt


def _ndcg(model, world) -> float:
    data, valid, truth, cold, _ = world
    result = evaluate_topn(model, users=cold, exclude=sp.csr_matrix((data.target.matrix + valid.matrix)), truth=truth,
                           ks=(10,), metrics=("ndcg",))
    return float(result.per_user["ndcg@10"].mean())


@pytest.fixture(scope="module")
def target_only(world):
    data, valid, *_ = world
    return methods.build("target_only", SETTINGS).fit(data, rng=np.random.default_rng(0), valid=valid)


def test_target_only_cannot_score_cold_users(world, target_only):
    _, _, _, cold, tgt = world
    scores = target_only.score(cold)
    assert np.ptp(scores, axis=1).max() == 0.0  # documented: constant scores for cold users
    # sampled protocol with pessimistic ties: a constant scorer never ranks the positive first
    cand = np.column_stack([tgt[cold, 0], tgt[cold, 5:7]])
    hr = evaluate_sampled(target_only, cand, cold, ks=(1,), metrics=("hr",)).per_user["hr@1"]
    assert hr.sum() == 0


@pytest.mark.parametrize("name", ["emcdr", "ptupcdr"])
def test_mapping_methods_beat_target_only_on_cold_users(world, target_only, name):
    data, valid, *_ = world
    params = dict(SETTINGS)
    if name == "emcdr":
        params.update(map_learning_rate=1e-2, map_batch_size=16)
    else:
        params.update(map_learning_rate=1e-2, map_batch_size=64, meta_hidden=32)
    model = methods.build(name, params).fit(data, rng=np.random.default_rng(0), valid=valid)
    base, mapped = _ndcg(target_only, world), _ndcg(model, world)
    assert base < 2 * RANDOM_NDCG  # constant scores: no better than the (shuffled) tie order
    assert mapped > base + 0.25 and mapped > 3 * RANDOM_NDCG, (
        f"{name}: NDCG@10 on cold users {mapped:.3f} vs target_only {base:.3f}"
    )
