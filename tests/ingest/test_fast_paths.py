"""The fast paths keep every rule: one pass per file, many files per check, pieces, vectorised parsing.

Each test pins a behaviour that a speed-up could have broken: the sha256 taken while reading, a
character cut by a read chunk, a file whose rows span several groups and commits, a retyped column
in a group shared with good files, Excel columns turned into text in one go, silver built in pieces,
date formats tried on the unparsed values only, and phones recognised without phonenumbers.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

import duckdb
import phonenumbers
import polars as pl
import pyarrow.parquet as pq
import pytest

from ingest.errors import SourceFailed
from ingest.loader import load_source
from ingest.parsing import parse_as
from ingest.silver import text
from ingest.silver.mapping import type_frame
from ingest.standardize import standardize
from ingest.stream import LandingStream
from ingest.validate import row_hash
from tests.ingest import landing as exports
from tests.ingest.conftest import Lake, tuned
from warehouse.config import REPO_ROOT, load_config
from warehouse.paths import LakePaths


# --- one pass over a file ------------------------------------------------------------------------
def test_the_stream_hashes_the_raw_bytes_and_passes_utf8_through_untouched(tmp_path: Path):
    path = tmp_path / "members.csv"
    path.write_bytes(("card_no,name\n" + "8800000001,王芳\n" * 50).encode())
    stream = LandingStream(path, "utf-8", chunk_bytes=7)  # chunks cut the three-byte characters
    assert stream.read() == path.read_bytes()
    assert stream.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stream.first_undecodable is None and not stream.marked


def test_the_stream_marks_undecodable_bytes_and_transcodes_declared_encodings(tmp_path: Path):
    gbk = "王芳,1\n".encode("gbk")
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(b"ok,1\n" + gbk)
    stream = LandingStream(mixed, "utf-8", chunk_bytes=4)
    converted = stream.read().decode("utf-8")
    assert converted.startswith("ok,1\n\ufffd\\x") and stream.first_undecodable == 5 and stream.marked
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes(gbk)
    assert LandingStream(legacy, "gbk", chunk_bytes=3).read().decode("utf-8") == "王芳,1\n"


def test_the_manifest_sha256_is_the_files_own(config, landing, lake):
    path = exports.pos_members(landing)
    load_source(config, "pos", "b1")
    assert lake.manifest()["sha256"][0] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_bronze_and_silver_are_zstd_compressed_in_bounded_row_groups(config, landing, lake):
    # `WriterProperties` without a codec writes uncompressed Parquet: bronze and silver were 3.4x
    # larger than with zstd 1 at about the same CPU (bench/RESULTS.md, round 8).
    small = tuned(config, "ingest", row_group_rows=2)
    exports.pos_members(landing)
    load_source(small, "pos", "b1")
    standardize(small, "b1")
    for table in (lake.paths.bronze("pos", "members"), lake.paths.silver("customer_records")):
        files = [pq.ParquetFile(path).metadata for path in table.rglob("*.parquet")]
        groups = [meta.row_group(i) for meta in files for i in range(meta.num_row_groups)]
        assert {group.column(c).compression for group in groups for c in range(group.num_columns)} == {"ZSTD"}
        assert sum(group.num_rows for group in groups) >= 3 and max(group.num_rows for group in groups) <= 2


# --- groups of files and files across groups ----------------------------------------------------
def test_a_file_spanning_groups_and_commits_keeps_every_rule(config, landing, lake):
    small = tuned(config, "ingest", csv_block_bytes=256, group_rows=2, commit_rows=3)
    lines = [exports.ticket_line(f"T{n}", 1) for n in range(1, 9)]
    lines[5] = exports.ticket_line("T1", 1, qty=7)  # key of row 1 again, other values: quarantined
    lines[6] = exports.ticket_line("T2", 1)  # exact repeat of row 2: lands, silver removes it
    exports.pos_tickets(landing, "2025-03", lines)
    load_source(small, "pos", "b1")
    bad = lake.quarantine("pos").row(0, named=True)
    assert (bad["row_number"], bad["reason"]) == (6, "duplicate_primary_key")
    assert bad["detail"] == "key ticket_no=T1, line_no=1 already used by row 1 with different values"
    assert lake.bronze("pos", "tickets")["_row_number"].to_list() == [1, 2, 3, 4, 5, 7, 8]
    assert lake.version(lake.paths.bronze("pos", "tickets")) > 0  # several commits
    exports.pos_tickets(landing, "2025-03", lines[:2])  # re-delivered, shorter: every old row goes
    load_source(small, "pos", "b2")
    assert lake.bronze("pos", "tickets")["_row_number"].to_list() == [1, 2]
    assert lake.quarantine("pos").is_empty()


def test_a_file_spanning_commits_shares_its_last_commit_with_the_next_file(config, landing, lake):
    # The 1M-people ingest failed here: a commit held the tail of a large file (started in an
    # earlier commit) and the head of the next one, and Delta refused the tail's rows in the
    # next file's replace-where.
    small = tuned(config, "ingest", csv_block_bytes=256, group_rows=2, commit_rows=3)
    exports.pos_tickets(landing, "2025-03", [exports.ticket_line(f"A{n}", 1) for n in range(1, 6)])
    exports.pos_tickets(landing, "2025-04", [exports.ticket_line(f"B{n}", 1) for n in range(1, 6)])
    load_source(small, "pos", "b1")
    bronze = lake.bronze("pos", "tickets")
    assert sorted(bronze["ticket_no"].to_list()) == [f"A{n}" for n in range(1, 6)] + [
        f"B{n}" for n in range(1, 6)
    ]
    load_source(small, "pos", "b2")  # nothing changed: nothing duplicated
    assert lake.bronze("pos", "tickets").height == 10


def test_a_key_first_seen_late_in_a_large_json_file_lands_as_a_column(config, landing, lake):
    small = tuned(config, "ingest", csv_block_bytes=512, group_rows=2)
    events = [exports.event(f"e{n}") for n in range(1, 11)]
    events[7]["promo"] = "11.11"
    exports.ecom_events(landing, "2025-03", events)
    load_source(small, "ecom", "b1")
    bronze = lake.bronze("ecom", "events")
    assert bronze["event_id"].to_list() == [f"e{n}" for n in range(1, 11)]
    assert bronze["promo"].to_list() == [None] * 7 + ["11.11", None, None]


def test_json_blocks_without_a_record_are_quarantined_and_the_first_record_names_the_columns(
    config, landing, lake
):
    small = tuned(config, "ingest", csv_block_bytes=256, group_rows=2)
    cut = ['{"event_id": "e0", "event_ty'] * 12  # more than a block of lines that are no record
    exports.ecom_events(landing, "2025-03", [*cut, *[exports.event(f"e{n}") for n in range(1, 4)]])
    without_ts = {k: v for k, v in exports.event("x1").items() if k != "ts"}
    exports.ecom_events(landing, "2025-04", [*cut, without_ts])
    with pytest.raises(SourceFailed, match=r"'ts' missing from ecom/events/events_2025-04.jsonl"):
        load_source(small, "ecom", "b1")
    bronze = lake.bronze("ecom", "events")
    assert bronze.select("event_id", "_row_number").rows() == [("e1", 13), ("e2", 14), ("e3", 15)]
    bad = lake.quarantine("ecom").sort("row_number")
    assert bad.select("file", "reason").unique().rows() == [
        ("ecom/events/events_2025-03.jsonl", "malformed_json")
    ]
    assert bad["row_number"].to_list() == list(range(1, 13))


def test_a_retyped_column_fails_only_its_own_file_in_a_shared_group(config, landing, lake):
    exports.pos_tickets(landing, "2025-03", [exports.ticket_line(f"A{n}", 1) for n in range(25)])
    words = [exports.ticket_line(f"B{n}", 1).replace(",1,", ",one,", 1) for n in range(25)]
    exports.pos_tickets(landing, "2025-04", words)
    with pytest.raises(
        SourceFailed, match=r"column 'line_no' in pos/stores/S001/tickets_2025-04.csv no longer"
    ):
        load_source(config, "pos", "b1")
    assert lake.bronze("pos", "tickets")["_file"].unique().to_list() == [
        "pos/stores/S001/tickets_2025-03.csv"
    ]
    statuses = dict(zip(lake.manifest()["file"], lake.manifest()["status"], strict=True))
    assert statuses == {
        "pos/stores/S001/tickets_2025-03.csv": "loaded",
        "pos/stores/S001/tickets_2025-04.csv": "failed",
    }


def test_the_json_reader_hashes_rows_as_every_other_reader_does(config, landing, lake):
    """The JSON-lines reader hashes inside DuckDB on the way; the result must be `row_hash`'s, or an
    event delivered again with an extra empty key would not be recognised as an exact copy."""
    again = {**exports.event("e1"), "promo": None}
    exports.ecom_events(landing, "2025-03", [exports.event("e1"), exports.event("e2")])
    exports.ecom_events(landing, "2025-04", [again])
    load_source(config, "ecom", "b1")
    bronze = lake.bronze("ecom", "events")
    data = [c for c in bronze.columns if not c.startswith("_")]
    with duckdb.connect() as con:
        generic = row_hash(bronze, data, con)
    assert bronze["_row_hash"].to_list() == generic.to_list()
    first, second, copy = bronze["_row_hash"].to_list()
    assert first == copy != second


def test_the_learnt_format_order_never_changes_which_values_are_bad(config, landing, lake):
    """Groups learn which timestamp format to try first; a later group in another format still
    parses every value, and a bad value is still bad."""
    small = tuned(config, "ingest", group_rows=3)
    stamps = ["2025-03-01T10:00:00+08:00"] * 4 + ["2025-03-02 11:00:00"] * 4 + ["2025-03-02T25:00:00+08:00"]
    events = [{**exports.event(f"e{n}"), "ts": ts} for n, ts in enumerate(stamps, start=1)]
    exports.ecom_events(landing, "2025-03", events)
    load_source(small, "ecom", "b1")
    assert lake.bronze("ecom", "events")["ts"].to_list() == stamps[:-1]
    assert lake.quarantine("ecom").select("row_number", "reason").rows() == [(9, "unparseable_timestamp")]


# --- Excel columns ------------------------------------------------------------------------------
def test_excel_cells_become_the_text_they_show(config, landing, lake):
    import xlsxwriter

    path = landing / "survey" / "responses_2025-Q2.xlsx"
    path.parent.mkdir(parents=True)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("responses")
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    header = [
        "response_id",
        "submitted_at",
        "respondent_name",
        "email",
        "phone",
        "nps",
        "csat",
        "touchpoint",
        "comment",
    ]
    sheet.write_row(0, 0, header)
    sheet.write_row(1, 0, ["Q1", "2025-04-01 10:00:00", "王芳", None, 13800138000, 9, 5.0, "store", 1.5])
    sheet.write_row(2, 0, ["Q2", None, "Li Lei", "li@example.com", "138", 7, 4, "online", True])
    sheet.write_datetime(2, 1, datetime(2025, 4, 2, 9, 30), when)
    sheet.write_row(4, 0, ["Q3", "2025-04-03 10:00:00", "Wang", None, None, 8, 4, "store", "x", "stray"])
    workbook.close()
    load_source(config, "survey", "b1")
    rows = lake.bronze("survey", "responses").select(header).rows()
    assert rows == [
        ("Q1", "2025-04-01 10:00:00", "王芳", None, "13800138000", "9", "5", "store", "1.5"),
        ("Q2", "2025-04-02 09:30:00", "Li Lei", "li@example.com", "138", "7", "4", "online", "True"),
    ]  # the blank row 3 is skipped
    bad = lake.quarantine("survey").row(0, named=True)
    assert (bad["row_number"], bad["reason"]) == (4, "wrong_column_count")
    assert bad["raw"].endswith("x\tstray")
    assert lake.manifest().row(0, named=True)["rows_read"] == 3


# --- silver in pieces ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    """The same landing standardized at once and in pieces of one row (every table split, spilled)."""
    builds = []
    for piece_rows in (2_000_000, 1):
        root = tmp_path_factory.mktemp(f"pieces{piece_rows}") / "data"
        config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
        config = tuned(config, "standardize", piece_rows=piece_rows)
        exports.every_source(root / "landing")
        exports.pos_tickets(root / "landing", "2025-04", [exports.ticket_line("S001-20250301-000123", 1)])
        for source in ("pos", "ecom", "social", "service", "loyalty", "survey"):
            load_source(config, source, "b1")
        builds.append((standardize(config, "b1"), Lake(LakePaths.at(root))))
    return builds


@pytest.mark.parametrize("entity", ["customer_records", "orders", "order_lines", "events", "dedup_log"])
def test_silver_built_in_pieces_is_silver_built_at_once(two_builds, entity):
    (_, whole), (_, pieces) = two_builds
    once, split = whole.silver(entity), pieces.silver(entity)
    assert split.height == once.height > 0
    assert split.sort(split.columns).equals(once.sort(once.columns))


# --- vectorised parsing -------------------------------------------------------------------------
def test_dates_take_the_first_format_that_parses_as_a_coalesce_would():
    formats = ["%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d"]
    values = ["01/02/2025", "12/31/2025", "2025-03-04", " 2025-03-05 ", "31/31/2025", None, ""]
    frame = pl.DataFrame({"d": values})
    typed = type_frame(frame, {"d": pl.Date()}, date_formats=formats, timestamp_formats=[], timezone="UTC")
    coalesced = frame.select(
        parse_as(pl.col("d"), "date", date_formats=formats, timestamp_formats=[], timezone="UTC")
    )
    assert typed["d"].to_list() == coalesced["d"].to_list()
    assert typed["d"].to_list()[:4] == [
        date(2025, 2, 1),
        date(2025, 12, 31),
        date(2025, 3, 4),
        date(2025, 3, 5),
    ]


def _library(value: str | None) -> tuple[str | None, bool | None]:
    """What phonenumbers itself says: the reference the fast path must agree with."""
    if value is None:
        return None, None
    cleaned = "".join(ch for ch in value.strip() if ch not in " -().·/\t")
    if not cleaned:
        return None, None
    try:
        number = phonenumbers.parse(cleaned, "CN")
    except phonenumbers.NumberParseException:
        return cleaned, False
    if not phonenumbers.is_valid_number(number):
        return cleaned, False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True


def test_mobile_numbers_recognised_without_phonenumbers_agree_with_it():
    values = []
    for prefix in range(130, 200):
        national = f"{prefix}{prefix * 7919 % 10**8:08d}"
        values += [
            national,
            f"+86 {national}",
            f"0086-{national}",
            f"86{national}",
            f"0{national}",
            national[:-1],
        ]
    values += ["+852 6123 4567", "17951 13800138000", "+1 415 555 0100", "12345", None, " "]
    out = text.standardize_phones(pl.DataFrame({"phone": values}), "phone", "CN")
    expected = [_library(v) for v in values]
    assert list(zip(out["phone"], out["phone_valid"], strict=True)) == expected
    assert text.mobile_fast_path("CN") is not None and text.mobile_fast_path("US") is None  # +1 is shared
