"""Vectorised readers for raw interaction files that count, instead of hide, the lines they cannot
use.

Raw files are read column-wise by Arrow's multithreaded CSV reader, every field as text; numbers are
then validated with vectorised regular expressions and cast, so a garbage value marks one row
invalid instead of failing the whole file. Arrow is used directly (``pandas.read_csv`` with the
pyarrow engine cannot switch quoting off, and its C engine cannot count the lines it skips): one stray
``"`` must not swallow the rest of a ratings file, and every line with the wrong number of fields is
reported, which is how malformed lines are counted. Blank lines are skipped and not counted as rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bench.errors import DataError

__all__ = ["RawRows", "read_delimited", "read_json_fields", "to_float", "to_int"]

_INT = r"^\s*[+-]?[0-9]+\s*$"
_FLOAT = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
_EXAMPLES = 3


@dataclass
class RawRows:
    """Text fields of the well-formed lines of one file, plus what was set aside.

    Attributes:
        file: the file's name as declared (used in messages and stats).
        columns: field name -> Arrow string array, one value per well-formed line.
        rows_read: data lines seen (well-formed + malformed; header and blank lines excluded).
        malformed: lines with the wrong number of fields (or not a JSON object).
        examples: up to three malformed lines, for error messages.
    """

    file: str
    columns: dict[str, pa.ChunkedArray]
    rows_read: int
    malformed: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.rows_read - self.malformed


def read_delimited(
    path: Path,
    *,
    file: str,
    sep: str,
    n_fields: int,
    columns: Mapping[str, int],
    header: bool = False,
    encoding: str = "utf8",
    empty_fields: Sequence[int] = (),
) -> RawRows:
    """Read a delimiter-separated file (optionally gzip-compressed) as text columns.

    Args:
        file: name used in messages.
        sep: a one-character delimiter. Two-character separators such as MovieLens-1M's ``::``
            are read with ``sep=":"``, the empty fields in between listed in ``empty_fields``.
        n_fields: fields per line; any other count makes the line malformed.
        columns: output name -> field position.
        header: skip the first line.
        encoding: the file's text encoding (MovieLens 100K/1M side files are Latin-1).
        empty_fields: positions that must be empty (else the line is malformed).
    """
    bad: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append(row.text)
        return "skip"

    names = [f"f{i}" for i in range(n_fields)]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1 if header else 0, encoding=encoding
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=sep, quote_char=False, double_quote=False, escape_char=False,
                newlines_in_values=False, ignore_empty_lines=True, invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False, include_columns=names,
            ),
        )
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise DataError(
            f"{file}: cannot be read as {n_fields} {sep!r}-separated fields ({exc})"
        ) from exc
    malformed = len(bad)
    if empty_fields and table.num_rows:
        ok = np.ones(table.num_rows, dtype=bool)
        for k in empty_fields:
            ok &= pc.equal(table.column(f"f{k}"), "").to_numpy(zero_copy_only=False)
        if not ok.all():
            rejected = table.filter(pa.array(~ok)).slice(0, _EXAMPLES)
            fields = [rejected.column(n).to_pylist() for n in names]
            bad.extend(sep.join(values) for values in zip(*fields, strict=True))
            malformed += int((~ok).sum())
            table = table.filter(pa.array(ok))
    return RawRows(
        file=file,
        columns={name: table.column(f"f{pos}") for name, pos in columns.items()},
        rows_read=table.num_rows + malformed,
        malformed=malformed,
        examples=[_clip(b) for b in bad[:_EXAMPLES]],
    )


def read_json_fields(path: Path, *, file: str, fields: Mapping[str, str]) -> RawRows:
    """Pull top-level scalar fields out of a JSON-lines file (optionally gzip-compressed).

    Each line must be one object (``{...}``); values are matched with a regular expression per
    field, vectorised over all lines, so no line is parsed in Python. Both strict JSON
    (``"key": "v"``) and the Python-literal style of some older Amazon dumps (``'key': 'v'``) are
    accepted. A JSON string cannot hold an unescaped quote, so a key name quoted inside review text
    never matches.

    Args:
        fields: output name -> JSON key, e.g. ``{"user": "reviewerID", "item": "asin"}``.
    """
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=["line"], block_size=1 << 24),
            # 0x1f cannot occur unescaped in valid JSON, so every line is one field.
            parse_options=pacsv.ParseOptions(
                delimiter="\x1f", quote_char=False, double_quote=False, escape_char=False,
                newlines_in_values=False, ignore_empty_lines=True,
                invalid_row_handler=lambda _: "skip",
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={"line": pa.string()}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise DataError(f"{file}: cannot be read as JSON lines ({exc})") from exc
    lines = table.column("line")
    is_object = pc.match_substring_regex(lines, r"^\s*\{.*\}\s*$")
    ok = is_object.to_numpy(zero_copy_only=False)
    bad_lines = lines.filter(pc.invert(is_object))
    kept = lines.filter(is_object)
    columns = {}
    for name, key in fields.items():
        pattern = (
            rf"""["']{key}["']\s*:\s*(?:["'](?P<v>[^"'\\]*)["']|(?P<n>[^,}}\s"']+))"""
        )
        found = pc.extract_regex(kept, pattern)
        # Exactly one alternative matched, the other group is "": joining them gives the value. A
        # line without the key yields null, i.e. an empty (missing) value.
        text = pc.binary_join_element_wise(
            pc.struct_field(found, "v"), pc.struct_field(found, "n"), ""
        )
        columns[name] = pc.fill_null(text, "")
    malformed = int((~ok).sum())
    return RawRows(
        file=file,
        columns={
            k: v if isinstance(v, pa.ChunkedArray) else pa.chunked_array([v])
            for k, v in columns.items()
        },
        rows_read=len(lines),
        malformed=malformed,
        examples=[_clip(s) for s in bad_lines.slice(0, _EXAMPLES).to_pylist()],
    )


def to_float(values: pa.ChunkedArray) -> np.ndarray:
    """Parse text to float64; anything that is not a plain decimal number becomes NaN."""
    ok = pc.match_substring_regex(values, _FLOAT)
    parsed = pc.cast(pc.if_else(ok, pc.utf8_trim_whitespace(values), None), pa.float64())
    return parsed.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def to_int(values: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Parse text to int64; returns ``(values, valid)`` with 0 where ``valid`` is False."""
    ok = pc.match_substring_regex(values, _INT)
    cleaned = pc.if_else(ok, pc.utf8_trim_whitespace(values), "0")
    try:
        parsed = pc.cast(cleaned, pa.int64())
    except pa.ArrowInvalid:  # out of int64 range: treat every such value as invalid
        too_long = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(values)), 18)
        ok = pc.and_(ok, pc.invert(too_long))
        parsed = pc.cast(pc.if_else(ok, cleaned, "0"), pa.int64())
    return parsed.to_numpy(zero_copy_only=False), ok.to_numpy(zero_copy_only=False)


def _clip(text: str, width: int = 120) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= width else text[: width - 3] + "..."
