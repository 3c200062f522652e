"""Backups of the data root, retention by policy, and restores that prove themselves.

A backup is a folder under `privacy.backup.root` (outside the data root) with `manifest.json`
(every file's size, modification time, sha256 and the backup that stores its bytes, plus each
Delta table's version and row count and each Parquet mart's row count), `manifest.sha256`, and
`files/` holding the bytes, AES-256-GCM encrypted. A full backup stores every file; an incremental
stores only files whose size or modification time changed since the previous backup and points
to earlier backups for the rest, so a restore of any backup is complete.

Delta logs are copied before data files: a commit that lands during the backup then references
files already copied, never files missing from the backup.

`restore` writes into a staging folder next to the target, checks every file's sha256 on the
way, then every table's row count, and only then renames the staging folder into place: a corrupt
backup or a failed check leaves the target untouched. A restore drill (`verify_backup`) does the
same into a scratch folder and removes it.

A backup holds people as they were when it was taken, including those erased since. Before the
staging folder is renamed into place, a restore (not a drill) therefore adds the newest suppression
list known to the restored one (the live data root's `lake/privacy/suppression`, or, if that root
is gone, the latest backup's copy) and erases again everyone on it whom the restored lake holds
(`privacy.erasure.reapply`): the target never holds an erased person, and its next ingest keeps them
out. An erasure that cannot complete there fails the restore, target untouched. A restored audit log
written before queries were logged by shape is rewritten to its shape there too
(`privacy.audit_history`); the backup itself keeps the old log until it expires.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal

import polars as pl

from privacy import audit, suppression
from privacy.encryption import decrypt_stream, encrypt_stream
from privacy.errors import BackupError, CorruptFileError
from privacy.keys import Key, encryption_key
from privacy.layout import PrivacyPaths
from privacy.pseudonymise import literal
from privacy.settings import PrivacySettings, config_path, load_settings
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.duckdb_connections import connect
from warehouse.locks import LOCK_NAMES, data_root_lock
from warehouse.paths import mart_locations, parquet_glob

log = logging.getLogger("cdp.privacy.backup")

Kind = Literal["full", "incremental"]
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
FILES = "files"
ENCRYPTED_SUFFIX = ".enc"
COPY_BYTES = 8 << 20


@dataclass
class BackupResult:
    backup_id: str
    kind: Kind
    path: Path
    files: int
    files_stored: int
    bytes_stored: int
    base: str | None = None


@dataclass
class RestoreResult:
    backup_id: str
    target: Path
    files: int
    tables_checked: dict[str, int] = field(default_factory=dict)
    marts_checked: dict[str, int] = field(default_factory=dict)
    erasures: dict[str, str] = field(default_factory=dict)  # request id -> outcome, re-applied after restore
    audit_events_redacted: int = 0  # events of an old audit log rewritten to their shape (not in drills)


def backup_root(config: CdpConfig, settings: PrivacySettings | None = None) -> Path:
    settings = settings or load_settings(config)
    root = config_path(config, settings.backup.root)
    data_root = config.data_root.resolve()
    if root == data_root or data_root in root.parents:
        raise BackupError(f"backup root {root} is inside the data root {data_root}; keep backups elsewhere")
    return root


# --- backing up -------------------------------------------------------------------------------
def scheduled_kind(day: datetime, settings: PrivacySettings) -> Kind:
    """What the daily backup run takes on `day`: full on the configured weekday, else incremental."""
    return "full" if day.weekday() == settings.backup.full_weekday else "incremental"


def drill_due(day: datetime, settings: PrivacySettings) -> bool:
    return day.month in settings.backup.drill_months and day.day == settings.backup.drill_day


def backup(
    config: CdpConfig,
    kind: Kind = "incremental",
    *,
    now: datetime | None = None,
    reuse_existing: bool = False,
) -> BackupResult:
    """Back up the data root; an incremental without an earlier backup becomes a full one.

    With `reuse_existing` (the DAG, keyed by its logical date) a backup already taken for `now` is
    returned instead of taking another, so a re-run of the same day changes nothing. The data root
    is held shared while the backup copies it (`warehouse.locks`): other backups may run alongside,
    no writer does, so a backup is a copy of one moment between two pipeline stages.
    """
    data_root = config.data_root.resolve()
    if not data_root.is_dir():
        raise BackupError(f"nothing to back up: the data root {data_root} does not exist")
    with data_root_lock(config, f"backup ({kind})", shared=True):
        return _take_backup(config, kind, data_root, now, reuse_existing)


def _take_backup(
    config: CdpConfig, kind: Kind, data_root: Path, now: datetime | None, reuse_existing: bool
) -> BackupResult:
    settings = load_settings(config)
    root = backup_root(config, settings)
    previous = latest_manifest(root)
    if kind == "incremental" and previous is None:
        log.info("no earlier backup under %s: taking a full backup", root)
        kind = "full"
    now = now or datetime.now(UTC)
    backup_id = f"{now:%Y%m%dT%H%M%S%fZ}-{kind}"
    target = root / backup_id
    for existing in (f"{now:%Y%m%dT%H%M%S%fZ}-full", f"{now:%Y%m%dT%H%M%S%fZ}-incremental"):
        if reuse_existing and (root / existing / MANIFEST).is_file():
            done = read_manifest(root, existing)
            stored = sum(1 for e in done["files"].values() if e["stored_in"] == existing)
            return BackupResult(
                existing, done["kind"], root / existing, len(done["files"]), stored, 0, done["base"]
            )
    staging = root / f".{backup_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    key = encryption_key(config, settings) if settings.backup.encrypt else None
    earlier = previous["files"] if (kind == "incremental" and previous) else {}
    tables = _table_states(data_root)
    manifest: dict[str, Any] = {
        "backup_id": backup_id,
        "kind": kind,
        "created_at": now.isoformat(),
        "data_root": str(data_root),
        "base": previous["backup_id"] if kind == "incremental" and previous else None,
        "encrypted": key is not None,
        "key_id": key.key_id if key else None,
        "files": {},
        "tables": tables,
        "marts": _mart_rows(data_root),
    }
    stored = bytes_stored = 0
    try:
        for path in _files_to_back_up(data_root, settings.backup.exclude):
            relative = path.relative_to(data_root).as_posix()
            status = path.stat()
            before = earlier.get(relative)
            if before and before["size"] == status.st_size and before["mtime_ns"] == status.st_mtime_ns:
                manifest["files"][relative] = before
                continue
            digest = _store(
                path, staging / FILES / (relative + (ENCRYPTED_SUFFIX if key else "")), key, settings
            )
            manifest["files"][relative] = {
                "size": status.st_size,
                "mtime_ns": status.st_mtime_ns,
                "sha256": digest,
                "stored_in": backup_id,
            }
            stored += 1
            bytes_stored += status.st_size
        _write_manifest(staging, manifest)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = BackupResult(
        backup_id, kind, target, len(manifest["files"]), stored, bytes_stored, manifest["base"]
    )
    audit.record(
        config,
        "backup",
        target=backup_id,
        row_count=stored,
        detail={
            "kind": kind,
            "files": result.files,
            "files_stored": stored,
            "bytes_stored": bytes_stored,
            "base": result.base,
            "location": str(target),
        },
    )
    return result


def _files_to_back_up(data_root: Path, exclude: list[str]) -> list[Path]:
    """Every file not excluded, nor the data root's lock (`warehouse.locks`); Delta logs first (see
    the module docstring)."""
    files = [
        p
        for p in data_root.rglob("*")
        if p.is_file()
        and p.relative_to(data_root).parts[0] not in LOCK_NAMES
        and not any(fnmatch.fnmatch(p.relative_to(data_root).as_posix(), pattern) for pattern in exclude)
    ]
    return sorted(files, key=lambda p: ("_delta_log" not in p.parts, p.as_posix()))


def _table_states(data_root: Path) -> dict[str, dict[str, int]]:
    """Each Delta table's version and row count, to check a restore against."""
    lake = data_root / "lake"
    states = {}
    if lake.is_dir():
        for log_dir in sorted(lake.rglob("_delta_log")):
            table = log_dir.parent
            if delta.exists(table):
                opened = delta.open_table(table)
                states[table.relative_to(data_root).as_posix()] = {
                    "version": int(opened.version()),
                    "rows": int(opened.count()),
                }
    return states


