"""Finding the files of one entity under landing/ and fingerprinting them.

A landed item is what the manifest tracks: a file (its path relative to landing/ is the `_file`
lineage value) or a database table. Its sha256 decides whether it is new, unchanged or corrected.
Discovery does not read files: a file the manifest has never seen must be loaded whatever its
bytes, so its sha256 is taken while it is read (one pass, `ingest.stream`); only a file loaded
before is hashed up front, to know whether it can be skipped, and not even that when its size and
modification time are those recorded at its last load (`ingest.trust_file_stat`).

Full exports that only grow (a member list with the day's new members appended) are common: a
file whose first bytes are exactly the bytes loaded last time is an *append*, and only its new
bytes are read (`appended`), so a daily run costs the day's rows, not the file's.
"""

from __future__ import annotations

import glob
import hashlib
import itertools
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from ingest.config import EntityConfig

HASH_CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class LandedItem:
    """One unit of loading: a file under landing/, or a table in a database."""

    name: str  # the `_file` lineage value: path relative to landing/, or a table uri
    path: Path | None  # local file, when there is one
    size_bytes: int
    sha256: str | None = None  # None until hashed (up front, or while reading)
    mtime_ns: int | None = None  # modification time when discovered (None: not a local file)
    # An append to a file loaded before: read from byte `tail_from` (after re-reading the first
    # `head_bytes`, a CSV header), its records numbered after the `rows_before` loaded earlier.
    tail_from: int = 0
    head_bytes: int = 0
    rows_before: int = 0

    def hashed(self) -> LandedItem:
        """This item with its sha256 (reads a local file once when not known yet)."""
        if self.sha256 is not None or self.path is None:
            return self
        return replace(self, sha256=file_sha256(self.path))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def appended(
    item: LandedItem, size_before: int, sha256_before: str, rows_before: int, header: bool
) -> LandedItem:
    """The item hashed; marked as an append when its first `size_before` bytes are the file loaded before.

    One pass over the file: the digest of the old length is compared, then continued to the end for
    the new sha256. An append must start on a line boundary (the old file ended with a newline; a
    truncated last line that the new delivery completes is a change, not an append). `header`: the
    format repeats its first line (CSV), so it is re-read in front of the new bytes.
    """
    if item.path is None or not 0 < size_before < item.size_bytes:
        return item.hashed()
    digest = hashlib.sha256()
    with item.path.open("rb") as handle:
        head = handle.readline() if header else b""
        handle.seek(0)
        remaining = size_before
        last = b""
        while remaining and (chunk := handle.read(min(HASH_CHUNK_BYTES, remaining))):
            digest.update(chunk)
            remaining -= len(chunk)
            last = chunk[-1:]
        prefix = digest.hexdigest()
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    hashed = replace(item, sha256=digest.hexdigest())
    if prefix != sha256_before or last != b"\n" or len(head) >= size_before:
        return hashed
    return replace(hashed, tail_from=size_before, head_bytes=len(head), rows_before=rows_before)


def matching_files(landing: Path, entity: EntityConfig) -> list[Path]:
    """Files matching any of the entity's globs, sorted so loads happen in a stable order."""
    found: dict[Path, None] = {}
    for pattern in entity.globs:
        # glob.glob, not Path.glob: Path.glob drops a link whose target is gone when the pattern's
        # last part has no wildcard (`pos/*/*/members.csv`), glob.glob lists it.
        matched = glob.glob(pattern, root_dir=landing, recursive=True, include_hidden=True)
        for path in sorted(landing / name for name in matched):
            if _is_export(path) and not path.name.startswith((".", "~$")):
                found.setdefault(path, None)
    return list(found)


def missing_folders(landing: Path, entity: EntityConfig) -> list[str]:
    """The folders an entity's globs read from (the part before their first wildcard) that do not
    exist: an unmounted share or a renamed export folder, which would otherwise look like a quiet
    day with no new files."""
    missing = []
    for pattern in entity.globs:
        parts = PurePosixPath(pattern).parts[:-1]
        folder = landing
        for part in itertools.takewhile(lambda part: not glob.has_magic(part), parts):
            if not folder.is_dir():
                break  # the first folder missing on the way down, the one to look into
            folder = folder / part
        if not folder.is_dir() and folder.as_posix() not in missing:
            missing.append(folder.as_posix())
    return missing


def _is_export(path: Path) -> bool:
    """A file, or a link whose target is gone (a share not mounted, a file moved away): that one is
    listed so that reading it fails naming it, rather than the export being silently skipped."""
    return path.is_file() or (path.is_symlink() and not path.exists())


def landed_file(landing: Path, path: Path) -> LandedItem:
    try:
        stat = path.stat()
        size, mtime = stat.st_size, stat.st_mtime_ns
    except OSError:  # a broken link: reading it fails as this file (`ingest.stream`)
        size, mtime = 0, None
    return LandedItem(
        name=path.relative_to(landing).as_posix(),
        path=path,
        size_bytes=size,
        mtime_ns=mtime,
    )
