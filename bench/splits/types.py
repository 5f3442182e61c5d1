"""The split hand-off: train / valid / test interaction frames in one global index space, on disk as
Parquet plus ``manifest.json`` (sha256 of every file and counts)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.atomic import write_text
from bench.errors import DataError
from bench.interactions import Interactions

__all__ = ["PARTS", "Split", "read_manifest", "sha256_file", "verified"]

PARTS = ("train", "valid", "test")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Split:
    """One scenario's data partition.

    Attributes:
        name: the scenario name (``params.yaml: scenarios.<name>``).
        train, valid, test: frames with at least ``user``, ``item``, ``rating``, ``timestamp``
            (a kind whose row has ``pairs=False``, e.g. ``tabular_mtl``: ``user`` = the person and
            its own columns).
        n_users, n_items: size of the global index space (all users/items of the prepared dataset).
        meta: scenario kind, split method, cut-offs, seed, source data hashes, counts.
        side: extra named tables a scenario kind needs at run time (feature tables, saved candidate
            sets, item domains ...), written as ``side_<name>.parquet`` and hashed like the parts, so
            a split folder is self-contained and every method sees the same ones.
    """

    name: str
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    n_users: int
    n_items: int
    meta: dict[str, Any] = field(default_factory=dict)
    side: dict[str, pd.DataFrame] = field(default_factory=dict)

    def interactions(self, part: str = "train") -> Interactions:
        """The given part (or ``"train+valid"``) as an :class:`Interactions` matrix."""
        if part == "train+valid":
            frame = pd.concat([self.train, self.valid], ignore_index=True)
        else:
            frame = getattr(self, part)
        return Interactions.from_frame(frame, self.n_users, self.n_items)

    def write(self, folder: Path) -> dict[str, Any]:
        """Write ``<part>.parquet`` files and ``manifest.json``; returns the manifest."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for part in PARTS:
            path = folder / f"{part}.parquet"
            getattr(self, part).to_parquet(path, index=False)
            files[path.name] = sha256_file(path)
        for name, table in sorted(self.side.items()):
            path = folder / f"side_{name}.parquet"
            table.to_parquet(path, index=False)
            files[path.name] = sha256_file(path)
        manifest = {
            "name": self.name,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "counts": {part: self._counts(getattr(self, part)) for part in PARTS},
            "sha256": files,
            "meta": self.meta,
        }
        write_text(folder / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return manifest

    @staticmethod
    def _counts(frame: pd.DataFrame) -> dict[str, int]:
        """Rows, and distinct users / items where the part has those columns (a tabular part has
        one row per person, ``user``, and no ``item``)."""
        counts = {"rows": len(frame)}
        counts.update({f"{c}s": int(frame[c].nunique()) for c in ("user", "item") if c in frame.columns})
        return counts

    @classmethod
    def read(
        cls, folder: Path, *, verify: bool = True, parts: tuple[str, ...] = PARTS,
        side: tuple[str, ...] | None = None,
    ) -> Split:
        """Read a split folder, verifying every file read against the manifest's sha256.

        ``parts`` and ``side`` (side-table names; None = all) restrict what is opened: the tune
        stage reads ``parts=("train", "valid")`` and only the side tables its kind needs, so the
        test part (and, for transfer splits, the saved test candidates) is never opened; a part
        not read is an empty frame with train's columns.
        """
        folder = Path(folder)
        manifest = read_manifest(folder)
        sides = [f for f in manifest["sha256"] if f.startswith("side_")
                 and (side is None or f[len("side_"):-len(".parquet")] in side)]
        wanted = [f"{part}.parquet" for part in parts] + sides
        for fname in wanted:
            if verify:
                verified(folder, manifest, fname)
            elif not (folder / fname).exists():
                verified(folder, manifest, fname)  # raises with the rebuild hint
        frames = {part: pd.read_parquet(folder / f"{part}.parquet") for part in parts}
        empty = next(iter(frames.values())).iloc[0:0] if frames else pd.DataFrame()
        return cls(
            name=manifest["name"],
            n_users=int(manifest["n_users"]),
            n_items=int(manifest["n_items"]),
            meta=manifest.get("meta", {}),
            side={f[len("side_"):-len(".parquet")]: pd.read_parquet(folder / f) for f in sides},
            **{part: frames.get(part, empty) for part in PARTS},
        )


def read_manifest(folder: Path) -> dict[str, Any]:
    """A split folder's ``manifest.json``; a :class:`DataError` says how to build a missing one."""
    path = Path(folder) / "manifest.json"
    if not path.exists():
        raise DataError(
            f"{folder}: no manifest.json; run `dvc repro split@{Path(folder).name}` to build the split"
        )
    return json.loads(path.read_text())


def verified(folder: Path, manifest: dict[str, Any], fname: str) -> Path:
    """``folder / fname`` after checking it exists and matches the manifest's sha256 (the one place
    a split file is verified: :meth:`Split.read` and the tuner, which reads train and valid only)."""
    path = Path(folder) / fname
    expected = manifest.get("sha256", {}).get(fname)
    rebuild = f"`dvc repro -f split@{Path(folder).name}`"
    if expected is None or not path.exists():
        raise DataError(f"{path}: missing from the split; rebuild it with {rebuild}")
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(
            f"{path}: sha256 {actual} does not match the manifest ({expected}); the split was "
            f"modified after it was built. Rebuild it with {rebuild}"
        )
    return path
