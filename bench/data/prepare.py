"""The ``prepare`` stage: raw files -> the canonical tables of :mod:`bench.data.tables`.

Steps, the same for every dataset: check the raw files against their pinned digests; parse them with
the dataset's parser (invalid rows counted per reason, per file); stop if any file has more than
``max_invalid_fraction`` invalid rows; build the tables of the parser's format (:data:`FORMATS`);
write them atomically. For the ``interactions`` format: number users and items deterministically;
drop repeated (user, item) rows keeping one (``dedupe``); apply the iterative k-core (``kcore``);
write ``interactions``/``users``/``items`` Parquet and ``stats.json``. For the ``tabular`` format
(:func:`bench.data.tabular.build_table`): ``rows.parquet`` and ``stats.json``.

``stats.json`` accounts for every raw row: ``rows_read == rows_kept + sum(dropped.values())``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from bench.atomic import temp_dir
from bench.data.checksums import ChecksumLock, content_digest, file_digest
from bench.data.clean import REASONS, FileCounts, dedupe, dense_codes, kcore
from bench.data.parsers import PARSERS, SPLITS, ParsedData
from bench.data.sources import DatasetSource, load_sources
from bench.data.tables import PreparedDataset, PreparedTable
from bench.data.tabular import build_table
from bench.errors import ConfigError, DataError

__all__ = ["FORMATS", "Format", "PrepareOptions", "prepare_dataset"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PrepareOptions:
    """How a dataset is prepared (``params.yaml: datasets.<name>``).

    Attributes:
        kcore: iterative user+item k-core: repeatedly drop users and items with fewer than ``kcore``
            interactions until every remaining one has at least ``kcore`` (0 or 1 = off). For
            cross-domain pairs the degrees count both domains and all given splits.
        max_invalid_fraction: stop with a DataError when more than this share of any raw file's
            rows is invalid (malformed, missing ids, rating off scale, bad timestamp), instead of
            silently training on a damaged file.
        dedupe: which of several rows for the same (user, item) to keep: ``last`` = the latest
            timestamp, ``first`` = the earliest (ties broken by file order). Counted in stats.

    Tabular datasets use ``max_invalid_fraction`` only: ``kcore`` must stay 0 (or 1) and
    ``dedupe`` does not apply (their rows are never de-duplicated).
    """

    kcore: int = 0
    max_invalid_fraction: float = 0.01
    dedupe: Literal["last", "first"] = "last"

    def __post_init__(self) -> None:
        if self.kcore < 0:
            raise ConfigError(f"kcore must be >= 0 (0 = off), got {self.kcore}")
        if not 0.0 <= self.max_invalid_fraction <= 1.0:
            raise ConfigError(
                f"max_invalid_fraction must be in [0, 1], got {self.max_invalid_fraction}"
            )


def prepare_dataset(
    name: str,
    *,
    sources: Path,
    raw: Path,
    out: Path,
    options: PrepareOptions,
    lock: Path | None = None,
) -> PreparedDataset:
    """Parse ``raw`` (the fetched folder of dataset ``name``) into the canonical tables in ``out``.

    Args:
        lock: trust-on-first-use lock file (default: ``checksums.lock`` beside ``sources``); raw
            files are checked against it where ``sources.yaml`` pins no sha256.

    Returns:
        the prepared tables: a :class:`PreparedDataset`, or a :class:`PreparedTable` for a tabular
        dataset (the parser's ``format``).

    Raises:
        DataError: a raw file is missing or differs from its pinned digest (for a file pinned by
            its content: its decoded content); a file has too many invalid rows (the message names
            the file and the counts); nothing is left after cleaning.
        ConfigError: ``name`` is not declared in ``sources``; an option does not apply.
    """
    ds = load_sources(sources).get(name)
    raw = Path(raw)
    checksums = ChecksumLock(lock if lock is not None else Path(sources).parent / "checksums.lock")
    inputs = _check_inputs(ds, raw, checksums)
    parsed = PARSERS[ds.parser](raw, ds)
    for counts in parsed.counts:
        _check_invalid(counts, raw, name, options.max_invalid_fraction)
    fmt = FORMATS[parsed.format]
    data = fmt.build(ds, parsed, options, inputs)
    _write_atomic(data, Path(out))
    log.info("%s: %s -> %s", name, fmt.summary(data), out)
    return data


# -- internals -------------------------------------------------------------------------------


def _check_inputs(ds: DatasetSource, raw: Path, lock: ChecksumLock) -> dict[str, str]:
    """sha256 of every declared raw file, each checked against ``sources.yaml`` or the lock."""
    missing = [f.name for f in ds.files if not (raw / f.name).is_file()]
    if missing:
        raise DataError(
            f"{raw}: missing raw file(s) {missing}; run `recx fetch {ds.name}` "
            f"(or `dvc repro fetch@{ds.name}`)"
        )
    digests = {}
    for spec in ds.files:
        path = raw / spec.name
        refetch = f"Delete {raw} and run `recx fetch {ds.name}` again."
        digest = file_digest(path)
        expected = spec.sha256
        if expected is None and spec.trust_on_first_use:
            expected = lock.get(ds.name, spec.name)
        if expected is not None and digest.sha256 != expected:
            raise DataError(
                f"{path}: sha256 {digest.sha256} differs from the pinned {expected}; the "
                f"raw file changed after fetching. {refetch}"
            )
        digests[spec.name] = digest.sha256
        if spec.content is not None:
            # The bytes depend on who compressed the copy; the content does not, so it is the
            # content's digest that is recorded (identical stats.json for every verified copy).
            try:
                content = content_digest(path, spec.content.encoding)
            except ValueError as exc:
                raise DataError(f"{path}: {exc}; the raw file is damaged. {refetch}") from exc
            if content.sha256 != spec.content.sha256:
                raise DataError(
                    f"{path}: content sha256 {content.sha256} ({spec.content.encoding}-decoded) "
                    f"differs from the pinned {spec.content.sha256}; the raw file changed after "
                    f"fetching. {refetch}"
                )
            digests[spec.name] = content.sha256
    return digests


def _check_invalid(counts: FileCounts, raw: Path, name: str, limit: float) -> None:
    if counts.rows_read == 0:
        raise DataError(f"{raw / counts.file}: holds no data rows; delete {raw} and fetch again")
    if counts.invalid_fraction > limit:
        nonzero = {k: v for k, v in counts.invalid.items() if v}
        raise DataError(
            f"{raw / counts.file}: {counts.n_invalid} of {counts.rows_read} rows are invalid "
            f"({counts.invalid_fraction:.2%} > max_invalid_fraction {limit:.2%}): {nonzero}; "
            f"e.g. {counts.examples}. Re-fetch the file, or raise "
            f"params.yaml: datasets.{name}.max_invalid_fraction if these rows are expected."
        )


@dataclass
class _Rows:
    """All valid rows of all parts, as flat arrays (raw ids still raw)."""

    user: pd.Series
    item: pd.Series
    rating: np.ndarray
    timestamp: np.ndarray
    domain: np.ndarray  # index into ParsedData.domains
    user_scope: np.ndarray  # index into ParsedData.user_scopes
    split: np.ndarray  # index into SPLITS, -1 = none


def _concat(parsed: ParsedData) -> _Rows:
    parts = parsed.parts
    sizes = [len(p.frame) for p in parts]
    scopes = [p.user_scope if p.user_scope is not None else np.zeros(n, np.int8)
              for p, n in zip(parts, sizes, strict=True)]
    splits = [SPLITS.index(p.given_split) if p.given_split else -1 for p in parts]
    return _Rows(
        user=pd.concat([p.frame["user"] for p in parts], ignore_index=True),
        item=pd.concat([p.frame["item"] for p in parts], ignore_index=True),
        rating=np.concatenate([p.frame["rating"].to_numpy(np.float64) for p in parts]),
        timestamp=np.concatenate([p.frame["timestamp"].to_numpy(np.int64) for p in parts]),
        domain=np.repeat(np.array([p.domain for p in parts], dtype=np.int8), sizes),
        user_scope=np.concatenate(scopes),
        split=np.repeat(np.array(splits, dtype=np.int8), sizes),
    )


def _build(
    ds: DatasetSource, parsed: ParsedData, options: PrepareOptions, inputs: dict[str, str]
) -> PreparedDataset:
    rows = _concat(parsed)
    ucode, utable = dense_codes(rows.user, rows.user_scope, len(parsed.user_scopes))
    icode, itable = dense_codes(rows.item, rows.domain, len(parsed.domains))

    unique = dedupe(ucode, icode, rows.timestamp, len(itable), keep=options.dedupe)
    n_dup = int((~unique).sum())
    kept = np.flatnonzero(unique)
    core, rounds = kcore(ucode[kept], icode[kept], options.kcore, len(utable), len(itable))
    n_core = int((~core).sum())
    if not core.any():
        raise DataError(
            f"{ds.name}: no interactions left after cleaning (duplicates {n_dup}, k-core removed "
            f"{n_core}); lower params.yaml: datasets.{ds.name}.kcore"
        )
    users_before = _present(ucode[kept], len(utable))
    items_before = _present(icode[kept], len(itable))
    kept = kept[core]
    users_present = _present(ucode[kept], len(utable))
    items_present = _present(icode[kept], len(itable))
    user_new = np.full(len(utable), -1, np.int64)
    user_new[users_present] = np.arange(len(users_present))
    item_new = np.full(len(itable), -1, np.int64)
    item_new[items_present] = np.arange(len(items_present))

    domain_names = np.array(parsed.domains, dtype=object)
    interactions = pd.DataFrame(
        {
            "user": user_new[ucode[kept]].astype(np.int32),
            "item": item_new[icode[kept]].astype(np.int32),
            "rating": rows.rating[kept].astype(np.float32),
            "timestamp": rows.timestamp[kept],
            "domain": pd.Series(domain_names[rows.domain[kept]], dtype="str"),
        }
    )
    if parsed.has_splits:
        split_names = np.array(SPLITS, dtype=object)[rows.split[kept]]
        interactions["given_split"] = pd.Series(split_names, dtype="str")
    users = _users_table(parsed, utable.iloc[users_present].reset_index(drop=True), interactions)
    items = _items_table(parsed, itable.iloc[items_present].reset_index(drop=True))

    invalid = {r: sum(c.invalid[r] for c in parsed.counts) for r in REASONS}
    stats: dict[str, Any] = {
        "dataset": ds.name,
        "parser": ds.parser,
        "options": dataclasses.asdict(options),
        "inputs": dict(sorted(inputs.items())),
        "files": {c.file: c.stats() for c in parsed.counts},
        "rows_read": sum(c.rows_read for c in parsed.counts),
        "rows_valid": len(rows.user),
        "invalid": invalid,
        "duplicates": n_dup,
        "dropped": {**invalid, "duplicate": n_dup, "kcore": n_core},
        "rows_kept": len(interactions),
        "kcore": {
            "k": options.kcore,
            "rounds": rounds,
            "rows_removed": n_core,
            "users_removed": len(users_before) - len(users_present),
            "items_removed": len(items_before) - len(items_present),
        },
        "n_users": len(users),
        "n_items": len(items),
        "n_interactions": len(interactions),
        "domains": _domain_stats(interactions, parsed),
    }
    if parsed.has_splits:
        stats["given_split"] = {s: int((interactions["given_split"] == s).sum()) for s in SPLITS}
    stats.update(parsed.extra)
    stats["expected"] = _check_expected(ds, options, stats)
    if stats["rows_read"] != stats["rows_kept"] + sum(stats["dropped"].values()):
        raise AssertionError(f"{ds.name}: row accounting does not add up: {stats}")
    return PreparedDataset(ds.name, interactions=interactions, users=users, items=items, stats=stats)


@dataclass(frozen=True)
class Format:
    """One prepared format: how ``prepare`` builds its tables from a parser's output.

    Attributes:
        build: ``(source, parsed, options, input digests) -> prepared tables``.
        summary: one line describing the prepared tables, for the stage log.
    """

    build: Callable[[DatasetSource, Any, PrepareOptions, dict[str, str]], Any]
    summary: Callable[[Any], str]


FORMATS: Mapping[str, Format] = MappingProxyType({
    PreparedDataset.format: Format(
        build=_build,
        summary=lambda d: (
            f"{d.stats['n_interactions']} interactions, {d.n_users} users, {d.n_items} items"
        ),
    ),
    PreparedTable.format: Format(
        build=build_table,
        summary=lambda d: f"{d.n_rows} rows, " + ", ".join(
            f"{part} {entry['rows']}" for part, entry in d.stats["parts"].items()
        ),
    ),
})
"""The prepared formats, by the ``format`` of the parser's output (``ParsedData``: interactions,
``ParsedTable``: tabular)."""


def _present(codes: np.ndarray, n: int) -> np.ndarray:
    """Sorted distinct codes in ``0..n-1`` (a counting pass; ``np.unique`` would sort all rows)."""
    return np.flatnonzero(np.bincount(codes, minlength=n))


def _users_table(
    parsed: ParsedData, keys: pd.DataFrame, interactions: pd.DataFrame
) -> pd.DataFrame:
    """``user``, ``user_id`` (``<scope>:<raw>`` outside the shared scope), ``domains`` for
    multi-domain data (the domains the user has interactions in), then the parser's features."""
    scopes = np.array(parsed.user_scopes, dtype=object)[keys["scope"].to_numpy()]
    raw_text = keys["raw"].astype(str).to_numpy(dtype=object)
    user_id = np.where(scopes == "", raw_text, scopes + ":" + raw_text)
    users = pd.DataFrame(
        {"user": np.arange(len(keys), dtype=np.int32), "user_id": pd.Series(user_id, dtype="str")}
    )
    if len(parsed.domains) > 1:
        bits = np.zeros(len(keys), dtype=np.int64)
        codes = pd.Categorical(interactions["domain"], categories=list(parsed.domains)).codes
        np.bitwise_or.at(bits, interactions["user"].to_numpy(), 1 << codes.astype(np.int64))
        names = {
            b: "|".join(d for k, d in enumerate(parsed.domains) if b & (1 << k))
            for b in np.unique(bits).tolist()
        }
        users["domains"] = pd.Series(pd.Series(bits).map(names), dtype="str")
    if parsed.user_features is not None:
        feats = parsed.user_features.rename(columns={"user": "raw"}).drop_duplicates("raw")
        shared = keys.assign(_row=np.arange(len(keys)))
        shared = shared[shared["scope"] == 0].merge(feats, on="raw", how="left")
        for col in feats.columns.drop("raw"):
            values = pd.Series(np.nan, index=range(len(keys)), dtype=object)
            values.iloc[shared["_row"].to_numpy()] = shared[col].to_numpy()
            users[col] = values.infer_objects()
    return users


