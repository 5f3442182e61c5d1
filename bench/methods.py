"""Method protocol, configuration base, search-space types and the method registry.

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

Contract (checked for every registered method by ``tests/test_method_contract.py``):

* the constructor only stores ``config``; all learned state is set in ``fit`` and ends in ``_``;
* ``fit(data, *, rng, valid=None)`` returns ``self`` and does not mutate ``data``; all randomness comes
  from ``rng`` (a :class:`numpy.random.Generator`), so the same seed gives the same scores;
* ``score(users)`` returns a dense ``(len(users), n_items)`` float array, finite everywhere; users with no
  training interactions get finite scores (method-specific, documented on the class); indices outside
  ``[0, n_users)`` raise :class:`~bench.errors.UnknownUserError`;
* fitted methods pickle and unpickle to the same scores.

External packages register methods through the entry point group ``recxbench.methods``: the entry point
names a module (or object) whose import calls :func:`register`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
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
    "Method",
    "MethodSpec",
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


# ----------------------------------------------------------------------------- protocol
@runtime_checkable
class Method(Protocol):
    """What the harness calls. See the module docstring for the full contract."""

    config: Config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> Self: ...

    def score(self, users: np.ndarray) -> np.ndarray: ...


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
    """Import every module named by the ``recxbench.methods`` entry points (once)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    importlib.import_module("methods")  # built-ins, also when the package is not installed
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:
            raise ConfigError(
                f"plugin entry point {ep.name!r} ({ep.value}) in group {ENTRY_POINT_GROUP!r} failed "
                f"to import: {exc!r}. Fix or uninstall the package that provides it."
            ) from exc


def available(scenario: str | None = None) -> list[str]:
    """Sorted names of registered methods, optionally only those supporting a scenario kind."""
    load_plugins()
    return sorted(n for n, s in _REGISTRY.items() if scenario is None or scenario in s.scenarios)


def get(name: str) -> MethodSpec:
    """The spec registered under ``name``; a :class:`ConfigError` lists the valid names otherwise."""
    load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown method {name!r}; registered methods are {sorted(_REGISTRY)}"
        ) from None


def build(name: str, params: Mapping[str, Any] | None = None, *, where: str | None = None) -> Any:
    """Validate ``params`` against the method's config and return an unfitted instance."""
    spec = get(name)
    config = spec.config.from_params(params, where=where or f"params.yaml: methods.{name}")
    return spec.cls(config)
