"""Safe extraction of declared members from a downloaded zip archive.

Only the members named in ``sources.yaml`` are read, each is streamed into its own declared file
name (never into a path taken from the archive), and an archive holding any member with an absolute
path or a ``..`` component is refused outright: such an archive is either broken or hostile.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from bench.atomic import atomic_writer
from bench.data.checksums import Digest, Hasher
from bench.errors import FetchError

__all__ = ["extract_member", "unsafe_members"]

_CHUNK = 1 << 20


def unsafe_members(names: list[str]) -> list[str]:
    """Member names that would escape the extraction folder (absolute, drive-letter or ``..``)."""
    bad = []
    for name in names:
        norm = name.replace("\\", "/")
        if (
            norm.startswith("/")
            or PurePosixPath(norm).is_absolute()
            or (len(norm) > 1 and norm[1] == ":")
            or ".." in norm.split("/")
        ):
            bad.append(name)
    return bad


def extract_member(archive: Path, member: str, target: Path, *, source: str) -> Digest:
    """Stream ``member`` of the zip ``archive`` into ``target`` (atomically) and return its digest.

    Args:
        source: how to name the archive in messages (its URL or mirror path).

    Raises:
        FetchError: the archive is not a readable zip, holds unsafe member names, lacks ``member``,
            or a member's data is corrupt (CRC error).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FetchError(
            f"{source}: not a readable zip archive ({exc}). The download is probably truncated: retry."
        ) from exc
    with zf:
        names = zf.namelist()
        bad = unsafe_members(names)
        if bad:
            raise FetchError(
                f"{source}: refusing to extract an archive whose members escape the target folder: "
                f"{bad[:5]}. Nothing was extracted. Check the URL in datasets/sources.yaml."
            )
        try:
            info = zf.getinfo(member)
        except KeyError:
            listing = f"{names[:10]}{' ...' if len(names) > 10 else ''}"
            raise FetchError(
                f"{source}: has no member {member!r} (members: {listing}). "
                "Fix `archive.prefix` or the file's `member` in datasets/sources.yaml."
            ) from None
        hasher = Hasher(info.file_size)
        try:
            with zf.open(info) as src, atomic_writer(target) as dst:
                while block := src.read(_CHUNK):
                    hasher.update(block)
                    dst.write(block)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise FetchError(
                f"{source}: member {member!r} is corrupt ({exc}); delete the archive and retry"
            ) from exc
    return hasher.digest()
