"""Tabular datasets: one row per record (a person of a census, not a user-item pair).

A tabular parser reads its files with :func:`bench.data.readers.read_delimited`, types and checks
every column against a declared schema (:class:`Column`) with :func:`validate_table`, and returns a
:class:`ParsedTable`; :func:`build_table` (the ``tabular`` row of ``bench.data.prepare.FORMATS``)
turns it into a :class:`~bench.data.tables.PreparedTable` with the same accounting as the
interaction datasets: every raw line is kept or counted under one reason, per file, and
``rows_read == rows_kept + sum(dropped.values())``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bench.data.clean import FileCounts
from bench.data.readers import RawRows, to_float, to_int
from bench.data.tables import PART_COLUMN, PreparedTable
from bench.errors import ConfigError, DataError

if TYPE_CHECKING:
    from bench.data.prepare import PrepareOptions
    from bench.data.sources import DatasetSource

__all__ = [
    "TABULAR_REASONS",
    "Column",
    "ParsedTable",
    "build_table",
    "count_by_part",
    "validate_table",
]

TABULAR_REASONS = ("malformed_line", "bad_number", "bad_value")
"""Why a raw row of a tabular file is invalid, in the order they are tested:

``malformed_line`` wrong number of fields; ``bad_number`` a continuous column that is not a plain
number (an integer for ``int`` columns); ``bad_value`` a nominal column outside its declared
values."""

_EXAMPLES = 3

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    """One column of a tabular release.

    Attributes:
        name: snake_case name in the prepared table.
        kind: ``int`` / ``float`` (continuous, parsed) or ``str`` (nominal, kept as trimmed text;
            numeric codes such as industry recodes stay text, they are categories).
        role: ``feature``, ``label`` (a target column of the release) or ``weight`` (a sampling
            weight: never a feature). Labels and weights are listed in ``stats.json:
            non_features``.
        values: the allowed values of a nominal column (after trimming), or None for any; a row
            with another value is invalid (``bad_value``). Declared where a label is derived
            from the column, so a damaged file cannot silently turn labels to 0.
    """

    name: str
    kind: Literal["int", "float", "str"] = "str"
    role: Literal["feature", "label", "weight"] = "feature"
    values: tuple[str, ...] | None = None


@dataclass
class ParsedTable:
    """What a tabular parser hands to ``prepare``.

    Attributes:
        frame: the valid rows of every file, in file order: one column per :attr:`columns` entry
            (typed) plus ``part``.
        columns: the schema, in column order.
        parts: the part names in order (``train``, ``test``, ...).
        counts: per-file row accounting (reasons of :data:`TABULAR_REASONS`).
        inputs: every raw file read.
        extra: parser-specific statistics for ``stats.json``.
    """

    format: ClassVar[str] = "tabular"

    frame: pd.DataFrame
    columns: tuple[Column, ...]
    parts: tuple[str, ...]
    counts: list[FileCounts]
    inputs: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def validate_table(raw: RawRows, columns: Sequence[Column]) -> tuple[pd.DataFrame, FileCounts]:
    """Type and check the text columns of one file against ``columns`` (vectorised, no row loop).

    Args:
        raw: one text column per entry of ``columns`` (by name), as read by ``read_delimited``.

    Returns:
        ``(frame, counts)``: the valid rows, typed (``int`` -> int64, ``float`` -> float64,
        ``str`` -> trimmed strings), in file order; and the file's counts, each invalid row under
        the first reason of :data:`TABULAR_REASONS` it fails.
    """
    n = raw.n
    counts = FileCounts(raw.file, raw.rows_read, invalid=dict.fromkeys(TABULAR_REASONS, 0))
    counts.invalid["malformed_line"] = raw.malformed
    counts.examples.extend(f"malformed: {e}" for e in raw.examples)
    # per reason: the index of the first column each row fails it on (-1: none), for the examples
    culprit = {reason: np.full(n, -1, dtype=np.int64) for reason in TABULAR_REASONS[1:]}
    typed: dict[str, Any] = {}
    for k, col in enumerate(columns):
        text = pc.utf8_trim_whitespace(raw.columns[col.name])
        if col.kind == "int":
            values, ok = to_int(text)
            reason = "bad_number"
        elif col.kind == "float":
            values = to_float(text)
            ok = ~np.isnan(values)
            reason = "bad_number"
        else:
            values = text
            ok = (
                np.ones(n, dtype=bool) if col.values is None
                else _np(pc.is_in(text, value_set=pa.array(col.values, type=pa.string())))
            )
            reason = "bad_value"
        if not ok.all():
            first = culprit[reason]
            first[~ok & (first < 0)] = k
        typed[col.name] = values
    taken = np.zeros(n, dtype=bool)
    for reason in TABULAR_REASONS[1:]:
        mask = (culprit[reason] >= 0) & ~taken
        counts.invalid[reason] = int(mask.sum())
        room = _EXAMPLES - len(counts.examples)
        if mask.any() and room > 0:
            for row in np.flatnonzero(mask)[:room]:
                name = columns[int(culprit[reason][row])].name
                value = raw.columns[name][int(row)].as_py()
                counts.examples.append(f"{reason}: {name}={value!r}")
        taken |= mask
    keep = ~taken
    mask = pa.array(keep)
    frame = pd.DataFrame(
        {
            col.name: (
                pd.Series(pc.filter(typed[col.name], mask).to_pandas(), dtype="str")
                if col.kind == "str"
                else typed[col.name][keep]
            )
            for col in columns
        }
    )
    return frame, counts


def build_table(
    ds: DatasetSource, parsed: ParsedTable, options: PrepareOptions, inputs: dict[str, str]
) -> PreparedTable:
    """The ``tabular`` prepared format: ``rows`` (the parser's frame) and ``stats.json``.

    Only ``max_invalid_fraction`` (checked by ``prepare`` before this) applies to tabular data:
    a ``kcore`` above 1 is a ConfigError, and rows are never de-duplicated (in a weighted survey
    two identical rows are two respondents); identical rows are counted per part, not dropped.
    """
    if options.kcore > 1:
        raise ConfigError(
            f"params.yaml: datasets.{ds.name}.kcore: {options.kcore} has no meaning for the "
            f"tabular dataset {ds.name!r} (one row per record, no users or items); set it to 0"
        )
    rows = parsed.frame.reset_index(drop=True)
    names = [c.name for c in parsed.columns]
    if list(rows.columns) != [*names, PART_COLUMN]:
        raise AssertionError(
            f"{ds.name}: parser frame columns {list(rows.columns)} != schema {names} + part"
        )
    part = rows[PART_COLUMN]
    weights = [c.name for c in parsed.columns if c.role == "weight"]
    labels = [c.name for c in parsed.columns if c.role == "label"]
    invalid = {r: sum(c.invalid[r] for c in parsed.counts) for r in TABULAR_REASONS}
    stats: dict[str, Any] = {
        "dataset": ds.name,
        "parser": ds.parser,
        "format": PreparedTable.format,
        "options": dataclasses.asdict(options),
        "inputs": dict(sorted(inputs.items())),
        "files": {c.file: c.stats() for c in parsed.counts},
        "rows_read": sum(c.rows_read for c in parsed.counts),
        "invalid": invalid,
        "dropped": dict(invalid),
        "rows_kept": len(rows),
        "n_rows": len(rows),
        "parts": {p: {"rows": int((part == p).sum())} for p in parsed.parts},
        "duplicate_rows": _duplicates(rows, parsed.parts, ignore=weights),
        "columns": [*names, PART_COLUMN],
        "continuous_columns": [c.name for c in parsed.columns if c.kind != "str"],
        "nominal_columns": [c.name for c in parsed.columns if c.kind == "str"],
        "labels": labels,
        "weights": weights,
        "non_features": [*labels, *weights, PART_COLUMN],
        "label_counts": {name: _value_counts(rows, name, parsed.parts) for name in labels},
    }
    stats.update(parsed.extra)
    stats["expected"] = _check_expected(ds, stats)
    if stats["rows_read"] != stats["rows_kept"] + sum(stats["dropped"].values()):
        raise AssertionError(f"{ds.name}: row accounting does not add up: {stats}")
    if not len(rows):
        raise DataError(f"{ds.name}: no valid rows left; see stats of the files: {stats['files']}")
    return PreparedTable(ds.name, rows=rows, stats=stats)


def count_by_part(rows: pd.DataFrame, mask: np.ndarray, parts: Sequence[str]) -> dict[str, int]:
    """``{part: number of rows where mask is True}`` (also for parsers' extras)."""
    part = rows[PART_COLUMN].to_numpy()
    return {p: int((mask & (part == p)).sum()) for p in parts}


# -- internals -------------------------------------------------------------------------------


def _value_counts(
    rows: pd.DataFrame, column: str, parts: Sequence[str]
) -> dict[str, dict[str, int]]:
    """``{part: {value: rows}}`` of one column (every value of any part, 0 where absent)."""
    table = pd.crosstab(rows[PART_COLUMN], rows[column])
    return {
        p: {str(v): int(n) for v, n in table.loc[p].items()} if p in table.index else {}
        for p in parts
    }


def _duplicates(
    rows: pd.DataFrame, parts: Sequence[str], *, ignore: Sequence[str]
) -> dict[str, int]:
    """Rows identical to an earlier row of the same part in every column but ``ignore``."""
    dup = rows.drop(columns=list(ignore)).duplicated().to_numpy()
    return count_by_part(rows, dup, parts)


def _check_expected(ds: DatasetSource, stats: dict[str, Any]) -> dict[str, Any]:
    """Compare with ``sources.yaml: expected`` (``rows`` is the one count a table has)."""
    if not ds.expected:
        return {"checked": False}
    wrong = sorted(set(ds.expected) - {"rows"})
    if wrong:
        raise ConfigError(
            f"datasets.{ds.name}.expected: {wrong} do not apply to a tabular dataset; use `rows`"
        )
    mismatches = {
        k: {"expected": v, "actual": stats["n_rows"]}
        for k, v in ds.expected.items() if stats["n_rows"] != v
    }
    if mismatches:
        log.warning("%s: counts differ from sources.yaml `expected`: %s", ds.name, mismatches)
    return {"checked": True, "ok": not mismatches, "mismatches": mismatches}


def _np(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)
