"""Small-file hygiene: daily appends are compacted once a table holds too many files.

Given POS ticket exports delivered one day at a time, each daily load appends a small file to
bronze and each incremental standardize one to silver. Once a table holds more than
`ingest.compaction.max_files` data files, the standardize run compacts it: fewer files, the same
rows, readers that scan the Parquet files directly (`warehouse.delta.plain_parquet_files`) still
work, and the replaced files stay on disk until `retain_hours` have passed. The compaction changes
no row, so the next daily run still rebuilds only the next day's keys.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingest.loader import load_source
from ingest.standardize import standardize
from tests.ingest import landing as exports
from tests.ingest.conftest import tuned
from warehouse import delta

DAYS = 5


def _files(path: Path) -> int:
    return len(delta.open_table(path).file_uris())


def _parquet_rows(path: Path) -> int:
    """What a DuckDB reader of the plain Parquet files sees (dbt's lake plugin reads silver so)."""
    files = delta.plain_parquet_files(path)
    assert files is not None
    return duckdb.sql(
        f"select count(*) from read_parquet({[f.removeprefix('file://') for f in files]})"
    ).fetchall()[0][0]


def _deliver_day(config, landing: Path, day: int) -> dict:
    exports.pos_tickets(landing, f"2025-{day:02d}", [exports.ticket_line(f"T{day}", 1)])
    load_source(config, "pos", f"day{day}")
    return standardize(config, f"day{day}")


def test_daily_appends_are_compacted_and_read_the_same_rows(config, landing, lake):
    config = tuned(
        config, "ingest", workers=1, compaction={"max_files": 3, "target_bytes": 1 << 20, "retain_hours": 168}
    )
    bronze, silver = lake.paths.bronze("pos", "tickets"), lake.paths.silver("orders")
    files_seen = []
    for day in range(1, DAYS + 1):
        summary = _deliver_day(config, landing, day)
        files_seen.append((_files(bronze), _files(silver)))
        if day > 1:
            assert summary["entities"]["orders"]["status"] == "incremental"
            assert summary["entities"]["orders"]["keys_rebuilt"] == 1  # only the new day's ticket
    # Never more than max_files data files after a run, however many days were appended.
    assert all(b <= 3 and s <= 3 for b, s in files_seen), files_seen
    history = [c["operation"] for c in delta.open_table(bronze).history()]
    assert "OPTIMIZE" in history
    # The same rows as the days delivered, through Polars and through DuckDB's Parquet reader.
    tickets = lake.bronze("pos", "tickets")
    assert tickets.height == DAYS
    assert sorted(tickets["_file"].to_list()) == [
        f"pos/stores/S001/tickets_2025-{d:02d}.csv" for d in range(1, DAYS + 1)
    ]
    orders = lake.silver("orders").sort("order_id")
    assert orders["order_id"].to_list() == [f"pos:T{d}" for d in range(1, DAYS + 1)]
    assert _parquet_rows(silver) == DAYS and _parquet_rows(bronze) == DAYS
    # The replaced files are kept for readers holding an older file list (retain_hours not passed).
    on_disk = len(list(bronze.glob("*.parquet")))
    assert on_disk > _files(bronze)
    # A re-run without new landings finds every silver target unchanged: the compaction moved rows only.
    again = standardize(config, "rerun")
    assert {e["status"] for e in again["entities"].values()} == {"unchanged"}


def test_replaced_files_are_vacuumed_after_the_retention(config, landing, lake):
    config = tuned(
        config, "ingest", workers=1, compaction={"max_files": 2, "target_bytes": 1 << 20, "retain_hours": 0}
    )
    for day in range(1, 4):
        _deliver_day(config, landing, day)
    bronze = lake.paths.bronze("pos", "tickets")
    assert len(list(bronze.glob("*.parquet"))) == _files(bronze)  # nothing unreferenced left
    assert lake.bronze("pos", "tickets").height == 3
    assert _parquet_rows(lake.paths.silver("orders")) == 3
