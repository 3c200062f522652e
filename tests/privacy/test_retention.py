"""Landing is a drop zone: loaded files past their retention are deleted, unloaded ones never."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import polars as pl

from privacy import audit
from privacy.landing import expire_landing


def test_loaded_landing_files_past_retention_are_deleted_and_unloaded_ones_kept(lake_copy):
    landing = lake_copy.root / "landing"
    now = datetime(2026, 6, 1, tzinfo=UTC)
    old = (now - timedelta(days=45)).timestamp()
    loaded = landing / "service" / "tickets_2025-04.csv"
    changed = landing / "pos" / "stores" / "S002" / "members.csv"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # not loaded like this
    recent = landing / "loyalty" / "coupons.csv"
    for path in (loaded, changed):
        os.utime(path, (old, old))
    os.utime(recent, ((now - timedelta(days=5)).timestamp(),) * 2)

    assert "service/tickets_2025-04.csv" in expire_landing(lake_copy.config, now=now, dry_run=True)
    assert loaded.exists()
    expired = expire_landing(lake_copy.config, now=now)

    assert "service/tickets_2025-04.csv" in expired and not loaded.exists()
    assert changed.exists() and recent.exists()
    event = audit.read(lake_copy.config).filter(pl.col("action") == "retention").row(-1, named=True)
    assert event["row_count"] == len(expired)
