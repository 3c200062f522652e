"""A full export that only grew is read from where its last load ended; an unchanged file is not re-read.

Tills and the web shop re-deliver their member lists every day with the day's new members appended.
Given such a file loaded before, the next load reads only the appended records: they land numbered
after the earlier ones, the earlier rows stay as they are, and bronze is exactly what loading the
grown file from scratch gives. A file whose earlier bytes changed is still replaced whole, and a
file with the size and modification time of its last load is skipped without reading it.
"""

from __future__ import annotations

import json
import os

import polars as pl

from ingest.loader import load_source
from tests.ingest import landing as exports
from tests.ingest.conftest import Lake, tuned
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

NEW_MEMBER = "8800000004,L00000004,李雷,13900139004,男,1990-01-02,,S001,2024-03-04 09:00:00"
LINEAGE_OF_THE_RUN = ["_batch_id", "_ingested_at"]


def _append(path, *lines: str) -> None:
    with path.open("ab") as handle:
        handle.write("".join(f"{line}\n" for line in lines).encode("utf-8"))


def _from_scratch(config: CdpConfig, tmp_path, files: dict[str, bytes], source: str) -> Lake:
    """A second data root that loads the grown files in one go: what an append must reproduce."""
    root = tmp_path / "scratch"
    for name, data in files.items():
        (root / "landing" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "landing" / name).write_bytes(data)
    load_source(config.with_data_root(root), source, "once")
    return Lake(LakePaths.at(root))


def _same_rows(left: pl.DataFrame, right: pl.DataFrame) -> bool:
    return left.drop(LINEAGE_OF_THE_RUN).equals(right.drop(LINEAGE_OF_THE_RUN))


def test_appended_members_are_read_alone_and_bronze_equals_a_load_from_scratch(
    config, landing, lake, tmp_path
):
    path = exports.pos_members(landing)
    load_source(config, "pos", "b1")
    _append(
        path, NEW_MEMBER, "8800000005,L00000005,韩梅梅,13900139005,女,1991-02-03,,S001,2024-03-05 09:00:00"
    )
    summary = load_source(config, "pos", "b2")
    assert summary["rows_read"] == 2  # not the file's 5 records
    row = lake.manifest().filter(pl.col("batch_id") == "b2").row(0, named=True)
    assert (row["status"], row["rows_read"], row["rows_landed"], row["row_offset"]) == ("loaded", 2, 2, 3)
    assert row["message"] == "appended after record 3"
    bronze = lake.bronze("pos", "members")
    assert bronze["_row_number"].to_list() == [1, 2, 3, 4, 5]
    assert bronze["_batch_id"].to_list() == ["b1", "b1", "b1", "b2", "b2"]  # earlier rows untouched
    once = _from_scratch(config, tmp_path, {"pos/stores/S001/members.csv": path.read_bytes()}, "pos")
    assert _same_rows(bronze, once.bronze("pos", "members"))
    load_source(config, "pos", "b3")  # unchanged since: skipped
    assert lake.manifest()["status"].to_list()[-1] == "skipped"


def test_an_appended_row_reusing_an_earlier_key_is_quarantined_as_in_a_whole_file_load(config, landing, lake):
    path = exports.pos_members(landing)
    load_source(config, "pos", "b1")
    _append(path, "8800000001,L00000001,王芳,13900139999,女,1985-03-12,,S001,2024-03-09 10:00:00")
    load_source(config, "pos", "b2")
    bad = lake.quarantine("pos").row(0, named=True)
    assert (bad["row_number"], bad["reason"]) == (4, "duplicate_primary_key")
    assert "already used by row 1" in bad["detail"]
    assert lake.bronze("pos", "members").height == 3


