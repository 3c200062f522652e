"""Landing files as privacy sees them: loaded (safe to delete, bronze holds the rows) or not.

Landing is a drop zone, not an archive: once a file's current bytes are loaded into bronze (the
load manifest holds its sha256), the file is no longer needed. Erasure deletes the loaded files
that hold an erased person, and retention deletes loaded files older than
`privacy.retention.landing_days`. A file whose current bytes were never loaded is never deleted.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from privacy import audit
from privacy.settings import load_settings
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.locks import data_root_lock
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.privacy.landing")

LOADED_STATUSES = ("loaded", "replaced")
HASH_CHUNK_BYTES = 8 << 20


def loaded_files(paths: LakePaths) -> dict[str, str]:
    """File (relative to landing/) -> sha256 of its latest successful load, from the load manifest."""
    manifest = paths.meta("load_manifest")
    if not delta.exists(manifest):
        return {}
    latest = (
        delta.scan(manifest)
        .filter(pl.col("status").is_in(LOADED_STATUSES))
        .sort("finished_at")
        .group_by("file")
        .agg(pl.col("sha256").last())
        .collect()
    )
    return dict(zip(latest["file"], latest["sha256"], strict=True))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def is_loaded(path: Path, relative: str, loaded: dict[str, str]) -> bool:
    """The file's current bytes are in bronze."""
    return loaded.get(relative) == file_sha256(path)


def expire_landing(config: CdpConfig, *, now: datetime | None = None, dry_run: bool = False) -> list[str]:
    """Delete loaded landing files older than `retention.landing_days`; returns their paths.

    Deleting holds the data root (an ingest must not lose a file it is reading); a dry run reads only.
    """
    if not dry_run:
        with data_root_lock(config, "landing retention"):
            return _expire_landing(config, now=now, dry_run=False)
    return _expire_landing(config, now=now, dry_run=True)


def _expire_landing(config: CdpConfig, *, now: datetime | None, dry_run: bool) -> list[str]:
    days = load_settings(config).retention.landing_days
    paths = LakePaths.at(config.data_root)
    if days is None or not paths.landing.is_dir():
        return []
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    loaded = loaded_files(paths)
    expired = []
    for path in sorted(p for p in paths.landing.rglob("*") if p.is_file()):
        relative = path.relative_to(paths.landing).as_posix()
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        if modified < cutoff and is_loaded(path, relative, loaded):
            expired.append(relative)
            if not dry_run:
                path.unlink()
    if expired and not dry_run:
        audit.record(
            config,
            "retention",
            target="landing",
            row_count=len(expired),
            detail={"files": expired, "days": days},
        )
    return expired