def _mart_rows(data_root: Path) -> dict[str, int]:
    marts = data_root / "marts"
    if not marts.is_dir():
        return {}
    con = connect()
    try:
        return {
            p.relative_to(data_root).as_posix(): int(
                con.execute(f"select count(*) from read_parquet({literal(parquet_glob(p))})").fetchall()[0][0]
            )
            for p in mart_locations(marts).values()
        }
    finally:
        con.close()


class _HashingReader:
    """Reads a file while hashing exactly the bytes read."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _store(source: Path, target: Path, key: Key | None, settings: PrivacySettings) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as handle, target.open("wb") as out:
        reader = _HashingReader(handle)
        if key is None:
            while chunk := reader.read(COPY_BYTES):
                out.write(chunk)
        else:
            encrypt_stream(reader, out, key, settings.backup.chunk_bytes)  # type: ignore[arg-type]
    return reader.digest.hexdigest()


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
    (folder / MANIFEST).write_bytes(text)
    (folder / MANIFEST_SUM).write_text(hashlib.sha256(text).hexdigest() + "\n", encoding="ascii")


# --- reading manifests ------------------------------------------------------------------------
def list_backups(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists()
    )


def read_manifest(root: Path, backup_id: str) -> dict[str, Any]:
    folder = root / backup_id
    if not (folder / MANIFEST).is_file():
        known = ", ".join(list_backups(root)[-5:]) or "none"
        raise BackupError(f"no backup {backup_id!r} under {root} (latest: {known})")
    text = (folder / MANIFEST).read_bytes()
    expected = (
        (folder / MANIFEST_SUM).read_text(encoding="ascii").strip()
        if (folder / MANIFEST_SUM).exists()
        else None
    )
    if expected != hashlib.sha256(text).hexdigest():
        raise CorruptFileError(f"{folder / MANIFEST}: checksum mismatch, the backup's manifest is damaged")
    return json.loads(text)


def latest_manifest(root: Path) -> dict[str, Any] | None:
    backups = list_backups(root)
    return read_manifest(root, backups[-1]) if backups else None


# --- restoring --------------------------------------------------------------------------------
def restore(
    config: CdpConfig, target: Path, backup_id: str | None = None, *, drill: bool = False
) -> RestoreResult:
    """Restore a backup (default: the latest) into `target`, which must be missing or empty.

    A real restore holds the live data root exclusively (`warehouse.locks`): it reads its
    suppression list, writes its audit log, and may restore into it (a lost data root restored in
    place); a drill only reads the backup and appends its audit event.
    """
    if drill:
        return _restore(config, target, backup_id, drill=True)
    with data_root_lock(config, "restore"):
        return _restore(config, target, backup_id, drill=False)


def _restore(config: CdpConfig, target: Path, backup_id: str | None, *, drill: bool) -> RestoreResult:
    settings = load_settings(config)
    root = backup_root(config, settings)
    backup_id = backup_id or (list_backups(root) or [None])[-1]
    if backup_id is None:
        raise BackupError(f"no backups under {root}")
    target = target.resolve()
    if target.exists() and (not target.is_dir() or any(p.name not in LOCK_NAMES for p in target.iterdir())):
        raise BackupError(
            f"restore target {target} is not empty: restore into a new or empty folder (nothing was changed)"
        )
    manifest = read_manifest(root, backup_id)
    key = encryption_key(config, settings) if manifest["encrypted"] else None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restoring-", dir=target.parent))
    try:
        for relative, entry in manifest["files"].items():
            _restore_file(root, relative, entry, staging / relative, key)
        result = RestoreResult(backup_id, target, len(manifest["files"]))
        result.tables_checked = _check_tables(staging, manifest)
        result.marts_checked = _check_marts(staging, manifest)
        if not drill:
            result.erasures = _reapply_erasures(config, staging, root, key)
            result.audit_events_redacted = _redact_audit_history(config, staging)
        _move_into_place(staging, target)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        audit.record(
            config,
            "restore_drill" if drill else "restore",
            target=backup_id,
            outcome="failed",
            detail={"into": str(target), "error": str(exc)},
        )
        raise
    audit.record(
        config,
        "restore_drill" if drill else "restore",
        target=backup_id,
        row_count=result.files,
        detail={
            "into": str(target),
            "tables_checked": len(result.tables_checked),
            "marts_checked": len(result.marts_checked),
            "erasures_reapplied": result.erasures,
            "audit_events_redacted": result.audit_events_redacted,
        },
    )
    return result


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the checked staging folder to `target`; a target holding only the data root's lock
    (the live root, restored in place) keeps its lock file and gets the restored entries instead."""
    if not target.exists():
        os.replace(staging, target)
        return
    kept = {p.name for p in target.iterdir()}  # only lock names: checked before staging
    for entry in staging.iterdir():
        if entry.name in kept:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        else:
            os.replace(entry, target / entry.name)
    staging.rmdir()


