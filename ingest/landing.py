"""Finding the files of one entity under landing/ and fingerprinting them.

A landed item is what the manifest tracks: a file (its path relative to landing/ is the `_file`
lineage value) or a database table. Its sha256 decides whether it is new, unchanged or corrected.
Discovery does not read files: a file the manifest has never seen must be loaded whatever its
bytes, so its sha256 is taken while it is read (one pass, `ingest.stream`); only a file loaded
before is hashed up front, to know whether it can be skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from ingest.config import EntityConfig

HASH_CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class LandedItem:
    """One unit of loading: a file under landing/, or a table in a database."""

    name: str  # the `_file` lineage value: path relative to landing/, or a table uri
    path: Path | None  # local file, when there is one
    size_bytes: int
    sha256: str | None = None  # None until hashed (up front, or while reading)

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


def matching_files(landing: Path, entity: EntityConfig) -> list[Path]:
    """Files matching any of the entity's globs, sorted so loads happen in a stable order."""
    found: dict[Path, None] = {}
    for pattern in entity.globs:
        for path in sorted(landing.glob(pattern)):
            if path.is_file() and not path.name.startswith((".", "~$")):
                found.setdefault(path, None)
    return list(found)


def landed_file(landing: Path, path: Path) -> LandedItem:
    return LandedItem(name=path.relative_to(landing).as_posix(), path=path, size_bytes=path.stat().st_size)
