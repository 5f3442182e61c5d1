"""The ``fetch`` stage: every file a dataset's parser reads, verified, in ``datasets/raw/<dataset>/``.

For each declared file, in order of preference:

1. the offline mirror (``$RECX_DATA_MIRROR/<mirror_folder>/<name>``), copied and verified;
2. the dataset's archive, taken from the mirror (``<mirror_folder>/<archive name>``) or downloaded
   through :mod:`pooch` with the pinned hash, and only the declared member extracted;
3. the file's own official URL(s), downloaded through :mod:`pooch` with the pinned hash.

Every file is checked against its sha256 (pinned in ``sources.yaml`` or recorded in the
trust-on-first-use lock), its size and git blob id where declared, and the sha256 of its decoded
content where ``sources.yaml`` pins that (``content:``; such a file's own bytes are pinned only if
``sha256`` is given too, so a differently compressed copy of the same content verifies).
Everything is first assembled in a temporary sibling folder of ``out`` and only moved into ``out``
once every file verified, each by an atomic rename: a failed fetch leaves ``out`` as it was and no
partial file anywhere.
``out/fetch.json`` records each file's digest and origin without any machine-specific path, so the
DVC output is identical across machines.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from bench.data.archive import extract_member
from bench.atomic import atomic_writer, temp_dir
from bench.data.checksums import (
    ChecksumLock,
    ContentDigest,
    Digest,
    Hasher,
    content_digest,
    file_digest,
)
from bench.data.sources import DatasetSource, FileSpec, load_sources
from bench.errors import FetchError

__all__ = ["PROVENANCE_FILE", "FetchReport", "FetchedFile", "fetch_dataset"]

log = logging.getLogger(__name__)

PROVENANCE_FILE = "fetch.json"
_CHUNK = 1 << 20

Origin = Literal["mirror", "url"]


@dataclass(frozen=True)
class FetchedFile:
    """One verified file in the raw folder.

    Attributes:
        name: path relative to the raw folder.
        sha256, bytes: digest and size of the file as written.
        origin: ``mirror`` or ``url``.
        source: mirror-relative path (``<mirror_folder>/<name>``), or the URL (``<url>#<member>`` for
            an archive member); never an absolute local path.
        pinned: ``sources.yaml`` (pinned there), ``lock`` (recorded earlier), ``recorded``
            (trusted on first use now and written to the lock), or ``content`` (only the decoded
            content is pinned).
        content_sha256, content_bytes: digest and size of the decoded content, for files with a
            ``content`` pin (else None, and left out of ``fetch.json``).
    """

    name: str
    sha256: str
    bytes: int
    origin: Origin
    source: str
    pinned: Literal["sources.yaml", "lock", "recorded", "content"]
    content_sha256: str | None = None
    content_bytes: int | None = None


@dataclass(frozen=True)
class FetchReport:
    """What :func:`fetch_dataset` wrote: the raw folder, its files and the lock entries it added."""

    dataset: str
    out: Path
    files: tuple[FetchedFile, ...]
    archive: FetchedFile | None
    recorded: tuple[str, ...]


def fetch_dataset(
    name: str,
    *,
    sources: Path,
    out: Path,
    mirror: Path | None,
    lock: Path | None = None,
    cache: Path | None = None,
    retries: int = 1,
    timeout: float = 60.0,
    progress: bool = True,
) -> FetchReport:
    """Fetch and verify every file of dataset ``name`` into ``out``.

    Args:
        name: a dataset declared in ``sources``.
        sources: ``datasets/sources.yaml``.
        out: the raw folder (``datasets/raw/<name>``); created if needed.
        mirror: the offline mirror root, or None to use the network only.
        lock: trust-on-first-use lock file (default: ``checksums.lock`` beside ``sources``).
        cache: folder that keeps downloads (archives) between runs; default: none, downloads are
            deleted once extracted.
        retries: extra download attempts per URL after a network error or checksum mismatch.
        timeout: seconds without data before a download is abandoned.
        progress: show pooch's progress bar while downloading.

    Raises:
        FetchError: a file is unavailable, or fails its checksum; the message names the file, the
            URL or mirror path, the expected and actual digests and what to do.
        ConfigError: ``sources`` is invalid or does not declare ``name``.
    """
    catalog = load_sources(sources)
    ds = catalog.get(name)
    checksums = ChecksumLock(lock if lock is not None else Path(sources).parent / "checksums.lock")
    if mirror is not None and not Path(mirror).is_dir():
        raise FetchError(
            f"dataset mirror {mirror} does not exist; fix RECX_DATA_MIRROR (or --mirror), or unset "
            "it to download from the official URLs"
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = temp_dir(out.parent, f".{out.name}.fetch-")
    job = _Job(ds, checksums, mirror, staging, cache, retries, timeout, progress)
    try:
        files = tuple(job.fetch(spec) for spec in ds.files)
        for f in files:
            target = out / f.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / f.name, target)
        report = FetchReport(ds.name, out, files, job.archive_file, tuple(job.recorded))
        _write_provenance(report)
        for rec_name, sha in job.recorded.items():
            checksums.record(ds.name, rec_name, sha)
        if checksums.save():
            log.warning(
                "%s: recorded first-use checksums of %s in %s; commit that file",
                ds.name, sorted(job.recorded), checksums.path,
            )
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- internals -------------------------------------------------------------------------------


class _Job:
    """State of one fetch: where files go, the archive once obtained, first-use digests to record."""

    def __init__(
        self,
        ds: DatasetSource,
        lock: ChecksumLock,
        mirror: Path | None,
        staging: Path,
        cache: Path | None,
        retries: int,
        timeout: float,
        progress: bool,
    ) -> None:
        self.ds, self.lock, self.mirror, self.staging = ds, lock, mirror, staging
        self.downloads = Path(cache) / ds.name if cache is not None else staging / ".downloads"
        self.retries, self.timeout, self.progress = retries, timeout, progress
        self.archive_path: Path | None = None
        self.archive_file: FetchedFile | None = None
        self.recorded: dict[str, str] = {}

    def fetch(self, spec: FileSpec) -> FetchedFile:
        """One declared file: mirror copy, archive member or direct download, then verified."""
        expected, pinned = self._expected(spec.name, spec.sha256, tofu=spec.trust_on_first_use)
        target = self.staging / spec.name
        local = self._mirror_path(spec.name)
        downloaded: Path | None = None
        if local is not None:
            digest = _copy(local, target)
            origin, source = "mirror", f"{self.ds.mirror_folder}/{spec.name}"
            remedy = (
                f"The mirror copy {local} is corrupt or a different version: delete or replace it, "
                "or check that RECX_DATA_MIRROR points at the right mirror (unset it to download "
                "instead)."
            )
        elif spec.member is not None:
            archive, archive_source = self._archive(missing=spec.name)
            digest = extract_member(archive, spec.member, target, source=archive_source)
            origin = self.archive_file.origin if self.archive_file else "url"
            source = f"{archive_source}#{spec.member}"
            remedy = "The archive verified but this member did not: fix the member's pin."
        else:
            path, url = self._download(spec.urls, spec.name, expected, spec.sha256, missing=spec.name)
            downloaded = path
            digest = _copy(path, target)
            origin, source = "url", url
            remedy = "Retry; if it persists the upstream file changed: check the dataset page."
        _verify(target, spec.name, digest, expected, spec.git_blob, spec.bytes,
                source=source, remedy=remedy, pinned=pinned)
        content = None
        if spec.content is not None:
            try:
                content = _verify_content(target, spec, source=source, remedy=remedy)
            except FetchError:
                if downloaded is not None:  # pooch had no hash to check: never reuse this download
                    downloaded.unlink(missing_ok=True)
                raise
        if pinned == "recorded":
            self.recorded[spec.name] = digest.sha256
        return FetchedFile(
            spec.name, digest.sha256, digest.bytes, origin, source, pinned,
            content_sha256=content.sha256 if content else None,
            content_bytes=content.bytes if content else None,
        )

    def _archive(self, *, missing: str) -> tuple[Path, str]:
        """Path and message name of the verified archive, obtained once per fetch."""
        spec = self.ds.archive
        assert spec is not None
        if self.archive_path is not None and self.archive_file is not None:
            return self.archive_path, self.archive_file.source
        expected, pinned = self._expected(spec.name, spec.sha256)
        local = self._mirror_path(spec.name)
        if local is not None:
            path, origin, source = local, "mirror", f"{self.ds.mirror_folder}/{spec.name}"
            remedy = f"Delete or replace the mirror copy {local}, or fix RECX_DATA_MIRROR."
        else:
            path, source = self._download(spec.urls, spec.name, expected, spec.sha256, missing=missing)
            origin = "url"
            remedy = "Retry; if it persists the archive changed upstream: check the dataset page."
        digest = file_digest(path)
        _verify(None, spec.name, digest, expected, None, spec.bytes,
                source=source, remedy=remedy, pinned=pinned)
        if pinned == "recorded":
            self.recorded[spec.name] = digest.sha256
        self.archive_path = path
        self.archive_file = FetchedFile(spec.name, digest.sha256, digest.bytes, origin, source, pinned)
        return path, source

    def _download(
        self,
        urls: tuple[str, ...],
        name: str,
        expected: str | None,
        pinned_sha: str | None,
        *,
        missing: str,
    ) -> tuple[Path, str]:
        """Download ``name`` through pooch (pinned ``known_hash``), each URL ``1 + retries`` times.

        ``missing`` is the declared file this download is for (``name`` itself, or a member of the
        archive ``name``); it is what the error message leads with.
        """
        import pooch
        import requests

        downloader = pooch.HTTPDownloader(progressbar=self.progress, timeout=self.timeout)
        flat = name.replace("/", "__")
        failures: list[str] = []
        for url in urls:
            for attempt in range(1 + self.retries):
                tag = f"{url} (attempt {attempt + 1})"
                try:
                    path = pooch.retrieve(
                        url,
                        known_hash=f"sha256:{expected}" if expected else None,
                        fname=flat,
                        path=self.downloads,
                        downloader=downloader,
                    )
                    return Path(path), url
                except ValueError as exc:  # pooch's checksum mismatch; it deleted the download
                    got = re.search(r"but got ([0-9a-fA-F]{64})", str(exc))
                    actual = got.group(1) if got else "unknown"
                    failures.append(f"{tag}: sha256 mismatch, expected {expected}, got {actual}")
                except (requests.RequestException, OSError) as exc:
                    failures.append(f"{tag}: {type(exc).__name__}: {_short(exc)}")
                log.warning("%s: download failed: %s", self.ds.name, failures[-1])
                if attempt < self.retries:
                    time.sleep(min(1.0 + attempt, 5.0))
        if any("sha256 mismatch" in f for f in failures):
            advice = (
                "The server sent other bytes than pinned: retry (a truncated transfer fails this "
                "way); if it persists the upstream file changed: check the dataset page, then "
                "update the pin in datasets/sources.yaml (or its line in datasets/checksums.lock)."
            )
        else:
            advice = "Check the network connection and retry."
        via = f" (downloading {name}, which holds it)" if name != missing else ""
        pin = expected or "none pinned (trust on first use)"
        if expected:
            pin += " (datasets/sources.yaml)" if pinned_sha else " (datasets/checksums.lock)"
        folder = self.ds.mirror_folder or "<folder>"
        raise FetchError(
            f"{self.ds.name}: could not obtain {missing!r}{self._mirror_hint(missing)}{via}.\n  "
            + "\n  ".join(failures)
            + f"\n  expected sha256 of {name}: {pin}"
            + f"\n  {advice} Or place a verified copy in the mirror at "
            f"<RECX_DATA_MIRROR>/{folder}/{missing}. No file was written."
        )

    def _expected(
        self, name: str, pinned: str | None, *, tofu: bool = True
    ) -> tuple[str | None, str]:
        """The sha256 the file's bytes must have and where that pin comes from; ``tofu=False``
        (a content-pinned file): no pin of the bytes, and none recorded."""
        if pinned is not None:
            return pinned, "sources.yaml"
        if not tofu:
            return None, "content"
        locked = self.lock.get(self.ds.name, name)
        return (locked, "lock") if locked else (None, "recorded")

    def _mirror_path(self, name: str) -> Path | None:
        if self.mirror is None or self.ds.mirror_folder is None:
            return None
        path = Path(self.mirror) / self.ds.mirror_folder / name
        if path.is_file():
            return path
        log.info("%s: %s is not in the mirror (%s); trying the official source",
                 self.ds.name, name, path)
        return None

    def _mirror_hint(self, name: str) -> str:
        if self.mirror is None:
            return " (no mirror set: RECX_DATA_MIRROR is unset)"
        if self.ds.mirror_folder is None:
            return " (the dataset declares no mirror_folder)"
        path = Path(self.mirror) / self.ds.mirror_folder / name
        return f": it is not in the mirror ({path}) and the download failed"


def _copy(src: Path, target: Path) -> Digest:
    """Copy ``src`` to ``target`` atomically, hashing in the same pass."""
    hasher = Hasher(src.stat().st_size)
    with open(src, "rb") as fin, atomic_writer(target) as fout:
        while block := fin.read(_CHUNK):
            hasher.update(block)
            fout.write(block)
    return hasher.digest()


def _verify(
    target: Path | None,
    name: str,
    digest: Digest,
    sha256: str | None,
    git_blob: str | None,
    size: int | None,
    *,
    source: str,
    remedy: str,
    pinned: str,
) -> None:
    """Raise FetchError (after deleting ``target``) if any declared digest or size differs."""
    problems = []
    if size is not None and digest.bytes != size:
        problems.append(f"size: expected {size} bytes, got {digest.bytes}")
    if sha256 is not None and digest.sha256 != sha256:
        where = "datasets/sources.yaml" if pinned == "sources.yaml" else "datasets/checksums.lock"
        problems.append(f"sha256: expected {sha256} ({where}), got {digest.sha256}")
    if git_blob is not None and digest.git_blob != git_blob:
        problems.append(f"git blob: expected {git_blob}, got {digest.git_blob}")
    if problems:
        if target is not None:
            target.unlink(missing_ok=True)
        raise FetchError(
            f"{name}: checksum mismatch for {source}\n  " + "\n  ".join(problems)
            + f"\n  The file was not kept. {remedy}"
        )


def _verify_content(target: Path, spec: FileSpec, *, source: str, remedy: str) -> ContentDigest:
    """Decode ``target`` and check its content against ``spec.content``; on a mismatch or an
    undecodable file delete ``target`` and raise FetchError naming the file and the source."""
    pin = spec.content
    assert pin is not None
    try:
        digest = content_digest(target, pin.encoding)
    except ValueError as exc:
        target.unlink(missing_ok=True)
        raise FetchError(
            f"{spec.name}: cannot decode {source} as {pin.encoding}: {exc}\n"
            f"  The file was not kept. {remedy}"
        ) from exc
    problems = []
    if pin.bytes is not None and digest.bytes != pin.bytes:
        problems.append(f"content size: expected {pin.bytes} bytes, got {digest.bytes}")
    if digest.sha256 != pin.sha256:
        problems.append(
            f"content sha256 ({pin.encoding}-decoded): expected {pin.sha256} "
            f"(datasets/sources.yaml), got {digest.sha256}"
        )
    if problems:
        target.unlink(missing_ok=True)
        raise FetchError(
            f"{spec.name}: content checksum mismatch for {source}\n  " + "\n  ".join(problems)
            + f"\n  The file was not kept. {remedy}"
        )
    return digest


def _short(exc: BaseException, width: int = 300) -> str:
    """The exception text without urllib3's nested repr noise, clipped."""
    text = str(exc)
    m = re.search(r"\(Caused by \w+\((.*)\)\)$", text)
    text = m.group(1) if m else text
    return text if len(text) <= width else text[: width - 3] + "..."


def _write_provenance(report: FetchReport) -> None:
    doc = {
        "dataset": report.dataset,
        "archive": _entry(report.archive) if report.archive else None,
        "files": [_entry(f) for f in sorted(report.files, key=lambda f: f.name)],
    }
    with atomic_writer(report.out / PROVENANCE_FILE) as fh:
        fh.write((json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def _entry(f: FetchedFile) -> dict[str, object]:
    # `pinned` is left out: it differs between the first (recording) fetch and later ones, and the
    # provenance file must be identical for identical content. The content digest appears only for
    # files with a content pin.
    return {
        k: v for k, v in asdict(f).items()
        if k != "pinned" and not (k.startswith("content_") and v is None)
    }
