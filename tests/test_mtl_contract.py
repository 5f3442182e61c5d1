"""Contract of every registered multi-task method (``bench.methods.available("mtl")``): new MTL methods
are picked up automatically.

Checked: the constructor stores only the config; ``fit(data, *, rng, valid)`` returns self, sets
learned state ending in ``_`` and does not mutate its inputs; ``predict`` returns every task as a
finite ``(n,)`` array (binary tasks in [0, 1]) from features only, also for unknown ids; the same seed
gives identical predictions; a pickled fitted method predicts the same; every neural method accepts
every ``loss_weighting`` and has the shared config fields; search spaces name real fields.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from bench import methods
from bench.evaluate import check_predictions
from bench.errors import ConfigError
from bench.multitask import BINARY_TASKS, TASKS
from methods._mtl_balance import BALANCERS
from tests.mtl_fixtures import synthetic_mtl

MTL_METHODS = methods.available("mtl")
SHARED_FIELDS = ("embedding_size", "epochs", "learning_rate", "reg", "batch_size", "patience", "device", "loss_weighting")
#: small settings applied to whichever of these fields a config has (keeps the suite fast)
SMALL = {
    "embedding_size": 4, "hidden_sizes": (8,), "tower_sizes": (4,), "epochs": 3, "batch_size": 128,
    "device": "cpu", "num_threads": 1, "n_experts": 2, "patience": 2,
}


@pytest.fixture(scope="module")
def data():
    return synthetic_mtl(n_users=30, n_items=20, per_user=12, seed=3)


def is_neural(name: str) -> bool:
    return "epochs" in {f.name for f in dataclasses.fields(methods.get(name).config)}


def make(name: str, **extra):
    spec = methods.get(name)
    fields = {f.name for f in dataclasses.fields(spec.config)}
    params = {k: v for k, v in {**SMALL, **extra}.items() if k in fields}
    return spec.cls(spec.config.from_params(params))


def fit_predict(name: str, data, seed: int = 0, **extra):
    train, valid, test = data
    model = make(name, **extra)
    assert model.fit(train, rng=np.random.default_rng(seed), valid=valid) is model
    return model, model.predict(test.features_only())


def test_there_are_mtl_methods():
    assert {"single_task", "shared_bottom", "mmoe", "ple", "esmm", "aitm", "multioutput_linear"} <= set(MTL_METHODS)


@pytest.mark.parametrize("name", MTL_METHODS)
def test_constructor_stores_only_config(name):
    spec = methods.get(name)
    config = spec.config.from_params({})
    model = spec.cls(config)
    assert vars(model) == {"config": config}
    assert dataclasses.is_dataclass(config) and type(config).__dataclass_params__.frozen
    assert spec.config.from_params(config.to_params()) == config
    assert set(spec.search_space) <= {f.name for f in dataclasses.fields(spec.config)}
    assert spec.summary, f"{name}: the class needs a docstring"


@pytest.mark.parametrize("name", MTL_METHODS)
def test_fit_predict_contract(name, data):
    train, valid, test = data
    before = {k: v.copy() for k, v in vars(train).items() if isinstance(v, np.ndarray)}
    labels_before = {t: v.copy() for t, v in train.labels.items()}
    model, pred = fit_predict(name, data)
    for key, value in before.items():
        np.testing.assert_array_equal(getattr(train, key), value, err_msg=f"fit mutated data.{key}")
    for t, value in labels_before.items():
        np.testing.assert_array_equal(train.labels[t], value)
    learned = [k for k in vars(model) if k != "config"]
    assert learned and all(k.endswith("_") for k in learned), learned
    checked = check_predictions(pred, len(test), name)
    assert set(checked) == set(TASKS)
    for t in BINARY_TASKS:
        assert ((checked[t] >= 0) & (checked[t] <= 1)).all()


@pytest.mark.parametrize("name", MTL_METHODS)
def test_same_seed_same_predictions_and_pickle(name, data):
    model, a = fit_predict(name, data, seed=7)
    _, b = fit_predict(name, data, seed=7)
    for t in TASKS:
        np.testing.assert_array_equal(a[t], b[t], err_msg=f"{name}: task {t} differs for the same seed")
    clone = pickle.loads(pickle.dumps(model))
    c = clone.predict(data[2].features_only())
    for t in TASKS:
        np.testing.assert_array_equal(a[t], c[t])


@pytest.mark.parametrize("name", MTL_METHODS)
def test_unknown_ids_get_finite_predictions(name, data):
    model, _ = fit_predict(name, data)
    test = data[2]
    cold = dataclasses.replace(test, user_id=np.zeros_like(test.user_id), item_id=np.zeros_like(test.item_id))
    check_predictions(model.predict(cold.features_only()), len(cold), name)


@pytest.mark.parametrize("name", [n for n in MTL_METHODS if is_neural(n)])
def test_neural_methods_share_fields_and_every_loss_weighting_trains(name, data):
    fields = {f.name: f for f in dataclasses.fields(methods.get(name).config)}
    assert set(SHARED_FIELDS) <= set(fields)
    for weighting in BALANCERS:
        _, pred = fit_predict(name, data, loss_weighting=weighting, epochs=2)
        check_predictions(pred, len(data[2]), f"{name}[{weighting}]")
    with pytest.raises(ConfigError, match="loss_weighting"):
        methods.build(name, {"loss_weighting": "magic"})


@pytest.mark.parametrize("name", [n for n in MTL_METHODS if is_neural(n)])
def test_device_option(name, data):
    if torch.cuda.is_available():
        _, pred = fit_predict(name, data, device="cuda", epochs=1)
        check_predictions(pred, len(data[2]), name)
    else:
        with pytest.raises(ConfigError, match="cuda"):
            fit_predict(name, data, device="cuda")
