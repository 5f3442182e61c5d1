"""``datasets/sources.yaml``: load and validate the declared dataset sources into frozen
dataclasses.

Every later data step (fetch, prepare, ``recx datasets``) reads the declarations through
:func:`load_sources`, so a typo in the file is reported once, early, naming the dataset and the
key, instead of surfacing as a failed download or a wrong table. The file's format is documented at
its top and in ``docs/datasets.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from bench.data.tables import RatingScale
from bench.errors import ConfigError

__all__ = [
    "CONTENT_ENCODINGS",
    "ArchiveSpec",
    "ContentSpec",
    "DatasetSource",
    "FileSpec",
    "RatingScale",
    "Sources",
    "check_relative_path",
    "describe_datasets",
    "load_sources",
]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GIT_BLOB = re.compile(r"^[0-9a-f]{40}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

_DATASET_KEYS = {
    "title", "parser", "homepage", "size", "licence", "citation", "mirror_folder", "rating_scale",
    "expected", "options", "archive", "base_url", "files", "notes", "bibtex",
}
_TEMPLATE_ONLY_KEYS = {"template", "category", "sha256", "bytes"}
_FILE_KEYS = {"name", "sha256", "bytes", "url", "member", "git_blob", "content"}
_CONTENT_KEYS = {"encoding", "sha256", "bytes"}
_ARCHIVE_KEYS = {"name", "url", "sha256", "bytes", "prefix"}
_EXPECTED_KEYS = {"interactions", "users", "items", "rows"}

CONTENT_ENCODINGS = ("gzip",)
"""How a file's bytes may be encoded around the content that ``content.sha256`` pins."""


@dataclass(frozen=True)
class ContentSpec:
    """A pin of a file's decoded content, for files whose compressed bytes legitimately differ
    between copies (the same data gzip-compressed by another tool or at another level).

    Attributes:
        encoding: how the file wraps the content (``gzip``; multi-member streams included).
        sha256: hex digest of the decoded bytes.
        bytes: size of the decoded bytes, checked when given.
    """

    encoding: str
    sha256: str
    bytes: int | None = None


@dataclass(frozen=True)
class FileSpec:
    """One file a parser reads, as it must appear in ``datasets/raw/<dataset>/<name>``.

    Attributes:
        name: relative POSIX path inside the raw folder and inside the mirror folder (may hold one
            sub-folder, e.g. ``sport_cloth/train.txt`` for the two halves of a cross-domain pair).
        sha256: pinned hex digest, or None for trust on first use (``datasets/checksums.lock``).
        bytes: expected size, checked when given.
        urls: where to download the file itself (tried in order); empty for archive members.
        member: path of the file inside the dataset's archive, when it comes from one.
        git_blob: ``git hash-object`` id, checked in addition to sha256 when given.
        content: pin of the decoded content (:class:`ContentSpec`), checked in addition to the
            file's own sha256; with ``content`` and no ``sha256`` the file's bytes are not pinned
            and not trusted on first use, so every copy with the same content verifies.
    """

    name: str
    sha256: str | None = None
    bytes: int | None = None
    urls: tuple[str, ...] = ()
    member: str | None = None
    git_blob: str | None = None
    content: ContentSpec | None = None

    @property
    def trust_on_first_use(self) -> bool:
        """Whether a missing sha256 is recorded in the lock on first fetch (no content pin)."""
        return self.sha256 is None and self.content is None


@dataclass(frozen=True)
class ArchiveSpec:
    """A zip archive holding some of a dataset's files (the official GroupLens downloads)."""

    name: str
    urls: tuple[str, ...]
    sha256: str | None = None
    bytes: int | None = None


@dataclass(frozen=True)
class DatasetSource:
    """One declared dataset: provenance, licence, files and how to parse them."""

    name: str
    title: str
    parser: str
    homepage: str
    size: str
    licence: str
    citation: str
    files: tuple[FileSpec, ...]
    mirror_folder: str | None = None
    archive: ArchiveSpec | None = None
    rating_scale: RatingScale | None = None
    expected: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    bibtex: str = ""

    def file(self, name: str) -> FileSpec:
        """The declared file called ``name``; a missing declaration is a ConfigError."""
        for spec in self.files:
            if spec.name == name:
                return spec
        raise ConfigError(
            f"datasets.{self.name}.files: parser {self.parser!r} needs a file named {name!r}; "
            f"declared files are {[f.name for f in self.files]}"
        )


