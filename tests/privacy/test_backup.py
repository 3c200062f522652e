"""Backups with manifests and checksums, retention by policy, and restores that prove themselves."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from privacy import audit
from privacy.backup import (
    backup,
    backup_root,
    drill_due,
    list_backups,
    prune,
    read_manifest,
    restore,
    scheduled_kind,
    verify_backup,
)
from privacy.erasure import erase
from privacy.errors import BackupError, CorruptFileError
from privacy.settings import load_settings
from privacy.subject import Request
from privacy.suppression import is_suppressed
from tests.privacy.lake import BYSTANDER_EMAIL, XIAOYU, privacy_config
from tests.privacy.test_erasure import files_mentioning
from warehouse import delta
from warehouse.paths import LakePaths


def tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_full_backup_restores_byte_for_byte_with_equal_row_counts(lake_copy, tmp_path):
    config = lake_copy.config
    taken = backup(config, "full")
    before = tree(lake_copy.root)
    restored = restore(config, tmp_path / "restored")

    assert restored.backup_id == taken.backup_id and restored.files == taken.files
    after = tree(tmp_path / "restored")
    backed_up = {k: v for k, v in before.items() if not k.startswith(("build/", "roles/", "lake/audit/"))}
    assert {k: after[k] for k in backed_up} == backed_up
    customers = LakePaths.at(lake_copy.root).silver("customer_records")
    assert restored.tables_checked["lake/silver/customer_records"] == delta.row_count(customers)
    assert restored.marts_checked["marts/dim_customer.parquet"] > 0
    assert restored.marts_checked["marts/fct_orders"] > 0  # a folder mart (`publish.file_rows`)


def test_backup_files_are_encrypted_and_the_manifest_has_checksums(lake_copy):
    taken = backup(lake_copy.config, "full")
    manifest = read_manifest(taken.path.parent, taken.backup_id)
    entry = manifest["files"]["landing/pos/stores/S002/members.csv"]
    assert len(entry["sha256"]) == 64 and manifest["encrypted"]
    stored = (taken.path / "files" / "landing/pos/stores/S002/members.csv.enc").read_bytes()
    assert b"xiaoyu" not in stored.lower() and b"8800099001" not in stored


def test_an_incremental_backup_stores_only_changed_files_and_still_restores_everything(lake_copy, tmp_path):
    config = lake_copy.config
    full = backup(config, "full")
    changed = lake_copy.root / "landing" / "service" / "tickets_2025-04.csv"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    (lake_copy.root / "landing" / "new.txt").write_text("new file")
    incremental = backup(config, "incremental")

    assert incremental.base == full.backup_id
    manifest = read_manifest(incremental.path.parent, incremental.backup_id)
    own = {f for f, e in manifest["files"].items() if e["stored_in"] == incremental.backup_id}
    assert {"landing/service/tickets_2025-04.csv", "landing/new.txt"} <= own
    assert "landing/pos/stores/S002/members.csv" not in own
    restore(config, tmp_path / "restored", incremental.backup_id)
    assert (tmp_path / "restored" / "landing" / "new.txt").read_text() == "new file"
    assert (
        tmp_path / "restored" / "landing/service/tickets_2025-04.csv"
    ).read_bytes() == changed.read_bytes()


def test_a_corrupt_backup_is_refused_and_the_target_is_left_empty(lake_copy, tmp_path):
    config = lake_copy.config
    taken = backup(config, "full")
    stored = taken.path / "files" / "landing/pos/stores/S002/members.csv.enc"
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    target = tmp_path / "restored"
    with pytest.raises(CorruptFileError, match=r"members\.csv\.enc: chunk 0 failed authentication"):
        restore(config, target)
    assert not target.exists()
    assert not any(p.name.startswith(".restored.restoring-") for p in tmp_path.iterdir())
    failed = audit.read(config).filter(pl.col("action") == "restore").row(-1, named=True)
    assert failed["outcome"] == "failed"


def test_a_damaged_manifest_is_refused(lake_copy, tmp_path):
    taken = backup(lake_copy.config, "full")
    manifest = taken.path / "manifest.json"
    text = json.loads(manifest.read_text())
    text["tables"]["lake/silver/customer_records"]["rows"] += 1
    manifest.write_text(json.dumps(text))
    with pytest.raises(CorruptFileError, match="checksum mismatch"):
        restore(lake_copy.config, tmp_path / "restored")


def test_a_restore_into_a_non_empty_folder_is_refused_and_changes_nothing(lake_copy):
    backup(lake_copy.config, "full")
    before = tree(lake_copy.root)
    with pytest.raises(BackupError, match="is not empty"):
        restore(lake_copy.config, lake_copy.root)
    assert tree(lake_copy.root) == before


def test_the_restore_drill_proves_the_latest_backup_and_is_audited(lake_copy):
    taken = backup(lake_copy.config, "full")
    drill = verify_backup(lake_copy.config)
    assert drill.backup_id == taken.backup_id and not drill.target.exists()
    event = audit.read(lake_copy.config).filter(pl.col("action") == "restore_drill").row(-1, named=True)
    assert (event["target"], event["outcome"]) == (taken.backup_id, "ok")


def test_backups_live_outside_the_data_root(tmp_path):
    config = privacy_config(tmp_path / "data", backup={"root": str(tmp_path / "data" / "backups")})
    with pytest.raises(BackupError, match="inside the data root"):
        backup_root(config)


def test_retention_keeps_full_backups_three_months_and_what_kept_backups_need(lake_copy):
    config = lake_copy.config
    start = datetime(2026, 1, 4, tzinfo=UTC)  # a Sunday
    old_full = backup(config, "full", now=start)
    (lake_copy.root / "landing" / "a.txt").write_text("a")
    old_incremental = backup(config, "incremental", now=start + timedelta(days=1))
    (lake_copy.root / "landing" / "b.txt").write_text("b")
    os.utime(lake_copy.root / "landing" / "b.txt", (1, 1))
    newer_full = backup(config, "full", now=start + timedelta(days=100))

    # 120 days on: the first full is past 92 days but the incremental (183 days) still needs its files
    assert prune(config, now=start + timedelta(days=120)) == []
    # 200 days on: the incremental is past 183 days too; the newer full is kept
    removed = prune(config, now=start + timedelta(days=200))
    assert removed == sorted([old_full.backup_id, old_incremental.backup_id])
    assert list_backups(backup_root(config)) == [newer_full.backup_id]


def test_the_daily_schedule_takes_a_full_backup_weekly_and_a_drill_quarterly(tmp_path):
    settings = load_settings(privacy_config(tmp_path / "data"))
    week = [datetime(2026, 3, 1) + timedelta(days=d) for d in range(7)]
    assert [scheduled_kind(day, settings) for day in week].count("full") == 1
    assert scheduled_kind(datetime(2026, 3, 1), settings) == "full"  # a Sunday
    drills = [
        d for d in (datetime(2026, 1, 1) + timedelta(days=n) for n in range(365)) if drill_due(d, settings)
    ]
    assert [d.month for d in drills] == [1, 4, 7, 10]


def test_a_rerun_of_the_same_day_reuses_its_backup(lake_copy):
    day = datetime(2026, 3, 2, tzinfo=UTC)
    first = backup(lake_copy.config, "incremental", now=day, reuse_existing=True)
    again = backup(lake_copy.config, "incremental", now=day, reuse_existing=True)
    assert again.backup_id == first.backup_id
    assert len(list_backups(backup_root(lake_copy.config))) == 1


def test_restoring_a_backup_taken_before_an_erasure_erases_her_again(lake_copy, tmp_path):
    config = lake_copy.config
    older = backup(config, "full")
    erased = erase(config, Request("email", XIAOYU.email))
    request_id = erased.plan.request_id
    restored = restore(config, tmp_path / "R2", older.backup_id)

    assert files_mentioning(tmp_path / "R2", [XIAOYU.email, XIAOYU.phone, XIAOYU.national_id]) == {}
    assert restored.erasures == {request_id: "erased"}
    records = delta.read(LakePaths.at(tmp_path / "R2").silver("customer_records"))
    assert BYSTANDER_EMAIL in records["email"].to_list()
    r2 = config.with_data_root(tmp_path / "R2")
    certificates = audit.read(r2).filter(pl.col("action") == "erasure")
    assert certificates.select("target", "outcome").rows() == [(request_id, "ok")]
    event = audit.read(config).filter(pl.col("action") == "restore").row(-1, named=True)
    assert json.loads(event["detail"])["erasures_reapplied"] == {request_id: "erased"}
    assert is_suppressed(r2, "email", pl.Series([XIAOYU.email])).to_list() == [True]  # the next ingest


def test_a_restore_after_the_data_root_is_lost_uses_the_latest_backups_suppression_list(lake_copy, tmp_path):
    config = lake_copy.config
    older = backup(config, "full")
    erased = erase(config, Request("phone", XIAOYU.phone))
    backup(config, "incremental")
    shutil.rmtree(lake_copy.root)
    restored = restore(config, tmp_path / "R2", older.backup_id)
    assert files_mentioning(tmp_path / "R2", [XIAOYU.email, XIAOYU.phone]) == {}
    assert restored.erasures == {erased.plan.request_id: "erased"}


def test_a_lost_data_root_is_restored_in_place_under_its_own_lock(lake_copy):
    """The live root is held while a real restore runs: the lock file it creates in a lost root
    neither makes that root "not empty" nor is replaced by the restored files (waiting writers
    lock that very file)."""
    config = lake_copy.config
    taken = backup(config, "full")
    shutil.rmtree(lake_copy.root)
    restored = restore(config, lake_copy.root)
    assert restored.backup_id == taken.backup_id
    assert LakePaths.at(lake_copy.root).silver("customer_records").is_dir()
    assert (lake_copy.root / ".cdp.lock").is_file()
    assert not list(lake_copy.root.parent.glob(".data.restoring-*"))  # the staging folder is gone
