"""The method contract, checked the same way for every scenario kind: the suite
``tests/test_kind_contract.py`` is generated from the kind table (every kind of :mod:`bench.kinds`
x every method registered for it), and a plugin author can call :func:`check_method` in their own
tests.

Each kind's row names a ``contract`` function returning a :class:`ContractCase`: tiny synthetic
fit data of the kind's hand-off type and how to read the fitted method's outputs (``score`` over
all users for the ranking kinds, ``predict`` for the multi-task kinds). :func:`check_method` then checks

* the constructor stores only ``config`` (a frozen dataclass that round-trips through
  ``to_params``/``from_params``; the search space names real fields);
* ``fit`` returns ``self`` (:func:`bench.fitting.fit_method`), learned state ends in ``_``, and
  ``fit`` does not mutate its data;
* the outputs are finite; the same seed gives identical outputs; a pickled fitted method gives
  identical outputs.

Kind-specific behaviour (cold users, unknown ids, task ranges ...) is checked by each kind's own
suite.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bench import kinds, methods
from bench.cdr import CDRData
from bench.fitting import fit_method
from bench.interactions import Interactions
from bench.multitask import MTLData
from bench.tabular_mtl import TabularMTLData

__all__ = [
    "SMALL",
    "ContractCase",
    "cdr_case",
    "cdr_data",
    "check_method",
    "latent_domains",
    "mtl_case",
    "small_params",
    "synthetic_mtl",
    "synthetic_tabular",
    "tabular_mtl_case",
    "topn_case",
]

#: settings applied to whichever of these fields a method's config has (keeps the checks fast)
SMALL: Mapping[str, Any] = {
    "epochs": 2, "embedding_size": 8, "hidden_size": 16, "hidden_sizes": (8,), "tower_sizes": (4,),
    "batch_size": 128, "n_experts": 2, "patience": 2, "device": "cpu", "num_threads": 1,
}


@dataclass(frozen=True)
class ContractCase:
    """Fit data of one kind and how to read a fitted method's outputs.

    Attributes:
        data, valid: what ``fit(data, rng=..., valid=valid)`` receives.
        outputs: fitted method -> an array or a mapping of arrays (what the kind's evaluation reads).
        small: extra or different :data:`SMALL` settings for this kind.
    """

    data: Any
    valid: Any
    outputs: Callable[[Any], Any]
    small: Mapping[str, Any] = field(default_factory=dict)


def small_params(name: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:data:`SMALL` (and ``extra``) restricted to the fields of method ``name``'s config."""
    fields = {f.name for f in dataclasses.fields(methods.get(name).config) if f.init}
    return {k: v for k, v in {**SMALL, **(extra or {})}.items() if k in fields}


def check_method(name: str, kind: str) -> None:
    """Run the generic contract checks of method ``name`` on kind ``kind``'s contract case; raises
    ``AssertionError`` naming the broken rule."""
    row = kinds.get(kind)
    assert row.contract is not None, f"kind {kind!r} declares no contract case"
    case = row.resolve("contract")()
    spec = methods.get(name)
    assert kind in spec.scenarios, f"{name} is not registered for kind {kind!r}"
    config = spec.config.from_params(small_params(name, case.small))
    assert dataclasses.is_dataclass(config) and type(config).__dataclass_params__.frozen, (
        f"{name}: the config must be a frozen dataclass"
    )
    assert spec.config.from_params(config.to_params()) == config, f"{name}: to_params round trip"
    assert set(spec.search_space) <= {f.name for f in dataclasses.fields(spec.config)}, (
        f"{name}: search_space names a field the config does not have"
    )
    model = spec.cls(config)
    assert vars(model) == {"config": config}, f"{name}: the constructor must only store config"

    before = _snapshot(case.data)
    fit_method(model, case.data, seed=0, valid=case.valid, method=name)
    assert _same(before, _snapshot(case.data)), f"{name}: fit() mutated its data"
    learned = [k for k in vars(model) if k != "config"]
    assert learned and all(k.endswith("_") for k in learned), (
        f"{name}: learned state must be attributes ending in '_', got {learned}"
    )
    out = case.outputs(model)
    assert _finite(out), f"{name}: outputs must be finite"

    again = spec.cls(config)
    fit_method(again, case.data, seed=0, valid=case.valid, method=name)
    assert _same(out, case.outputs(again)), f"{name}: the same seed must give the same outputs"
    assert _same(out, case.outputs(pickle.loads(pickle.dumps(model)))), (
        f"{name}: a pickled fitted method must give the same outputs"
    )


def _snapshot(value: Any) -> Any:
    if isinstance(value, np.ndarray | pd.DataFrame | pd.Series) or sp.issparse(value):
        return value.copy()
    if isinstance(value, Mapping):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_snapshot(v) for v in value)
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {"__type__": type(value), **{k: _snapshot(v) for k, v in vars(value).items()}}
    return value


