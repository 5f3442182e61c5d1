"""The method contract for every registered cross-domain method (``cdr_warm`` / ``cdr_cold``), picked up
automatically from the registry: constructor stores only the config, ``fit`` returns self and does not
mutate its data, same seed -> same scores, finite scores of the right shape, pickling, unknown users."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from bench import methods
from bench.errors import UnknownUserError
from tests.cdr_data import cdr_data

CDR_METHODS = sorted(set(methods.available("cdr_warm")) | set(methods.available("cdr_cold")))

#: small, fast settings; only fields a method's config has are applied
FAST = {
    "epochs": 2, "embedding_size": 8, "batch_size": 64, "patience": 1, "warmup_epochs": 1,
    "map_batch_size": 32, "meta_hidden": 8, "layers": (8, 4), "device": "cpu", "num_threads": 1,
}


def _build(name: str):
    spec = methods.get(name)
    names = {f.name for f in dataclasses.fields(spec.config)}
    return methods.build(name, {k: v for k, v in FAST.items() if k in names})


@pytest.fixture(scope="module")
def data():
    return cdr_data(n_users=40, n_s=20, n_t=15, cold=8)


def test_every_issue_method_is_registered():
    expected = {"target_only", "pooled", "finetune", "cmf", "emcdr", "ptupcdr", "conet", "bitgcf", "disencdr"}
    assert expected <= set(CDR_METHODS)
    assert {"emcdr", "ptupcdr"} <= set(methods.available("cdr_cold"))


@pytest.mark.parametrize("name", CDR_METHODS)
def test_constructor_only_stores_config(name):
    model = _build(name)
    assert vars(model) == {"config": model.config}
    assert dataclasses.is_dataclass(model.config) and model.config.__dataclass_params__.frozen
    for key in ("embedding_size", "epochs", "learning_rate", "reg", "batch_size", "patience", "device"):
        assert hasattr(model.config, key), f"{name}: missing shared config field {key}"
    assert (methods.get(name).cls.__doc__ or "").strip(), f"{name}: needs a docstring"


@pytest.mark.parametrize("name", CDR_METHODS)
def test_fit_contract(name, data):
    cdr, valid, _ = data
    before = (cdr.source.matrix.copy(), cdr.target.matrix.copy(), valid.matrix.copy())
    a = _build(name)
    assert a.fit(cdr, rng=np.random.default_rng(7), valid=valid) is a
    for m, old in zip((cdr.source.matrix, cdr.target.matrix, valid.matrix), before):
        assert (m != old).nnz == 0, f"{name}: fit mutated its data"
    users = np.arange(cdr.n_users)
    s = a.score(users)
    assert s.shape == (cdr.n_users, cdr.n_target_items)
    assert np.isfinite(s).all()
    b = _build(name).fit(cdr, rng=np.random.default_rng(7), valid=valid)
    np.testing.assert_array_equal(s, b.score(users), err_msg=f"{name}: same seed, different scores")
    clone = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(s, clone.score(users))
    np.testing.assert_allclose(s[[3, 1]], a.score(np.array([3, 1])), rtol=1e-4, atol=1e-6)  # BLAS blocking
    with pytest.raises(UnknownUserError):
        a.score(np.array([cdr.n_users]))
