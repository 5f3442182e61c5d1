"""Method protocols (one per scenario kind), configuration base, search-space types and the method
registry.

A method is one class plus one frozen config dataclass, registered with :func:`register`::

    @dataclass(frozen=True, kw_only=True)
    class EASEConfig(Config):
        reg: float = 250.0
        search_space: ClassVar = {"reg": FloatRange(1.0, 1e4, log=True)}

    @register("ease", config=EASEConfig, scenarios=("topn",))
    class EASE:
        def __init__(self, config: EASEConfig): self.config = config
        def fit(self, data, *, rng, valid=None): ...; return self
        def score(self, users): ...

Contract of every method, whatever its scenario kind (checked for every registered method and
every kind it supports by the suite generated from the kind table, ``tests/test_method_contract.py``):

* the constructor only stores ``config``; all learned state is set in ``fit`` and ends in ``_``;
* ``fit(data, *, rng, valid=None)`` returns ``self`` and does not mutate ``data``; all randomness comes
  from ``rng`` (a :class:`numpy.random.Generator`), so the same seed gives the same outputs;
* fitted methods pickle and unpickle to the same outputs.

What ``data`` is and what the harness reads after ``fit`` depend on the kind, one protocol each
(named by the kind's row in :mod:`bench.kinds`):

* :class:`TopNMethod` (``topn``): ``score(users)`` returns a dense ``(len(users), n_items)`` float
  array, finite everywhere; users with no training interactions get finite scores (method-specific,
  documented on the class); indices outside ``[0, n_users)`` raise
  :class:`~bench.errors.UnknownUserError`;
* :class:`MTLMethod` (``mtl``): ``predict(features)`` returns every task's predictions;
* :class:`TabularMTLMethod` (``tabular_mtl``): the same on one row per person;
* :class:`CDRMethod` (``cdr_warm``, ``cdr_cold``): ``score(users)`` over the target domain's items.

External packages register methods through the entry point group ``recxbench.methods``: the entry point
names a module (or object) whose import calls :func:`register`, or a package whose modules do (indexed
without importing them, see :func:`load_plugins`).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np

from bench.errors import ConfigError, UnknownUserError
from bench.typed import parse_dataclass
from bench.interactions import Interactions

__all__ = [
    "ENTRY_POINT_GROUP",
    "Categorical",
    "Config",
    "FloatRange",
    "IntRange",
    "CDRMethod",
    "MTLMethod",
    "Method",
    "MethodSpec",
    "TabularMTLMethod",
    "TopNMethod",
    "available",
    "build",
    "check_users",
    "get",
    "load_plugins",
    "register",
]

ENTRY_POINT_GROUP = "recxbench.methods"


# ----------------------------------------------------------------------------- search space types
@dataclass(frozen=True)
class IntRange:
    """Integer hyperparameter in ``[low, high]`` (inclusive), optionally sampled on a log scale."""

    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    """Float hyperparameter in ``[low, high]``, optionally sampled on a log scale."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Categorical:
    """Hyperparameter chosen from a fixed tuple of values."""

    choices: tuple[Any, ...]


Distribution = IntRange | FloatRange | Categorical