def _same(a: Any, b: Any) -> bool:
    if sp.issparse(a) or sp.issparse(b):
        return sp.issparse(a) and sp.issparse(b) and a.shape == b.shape and (a != b).nnz == 0
    if isinstance(a, pd.DataFrame | pd.Series):
        return isinstance(b, type(a)) and a.equals(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _finite(out: Any) -> bool:
    if isinstance(out, Mapping):
        return all(_finite(v) for v in out.values())
    return bool(np.isfinite(np.asarray(out, dtype=np.float64)).all())


# ----------------------------------------------------------------------------- the built-in cases
def topn_case() -> ContractCase:
    """40 users x 30 items from a rank-3 logistic model; users 36-39 and item 29 without training
    interactions; outputs: ``score`` of every user."""
    n_users, n_items = 40, 30
    rng = np.random.default_rng(2024)
    logits = 2.0 * rng.normal(size=(n_users, 3)) @ rng.normal(size=(3, n_items)) - 2.0
    liked = rng.random((n_users, n_items)) < 1.0 / (1.0 + np.exp(-logits))
    liked[:, n_items - 1] = False
    liked[36:] = False
    liked[np.arange(36), np.arange(36) % (n_items - 1)] = True
    users, items = np.nonzero(liked)
    is_valid = rng.random(users.size) < 0.15
    is_valid[np.r_[True, users[1:] != users[:-1]]] = False
    frame = pd.DataFrame({
        "user": users, "item": items, "rating": np.full(users.size, 5.0),
        "timestamp": rng.integers(0, 10**9, users.size),
    })
    train = Interactions.from_frame(frame[~is_valid], n_users, n_items)
    valid = Interactions.from_frame(frame[is_valid], n_users, n_items)
    return ContractCase(train, valid, lambda m: m.score(np.arange(n_users)))


def mtl_case() -> ContractCase:
    """:func:`synthetic_mtl` (30 users x 20 items); outputs: ``predict`` on the test features."""
    train, valid, test = synthetic_mtl(n_users=30, n_items=20, per_user=12, seed=3)
    features = test.features_only()
    return ContractCase(train, valid, lambda m: dict(m.predict(features)))


def tabular_mtl_case() -> ContractCase:
    """:func:`synthetic_tabular` (300 persons); outputs: ``predict`` on the test features."""
    train, valid, test = synthetic_tabular(n=300, seed=5)
    features = test.features_only()
    return ContractCase(train, valid, lambda m: dict(m.predict(features)))


def cdr_case() -> ContractCase:
    """:func:`cdr_data` with 6 cold-start users; outputs: ``score`` of every user."""
    data, valid, _ = cdr_data(n_users=40, n_s=20, n_t=15, cold=6, seed=1)
    return ContractCase(data, valid, lambda m: m.score(np.arange(data.n_users)))


def synthetic_mtl(
    n_users: int = 120,
    n_items: int = 80,
    per_user: int = 30,
    dim: int = 4,
    interaction: float = 0.5,
    fractions: tuple[float, float] = (0.6, 0.2),
    seed: int = 0,
) -> tuple[MTLData, MTLData, MTLData]:
    """``(train, valid, test)`` MTLData with every user and item in the training vocabulary
    (slot = index + 1), two categorical user fields and five genres (pure noise features)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n_users), rng.normal(size=n_items)
    zu = rng.normal(size=(n_users, dim)) / np.sqrt(dim)
    zi = rng.normal(size=(n_items, dim))
    user = np.repeat(np.arange(n_users), per_user)
    item = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    s = a[user] + b[item] + interaction * (zu[user] * zi[item]).sum(1)
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    click = rng.random(s.size) < sig(3 * s - 1)
    like = (rng.random(s.size) < sig(4 * s)) & click
    rating = np.where(click, np.clip(3 + 1.5 * s + rng.normal(0, 0.3, s.size), 1, 5), 0.0)
    fields = np.column_stack([rng.integers(1, 4, n_users), rng.integers(1, 6, n_users)])[user]
    genres = (rng.random((n_items, 5)) < 0.3).astype(np.float32)[item]
    part = rng.choice(3, size=s.size, p=[fractions[0], fractions[1], 1 - sum(fractions)])
    out = []
    for p in range(3):
        r = part == p
        c = click[r]
        out.append(
            MTLData(
                user=user[r], item=item[r], user_id=user[r] + 1, item_id=item[r] + 1,
                user_fields=fields[r], item_genres=genres[r],
                n_user_ids=n_users + 1, n_item_ids=n_items + 1,
                field_names=("a", "b"), field_sizes=(4, 6), genre_names=tuple("ghijk"),
                labels={
                    "click": c.astype(np.float32), "like": like[r].astype(np.float32),
                    "ctcvr": like[r].astype(np.float32), "rating": rating[r].astype(np.float32),
                },
                masks={"click": np.ones(c.size, bool), "like": c, "ctcvr": np.ones(c.size, bool), "rating": c.copy()},
            )
        )
    return tuple(out)


def synthetic_tabular(
    n: int = 600, fractions: tuple[float, float] = (0.6, 0.2), seed: int = 0
) -> tuple[TabularMTLData, TabularMTLData, TabularMTLData]:
    """``(train, valid, test)`` TabularMTLData: three categorical columns (4, 3 and 6 codes, a few
    valid/test codes 0 = unseen) and two standardised numeric ones; task ``a`` depends on the first
    categorical and the first numeric column, task ``b`` on the second categorical column and on
    ``a``'s logit (two related tasks, as in the census task sets)."""
    rng = np.random.default_rng(seed)
    sizes = (5, 4, 7)  # code ranges including 0
    cat = np.column_stack([rng.integers(1, k, n) for k in sizes])
    num = rng.normal(size=(n, 2)).astype(np.float32)
    za = np.array([0.0, -1.5, -0.5, 0.5, 1.5])[cat[:, 0]] + num[:, 0]
    zb = np.array([0.0, -1.0, 0.0, 1.0])[cat[:, 1]] + 0.7 * za
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    labels = {"a": (rng.random(n) < sig(2 * za)).astype(np.float32),
              "b": (rng.random(n) < sig(2 * zb)).astype(np.float32)}
    part = rng.choice(3, size=n, p=[fractions[0], fractions[1], 1 - sum(fractions)])
    cat[(part > 0) & (rng.random(n) < 0.05), 2] = 0
    out = []
    for p in range(3):
        r = part == p
        out.append(TabularMTLData(
            row=np.flatnonzero(r).astype(np.int64), categorical=cat[r].astype(np.int64), numeric=num[r],
            tasks=("a", "b"), categorical_names=("c0", "c1", "c2"), categorical_sizes=sizes,
            numeric_names=("x0", "x1"), labels={t: v[r] for t, v in labels.items()},
            masks={t: np.ones(int(r.sum()), dtype=bool) for t in labels},
        ))
    return tuple(out)


def latent_domains(
    n_users: int = 200, n_s: int = 60, n_t: int = 50, k: int = 3, per_user: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's ``per_user`` best source and target items under shared user factors (clustered:
    ``k`` user groups, each preferring its own block of items in both domains, plus noise). Item ids
    are shuffled so that item order says nothing about preference. Returns (source, target) item
    matrices of shape (n_users, per_user)."""
    rng = np.random.default_rng(seed)
    group = rng.integers(k, size=n_users)
    u = np.eye(k)[group] * 3.0 + rng.normal(0, 0.3, (n_users, k))
    out = []
    for n in (n_s, n_t):
        v = np.eye(k)[rng.integers(k, size=n)] + rng.normal(0, 0.3, (n, k))
        scores = u @ v.T + rng.gumbel(0, 0.5, (n_users, n))
        out.append(np.argsort(-scores, axis=1)[:, :per_user])
    return out[0], out[1]


def cdr_data(n_users: int = 120, n_s: int = 40, n_t: int = 30, cold: int = 0, seed: int = 0) -> tuple[CDRData, Interactions, np.ndarray]:
    """A :class:`CDRData` of ``latent_domains`` where the last ``cold`` users have no target training
    interactions; returns (data, target valid Interactions, target test truth items per user)."""
    src, tgt = latent_domains(n_users, n_s, n_t, seed=seed)
    users = np.repeat(np.arange(n_users), src.shape[1])
    s_frame = pd.DataFrame({"user": users, "item": src.ravel()})
    warm = np.arange(n_users) < n_users - cold
    train_t = tgt[:, 2:]
    t_frame = pd.DataFrame({"user": np.repeat(np.arange(n_users), train_t.shape[1]), "item": train_t.ravel()})
    t_frame = t_frame[np.repeat(warm, train_t.shape[1])]
    data = CDRData.from_frames(s_frame, t_frame, n_users=n_users, n_source_items=n_s, n_target_items=n_t,
                               source_name="src", target_name="tgt")
    valid = Interactions.from_frame(pd.DataFrame({"user": np.arange(n_users), "item": tgt[:, 1]}), n_users, n_t)
    return data, valid, tgt
