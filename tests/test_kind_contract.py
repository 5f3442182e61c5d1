"""The method contract of :mod:`bench.contract`, generated from the scenario-kind table: every kind
of :mod:`bench.kinds` x every method registered for it (built-ins, methods added later and installed
plugins are picked up at collection time, with no edit here). Kind-specific behaviour is checked by
each kind's own suite (test_method_contract, test_mtl_contract, test_cdr_cells)."""

from __future__ import annotations

import pytest

from bench import kinds, methods
from bench.contract import check_method

CASES = [(kind, name) for kind in kinds.kinds() for name in methods.available(kind)]


def test_every_kind_has_a_contract_case_and_methods():
    for kind in kinds.kinds().values():
        assert kind.contract is not None, kind.name
        assert methods.available(kind.name), f"no method is registered for kind {kind.name!r}"


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_method_contract(kind, name):
    check_method(name, kind)


def test_a_method_that_mutates_its_data_is_caught(monkeypatch):
    spec = methods.get("pop")
    original = spec.cls.fit

    def mutating_fit(self, data, *, rng, valid=None):
        data.matrix.data[:] = 0.0
        return original(self, data, rng=rng, valid=valid)

    monkeypatch.setattr(spec.cls, "fit", mutating_fit)
    with pytest.raises(AssertionError, match="mutated its data"):
        check_method("pop", "topn")


def test_a_method_whose_outputs_depend_on_global_randomness_is_caught(monkeypatch):
    import numpy as np

    spec = methods.get("random")
    monkeypatch.setattr(spec.cls, "score", lambda self, users: np.random.random((len(users), 30)))
    with pytest.raises(AssertionError, match="same seed"):
        check_method("random", "topn")
