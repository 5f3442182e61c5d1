"""Dataset parsers: raw files of one release -> validated interaction parts plus side features
(or, for tabular releases, one validated table).

A parser knows one release's file layout and nothing else: it reads the declared files, validates
every row (:func:`bench.data.clean.validate_rows`) and returns a :class:`ParsedData`. Id maps,
duplicates, k-core and the canonical tables are built once, for all parsers, by
:mod:`bench.data.prepare`. A tabular parser returns a :class:`~bench.data.tabular.ParsedTable`
instead (rows checked by :func:`bench.data.tabular.validate_table`); the returned object's
``format`` selects the prepared format (``bench.data.prepare.FORMATS``).

Registered parsers (``sources.yaml: parser``):

=====================  ===========================================================================
``movielens-100k``     ``u.data`` (tab-separated), ``u.item`` (Latin-1, 19 genre flags, names from
                       ``u.genre``), ``u.user`` (age, gender, occupation, zip)
``movielens-1m``       ``ratings.dat``, ``users.dat``, ``movies.dat`` (``::``-separated, Latin-1)
``movielens-csv``      ``ratings.csv`` + ``movies.csv`` (latest-small, 20M, 25M, 32M; CRLF tolerant,
                       half-star ratings, ``|``-separated genres)
``amazon-json``        one Amazon 5-core JSON-lines file (2018 or 2014; ``reviewerID``, ``asin``,
                       ``overall``, ``unixReviewTime``)
``amazon-ratings-csv`` one Amazon ratings-only CSV (user,item,rating,timestamp; no header)
``disencdr-pair``      DisenCDR release: ``X_Y/{train,test,test_original}.txt`` and ``Y_X/...``
``cdrib-pair``         CDRIB release: ``X_Y/{train,valid,test,common_new_reindex}.txt``, ``Y_X/...``
``census-kdd``         UCI Census-Income (KDD) ``census-income.{data,test}.gz``, tabular
                       (:mod:`bench.data.census`)
=====================  ===========================================================================
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from bench.data.census import parse_census_kdd
from bench.data.clean import FileCounts, validate_rows
from bench.data.readers import RawRows, read_delimited, read_json_fields
from bench.errors import ConfigError, DataError

__all__ = ["PARSERS", "SPLITS", "ParsedData", "Part"]

SPLITS = ("train", "valid", "test")


@dataclass
class Part:
    """Valid rows of one raw file and where they belong.

    Attributes:
        frame: ``user``, ``item`` (raw ids), ``rating``, ``timestamp``, file order.
        domain: index into :attr:`ParsedData.domains`.
        user_scope: per-row index into :attr:`ParsedData.user_scopes` (None = scope 0 for all rows).
        given_split: the release's partition (``train``/``valid``/``test``) or None.
    """

    frame: pd.DataFrame
    domain: int = 0
    user_scope: np.ndarray | None = None
    given_split: str | None = None


@dataclass
class ParsedData:
    """What a parser hands to ``prepare``.

    Attributes:
        parts: the interaction parts, in a fixed order (this order breaks ties when de-duplicating).
        counts: per-file row accounting (validated files only).
        domains: item scopes in id order: the dataset name, or the pair's two domain names.
        user_scopes: user scopes in id order; ``""`` is the shared/default scope (CDRIB adds each
            domain's own users, whose ids are ``<domain>:<raw id>``).
        id_kind: ``int`` or ``str`` raw ids.
        has_splits: the parts carry the release's own partition (``given_split``).
        user_features: ``user`` (raw id, scope ``""``) plus feature columns, or None.
        item_features: ``item`` (raw id) and ``domain`` (index) plus feature columns, or None.
        inputs: every raw file read (its sha256 goes into ``stats.json``).
        extra: parser-specific statistics (e.g. DisenCDR's ``test_original`` counts).
    """

    format: ClassVar[str] = "interactions"

    parts: list[Part]
    counts: list[FileCounts]
    domains: tuple[str, ...]
    user_scopes: tuple[str, ...] = ("",)
    id_kind: Literal["int", "str"] = "int"
    has_splits: bool = False
    user_features: pd.DataFrame | None = None
    item_features: pd.DataFrame | None = None
    inputs: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


Parser = Callable[[Path, Any], Any]  # -> ParsedData, or ParsedTable for tabular releases


# -- MovieLens -------------------------------------------------------------------------------------


def parse_movielens_100k(raw: Path, source: Any) -> ParsedData:
    """MovieLens 100K: ``u.data`` ratings, ``u.item`` titles and genre flags, ``u.user`` age,
    gender, occupation and zip."""
    rows = read_delimited(
        _path(raw, source, "u.data"), file="u.data", sep="\t", n_fields=4,
        columns={"user": 0, "item": 1, "rating": 2, "timestamp": 3},
    )
    frame, counts = validate_rows(rows, id_kind="int", scale=source.rating_scale, timestamp=True)
    genres = _side_table(raw, source, "u.genre", sep="|", names=["genre", "index"])
    genres = genres.assign(index=_int_column(genres["index"], "u.genre", "index"))
    genres = genres.sort_values("index")
    if len(genres) != 19:
        raise DataError(f"u.genre: expected 19 genres, found {len(genres)}")
    item_cols = ["item", "title", "release_date", "video_release_date", "imdb_url", *genres["genre"]]
    items = _side_table(raw, source, "u.item", sep="|", names=item_cols)
    items = pd.DataFrame(
        {
            "item": _int_column(items["item"], "u.item", "movie id"),
            "title": items["title"],
            "release_date": items["release_date"],
            "genres": _join_flags(items[list(genres["genre"])], "u.item"),
        }
    )
    users = _side_table(raw, source, "u.user", sep="|",
                        names=["user", "age", "gender", "occupation", "zip"])
    users = users.assign(
        user=_int_column(users["user"], "u.user", "user id"),
        age=_int_column(users["age"], "u.user", "age"),
    )
    return ParsedData(
        parts=[Part(frame)], counts=[counts], domains=(source.name,), user_features=users,
        item_features=items.assign(domain=0), inputs=["u.data", "u.item", "u.user", "u.genre"],
    )


def parse_movielens_1m(raw: Path, source: Any) -> ParsedData:
    """MovieLens 1M: ``UserID::MovieID::Rating::Timestamp`` plus users (gender, age and occupation
    codes as in the README, zip) and movies (title, ``|``-separated genres), all Latin-1."""
    rows = read_delimited(
        _path(raw, source, "ratings.dat"), file="ratings.dat", sep=":", n_fields=7,
        columns={"user": 0, "item": 2, "rating": 4, "timestamp": 6}, empty_fields=(1, 3, 5),
        encoding="latin-1",
    )
    frame, counts = validate_rows(rows, id_kind="int", scale=source.rating_scale, timestamp=True)
    users = _side_table(raw, source, "users.dat", sep="::",
                        names=["user", "gender", "age", "occupation", "zip"])
    users = users.assign(
        user=_int_column(users["user"], "users.dat", "UserID"),
        age=_int_column(users["age"], "users.dat", "Age"),
        occupation=_int_column(users["occupation"], "users.dat", "Occupation"),
    )
    movies = _side_table(raw, source, "movies.dat", sep="::", names=["item", "title", "genres"])
    movies = movies.assign(item=_int_column(movies["item"], "movies.dat", "MovieID"), domain=0)
    return ParsedData(
        parts=[Part(frame)], counts=[counts], domains=(source.name,), user_features=users,
        item_features=movies, inputs=["ratings.dat", "users.dat", "movies.dat"],
    )


def parse_movielens_csv(raw: Path, source: Any) -> ParsedData:
    """MovieLens CSV releases: ``ratings.csv`` (header ``userId,movieId,rating,timestamp``) and
    ``movies.csv`` (``movieId,title,genres``, titles quoted when they hold commas)."""
    rows = read_delimited(
        _path(raw, source, "ratings.csv"), file="ratings.csv", sep=",", n_fields=4, header=True,
        columns={"user": 0, "item": 1, "rating": 2, "timestamp": 3},
    )
    frame, counts = validate_rows(rows, id_kind="int", scale=source.rating_scale, timestamp=True)
    path = _path(raw, source, "movies.csv")
    try:
        movies = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"movies.csv: cannot be parsed ({exc})") from exc
    if list(movies.columns) != ["movieId", "title", "genres"]:
        raise DataError(
            f"movies.csv: expected the header movieId,title,genres, got {list(movies.columns)}"
        )
    movies = pd.DataFrame(
        {"item": _int_column(movies["movieId"], "movies.csv", "movieId"), "title": movies["title"],
         "genres": movies["genres"], "domain": 0}
    )
    return ParsedData(
        parts=[Part(frame)], counts=[counts], domains=(source.name,), item_features=movies,
        inputs=["ratings.csv", "movies.csv"],
    )


# -- Amazon ----------------------------------------------------------------------------------------


def parse_amazon_json(raw: Path, source: Any) -> ParsedData:
    """Amazon 5-core reviews (JSON lines, gzip): one interaction per review line. Repeated
    (reviewer, asin) rows are kept here and resolved by ``prepare``'s de-duplication."""
    spec = _single_file(source)
    rows = read_json_fields(
        raw / spec.name, file=spec.name,
        fields={
            "user": "reviewerID", "item": "asin", "rating": "overall", "timestamp": "unixReviewTime",
        },
    )
    frame, counts = validate_rows(rows, id_kind="str", scale=source.rating_scale, timestamp=True)
    return ParsedData(parts=[Part(frame)], counts=[counts], domains=(source.name,), id_kind="str",
                      inputs=[spec.name])


def parse_amazon_ratings_csv(raw: Path, source: Any) -> ParsedData:
    """Amazon ratings-only CSV (``user,item,rating,timestamp``, no header)."""
    spec = _single_file(source)
    rows = read_delimited(
        raw / spec.name, file=spec.name, sep=",", n_fields=4,
        columns={"user": 0, "item": 1, "rating": 2, "timestamp": 3},
    )
    frame, counts = validate_rows(rows, id_kind="str", scale=source.rating_scale, timestamp=True)
    return ParsedData(parts=[Part(frame)], counts=[counts], domains=(source.name,), id_kind="str",
                      inputs=[spec.name])


# -- cross-domain pair releases --------------------------------------------------------------------


def parse_disencdr_pair(raw: Path, source: Any) -> ParsedData:
    """DisenCDR pair X-Y: folders ``X_Y`` (domain X) and ``Y_X`` (domain Y) over one user index.

    ``train.txt`` -> ``given_split=train``; ``test.txt`` (one held-out item per test user, kept only
    where the item occurs in training) -> ``test``. ``test_original.txt`` (before that filter) is
    counted in ``extra['test_original']`` but not loaded. Implicit feedback: rating NaN, timestamp -1.
    """
    domains = _pair_domains(source)
    parts, counts, inputs, original = [], [], [], {}
    for d, folder in enumerate(_pair_folders(domains)):
        test_rows = 0
        for split in ("train", "test"):
            name = f"{folder}/{split}.txt"
            frame, c = _pair_file(raw, source, name, n_fields=3)
            parts.append(Part(frame, domain=d, given_split=split))
            counts.append(c)
            inputs.append(name)
            test_rows = len(frame) if split == "test" else test_rows
        name = f"{folder}/test_original.txt"
        frame, c = _pair_file(raw, source, name, n_fields=3, strict=True)
        inputs.append(name)
        original[domains[d]] = {
            "rows": len(frame), "users": int(frame["user"].nunique()),
            "filtered_out": len(frame) - test_rows,
        }
    return ParsedData(parts=parts, counts=counts, domains=domains, has_splits=True, inputs=inputs,
                      extra={"test_original": original})


def parse_cdrib_pair(raw: Path, source: Any) -> ParsedData:
    """CDRIB pair X-Y: folders ``X_Y`` (domain X) and ``Y_X`` (domain Y).

    Users ``0 .. n_common-1`` (as many as ``common_new_reindex.txt`` lists) are the overlapping users,
    shared by both domains; higher indices are each domain's own users and get ids ``<domain>:<index>``.
    ``valid.txt``/``test.txt`` hold the cold-start users' withheld interactions in that domain.
    """
    domains = _pair_domains(source)
    folders = _pair_folders(domains)
    n_common = []
    inputs: list[str] = []
    for folder in folders:
        name = f"{folder}/common_new_reindex.txt"
        frame, _ = _pair_file(raw, source, name, n_fields=3, strict=True)
        n_common.append(int(frame["user"].nunique()))
        inputs.append(name)
    if n_common[0] != n_common[1]:
        raise DataError(
            f"{inputs[0]} and {inputs[1]} list {n_common[0]} and {n_common[1]} overlapping users; a "
            "CDRIB pair has the same number in both folders (are both folders from the same pair?)"
        )
    shared = n_common[0]
    parts, counts, cold = [], [], {}
    for d, folder in enumerate(folders):
        held_out = []
        for split in SPLITS:
            name = f"{folder}/{split}.txt"
            frame, c = _pair_file(raw, source, name, n_fields=2)
            scope = np.where(frame["user"].to_numpy() < shared, 0, d + 1).astype(np.int8)
            parts.append(Part(frame, domain=d, user_scope=scope, given_split=split))
            counts.append(c)
            inputs.append(name)
            if split != "train":
                held_out.append(frame["user"].to_numpy())
        cold_users = np.unique(np.concatenate(held_out))
        cold[domains[d]] = {
            "users": len(cold_users), "outside_shared": int((cold_users >= shared).sum()),
        }
    return ParsedData(
        parts=parts, counts=counts, domains=domains, user_scopes=("", *domains), has_splits=True,
        inputs=inputs, extra={"n_shared_users": shared, "cold_start_users": cold},
    )


# -- helpers ---------------------------------------------------------------------------------------


def _path(raw: Path, source: Any, name: str) -> Path:
    source.file(name)  # the file must be declared in sources.yaml
    return raw / name


def _single_file(source: Any) -> Any:
    if len(source.files) != 1:
        raise ConfigError(
            f"datasets.{source.name}.files: parser {source.parser!r} reads exactly one file, "
            f"{len(source.files)} are declared"
        )
    return source.files[0]


def _pair_domains(source: Any) -> tuple[str, str]:
    domains = tuple(source.options.get("domains", ()))
    names_ok = all(isinstance(d, str) and d.isidentifier() for d in domains)
    if len(domains) != 2 or not names_ok or domains[0] == domains[1]:
        raise ConfigError(
            f"datasets.{source.name}.options.domains: expected two distinct domain names such as "
            f"[sport, cloth], got {list(domains)}"
        )
    return domains  # type: ignore[return-value]


def _pair_folders(domains: tuple[str, str]) -> tuple[str, str]:
    x, y = domains
    return f"{x}_{y}", f"{y}_{x}"


def _pair_file(
    raw: Path, source: Any, name: str, *, n_fields: int, strict: bool = False
) -> tuple[pd.DataFrame, FileCounts]:
    """A tab-separated ``user<TAB>item[<TAB>1]`` file of a CDR release (implicit feedback)."""
    rows: RawRows = read_delimited(
        _path(raw, source, name), file=name, sep="\t", n_fields=n_fields, columns={"user": 0, "item": 1}
    )
    frame, counts = validate_rows(rows, id_kind="int", scale=None, timestamp=False)
    if strict and counts.n_invalid:
        raise DataError(
            f"{name}: {counts.n_invalid} invalid rows {counts.invalid}; e.g. {counts.examples}"
        )
    return frame, counts


def _side_table(raw: Path, source: Any, name: str, *, sep: str, names: list[str]) -> pd.DataFrame:
    """A small Latin-1 feature file (MovieLens 100K/1M), parsed strictly: a malformed line is an
    error naming the file. The multi-character ``::`` separator needs pandas' python engine."""
    path = _path(raw, source, name)
    try:
        return pd.read_csv(
            path, sep=sep, header=None, names=names, dtype=str, encoding="latin-1",
            keep_default_na=False, quoting=csv.QUOTE_NONE, engine="python" if len(sep) > 1 else "c",
            skip_blank_lines=True, on_bad_lines="error",
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"{name}: expected {len(names)} {sep!r}-separated fields per line ({exc})"
        ) from exc


def _int_column(values: pd.Series, file: str, column: str) -> pd.Series:
    out = pd.to_numeric(values, errors="coerce")
    if out.isna().any():
        bad = values[out.isna()].head(3).tolist()
        raise DataError(f"{file}: column {column!r} must hold integers; found {bad}")
    return out.astype(np.int64)


def _join_flags(flags: pd.DataFrame, file: str) -> pd.Series:
    """0/1 genre flag columns -> ``|``-joined names of the set flags (column by column, no row loop)."""
    if not flags.isin(["0", "1"]).all().all():
        raise DataError(f"{file}: genre flags must be 0 or 1")
    joined = pd.Series("", index=flags.index, dtype="str")
    for genre in flags.columns:
        on = flags[genre] == "1"
        joined = joined.where(~on, joined + np.where(joined == "", "", "|") + genre)
    return joined


PARSERS: dict[str, Parser] = {
    "movielens-100k": parse_movielens_100k,
    "movielens-1m": parse_movielens_1m,
    "movielens-csv": parse_movielens_csv,
    "amazon-json": parse_amazon_json,
    "amazon-ratings-csv": parse_amazon_ratings_csv,
    "disencdr-pair": parse_disencdr_pair,
    "cdrib-pair": parse_cdrib_pair,
    "census-kdd": parse_census_kdd,
}
