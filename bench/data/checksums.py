"""File digests and the trust-on-first-use checksum lock (``datasets/checksums.lock``).

Every file that enters ``datasets/raw/`` is hashed while it is written, so verifying costs no
second read. Files whose publisher gives no checksum are pinned the first time they are fetched: the
digest is recorded in a lock file that is committed beside ``sources.yaml``, and every later fetch (on
any machine, from the mirror or the network) must reproduce it. Files pinned by their decoded
content (``content:`` in ``sources.yaml``) are decoded and hashed once more by
:func:`content_digest`.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.atomic import atomic_writer
from bench.errors import ConfigError

__all__ = ["ChecksumLock", "ContentDigest", "Digest", "Hasher", "content_digest", "file_digest"]

_CHUNK = 1 << 20
_LOCK_HEADER = """\
# Trust-on-first-use checksums, written by `recx fetch` (bench/data/fetch.py).
# A file declared with `sha256: null` in datasets/sources.yaml is hashed on its first successful
# fetch and recorded here; later fetches must match. Commit this file. To accept a new upstream
# version, delete its line (and say why in the commit message).
"""


@dataclass(frozen=True)
class Digest:
    """sha256 (hex), git blob id (sha1 of ``blob <size>\\0<content>``) and size of some bytes."""

    sha256: str
    git_blob: str
    bytes: int


class Hasher:
    """Incremental sha256 + git-blob digest of a stream whose total size is known up front."""

    def __init__(self, size: int) -> None:
        self._sha = hashlib.sha256()
        self._blob = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
        self._n = 0

    def update(self, data: bytes) -> None:
        self._sha.update(data)
        self._blob.update(data)
        self._n += len(data)

    def digest(self) -> Digest:
        return Digest(self._sha.hexdigest(), self._blob.hexdigest(), self._n)


def file_digest(path: Path) -> Digest:
    """Digest of a file on disk, read in 1 MiB chunks."""
    path = Path(path)
    hasher = Hasher(path.stat().st_size)
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            hasher.update(block)
    return hasher.digest()


@dataclass(frozen=True)
class ContentDigest:
    """sha256 (hex) and size of a file's decoded content."""

    sha256: str
    bytes: int


def content_digest(path: Path, encoding: str) -> ContentDigest:
    """Digest of the content ``path`` holds under ``encoding`` (``gzip``: every member of the
    stream, decompressed in 1 MiB chunks).

    Raises:
        ValueError: the file is not a complete, valid stream of that encoding (truncated, corrupt
            or not compressed at all); the message says why, callers add the file and the remedy.
    """
    if encoding != "gzip":
        raise ValueError(f"unsupported content encoding {encoding!r} (supported: gzip)")
    sha = hashlib.sha256()
    n = 0
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(_CHUNK):
                sha.update(block)
                n += len(block)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"not a valid gzip stream ({type(exc).__name__}: {exc})") from exc
    return ContentDigest(sha.hexdigest(), n)


class ChecksumLock:
    """The lock file: ``{dataset: {file name: sha256}}`` in YAML.

    Reads are cheap and side-effect free; :meth:`record` only changes memory, :meth:`save` rewrites
    the file atomically (re-reading it first so entries written meanwhile by another fetch are kept).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._entries = self._read()
        self._dirty = False

    def get(self, dataset: str, name: str) -> str | None:
        return self._entries.get(dataset, {}).get(name)

    def record(self, dataset: str, name: str, sha256: str) -> None:
        if self.get(dataset, name) != sha256:
            self._entries.setdefault(dataset, {})[name] = sha256
            self._dirty = True

    def save(self) -> bool:
        """Write the lock if anything was recorded; returns whether the file changed."""
        if not self._dirty:
            return False
        merged = self._read()
        for dataset, files in self._entries.items():
            merged.setdefault(dataset, {}).update(files)
        text = _LOCK_HEADER + yaml.safe_dump(
            {d: dict(sorted(f.items())) for d, f in sorted(merged.items())},
            sort_keys=True,
            width=200,
        )
        with atomic_writer(self.path) as fh:
            fh.write(text.encode("utf-8"))
        self._entries = merged
        self._dirty = False
        return True

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{self.path}: not valid YAML ({exc}); restore it from git") from exc
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and all(isinstance(h, str) for h in v.values())
            for v in data.values()
        ):
            raise ConfigError(
                f"{self.path}: expected `<dataset>: {{<file>: <sha256>}}`; restore it from git"
            )
        return {str(k): {str(n): h for n, h in v.items()} for k, v in data.items()}
