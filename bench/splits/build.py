"""The ``split`` stage: prepared tables -> audited split folder."""

from __future__ import annotations

from pathlib import Path

from bench.atomic import staged_dir
from bench.config import Scenario
from bench import kinds
from bench.splits.audit import audit_split
from bench.splits.types import Split, sha256_file

__all__ = ["build_split"]


def build_split(scenario: Scenario, *, prepared: Path, out: Path) -> Split:
    """Build ``scenario``'s split with its kind's builder (:mod:`bench.kinds`) from the prepared
    folder (read by the row's ``prepared`` class), audit it (:func:`~bench.splits.audit.audit_split`), write it atomically to ``out``."""
    kind = kinds.get(scenario.kind)
    data = kind.resolve("prepared").read(prepared, name=scenario.dataset)
    split = kind.resolve("split")(data, scenario)
    checks = audit_split(split)
    split.meta["audit"] = checks
    split.meta["source_sha256"] = {
        f.name: sha256_file(f) for f in sorted(Path(prepared).glob("*.parquet"))
    }
    with staged_dir(Path(out)) as tmp:
        split.write(tmp)
    return split