def _reapply_erasures(config: CdpConfig, restored: Path, root: Path, key: Key | None) -> dict[str, str]:
    """Bring the restored root's suppression list up to date and erase again who it names there."""
    from privacy.erasure import reapply  # erasure imports most of privacy; keep `backup` light

    restored_config = config.with_data_root(restored)
    suppression.merge(restored_config, _newest_suppression(config, root, key), batch_id="restore")
    outcomes = reapply(restored_config)
    unfinished = [o for o in outcomes if o.status == "incomplete"]
    if unfinished:
        residual = sorted({f for o in unfinished if o.sweep for f in o.sweep.residual})
        raise BackupError(
            f"the restored data still holds erased people after erasing them again (requests "
            f"{', '.join(o.plan.request_id for o in unfinished)}): {', '.join(residual)}; nothing was "
            "restored. Fix what the sweep names (e.g. mark a free-text column `identifies: text`) and restore again"
        )
    return {o.plan.request_id: o.status for o in outcomes}


def _redact_audit_history(config: CdpConfig, restored: Path) -> int:
    """A backup taken before queries were logged by shape holds their values: the restored log is
    rewritten to its shape before it is renamed into place (`privacy.audit_history`)."""
    from privacy.audit_history import redact_history  # reads the roles' names; keep `backup` light

    return redact_history(config.with_data_root(restored)).events_redacted