@dataclass(frozen=True)
class Sources:
    """All declared datasets, by name, plus the file they came from (for messages)."""

    path: Path
    datasets: Mapping[str, DatasetSource]

    def get(self, name: str) -> DatasetSource:
        try:
            return self.datasets[name]
        except KeyError:
            raise ConfigError(
                f"{self.path}: unknown dataset {name!r}; declared datasets are "
                f"{sorted(self.datasets)}. "
                "Add an entry under `datasets:` (see docs/datasets.md)."
            ) from None


def load_sources(path: Path) -> Sources:
    """Read and validate ``sources.yaml``.

    Raises:
        ConfigError: unreadable YAML, unknown keys, bad hashes, unsafe file names, unknown parser or
            template; the message names ``datasets.<name>.<key>``.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: dataset sources file not found (expected datasets/sources.yaml)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping with keys `version`, `templates`, `datasets`")
    unknown = sorted(set(raw) - {"version", "templates", "datasets"})
    if unknown:
        raise ConfigError(
            f"{path}: unknown top-level key(s) {unknown}; valid: version, templates, datasets"
        )
    if raw.get("version", 1) != 1:
        raise ConfigError(f"{path}: version {raw.get('version')!r} is not supported (expected 1)")
    templates = raw.get("templates") or {}
    entries = raw.get("datasets") or {}
    if not isinstance(templates, Mapping) or not isinstance(entries, Mapping):
        raise ConfigError(f"{path}: `templates` and `datasets` must be mappings")
    datasets = {}
    for name, entry in entries.items():
        where = f"{path.name}: datasets.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{where}: dataset names use letters, digits, '_', '-', '.' only")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a mapping of settings")
        datasets[name] = _dataset(name, _expand(entry, templates, where), where)
    return Sources(path=path, datasets=MappingProxyType(datasets))


def describe_datasets(sources: Path) -> str:
    """A plain-text table of every declared dataset: name, size, licence, citation
    (``recx datasets``)."""
    catalog = load_sources(sources)
    rows = [("name", "size", "licence", "citation")]
    for name in sorted(catalog.datasets):
        ds = catalog.datasets[name]
        rows.append((name, ds.size, _first_sentence(ds.licence), _short_citation(ds.citation)))
    widths = [min(max(len(r[i]) for r in rows), cap) for i, cap in enumerate((34, 44, 60, 200))]
    lines = []
    for k, row in enumerate(rows):
        cells = [_clip(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def check_relative_path(value: str, *, where: str) -> str:
    """Accept only a plain relative POSIX path (no absolute path, no ``..``, no backslash)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a non-empty relative file path, got {value!r}")
    pure = PurePosixPath(value)
    if (
        pure.is_absolute()
        or "\\" in value
        or any(part in ("..", ".", "") for part in value.split("/"))
        or re.match(r"^[A-Za-z]:", value)
    ):
        raise ConfigError(
            f"{where}: {value!r} is not a safe relative path (absolute paths, '..', '.', empty parts "
            "and backslashes are refused)"
        )
    return value


# -- internals ---------------------------------------------------------------------------------------