# ----------------------------------------------------------------------------- config base
@dataclass(frozen=True, kw_only=True)
class Config:
    """Base of every method config: a frozen dataclass whose fields map 1:1 onto ``params.yaml``.

    Subclasses add fields with defaults (the only place defaults are written) and may declare
    ``search_space``: a mapping from field name to :class:`IntRange`, :class:`FloatRange` or
    :class:`Categorical` used by the ``tune`` stage.
    """

    search_space: ClassVar[Mapping[str, Distribution]] = {}

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, *, where: str = "params") -> Self:
        """Validate ``params`` (names and types) and build the config.

        Raises:
            ConfigError: naming ``where`` (e.g. ``params.yaml: methods.ease``), the bad key, and the
                valid choices.
        """
        return parse_dataclass(cls, params, where=where)

    def to_params(self) -> dict[str, Any]:
        """The config as a plain dict (what a run record stores)."""
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- protocols, one per kind
@runtime_checkable
class TopNMethod(Protocol):
    """Scenario kind ``topn``: learns from implicit feedback, ranks every item for a user.

    ``fit(data, *, rng, valid=None)`` receives the train part as :class:`~bench.interactions.Interactions`
    (``valid`` for early stopping only); ``score(users)`` returns a dense finite
    ``(len(users), n_items)`` array (the harness masks seen items and ranks).
    """

    config: Config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> Self: ...

    def score(self, users: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class MTLMethod(Protocol):
    """Scenario kind ``mtl``: ``fit(data, *, rng, valid=None)`` on :class:`~bench.multitask.MTLData`
    impressions with labels; ``predict(data)`` gets the test impressions' features only
    (``data.features_only()``) and returns ``{task: (n,) array}`` for every task of
    :data:`bench.multitask.TASKS` (binary tasks as probabilities in [0, 1]). Helpers:
    :func:`bench.multitask.check_fit_data`, :mod:`methods._mtl_torch`."""

    config: Config

    def fit(self, data: Any, *, rng: np.random.Generator, valid: Any = None) -> Self: ...

    def predict(self, data: Any) -> Mapping[str, np.ndarray]: ...


@runtime_checkable
class TabularMTLMethod(Protocol):
    """Scenario kind ``tabular_mtl``: ``fit(data, *, rng, valid=None)`` on
    :class:`~bench.tabular_mtl.TabularMTLData` (one row per person: encoded categorical codes, 0 =
    unseen in train, and standardised numeric columns; binary labels per task; ``valid`` for early
    stopping only); ``predict(data)`` gets the test rows' features only and returns
    ``{task: (n,) probabilities}`` for every task of ``data.tasks``. Helpers:
    :func:`bench.tabular_mtl.check_fit_data`, :mod:`methods._mtl_torch` (the MTL networks take
    either hand-off)."""

    config: Config

    def fit(self, data: Any, *, rng: np.random.Generator, valid: Any = None) -> Self: ...

    def predict(self, data: Any) -> Mapping[str, np.ndarray]: ...


@runtime_checkable
class CDRMethod(Protocol):
    """Scenario kinds ``cdr_warm`` / ``cdr_cold``: ``fit(data, *, rng, valid=None)`` on
    :class:`~bench.cdr.CDRData` (both domains' train parts in one shared user index, domain-local
    item indices; ``valid`` is the target domain's validation part, early stopping only);
    ``score(users)`` returns finite ``(len(users), n_target_items)`` scores, also for cold-start
    users (who have source interactions only)."""

    config: Config

    def fit(self, data: Any, *, rng: np.random.Generator, valid: Interactions | None = None) -> Self: ...

    def score(self, users: np.ndarray) -> np.ndarray: ...


#: the original name of the top-N protocol
Method = TopNMethod


def check_users(users: np.ndarray, n_users: int, method: str) -> np.ndarray:
    """Validate requested user indices; shared by every method's ``score``."""
    users = np.asarray(users, dtype=np.int64)
    if users.ndim != 1:
        raise ValueError(f"{method}: users must be a 1-d array of user indices")
    bad = users[(users < 0) | (users >= n_users)]
    if bad.size:
        raise UnknownUserError(
            f"{method}: user indices {bad[:5].tolist()} are outside the fitted index space "
            f"[0, {n_users}); users unknown at fit time cannot be scored"
        )
    return users


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its name, class, config class and supported scenario kinds."""

    name: str
    cls: type
    config: type[Config]
    scenarios: frozenset[str]

    @property
    def search_space(self) -> Mapping[str, Distribution]:
        return self.config.search_space

    @property
    def summary(self) -> str:
        doc = (self.cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""


_REGISTRY: dict[str, MethodSpec] = {}
#: methods found in a plugin package without importing it: name -> (module, scenario kinds)
_INDEX: dict[str, tuple[str, frozenset[str]]] = {}
_PLUGINS_LOADED = False


def register(
    name: str, *, config: type[Config], scenarios: Iterable[str] = ("topn",)
) -> Callable[[type], type]:
    """Class decorator adding a method to the registry under ``name``."""
    if not dataclasses.is_dataclass(config) or not issubclass(config, Config):
        raise TypeError(f"method {name!r}: config must be a dataclass subclass of bench.methods.Config")

    def decorator(cls: type) -> type:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.cls.__qualname__ != cls.__qualname__:
            raise ValueError(
                f"method name {name!r} is already registered by {existing.cls.__module__}."
                f"{existing.cls.__qualname__}; choose another name"
            )
        _REGISTRY[name] = MethodSpec(name, cls, config, frozenset(scenarios))
        cls.method_name = name
        return cls

    return decorator


def load_plugins() -> None:
    """Find every method of the ``recxbench.methods`` entry points (once; the built-ins come through
    the entry point ``builtin = "methods"``).

    An entry point naming a *package* is indexed without importing it: each of its modules whose
    ``@register(...)`` calls have literal arguments is listed by name and scenario kinds and
    imported only when one of its methods is used (so a ``pop`` cell never imports torch). Any
    other entry point, and a module whose registration cannot be read statically, is imported now.
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from bench.kinds import load_entry_points

    def load_one(ep) -> None:
        if not ep.attr and _is_package(ep.module):
            _index_package(ep.module)
        else:
            ep.load()

    load_entry_points(ENTRY_POINT_GROUP, load_one)


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def _index_package(package: str) -> None:
    """List the methods of ``package`` (its ``__init__`` and public modules) by reading their
    ``@register`` decorators."""
    spec = importlib.util.find_spec(package)
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("*.py")):
            if path.stem.startswith("_") and path.stem != "__init__":
                continue
            module = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found = _registrations(path.read_text())
            if found is None:
                importlib.import_module(module)
            for name, scenarios in found or ():
                if name not in _REGISTRY:
                    _INDEX[name] = (module, scenarios)