def _newest_suppression(config: CdpConfig, root: Path, key: Key | None) -> pl.DataFrame:
    """The live root's suppression list, or the latest backup's when the live root has none."""
    live = suppression.suppressed(config)
    if not live.is_empty():
        return live
    latest = latest_manifest(root)
    if latest is None:
        return live
    folder = PrivacyPaths.of(config).suppression.relative_to(config.data_root).as_posix() + "/"
    scratch = Path(tempfile.mkdtemp(prefix="cdp-suppression-"))
    try:
        for relative, entry in latest["files"].items():
            if relative.startswith(folder):
                entry_key = key if latest["encrypted"] else None
                _restore_file(root, relative, entry, scratch / relative, entry_key)
        return suppression.suppressed(config.with_data_root(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def verify_backup(config: CdpConfig, backup_id: str | None = None) -> RestoreResult:
    """A restore drill: restore into a scratch folder, prove checksums and row counts, clean up."""
    scratch = Path(tempfile.mkdtemp(prefix="cdp-restore-drill-"))
    try:
        return restore(config, scratch / "data", backup_id, drill=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _restore_file(root: Path, relative: str, entry: dict[str, Any], target: Path, key: Key | None) -> None:
    stored = root / entry["stored_in"] / FILES / (relative + (ENCRYPTED_SUFFIX if key else ""))
    if not stored.is_file():
        raise CorruptFileError(
            f"backup {entry['stored_in']} is missing {relative} ({stored}); the backup set is incomplete"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with stored.open("rb") as source, target.open("wb") as out:
        writer = _HashingWriter(out)
        if key is None:
            shutil.copyfileobj(source, writer, COPY_BYTES)  # type: ignore[misc]
        else:
            decrypt_stream(source, writer, key, str(stored))  # type: ignore[arg-type]
    if writer.digest.hexdigest() != entry["sha256"]:
        raise CorruptFileError(
            f"{relative} from backup {entry['stored_in']}: sha256 {writer.digest.hexdigest()[:12]}... does not "
            f"match the manifest's {entry['sha256'][:12]}...: the backup copy is damaged"
        )
    os.utime(target, ns=(entry["mtime_ns"], entry["mtime_ns"]))


class _HashingWriter:
    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.handle.write(data)


def _check_tables(restored: Path, manifest: dict[str, Any]) -> dict[str, int]:
    checked = {}
    for relative, state in manifest["tables"].items():
        path = restored / relative
        try:
            table = delta.open_table(path)
            table.load_as_version(state["version"])
            rows = int(table.count())
        except Exception as exc:
            raise BackupError(
                f"restored table {relative} cannot be read at version {state['version']}: {exc}"
            ) from exc
        if rows != state["rows"]:
            raise BackupError(
                f"restored table {relative} has {rows} rows, the backup recorded {state['rows']}"
            )
        checked[relative] = rows
    return checked


def _check_marts(restored: Path, manifest: dict[str, Any]) -> dict[str, int]:
    con = connect()
    checked = {}
    try:
        for relative, expected in manifest["marts"].items():
            rows = int(
                con.execute(
                    f"select count(*) from read_parquet({literal(parquet_glob(restored / relative))})"
                ).fetchall()[0][0]
            )
            if rows != expected:
                raise BackupError(f"restored mart {relative} has {rows} rows, the backup recorded {expected}")
            checked[relative] = rows
    finally:
        con.close()
    return checked


# --- retention --------------------------------------------------------------------------------
def prune(config: CdpConfig, *, now: datetime | None = None, dry_run: bool = False) -> list[str]:
    """Delete backups past their retention, never one whose files a kept backup still needs."""
    settings = load_settings(config)
    root = backup_root(config, settings)
    now = now or datetime.now(UTC)
    keep_days = {
        "full": settings.retention.full_backup_days,
        "incremental": settings.retention.incremental_backup_days,
    }
    manifests = {b: read_manifest(root, b) for b in list_backups(root)}
    expired = {
        b
        for b, m in manifests.items()
        if now - datetime.fromisoformat(m["created_at"]) > timedelta(days=keep_days[m["kind"]])
    }
    latest = max(manifests) if manifests else None
    kept = set(manifests) - expired | ({latest} if latest else set())
    needed = {entry["stored_in"] for b in kept for entry in manifests[b]["files"].values()}
    removable = sorted(expired - needed - kept)
    if not dry_run:
        for backup_id in removable:
            shutil.rmtree(root / backup_id)
        if removable:
            audit.record(config, "backup_prune", target=",".join(removable), row_count=len(removable))
    return removable