def _expand(entry: Mapping[str, Any], templates: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Merge a ``template:`` entry with its template, substituting ``{category}``."""
    if "template" not in entry:
        stray = sorted(set(entry) & {"category", "sha256", "bytes"})
        if stray:
            raise ConfigError(f"{where}: key(s) {stray} are only valid together with `template:`")
        return dict(entry)
    tname = entry["template"]
    if tname not in templates:
        raise ConfigError(
            f"{where}.template: unknown template {tname!r}; templates are {sorted(templates)}"
        )
    category = entry.get("category")
    if not isinstance(category, str) or not re.match(r"^[A-Za-z0-9_\-]+$", category):
        raise ConfigError(
            f"{where}.category: expected a category name such as Musical_Instruments, got {category!r}"
        )
    merged = _substitute(dict(templates[tname]), category)
    files = merged.get("files") or []
    if ("sha256" in entry or "bytes" in entry) and len(files) != 1:
        raise ConfigError(
            f"{where}: entry-level sha256/bytes pin a template's single file, but template {tname!r} "
            f"declares {len(files)} files; give `files:` instead"
        )
    if files and ("sha256" in entry or "bytes" in entry):
        pinned = dict(files[0])
        for key in ("sha256", "bytes"):
            if key in entry:
                pinned[key] = entry[key]
        merged["files"] = [pinned]
    for key, value in entry.items():
        if key not in _TEMPLATE_ONLY_KEYS:
            merged[key] = value
    merged.setdefault("size", "unknown (not pinned)")
    return merged


def _substitute(value: Any, category: str) -> Any:
    if isinstance(value, str):
        return value.replace("{category}", category)
    if isinstance(value, list):
        return [_substitute(v, category) for v in value]
    if isinstance(value, Mapping):
        return {k: _substitute(v, category) for k, v in value.items()}
    return value


def _dataset(name: str, entry: Mapping[str, Any], where: str) -> DatasetSource:
    from bench.data.parsers import PARSERS

    unknown = sorted(set(entry) - _DATASET_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(_DATASET_KEYS)}")
    for key in ("parser", "licence", "citation", "files"):
        if key not in entry:
            raise ConfigError(f"{where}: missing required key `{key}`")
    parser = entry["parser"]
    if parser not in PARSERS:
        raise ConfigError(f"{where}.parser: unknown parser {parser!r}; available: {sorted(PARSERS)}")
    archive = _archive(entry["archive"], f"{where}.archive") if entry.get("archive") else None
    prefix = (entry["archive"] or {}).get("prefix", "") if archive else ""
    base_url = entry.get("base_url")
    if base_url is not None:
        _url(base_url, f"{where}.base_url")
    if not isinstance(entry["files"], list) or not entry["files"]:
        raise ConfigError(f"{where}.files: expected a non-empty list of files")
    files = []
    for k, item in enumerate(entry["files"]):
        files.append(
            _file(item, f"{where}.files[{k}]", archive=archive, prefix=prefix, base_url=base_url)
        )
    names = [f.name for f in files]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{where}.files: duplicate file names {repeated}")
    mirror_folder = entry.get("mirror_folder")
    if mirror_folder is not None:
        check_relative_path(mirror_folder, where=f"{where}.mirror_folder")
    options = entry.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}.options: expected a mapping")
    return DatasetSource(
        name=name,
        title=str(entry.get("title", name)),
        parser=parser,
        homepage=str(entry.get("homepage", "")),
        size=str(entry.get("size", "unknown")),
        licence=" ".join(str(entry["licence"]).split()),
        citation=" ".join(str(entry["citation"]).split()),
        bibtex=str(entry.get("bibtex") or "").strip(),
        files=tuple(files),
        mirror_folder=mirror_folder,
        archive=archive,
        rating_scale=_scale(entry.get("rating_scale"), f"{where}.rating_scale"),
        expected=MappingProxyType(_expected(entry.get("expected"), f"{where}.expected")),
        options=MappingProxyType(dict(options)),
    )


def _file(
    item: Any, where: str, *, archive: ArchiveSpec | None, prefix: str, base_url: str | None
) -> FileSpec:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with at least `name`")
    unknown = sorted(set(item) - _FILE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(_FILE_KEYS)}")
    if "name" not in item:
        raise ConfigError(f"{where}: missing `name`")
    name = check_relative_path(item["name"], where=f"{where}.name")
    where = f"{where} ({name})"
    urls = _urls(item.get("url"), f"{where}.url")
    member = item.get("member")
    if member is not None and archive is None:
        raise ConfigError(f"{where}.member: the dataset declares no `archive`")
    if not urls and archive is not None and member is None:
        member = f"{prefix}{name}"
    if member is not None:
        check_relative_path(member, where=f"{where}.member")
    if not urls and member is None:
        if base_url is None:
            raise ConfigError(f"{where}: no source: give `url`, or declare an `archive` or `base_url`")
        urls = (base_url + name,)
    git_blob = item.get("git_blob")
    if git_blob is not None and not (isinstance(git_blob, str) and _GIT_BLOB.match(git_blob)):
        raise ConfigError(f"{where}.git_blob: expected 40 lowercase hex digits, got {git_blob!r}")
    return FileSpec(
        name=name,
        sha256=_sha(item.get("sha256"), f"{where}.sha256"),
        bytes=_size(item.get("bytes"), f"{where}.bytes"),
        urls=urls,
        member=member,
        git_blob=git_blob,
        content=_content(item.get("content"), f"{where}.content"),
    )


def _content(value: Any, where: str) -> ContentSpec | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping {{encoding: gzip, sha256: <hex>, bytes: <n>}}"
        )
    unknown = sorted(set(value) - _CONTENT_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown}; valid keys are {sorted(_CONTENT_KEYS)}"
        )
    encoding = value.get("encoding")
    if encoding not in CONTENT_ENCODINGS:
        raise ConfigError(
            f"{where}.encoding: expected one of {list(CONTENT_ENCODINGS)}, got {encoding!r}"
        )
    sha = _sha(value.get("sha256"), f"{where}.sha256")
    if sha is None:
        raise ConfigError(
            f"{where}.sha256: a content pin needs the sha256 of the decoded content (64 hex digits)"
        )
    size = _size(value.get("bytes"), f"{where}.bytes")
    return ContentSpec(encoding=encoding, sha256=sha, bytes=size)


def _archive(item: Any, where: str) -> ArchiveSpec:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with name, url, sha256")
    unknown = sorted(set(item) - _ARCHIVE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(_ARCHIVE_KEYS)}")
    name = check_relative_path(item.get("name", ""), where=f"{where}.name")
    if "/" in name or not name.endswith(".zip"):
        raise ConfigError(f"{where}.name: expected a plain .zip file name, got {name!r}")
    urls = _urls(item.get("url"), f"{where}.url")
    if not urls:
        raise ConfigError(f"{where}.url: an archive needs at least one URL")
    prefix = item.get("prefix", "")
    if prefix and (not isinstance(prefix, str) or not prefix.endswith("/")):
        raise ConfigError(f"{where}.prefix: expected a folder ending in '/', got {prefix!r}")
    if prefix:
        check_relative_path(prefix.rstrip("/"), where=f"{where}.prefix")
    return ArchiveSpec(
        name=name,
        urls=urls,
        sha256=_sha(item.get("sha256"), f"{where}.sha256"),
        bytes=_size(item.get("bytes"), f"{where}.bytes"),
    )


def _urls(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: expected a URL or a list of URLs, got {value!r}")
    return tuple(_url(v, where) for v in values)


def _url(value: Any, where: str) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: expected an http(s) URL, got {value!r}")
    return value


def _sha(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ConfigError(
            f"{where}: expected 64 lowercase hex digits or null (trust on first use), got {value!r}"
        )
    return value


def _size(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: expected a size in bytes (a non-negative integer), got {value!r}")
    return value


def _scale(value: Any, where: str) -> RatingScale | None:
    if value is None:
        return None
    keys_ok = isinstance(value, Mapping) and {"min", "max"} <= set(value) <= {"min", "max", "step"}
    if not keys_ok:
        raise ConfigError(
            f"{where}: expected {{min: <number>, max: <number>, step: <number>}}, got {value!r}"
        )
    nums = {}
    for key in ("min", "max", "step"):
        v = value.get(key)
        if v is None and key == "step":
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{where}.{key}: expected a number, got {v!r}")
        nums[key] = float(v)
    if nums["min"] > nums["max"] or nums.get("step", 1.0) <= 0:
        raise ConfigError(f"{where}: expected min <= max and step > 0, got {dict(value)}")
    return RatingScale(nums["min"], nums["max"], nums.get("step"))


def _expected(value: Any, where: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or set(value) - _EXPECTED_KEYS:
        raise ConfigError(f"{where}: expected a mapping with keys among {sorted(_EXPECTED_KEYS)}")
    out = {}
    for key, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{where}.{key}: expected a non-negative integer, got {v!r}")
        out[key] = v
    return out


def _first_sentence(text: str) -> str:
    return text.split("; ")[0].split(". ")[0].rstrip(".")


def _short_citation(text: str) -> str:
    """``"A, B, C. Title. Venue 2015."`` -> ``"A et al., Venue 2015"`` (enough to find the paper)."""
    authors = re.split(r"(?<=[a-z]{2})\. ", text, maxsplit=1)[0]
    first = authors.split(",")[0].strip()
    more = " et al." if "," in authors else ""
    years = re.findall(r"\b(?:19|20)\d\d\b", text)
    venue = re.findall(r"\b(SIGIR|ICDE|WWW|EMNLP-IJCNLP|ACM TiiS|KDD|RecSys)\b", text)
    tail = " ".join(x for x in (venue[0] if venue else "", years[0] if years else "") if x)
    return f"{first}{more}{', ' + tail if tail else ''}".strip()


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