def test_appended_json_lines_and_their_bad_lines_are_numbered_after_the_earlier_ones(
    config, landing, lake, tmp_path
):
    path = exports.ecom_events(landing, "2025-03", [exports.event("e1"), exports.event("e2")])
    load_source(config, "ecom", "b1")
    _append(path, '{"event_id": "e3", "event_ty', json.dumps(exports.event("e4")))
    load_source(config, "ecom", "b2")
    bronze = lake.bronze("ecom", "events")
    assert bronze.select("event_id", "_row_number").rows() == [("e1", 1), ("e2", 2), ("e4", 4)]
    bad = lake.quarantine("ecom").row(0, named=True)
    assert (bad["row_number"], bad["reason"]) == (3, "malformed_json")
    name = path.relative_to(landing).as_posix()
    once = _from_scratch(config, tmp_path, {name: path.read_bytes()}, "ecom")
    assert _same_rows(bronze, once.bronze("ecom", "events"))


def test_a_file_whose_earlier_bytes_changed_is_replaced_whole(config, landing, lake):
    path = exports.pos_members(landing)
    load_source(config, "pos", "b1")
    path.write_bytes(path.read_bytes().replace(b"13800138000", b"13900139000") + f"{NEW_MEMBER}\n".encode())
    load_source(config, "pos", "b2")
    assert lake.manifest()["status"].to_list() == ["loaded", "replaced"]
    bronze = lake.bronze("pos", "members")
    assert bronze["mobile"][0] == "13900139000" and set(bronze["_batch_id"]) == {"b2"}


def test_a_truncated_last_line_completed_by_the_next_delivery_is_not_an_append(config, landing, lake):
    path = exports.pos_members(landing)
    complete = path.read_bytes()
    path.write_bytes(complete + NEW_MEMBER[:20].encode())  # the export was cut mid-line
    load_source(config, "pos", "b1")
    assert lake.quarantine("pos")["reason"].to_list() == ["wrong_column_count"]
    path.write_bytes(complete + f"{NEW_MEMBER}\n".encode())
    load_source(config, "pos", "b2")
    assert lake.manifest()["status"].to_list() == ["loaded", "replaced"]
    assert lake.bronze("pos", "members").height == 4 and lake.quarantine("pos").is_empty()


def test_appends_off_reads_the_grown_file_whole(config, landing, lake):
    path = exports.pos_members(landing)
    whole = tuned(config, "ingest", appends=False)
    load_source(whole, "pos", "b1")
    _append(path, NEW_MEMBER)
    assert load_source(whole, "pos", "b2")["rows_read"] == 4
    assert lake.manifest()["status"].to_list() == ["loaded", "replaced"]


def test_a_file_with_the_size_and_time_of_its_last_load_is_not_read_unless_stat_is_distrusted(
    config, landing, lake
):
    path = exports.pos_members(landing)
    load_source(config, "pos", "b1")
    stat = path.stat()
    # Same size, same modification time, other bytes: only a hash could tell (a deliberate trade-off).
    path.write_bytes(path.read_bytes().replace(b"13800138000", b"13900139000"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    load_source(config, "pos", "b2")
    assert lake.manifest()["status"].to_list() == ["loaded", "skipped"]
    assert lake.bronze("pos", "members")["mobile"][0] == "13800138000"
    load_source(tuned(config, "ingest", trust_file_stat=False), "pos", "b3")
    assert lake.manifest()["status"].to_list() == ["loaded", "skipped", "replaced"]
    assert lake.bronze("pos", "members")["mobile"][0] == "13900139000"


def test_a_skip_by_hash_records_the_files_new_time_so_the_next_run_trusts_it(config, landing, lake):
    path = exports.pos_members(landing)
    load_source(config, "pos", "b1")
    touched = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(touched, touched))  # same bytes, new time: hashed once, skipped
    load_source(config, "pos", "b2")
    path.write_bytes(path.read_bytes().replace(b"13800138000", b"13900139000"))
    os.utime(path, ns=(touched, touched))  # the time recorded by the skip: trusted, not hashed
    load_source(config, "pos", "b3")
    assert lake.manifest()["status"].to_list() == ["loaded", "skipped", "skipped"]
