"""Exceptions that carry a message written for a person: what, where, and what to do."""

__all__ = [
    "ConfigError",
    "DataError",
    "FetchError",
    "LeakageError",
    "MethodError",
    "RecxError",
    "UnknownUserError",
]


class RecxError(Exception):
    """Base class of every error recxbench raises on purpose."""


class ConfigError(RecxError, ValueError):
    """A key or value in ``params.yaml`` (or a method config) is invalid."""


class DataError(RecxError, ValueError):
    """A data file or table is malformed, inconsistent or fails validation."""


class FetchError(RecxError, OSError):
    """A dataset file could not be obtained or failed its checksum."""


class LeakageError(RecxError, AssertionError):
    """A split leaks test information into training data."""


class MethodError(RecxError, RuntimeError):
    """A method crashed, produced invalid output, or was used against its contract."""


class UnknownUserError(RecxError, IndexError):
    """Scores were asked for user indices outside the index space seen in ``fit``."""
