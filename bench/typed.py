"""Validate plain mappings (from ``params.yaml``) into frozen dataclasses, with errors that name the key.

Used for method configs, dataset prepare options, scenario and evaluation settings alike, so every
section of ``params.yaml`` is checked the same way before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from bench.errors import ConfigError

__all__ = ["parse_dataclass"]

T = TypeVar("T")


def parse_dataclass(cls: type[T], params: Mapping[str, Any] | None, *, where: str) -> T:
    """Build ``cls(**params)`` after checking every key exists and every value has the field's type.

    Raises:
        ConfigError: ``"<where>: unknown hyperparameter(s) [...]; valid ones are [...]"`` or
            ``"<where>.<key>: expected ..., got ..."``.
    """
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: expected a mapping of settings, got {params!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {key: _coerce(value, hints[key], where=f"{where}.{key}") for key, value in params.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # __post_init__ checks: add where the values came from
        raise ConfigError(f"{where}: {exc}") from exc


def _coerce(value: Any, hint: Any, *, where: str) -> Any:
    """Check ``value`` against a simple type hint; ints are accepted for floats, lists for tuples."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}")
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg, where=where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: {value!r} does not match {hint}")
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, where=f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        return parse_dataclass(hint, value, where=where)
    return value
