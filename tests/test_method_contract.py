"""The method contract (``bench.methods`` module docstring), checked for EVERY method registered for
the ``topn`` scenario: built-ins, methods added later and installed plugins are picked up from the
registry at collection time, with no edit here.

Data: 60 users x 40 items sampled from a rank-3 model, with users 55-59 and item 39 left without
training interactions. Configs are shrunk for speed where they have the field (``epochs``,
``embedding_size``, ``hidden_size``); everything else keeps the method's defaults.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench import methods
from bench.errors import ConfigError, UnknownUserError
from bench.evaluate import rank_users, topk
from bench.interactions import Interactions
from bench.methods import Categorical, FloatRange, IntRange

TOPN = methods.available("topn")
N_USERS, N_ITEMS = 60, 40
COLD_USERS = np.arange(55, 60)
COLD_ITEM = 39
FAST = {"epochs": 2, "embedding_size": 8, "hidden_size": 16}


def _test_params(name: str) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(methods.get(name).config) if f.init}
    return {key: value for key, value in FAST.items() if key in fields}


def _synthetic() -> tuple[Interactions, Interactions]:
    """Train and valid interactions from a rank-3 logistic model (fixed seed)."""
    rng = np.random.default_rng(2024)
    logits = 2.0 * rng.normal(size=(N_USERS, 3)) @ rng.normal(size=(3, N_ITEMS)) - 2.0
    liked = rng.random((N_USERS, N_ITEMS)) < 1.0 / (1.0 + np.exp(-logits))
    liked[:, COLD_ITEM] = False
    liked[COLD_USERS] = False
    liked[np.arange(50), np.arange(50) % COLD_ITEM] = True  # every warm user has >= 1 item
    users, items = np.nonzero(liked)
    is_valid = rng.random(users.size) < 0.15
    is_valid[np.r_[True, users[1:] != users[:-1]]] = False  # keep each user's first item in train
    frame = pd.DataFrame(
        {
            "user": users,
            "item": items,
            "rating": rng.integers(1, 6, users.size).astype(np.float64),
            "timestamp": rng.integers(0, 10**9, users.size),
        }
    )
    train = Interactions.from_frame(frame[~is_valid], N_USERS, N_ITEMS)
    valid = Interactions.from_frame(frame[is_valid], N_USERS, N_ITEMS)
    return train, valid


def _snapshot(data: Interactions) -> tuple[Any, ...]:
    m = data.matrix
    return (m.shape, m.dtype, m.data.copy(), m.indices.copy(), m.indptr.copy(), data.frame.copy())


def _assert_unchanged(data: Interactions, snap: tuple[Any, ...], what: str) -> None:
    shape, dtype, values, indices, indptr, frame = snap
    m = data.matrix
    assert (m.shape, m.dtype) == (shape, dtype), f"{what}: matrix shape/dtype changed"
    np.testing.assert_array_equal(m.data, values, err_msg=f"{what}: matrix.data mutated")
    np.testing.assert_array_equal(m.indices, indices, err_msg=f"{what}: matrix.indices mutated")
    np.testing.assert_array_equal(m.indptr, indptr, err_msg=f"{what}: matrix.indptr mutated")
    pd.testing.assert_frame_equal(data.frame, frame, obj=f"{what}: frame")


@dataclass
class Case:
    name: str
    params: dict[str, Any]
    train: Interactions
    valid: Interactions
    snapshots: dict[str, tuple[Any, ...]]
    method: Any
    returned: Any
    scores: np.ndarray


@pytest.fixture(scope="module", params=TOPN)
def case(request) -> Case:
    """One method fitted once (seed 0, with ``valid``) on fresh synthetic data; shared by the
    read-only checks below."""
    name = request.param
    params = _test_params(name)
    train, valid = _synthetic()
    snapshots = {"train": _snapshot(train), "valid": _snapshot(valid)}
    method = methods.build(name, params)
    returned = method.fit(train, rng=np.random.default_rng(0), valid=valid)
    scores = method.score(np.arange(N_USERS))
    return Case(name, params, train, valid, snapshots, method, returned, scores)


# ----------------------------------------------------------------------------- registration, config
@pytest.mark.parametrize("name", TOPN)
def test_registration(name):
    spec = methods.get(name)
    assert spec.cls.method_name == name
    assert "topn" in spec.scenarios
    assert spec.summary, f"{name}: the class needs a docstring (its first line is listed)"
    config = spec.config()  # `methods.<name>: {}` in params.yaml must work
    assert isinstance(config, methods.Config)


@pytest.mark.parametrize("name", TOPN)
def test_constructor_only_stores_config(name):
    method = methods.build(name, _test_params(name))
    assert set(vars(method)) == {"config"}, f"{name}.__init__ must only store the config"
    assert isinstance(method.config, methods.get(name).config)
    assert isinstance(method, methods.Method)


@pytest.mark.parametrize("name", TOPN)
def test_config_round_trips_through_params(name):
    spec = methods.get(name)
    init_fields = {f.name for f in dataclasses.fields(spec.config) if f.init}
    for config in (spec.config(), spec.config.from_params(_test_params(name))):
        params = config.to_params()
        assert set(params) == init_fields  # no ClassVar (search_space) leaks into params
        assert spec.config.from_params(params) == config
    if init_fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(config, sorted(init_fields)[0], None)


@pytest.mark.parametrize("name", TOPN)
def test_unknown_hyperparameter_is_a_config_error(name):
    with pytest.raises(ConfigError, match="no_such_hyperparameter"):
        methods.build(name, {"no_such_hyperparameter": 1})


@pytest.mark.parametrize("name", TOPN)
def test_search_space_names_real_fields_with_valid_ranges(name):
    spec = methods.get(name)
    fields = {f.name: f for f in dataclasses.fields(spec.config) if f.init}
    for key, dist in spec.search_space.items():
        assert key in fields, f"{name}: search_space names {key!r}, not a config field"
        if isinstance(dist, IntRange | FloatRange):
            assert dist.low < dist.high, f"{name}.{key}: empty range {dist}"
            assert not dist.log or dist.low > 0, f"{name}.{key}: log range must be positive"
            values = [dist.low, dist.high]
        else:
            assert isinstance(dist, Categorical) and len(dist.choices) > 0, f"{name}.{key}: {dist}"
            values = list(dist.choices)
        for value in values:  # every point of the space is a valid config
            spec.config.from_params({key: value}, where=f"search_space of {name}")


# ----------------------------------------------------------------------------- fit
def test_fit_returns_self_and_sets_learned_state(case):
    assert case.returned is case.method
    learned = [k for k in vars(case.method) if k.endswith("_") and not k.startswith("_")]
    assert learned, f"{case.name}: fit must set learned state in attributes ending in '_'"
    assert case.method.config == methods.get(case.name).config.from_params(case.params)


def test_fit_does_not_mutate_the_data(case):
    case.method.score(np.arange(N_USERS))
    _assert_unchanged(case.train, case.snapshots["train"], f"{case.name}: train")
    _assert_unchanged(case.valid, case.snapshots["valid"], f"{case.name}: valid")


def test_same_seed_same_scores(case):
    """Same seed -> identical scores (a different seed may give different ones)."""
    train, valid = _synthetic()
    again = methods.build(case.name, case.params)
    again.fit(train, rng=np.random.default_rng(0), valid=valid)
    np.testing.assert_array_equal(again.score(np.arange(N_USERS)), case.scores)
    other = methods.build(case.name, case.params).fit(train, rng=np.random.default_rng(1))
    assert other.score(np.arange(N_USERS)).shape == case.scores.shape


def test_valid_is_optional(case):
    train, _ = _synthetic()
    method = methods.build(case.name, case.params)
    assert method.fit(train, rng=np.random.default_rng(0)) is method
    assert np.isfinite(method.score(np.arange(N_USERS))).all()


# ----------------------------------------------------------------------------- score
def test_scores_are_a_finite_float_matrix(case):
    s = case.scores
    assert isinstance(s, np.ndarray), f"{case.name}: score must return a numpy array"
    assert s.shape == (N_USERS, N_ITEMS)
    assert s.dtype.kind == "f", f"{case.name}: scores must be floats, got {s.dtype}"
    assert np.isfinite(s).all()


def test_users_without_training_data_get_finite_scores(case):
    s = case.method.score(COLD_USERS)
    assert s.shape == (COLD_USERS.size, N_ITEMS)
    assert np.isfinite(s).all()


def test_scores_do_not_depend_on_batching(case):
    users = np.array([7, 56, 3, 7])
    np.testing.assert_allclose(
        case.method.score(users), case.scores[users], rtol=1e-5, atol=1e-6
    )
    assert case.method.score(np.array([], dtype=np.int64)).shape == (0, N_ITEMS)


@pytest.mark.parametrize("users", [[-1], [N_USERS], [0, N_USERS + 5]])
def test_unknown_users_raise(case, users):
    with pytest.raises(UnknownUserError):
        case.method.score(np.array(users))


def test_pickle_round_trip_gives_identical_scores(case):
    clone = pickle.loads(pickle.dumps(case.method))
    np.testing.assert_array_equal(clone.score(np.arange(N_USERS)), case.scores)


def test_ranking_with_k_larger_than_the_catalogue(case):
    """Full ranking with k > n_items: every rankable item exactly once, then -1 padding."""
    k = N_ITEMS + 5
    exclude = case.train.matrix
    n_rankable = N_ITEMS - np.diff(exclude.indptr)
    batched = rank_users(case.method.score, np.arange(N_USERS), exclude, k, batch_size=7)
    for ranked in (batched, topk(case.scores, k, exclude)):
        assert ranked.shape == (N_USERS, k)
        for user in range(N_USERS):
            row = ranked[user]
            allowed = np.setdiff1d(np.arange(N_ITEMS), exclude[user].indices)
            np.testing.assert_array_equal(np.sort(row[: n_rankable[user]]), allowed)
            assert (row[n_rankable[user] :] == -1).all()