def _registrations(source: str) -> list[tuple[str, frozenset[str]]] | None:
    """``(name, scenario kinds)`` of every ``@register(...)`` class decorator in ``source``; None when
    one of them has non-literal arguments (the module must then be imported to know)."""
    if "register(" not in source:
        return []
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for deco in node.decorator_list:
            func = deco.func if isinstance(deco, ast.Call) else None
            callee = getattr(func, "id", None) or getattr(func, "attr", None)
            if callee != "register":
                continue
            try:
                name = ast.literal_eval(deco.args[0])
                kw = {k.arg: k.value for k in deco.keywords}
                scenarios = ast.literal_eval(kw["scenarios"]) if "scenarios" in kw else ("topn",)
            except (ValueError, IndexError, TypeError, SyntaxError):
                return None
            found.append((name, frozenset(scenarios)))
    return found


def _scenarios_of(name: str) -> frozenset[str]:
    return _REGISTRY[name].scenarios if name in _REGISTRY else _INDEX[name][1]


def available(scenario: str | None = None) -> list[str]:
    """Sorted names of registered methods, optionally only those supporting a scenario kind."""
    load_plugins()
    names = set(_REGISTRY) | set(_INDEX)
    return sorted(n for n in names if scenario is None or scenario in _scenarios_of(n))


def get(name: str) -> MethodSpec:
    """The spec registered under ``name`` (importing its module on first use); a
    :class:`ConfigError` lists the valid names otherwise."""
    load_plugins()
    if name not in _REGISTRY and name in _INDEX:
        importlib.import_module(_INDEX[name][0])
        if name not in _REGISTRY:
            raise ConfigError(
                f"method {name!r}: module {_INDEX[name][0]} was expected to register it but did not"
            )
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; registered methods are {available()}") from None


def build(name: str, params: Mapping[str, Any] | None = None, *, where: str | None = None) -> Any:
    """Validate ``params`` against the method's config and return an unfitted instance."""
    spec = get(name)
    config = spec.config.from_params(params, where=where or f"params.yaml: methods.{name}")
    return spec.cls(config)
