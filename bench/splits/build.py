"""The ``split`` stage: prepared tables -> audited split folder."""

from __future__ import annotations

from pathlib import Path

from bench.atomic import staged_dir
from bench.config import Scenario
from bench.data.tables import PreparedDataset
from bench.splits.audit import audit_split
from bench.splits.cdr import split_cdr_cold, split_cdr_warm
from bench.splits.mtl import split_mtl
from bench.splits.topn import split_topn
from bench.splits.types import Split, sha256_file

__all__ = ["build_split"]

_KINDS = {"topn": split_topn}
_KINDS["mtl"] = split_mtl
_KINDS["cdr_warm"] = split_cdr_warm
_KINDS["cdr_cold"] = split_cdr_cold


def build_split(scenario: Scenario, *, prepared: Path, out: Path) -> Split:
    """Build ``scenario``'s split from the prepared folder, audit it, write it atomically to ``out``."""
    data = PreparedDataset.read(prepared, name=scenario.dataset)
    split = _KINDS[scenario.kind](data, scenario)
    checks = audit_split(split)
    split.meta["audit"] = checks
    split.meta["source_sha256"] = {
        f.name: sha256_file(f) for f in sorted(Path(prepared).glob("*.parquet"))
    }
    with staged_dir(Path(out)) as tmp:
        split.write(tmp)
    return split
