"""The canonical prepared tables every later stage reads, and their on-disk form.

Two formats, one per kind of raw data (the parser's output says which;
``bench.data.prepare.FORMATS`` builds each): ``interactions`` (user-item data: every recommender
dataset) and ``tabular`` (one row per record, e.g. a person of UCI Census-Income:
:class:`PreparedTable`).

``datasets/prepared/<dataset>/`` of an ``interactions`` dataset holds:

* ``interactions.parquet`` — one row per kept interaction:
  ``user`` (int32, dense 0..n_users-1), ``item`` (int32, dense 0..n_items-1), ``rating`` (float32, NaN
  for implicit feedback), ``timestamp`` (int64 Unix seconds, -1 when the source has none), ``domain``
  (string; the dataset name for single-domain data, the domain name for cross-domain pairs) and, for
  releases that ship their own partition, ``given_split`` (string: ``train``/``valid``/``test``).
* ``users.parquet`` — ``user`` (int32) and ``user_id`` (the raw id as a string) plus feature columns
  where the dataset has them (MovieLens: ``age``, ``gender``, ``occupation``, ``zip``).
* ``items.parquet`` — ``item`` (int32), ``item_id`` (raw id, string), ``domain`` and feature columns
  (MovieLens: ``title``, ``genres`` as a ``|``-separated string).
* ``stats.json`` — counts of rows read, kept, dropped per reason, duplicates, k-core rounds, users, items.

Id maps are deterministic: raw ids are sorted (numerically where all are integers, else as strings) and
numbered in that order, so the same raw files always give the same indices.

How ``bench.data.prepare`` applies this rule (additions, same schema):

* Amazon reviewer ids and ASINs are strings (ASINs keep their leading zeros) and sort as strings.
* ``users``/``items`` hold only users and items that have at least one kept interaction (MovieLens
  latest-small: 9,724 rated movies, not the 9,742 of ``movies.csv``).
* Cross-domain pairs: items are numbered domain by domain, in the pair's declared order (domain X's
  block first), raw ids numerically within a domain; ``item_id`` is the release's index, so
  ``(domain, item_id)`` is the unique key. ``users`` gains ``domains`` (the ``|``-joined domains a
  user has interactions in). In CDRIB pairs only the overlapping users share an index across
  domains; each domain's own users follow them and get ``user_id`` ``<domain>:<release index>``.

``datasets/prepared/<dataset>/`` of a ``tabular`` dataset holds:

* ``rows.parquet`` — one row per valid raw record, in file order (the release's files in declared
  order): the parser's columns (continuous ones int64/float64, nominal ones strings, trimmed, codes
  kept as text) and ``part`` (string: the release's own partition, e.g. ``train``/``test``).
* ``stats.json`` — ``format: tabular``, rows read/kept/dropped per reason and per file, rows per
  part, the column list with each column's type and role (``labels``, ``weights``,
  ``non_features``), value counts of the label columns per part, and the parser's extras.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from bench.errors import DataError

__all__ = ["INTERACTION_COLUMNS", "PART_COLUMN", "PreparedDataset", "PreparedTable", "RatingScale"]

INTERACTION_COLUMNS = ("user", "item", "rating", "timestamp", "domain")
PART_COLUMN = "part"
"""The column of :class:`PreparedTable` rows naming the release's partition of each row."""


@dataclass(frozen=True)
class RatingScale:
    """Valid explicit ratings: ``min <= r <= max`` and ``(r - min)`` a multiple of ``step`` (declared
    per dataset in ``datasets/sources.yaml``, enforced by :mod:`bench.data.clean`)."""

    min: float
    max: float
    step: float | None = None


@dataclass(frozen=True, eq=False)
class PreparedDataset:
    """The canonical tables of one dataset (see module docstring for the schema)."""

    format: ClassVar[str] = "interactions"

    name: str
    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    stats: dict[str, Any]

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def write(self, folder: Path) -> None:
        """Write the four files into ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for part in ("interactions", "users", "items"):
            getattr(self, part).to_parquet(folder / f"{part}.parquet", index=False)
        (folder / "stats.json").write_text(json.dumps(self.stats, indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, folder: Path, name: str | None = None) -> PreparedDataset:
        """Read a prepared folder; a missing file names the ``prepare`` stage to run."""
        folder = Path(folder)
        name = name or folder.name
        missing = [
            f
            for f in ("interactions.parquet", "users.parquet", "items.parquet", "stats.json")
            if not (folder / f).exists()
        ]
        if missing:
            raise DataError(
                f"{folder}: missing {missing}; run `dvc repro prepare@{name}` (or `recx prepare {name}`)"
            )
        inter = pd.read_parquet(folder / "interactions.parquet")
        absent = [c for c in INTERACTION_COLUMNS if c not in inter.columns]
        if absent:
            raise DataError(f"{folder / 'interactions.parquet'}: missing columns {absent}")
        return cls(
            name=name,
            interactions=inter,
            users=pd.read_parquet(folder / "users.parquet"),
            items=pd.read_parquet(folder / "items.parquet"),
            stats=json.loads((folder / "stats.json").read_text()),
        )


@dataclass(frozen=True, eq=False)
class PreparedTable:
    """A prepared ``tabular`` dataset: one row per record plus ``stats.json`` (module docstring)."""

    format: ClassVar[str] = "tabular"
    FILES: ClassVar[tuple[str, ...]] = ("rows.parquet", "stats.json")

    name: str
    rows: pd.DataFrame
    stats: dict[str, Any]

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def part(self, name: str) -> pd.DataFrame:
        """The rows of one part (``train``, ``test``, ...), in file order."""
        parts = self.stats.get("parts") or {}
        if name not in parts:
            raise DataError(f"{self.name}: no part {name!r}; the parts are {sorted(parts)}")
        return self.rows[self.rows[PART_COLUMN] == name]

    def write(self, folder: Path) -> None:
        """Write ``rows.parquet`` and ``stats.json`` into ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.rows.to_parquet(folder / "rows.parquet", index=False)
        (folder / "stats.json").write_text(json.dumps(self.stats, indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, folder: Path, name: str | None = None) -> PreparedTable:
        """Read a prepared tabular folder; a missing file names the ``prepare`` stage to run."""
        folder = Path(folder)
        name = name or folder.name
        missing = [f for f in cls.FILES if not (folder / f).exists()]
        if missing:
            raise DataError(
                f"{folder}: missing {missing}; run `dvc repro prepare@{name}` "
                f"(or `recx prepare {name}`)"
            )
        stats = json.loads((folder / "stats.json").read_text())
        if stats.get("format") != cls.format:
            raise DataError(
                f"{folder / 'stats.json'}: format {stats.get('format', 'interactions')!r}, "
                "expected 'tabular'; read it with PreparedDataset.read"
            )
        rows = pd.read_parquet(folder / "rows.parquet")
        absent = [c for c in stats.get("columns", []) if c not in rows.columns]
        if absent:
            raise DataError(f"{folder / 'rows.parquet'}: missing columns {absent}")
        return cls(name=name, rows=rows, stats=stats)