def _items_table(parsed: ParsedData, keys: pd.DataFrame) -> pd.DataFrame:
    """``item``, ``item_id`` (the raw id), ``domain``, then the parser's features."""
    domains = np.array(parsed.domains, dtype=object)[keys["scope"].to_numpy()]
    items = pd.DataFrame(
        {
            "item": np.arange(len(keys), dtype=np.int32),
            "item_id": pd.Series(keys["raw"].astype(str).to_numpy(dtype=object), dtype="str"),
            "domain": pd.Series(domains, dtype="str"),
        }
    )
    if parsed.item_features is not None:
        feats = parsed.item_features.rename(columns={"item": "raw", "domain": "scope"})
        feats = feats.drop_duplicates(["scope", "raw"]).astype({"scope": np.int8})
        merged = keys.merge(feats, on=["scope", "raw"], how="left", validate="one_to_one")
        for col in feats.columns.drop(["raw", "scope"]):
            items[col] = merged[col].to_numpy()
    return items


def _domain_stats(interactions: pd.DataFrame, parsed: ParsedData) -> dict[str, Any]:
    out = {}
    for d in parsed.domains:
        sel = interactions[interactions["domain"] == d]
        entry: dict[str, Any] = {
            "n_interactions": len(sel),
            "n_users": int(sel["user"].nunique()),
            "n_items": int(sel["item"].nunique()),
        }
        if parsed.has_splits:
            entry["given_split"] = {
                s: {
                    "rows": int((sel["given_split"] == s).sum()),
                    "users": int(sel.loc[sel["given_split"] == s, "user"].nunique()),
                }
                for s in SPLITS
            }
        out[d] = entry
    return out


def _check_expected(
    ds: DatasetSource, options: PrepareOptions, stats: dict[str, Any]
) -> dict[str, Any]:
    """Compare with ``sources.yaml: expected`` (only meaningful without k-core)."""
    wrong = sorted(set(ds.expected) - {"interactions", "users", "items"})
    if wrong:
        raise ConfigError(
            f"datasets.{ds.name}.expected: {wrong} do not apply to an interaction dataset; use "
            "interactions, users, items"
        )
    if not ds.expected or options.kcore > 1:
        return {"checked": False}
    actual = {
        "interactions": stats["n_interactions"], "users": stats["n_users"], "items": stats["n_items"],
    }
    mismatches = {
        k: {"expected": v, "actual": actual[k]} for k, v in ds.expected.items() if actual[k] != v
    }
    if mismatches:
        log.warning("%s: counts differ from sources.yaml `expected`: %s", ds.name, mismatches)
    return {"checked": True, "ok": not mismatches, "mismatches": mismatches}


def _write_atomic(data: PreparedDataset, out: Path) -> None:
    """Write into a temporary sibling folder, then swap it in with renames."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(out.parent, f".{out.name}.prepare-")
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        data.write(tmp)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
