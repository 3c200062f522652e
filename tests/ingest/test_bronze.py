"""Landing -> bronze: lineage, manifest, idempotence, quarantine and the bad-input list of issue 4."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from ingest.config import SourcesConfig
from ingest.errors import SourceFailed
from ingest.loader import FileChoices, RowFilter, load_source
from ingest.report import load_report
from ingest.standardize import standardize
from tests.fixtures.file_access import needs_file_modes, without_file_access_overrides
from tests.ingest import landing as exports
from warehouse.config import CdpConfig


def reconciled(manifest: pl.DataFrame) -> bool:
    kept = manifest["rows_landed"] + manifest["rows_quarantined"] + manifest["rows_suppressed"]
    return (manifest["rows_read"] == kept).all()


def test_rows_land_with_lineage_and_a_manifest_row_per_file(config, landing, lake):
    exports.pos_members(landing)
    summary = load_source(config, "pos", "b1")
    bronze = lake.bronze("pos", "members")
    assert bronze.height == 3
    assert bronze["_file"].unique().to_list() == ["pos/stores/S001/members.csv"]
    assert bronze["_row_number"].to_list() == [1, 2, 3]
    assert set(bronze["_batch_id"]) == {"b1"} and bronze["_row_hash"].n_unique() == 3
    assert bronze["mobile"].to_list()[1] == "+86 138 0013 8001"  # as landed: standardizing is silver's job
    manifest = lake.manifest()
    assert manifest.select("file", "status", "rows_read", "rows_landed", "rows_quarantined").row(0) == (
        "pos/stores/S001/members.csv",
        "loaded",
        3,
        3,
        0,
    )
    assert len(manifest["sha256"][0]) == 64
    assert summary["rows_landed"] == 3 and summary["status"] == "ok"


def test_same_checksum_is_skipped_and_a_rerun_of_the_batch_changes_nothing(config, landing, lake):
    exports.pos_members(landing)
    load_source(config, "pos", "b1")
    tables = [lake.paths.bronze("pos", "members"), lake.paths.meta("load_manifest")]
    versions = [lake.version(t) for t in tables]
    load_source(config, "pos", "b1")
    assert [lake.version(t) for t in tables] == versions
    load_source(config, "pos", "b2")
    assert lake.bronze("pos", "members").height == 3
    assert lake.manifest()["status"].to_list() == ["loaded", "skipped"]


def test_a_redelivered_file_with_corrections_replaces_its_rows(config, landing, lake):
    exports.pos_members(landing)
    load_source(config, "pos", "b1")
    exports.pos_members(
        landing, rows=["8800000001,L00000001,王芳,13900139000,女,1985-03-12,,S001,2024-03-01 10:22:05"]
    )
    load_source(config, "pos", "b2")
    bronze = lake.bronze("pos", "members")
    assert bronze["mobile"].to_list() == ["13900139000"] and bronze["_batch_id"].to_list() == ["b2"]
    assert lake.manifest()["status"].to_list() == ["loaded", "replaced"]


def test_many_files_share_few_commits(config, landing, lake):
    for month in ("2025-01", "2025-02", "2025-03", "2025-04"):
        exports.pos_tickets(landing, month, [exports.ticket_line(f"T-{month}", 1)])
    load_source(config, "pos", "b1")
    assert lake.bronze("pos", "tickets").height == 4
    assert lake.version(lake.paths.bronze("pos", "tickets")) == 0  # one commit for four files


def test_empty_file_fails_the_source_and_is_kept_for_the_next_run(config, landing, lake):
    exports.write_text(landing / "pos" / "stores" / "S001" / "members.csv", "")
    exports.pos_members(landing, store="S002")
    with pytest.raises(SourceFailed, match=r"pos/stores/S001/members.csv: file is empty"):
        load_source(config, "pos", "b1")
    assert lake.bronze("pos", "members").height == 3  # the other store still landed
    statuses = dict(zip(lake.manifest()["file"], lake.manifest()["status"], strict=True))
    assert statuses == {"pos/stores/S001/members.csv": "failed", "pos/stores/S002/members.csv": "loaded"}


def test_header_only_file_loads_zero_rows(config, landing, lake):
    exports.pos_members(landing, rows=[])
    load_source(config, "pos", "b1")
    row = lake.manifest().row(0, named=True)
    assert (row["status"], row["rows_read"], row["message"]) == ("loaded", 0, "header only: 0 rows")


@pytest.mark.parametrize("empty", ["", exports.MEMBERS_HEADER + "\n"], ids=["0-bytes", "header-only"])
def test_an_empty_redelivery_of_a_file_with_rows_fails_and_keeps_its_rows(config, landing, lake, empty):
    """Both empty forms are held alike: far more likely a broken export than every member deleted."""
    path = exports.pos_members(landing)
    exports.pos_members(landing, store="S002")
    load_source(config, "pos", "b1")
    exports.write_text(path, empty)
    name = "pos/stores/S001/members.csv"
    with pytest.raises(
        SourceFailed, match=rf"{name}: re-delivered .* last load read 3 record\(s\)"
    ) as failed:
        load_source(config, "pos", "b2")
    assert f"--accept-empty {name}" in str(failed.value)
    bronze = lake.bronze("pos", "members")
    assert bronze.filter(pl.col("_file") == name)["_batch_id"].to_list() == ["b1"] * 3  # kept
    latest = (
        lake.manifest().filter((pl.col("batch_id") == "b2") & (pl.col("file") == name)).row(0, named=True)
    )
    assert latest["status"] == "failed" and "broken export" in latest["message"]
    assert load_report(lake.paths, "pos")["failures"]["file"].to_list() == [name]
    with pytest.raises(SourceFailed):  # still held on the next run: the file has not changed
        load_source(config, "pos", "b3")
    assert lake.bronze("pos", "members").height == 6


@pytest.mark.parametrize("empty", ["", exports.MEMBERS_HEADER + "\n"], ids=["0-bytes", "header-only"])
def test_an_accepted_empty_redelivery_removes_the_rows_of_its_file(config, landing, lake, empty):
    path = exports.pos_members(landing)
    exports.pos_members(landing, store="S002")
    load_source(config, "pos", "b1")
    exports.write_text(path, empty)
    name = "pos/stores/S001/members.csv"
    summary = load_source(config, "pos", "b2", choices=FileChoices(accept_empty=frozenset({name})))
    assert summary["status"] == "ok"
    assert lake.bronze("pos", "members")["_file"].unique().to_list() == ["pos/stores/S002/members.csv"]
    latest = (
        lake.manifest().filter((pl.col("batch_id") == "b2") & (pl.col("file") == name)).row(0, named=True)
    )
    assert (latest["status"], latest["rows_read"]) == ("replaced", 0)
    assert latest["message"] == "empty re-delivery accepted: its 3 earlier record(s) removed"
    load_source(config, "pos", "b3")  # accepted once: the empty file is now simply unchanged
    assert lake.manifest().filter(pl.col("batch_id") == "b3")["status"].to_list() == ["skipped", "skipped"]


def test_cdp_ingest_reports_a_held_empty_redelivery_and_accepts_it_when_named(config, landing, lake):
    from click.testing import CliRunner

    from cdp.cli import cli

    path = exports.pos_members(landing)
    load_source(config, "pos", "b1")
    exports.write_text(path, exports.MEMBERS_HEADER + "\n")
    name = "pos/stores/S001/members.csv"
    base = ["--config", str(config.path), "--data-root", str(config.data_root), "ingest", "--source", "pos"]
    held = CliRunner().invoke(cli, [*base, "--batch-id", "b2"])
    assert held.exit_code == 1 and f"--accept-empty {name}" in held.output
    assert lake.bronze("pos", "members").height == 3
    accepted = CliRunner().invoke(cli, [*base, "--batch-id", "b3", "--accept-empty", name])
    assert accepted.exit_code == 0, accepted.output
    assert lake.bronze("pos", "members").is_empty()


def test_a_redelivery_whose_rows_are_all_quarantined_still_replaces_the_file(config, landing, lake):
    """Records that fail their checks are not an empty file: the file's rows are replaced as usual."""
    exports.pos_members(landing)
    load_source(config, "pos", "b1")
    exports.pos_members(
        landing, rows=["8800000001,L00000001,王芳,13800138000,女,1985-03-12,,S001,31/31/2024"]
    )
    assert load_source(config, "pos", "b2")["status"] == "ok"
    assert lake.bronze("pos", "members").is_empty()
    assert lake.quarantine("pos")["reason"].to_list() == ["unparseable_timestamp"]


def test_truncated_last_line_is_quarantined_with_its_text(config, landing, lake):
    path = exports.pos_members(landing)
    path.write_text(path.read_text().rstrip("\n") + "\n8800000004,L0004,李雷,1390")
    load_source(config, "pos", "b1")
    assert lake.bronze("pos", "members").height == 3
    bad = lake.quarantine("pos").row(0, named=True)
    assert (bad["row_number"], bad["reason"], bad["raw"]) == (
        4,
        "wrong_column_count",
        "8800000004,L0004,李雷,1390",
    )
    assert bad["detail"] == "expected 9 fields, found 4"
    assert reconciled(lake.manifest())


# Members around the one whose quote is never closed (card 8800000002, the second record).
MEMBER_ROWS = [
    "8800000001,L00000001,王芳,13800138000,女,1985-03-12,,S001,2024-03-01 10:22:05",
    "8800000003,L00000003,FANG WANG,13800138002,M,12.03.1985,,S001,2024-03-03 12:00:00",
    "8800000004,L00000004,Li Lei,13800138003,M,1990-01-01,,S001,2024-03-04 12:00:00",
]


@pytest.mark.parametrize(
    ("second", "detail"),
    [
        # the field count goes wrong: pyarrow rejects the joined record
        (
            '8800000002,,Wang Fang,13800138001,F,1985/3/12,"wf@example.com,S001,2024-03-02 11:00:00',
            "a quote that is not closed ran over 2 more line(s)",
        ),
        # the last field swallows the rest: the record parses with the right field count
        (
            '8800000002,,Wang Fang,13800138001,F,1985/3/12,,S001,"2024-03-02 11:00:00',
            "field 'registered_at' opens a quote that is not closed",
        ),
    ],
    ids=["mid-record", "last-field"],
)
def test_a_quote_never_closed_quarantines_the_record_it_ran_over_instead_of_landing_it(
    config, landing, lake, second, detail
):
    exports.pos_members(landing, rows=[MEMBER_ROWS[0], second, *MEMBER_ROWS[1:]])
    load_source(config, "pos", "b1")
    assert lake.bronze("pos", "members")["card_no"].to_list() == ["8800000001"]
    bad = lake.quarantine("pos").row(0, named=True)
    assert (bad["row_number"], bad["reason"]) == (2, "unbalanced_quote")
    assert detail in bad["detail"]
    assert "8800000003" in bad["raw"] and "8800000004" in bad["raw"]  # the swallowed lines are kept
    assert reconciled(lake.manifest())


def test_an_address_over_two_lines_still_lands(config, landing, lake):
    rows = [
        '8800000001,L00000001,王芳,13800138000,女,1985-03-12,"Room 5\nBuilding 2, Chaoyang",S001,2024-03-01'
    ]
    exports.pos_members(landing, rows=rows, header=exports.MEMBERS_HEADER)
    load_source(config, "pos", "b1")
    assert lake.bronze("pos", "members").height == 1


def test_wrong_delimiter_fails_with_a_hint(config, landing, lake):
    exports.pos_members(
        landing,
        header=exports.MEMBERS_HEADER.replace(",", ";"),
        rows=["8800000001;;王芳;13800138000;女;1985-03-12;;S001;2024-03-01 10:22:05"],
    )
    with pytest.raises(SourceFailed, match=r"'card_no'.*missing.*looks ';'-delimited, declared ','"):
        load_source(config, "pos", "b1")


def test_gbk_file_declared_utf8_quarantines_undecodable_rows_and_says_so(config, landing, lake):
    exports.pos_members(landing, encoding="gbk")  # under stores/: declared utf-8
    load_source(config, "pos", "b1")
    quarantined = lake.quarantine("pos")
    assert quarantined["reason"].to_list() == ["undecodable_bytes"]  # the one row with Chinese text
    assert "\\x" in quarantined["raw"][0]  # original bytes kept, escaped
    assert lake.bronze("pos", "members")["card_no"].to_list() == [
        "8800000002",
        "8800000003",
    ]  # ASCII rows are fine
    assert "decodes as gb18030" in lake.manifest()["message"][0]
    assert reconciled(lake.manifest())


def test_a_latin1_file_declared_utf8_is_not_told_to_read_as_utf16(config, landing, lake):
    rows = ["8800000001,,José Müller,13800138000,M,1985-03-12,,S001,2024-03-01 10:22:05"]
    exports.pos_members(landing, rows=rows, encoding="latin-1")
    load_source(config, "pos", "b1")
    assert lake.quarantine("pos")["reason"].to_list() == ["undecodable_bytes"]
    message = lake.manifest()["message"][0]
    assert "decodes as cp1252" in message and "utf-16" not in message


def test_gbk_override_reads_legacy_tills(config, landing, lake):
    exports.pos_members(landing, legacy=True)
    load_source(config, "pos", "b1")
    assert lake.bronze("pos", "members")["name"].to_list()[0] == "王芳"


def test_duplicate_primary_key_with_different_values_is_quarantined_exact_repeat_lands(config, landing, lake):
    exports.pos_members(
        landing,
        rows=[
            "8800000001,L1,王芳,13800138000,女,1985-03-12,,S001,2024-03-01 10:22:05",
            "8800000001,L1,王芳,13800138000,女,1985-03-12,,S001,2024-03-01 10:22:05",
            "8800000001,L1,王芳,13999999999,女,1985-03-12,,S001,2024-03-01 10:22:05",
        ],
    )
    load_source(config, "pos", "b1")
    assert lake.bronze("pos", "members")["_row_number"].to_list() == [1, 2]
    bad = lake.quarantine("pos").row(0, named=True)
    assert (bad["row_number"], bad["reason"]) == (3, "duplicate_primary_key")
    assert bad["detail"] == "key card_no=8800000001 already used by row 1 with different values"


def test_column_renamed_upstream_fails_the_source_naming_column_and_file(config, landing, lake):
    exports.pos_members(landing, header=exports.MEMBERS_HEADER.replace("mobile", "mobile_no"))
    exports.service_tickets(landing)
    with pytest.raises(SourceFailed) as failure:
        load_source(config, "pos", "b1")
    message = str(failure.value)
    assert "'mobile' missing from pos/stores/S001/members.csv" in message and "'mobile_no'" in message
    assert load_source(config, "service", "b1")["status"] == "ok"  # other sources still load


def test_added_column_is_accepted_and_reported(config, landing, lake):
    exports.pos_members(landing)
    load_source(config, "pos", "b1")
    exports.pos_members(
        landing,
        store="S002",
        header=exports.MEMBERS_HEADER + ",wechat_id",
        rows=["8800000009,,李雷,13800138009,M,1990-01-01,,S002,2024-03-01 10:00:00,wx9"],
    )
    summary = load_source(config, "pos", "b2")
    assert summary["entities"]["members"]["added_columns"] == ["wechat_id"]
    assert lake.bronze("pos", "members")["wechat_id"].to_list() == [None, None, None, "wx9"]


def test_dates_in_three_formats_land_and_a_bad_date_is_quarantined(config, landing, lake):
    exports.pos_members(
        landing,
        rows=[
            "1,,A,13800138000,F,1985-03-12,,S001,2024-03-01 10:22:05",
            "2,,B,13800138000,F,1985/3/12,,S001,2024-03-01 10:22:05",
            "3,,C,13800138000,F,12.03.1985,,S001,2024-03-01 10:22:05",
            "4,,D,13800138000,F,1985-03-12,,S001,31/31/2024 10:22:05",
        ],
    )
    load_source(config, "pos", "b1")
    assert lake.bronze("pos", "members").height == 3
    bad = lake.quarantine("pos").row(0, named=True)
    assert (bad["reason"], bad["detail"]) == (
        "unparseable_timestamp",
        "field 'registered_at': '31/31/2024 10:22:05' is not a valid timestamp",
    )


def test_implausible_dates_are_quarantined_with_the_field_and_its_plausible_range(config, landing, lake):
    today = datetime.now(ZoneInfo(config.timezone)).date()
    exports.pos_members(
        landing,
        rows=[
            "1,,A,13800138000,F,9999-12-31,,S001,2024-03-01 10:22:05",  # a placeholder for "unknown"
            "2,,B,13800138000,F,1800-01-01,,S001,2024-03-01 10:22:05",
            f"3,,C,13800138000,F,{today},,S001,{today + timedelta(days=2)} 23:59:59",  # born today; clocks ahead
            f"4,,D,13800138000,F,1985-03-12,,S001,{today + timedelta(days=3)} 00:00:00",
            "5,,E,13800138000,F,1900-01-01,,S001,1989-12-31 23:59:59",
            "6,,F,13800138000,F,31/31/1985,,S001,2999-01-01 00:00:00",  # the first problem: unparseable
        ],
    )
    exports.loyalty(landing)
    coupons = landing / "loyalty" / "coupons.csv"  # an expiry far ahead is legitimate: unbounded
    coupons.write_text(coupons.read_text().replace("2025-04-01 00:00:00", "2999-01-01 00:00:00"))
    load_source(config, "pos", "b1")
    load_source(config, "loyalty", "b1")
    # a birthday is null_if_invalid: an implausible one is nulled and recorded, its row lands
    landed = lake.bronze("pos", "members").select("card_no", "birthday").rows()
    assert landed == [("1", None), ("2", None), ("3", str(today))]
    rejected = lake.quarantine("pos").sort("row_number")
    latest = today + timedelta(days=2)
    assert rejected.select("row_number", "reason", "detail").rows() == [
        (
            1,
            "invalid_value_nulled",
            f"field 'birthday': '9999-12-31' is outside its plausible range 1900-01-01 to {today} {WHY}"
            f" (implausible_date); {NULLED}",
        ),
        (
            2,
            "invalid_value_nulled",
            f"field 'birthday': '1800-01-01' is outside its plausible range 1900-01-01 to {today} {WHY}"
            f" (implausible_date); {NULLED}",
        ),
        (
            4,
            "implausible_timestamp",
            f"field 'registered_at': '{today + timedelta(days=3)} 00:00:00' is outside its plausible range 1990-01-01 to {latest} {WHY}",
        ),
        (
            5,
            "implausible_timestamp",
            f"field 'registered_at': '1989-12-31 23:59:59' is outside its plausible range 1990-01-01 to {latest} {WHY}",
        ),
        (  # rejected for its registration time: its bad birthday is not recorded apart
            6,
            "implausible_timestamp",
            f"field 'registered_at': '2999-01-01 00:00:00' is outside its plausible range 1990-01-01 to {latest} {WHY}",
        ),
    ]
    assert lake.bronze("loyalty", "coupons")["expires_at"].to_list() == ["2999-01-01 00:00:00"]
    assert reconciled(lake.manifest())


WHY = (
    "(ingest.plausible_dates; the latest day follows the day the row is ingested, or the batch's "
    "logical day when later)"
)
NULLED = "the field was nulled and the row landed"


def test_a_batch_scheduled_ahead_of_the_clock_judges_its_rows_by_its_logical_day(config, landing, lake):
    """A run for a day still to come (a simulation, a generated increment) lands that day's rows; a
    backfill of a past day and a batch id of another shape are judged by today, so late exports land."""
    today = datetime.now(ZoneInfo(config.timezone)).date()
    ahead = today + timedelta(days=30)
    rows = [
        f"1,,A,13800138000,F,1985-03-12,,S001,{ahead} 10:00:00",
        f"2,,B,13800138000,F,1985-03-12,,S001,{ahead + timedelta(days=3)} 10:00:00",
        f"3,,C,13800138000,F,1985-03-12,,S001,{today} 10:00:00",
    ]
    exports.pos_members(landing, rows=rows)
    load_source(config, "pos", "b" + ahead.strftime("%Y%m%d") + "T000000")
    assert lake.bronze("pos", "members")["card_no"].to_list() == ["1", "3"]
    assert lake.quarantine("pos").select("row_number", "reason").rows() == [(2, "implausible_timestamp")]

    past = "b" + (today - timedelta(days=40)).strftime("%Y%m%d") + "T000000"
    for number, batch_id in enumerate((past, "backfill-1"), start=4):  # a new version, not an append
        exports.pos_members(
            landing, rows=[f"{number},,D,13800138000,F,1985-03-12,,S001,{today} 11:00:00", *rows]
        )
        load_source(config, "pos", batch_id)
        assert sorted(lake.bronze("pos", "members")["card_no"]) == ["3", str(number)], batch_id


def test_plausible_date_bounds_are_configured_per_silver_column_and_re_read_the_files(config, landing, lake):
    exports.pos_members(landing, rows=["1,,A,13800138000,F,1850-06-01,,S001,1985-03-01 10:22:05"])
    load_source(config, "pos", "b1")
    assert lake.quarantine("pos")["reason"].to_list() == ["implausible_timestamp"]  # registered in 1985
    raw = copy.deepcopy(config.raw)
    raw["ingest"]["plausible_dates"] = {
        "default": {"earliest": "1980-01-01", "days_ahead": 2},
        "columns": {"date_of_birth": {"earliest": "1800-01-01", "days_ahead": 0}},
    }
    load_source(CdpConfig(path=config.path, raw=raw, data_root=config.data_root), "pos", "b2")
    assert lake.manifest()["status"].to_list() == ["loaded", "replaced"]  # new bounds: read again
    assert lake.quarantine("pos").is_empty()
    assert lake.bronze("pos", "members")["birthday"].to_list() == ["1850-06-01"]


def test_a_ticket_line_without_a_readable_sale_time_is_quarantined_not_landed_without_a_date(
    config, landing, lake
):
    exports.pos_tickets(
        landing,
        "2025-05",
        [
            exports.ticket_line("T1", 1, sold_at="N/A"),
            exports.ticket_line("T1", 2),
            exports.ticket_line("T2", 1, card="NULL"),
            exports.ticket_line("T3", 1, sold_at=""),
        ],
    )
    load_source(config, "pos", "b1")
    bad = lake.quarantine("pos").sort("row_number").select("row_number", "reason", "detail").rows()
    assert bad == [
        (1, "unparseable_timestamp", "field 'sold_at': 'N/A' is not a valid timestamp"),
        (4, "missing_value", "field 'sold_at' is empty; every row must fill it"),
    ]
    bronze = lake.bronze("pos", "tickets")
    assert bronze["sold_at"].null_count() == 0
    assert bronze.filter(pl.col("ticket_no") == "T2")["card_no"].to_list() == ["NULL"]  # text as written
    standardize(config, "b1")
    orders = lake.silver("orders").sort("order_id")
    assert orders.select("order_id", "order_date").rows() == [
        ("pos:T1", date(2025, 3, 1)),
        ("pos:T2", date(2025, 3, 1)),
    ]


def test_a_source_that_writes_its_nulls_lists_them_in_null_values(config, landing, lake):
    raw = copy.deepcopy(config.raw)
    raw["sources"]["pos"]["null_values"] = ["", "NULL", "N/A"]
    nulls = CdpConfig(path=config.path, raw=raw, data_root=config.data_root)
    members = nulls.section("sources", SourcesConfig).get("pos").entities["members"]
    assert members.null_values == ["", "NULL", "N/A"]  # the source's list, inherited by its entities
    exports.pos_members(
        landing, rows=["8800000001,L00000001,王芳,13800138000,女,N/A,NULL,S001,2024-03-01 10:22:05"]
    )
    load_source(config, "pos", "b1")  # the default: only an empty field is missing
    assert lake.quarantine("pos")["detail"].to_list() == [
        f"field 'birthday': 'N/A' is not a valid date (unparseable_date); {NULLED}"
    ]
    load_source(nulls, "pos", "b2")  # new reading rules: the same file is read again
    assert lake.quarantine("pos").is_empty()
    landed = lake.bronze("pos", "members").select("birthday", "email", "name").rows()
    assert landed == [(None, None, "王芳")]
    assert lake.manifest()["status"].to_list() == ["loaded", "replaced"]


def test_null_values_at_their_default_leave_the_reading_fingerprint_as_it_was(config):
    entity = config.section("sources", SourcesConfig).get("pos").entities["members"]
    assert entity.null_values == [""]
    unset = entity.model_copy(update={"null_values": None})
    assert entity.fingerprint() == unset.fingerprint()  # files loaded before the key existed stay loaded
    assert entity.model_copy(update={"null_values": ["", "NULL"]}).fingerprint() != entity.fingerprint()


def test_amounts_with_thousands_separators_land_and_a_bad_amount_is_quarantined(config, landing, lake):
    exports.pos_tickets(
        landing,
        "2025-03",
        [
            exports.ticket_line("T1", 1, amount='"1,299.00"'),
            exports.ticket_line("T1", 2, amount='"12,34.5"'),
        ],
    )
    load_source(config, "pos", "b1")
    assert lake.bronze("pos", "tickets")["unit_price"].to_list() == ["1,299.00"]
    assert lake.quarantine("pos").select("reason", "detail").rows() == [
        ("bad_number", "field 'unit_price': '12,34.5' is not a valid decimal")  # the detail was null
    ]


def test_numbers_in_scientific_notation_land_as_numbers_in_csv_and_json(config, landing, lake):
    exports.pos_tickets(
        landing,
        "2025-03",
        [
            exports.ticket_line("T1", 1, amount="1.5E+2"),
            exports.ticket_line("T1", 2, amount="1e-05"),
            exports.ticket_line("T1", 3, amount="1e+20"),  # a number, but beyond decimal(18,2)
        ],
    )
    order = exports.ecom_order(1001, 700000001, ["paid"])
    orders = [{**order, "total_price": "1.5e3"}, {**order, "id": 1002, "total_price": 2.5e-7}]  # text, number
    exports.ecom_orders(landing, "2025-03", orders)
    load_source(config, "pos", "b1")
    load_source(config, "ecom", "b1")
    assert lake.bronze("pos", "tickets")["unit_price"].to_list() == ["1.5E+2", "1e-05"]
    assert lake.bronze("ecom", "orders")["total_price"][0] == "1.5e3"
    bad = lake.quarantine("pos").row(0, named=True)
    assert (bad["row_number"], bad["reason"]) == (3, "bad_number")
    assert (
        bad["detail"]
        == "field 'unit_price': '1e+20' is a number beyond the range of decimal(18,2) (16 digits before the point)"
    )
    assert lake.quarantine("ecom").is_empty()
    standardize(config, "b1")
    lines = lake.silver("order_lines").filter(pl.col("order_id") == "pos:T1").sort("line_no")
    assert lines["unit_price"].to_list() == [Decimal("150.00"), Decimal("0.00")]
    totals = lake.silver("orders").filter(pl.col("source") == "ecom").sort("order_id")["total_amount"]
    assert totals.to_list() == [Decimal("1500.00"), Decimal("0.00")]


@pytest.mark.parametrize(
    ("text", "decimal", "integer"),
    [
        ("1e-05", Decimal("0.00"), None),  # a fraction is no integer
        ("1.5E+3", Decimal("1500.00"), 1500),
        ("-2.5e-1", Decimal("-0.25"), None),
        ("1e+20", None, None),  # beyond decimal(18,2) and int64
        ("1,000e3", None, None),  # thousands separators only in plain numbers
        ("e5", None, None),
    ],
)
def test_numbers_in_scientific_notation_parse_as_the_same_numbers_written_out(text, decimal, integer):
    from ingest.parsing import parse_decimal, parse_integer

    parsed = pl.select(d=parse_decimal(pl.lit(text)), i=parse_integer(pl.lit(text))).row(0)
    assert parsed == (decimal, integer)


def test_excel_floats_written_in_scientific_notation_land_as_numbers(config, landing, lake):
    """openpyxl (and calamine, to match it) render a cell holding 0.00001 as "1e-05"."""
    import xlsxwriter

    raw = copy.deepcopy(config.raw)
    raw["sources"]["survey"]["entities"]["responses"]["types"]["spend"] = "decimal"
    spending = CdpConfig(path=config.path, raw=raw, data_root=config.data_root)
    path = landing / "survey" / "responses_2025-Q1.xlsx"
    path.parent.mkdir(parents=True)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("responses")
    header = ["response_id", "submitted_at", "respondent_name", "email", "phone", "nps", "csat", "touchpoint"]
    header += ["comment", "spend"]
    sheet.write_row(0, 0, header)
    for r, (response, spend, nps) in enumerate([("Q1", 0.00001, 9), ("Q2", 1234.5, 1e1), ("Q3", 1e20, 7)], 1):
        sheet.write_row(
            r, 0, [response, "2025-03-03 10:00:00", "Li", "l@x.cn", "1380", nps, 5, "store", "ok", spend]
        )
    workbook.close()
    load_source(spending, "survey", "b1")
    landed = lake.bronze("survey", "responses").select("response_id", "spend", "nps").rows()
    assert landed == [("Q1", "1e-05", "9"), ("Q2", "1234.5", "10")]
    bad = lake.quarantine("survey").row(0, named=True)
    assert (bad["row_number"], bad["reason"]) == (3, "bad_number")
    assert "'100000000000000000000' is a number beyond the range of decimal(18,2)" in bad["detail"]


def test_excel_extra_sheet_is_ignored_and_noted(config, landing, lake):
    exports.survey(landing, extra_sheet=True)
    load_source(config, "survey", "b1")
    assert lake.bronze("survey", "responses")["response_id"].to_list() == ["Q1", "Q2"]
    assert lake.manifest()["message"][0] == "ignored sheet(s): summary"


def test_malformed_json_line_is_quarantined(config, landing, lake):
    exports.ecom_events(landing, "2025-03", [exports.event("e1"), '{"event_id": "e2", "event_ty'])
    load_source(config, "ecom", "b1")
    assert lake.bronze("ecom", "events")["event_id"].to_list() == ["e1"]
    bad = lake.quarantine("ecom").row(0, named=True)
    assert (bad["row_number"], bad["reason"], bad["raw"]) == (
        2,
        "malformed_json",
        '{"event_id": "e2", "event_ty',
    )


def test_json_lines_that_are_not_one_object_are_quarantined_and_a_later_key_lands(config, landing, lake):
    """One parse per line both checks it and lists its keys: an array, a scalar, an object followed by
    more text and a truncated object are quarantined by line number; a key first seen further down
    the file becomes a column (null in the earlier rows)."""
    exports.ecom_events(
        landing,
        "2025-03",
        [
            exports.event("e1"),
            '["e2"]',
            '"e3"',
            json.dumps(exports.event("e4")) + " trailing text",
            '{"event_id": "e5", "event_ty',
            {**exports.event("e6"), "referrer": "search"},
        ],
    )
    load_source(config, "ecom", "b1")
    events = lake.bronze("ecom", "events").sort("_row_number")
    assert events.select("event_id", "referrer").rows() == [("e1", None), ("e6", "search")]
    assert events["_row_number"].to_list() == [1, 6]
    bad = lake.quarantine("ecom").sort("row_number")
    assert bad["row_number"].to_list() == [2, 3, 4, 5]
    assert set(bad["reason"]) == {"malformed_json"}


def test_a_gbk_json_lines_file_without_one_readable_line_quarantines_every_line_and_says_so(
    config, landing, lake
):
    """No line decodes, so no record names a column: the lines are quarantined as in a file where
    only some are bad, instead of the file failing for columns it never got to name."""
    path = landing / "ecom" / "events" / "events_2025-03.jsonl"
    exports.write_text(
        path,
        "".join(
            json.dumps({**exports.event(f"e{n}"), "sku": "保温杯"}, ensure_ascii=False) + "\n" for n in (1, 2)
        ),
        encoding="gbk",
    )
    exports.ecom_events(landing, "2025-04", [exports.event("e3")])
    summary = load_source(config, "ecom", "b1")
    assert summary["status"] == "ok"
    bad = lake.quarantine("ecom").sort("row_number")
    assert bad.select("file", "row_number", "reason").rows() == [
        ("ecom/events/events_2025-03.jsonl", 1, "undecodable_bytes"),
        ("ecom/events/events_2025-03.jsonl", 2, "undecodable_bytes"),
    ]
    assert "\\x" in bad["raw"][0]  # original bytes kept, escaped
    assert lake.bronze("ecom", "events")["event_id"].to_list() == ["e3"]
    manifest = lake.manifest().filter(pl.col("file") == "ecom/events/events_2025-03.jsonl").row(0, named=True)
    assert (manifest["status"], manifest["rows_read"], manifest["rows_quarantined"]) == ("loaded", 2, 2)
    assert "decodes as gb18030" in manifest["message"]
    assert reconciled(lake.manifest())


def test_a_day_file_whose_only_line_is_cut_quarantines_that_line(config, landing, lake):
    exports.ecom_events(landing, "2025-03-02", ['{"event_id": "e1", "event_ty'])
    assert load_source(config, "ecom", "b1")["status"] == "ok"
    bad = lake.quarantine("ecom").row(0, named=True)
    assert (bad["row_number"], bad["reason"], bad["raw"]) == (
        1,
        "malformed_json",
        '{"event_id": "e1", "event_ty',
    )
    assert lake.manifest().select("status", "rows_read", "rows_quarantined").row(0) == ("loaded", 1, 1)
    assert reconciled(lake.manifest())


def test_database_table_is_read_through_the_driver(config, landing, lake):
    exports.loyalty(landing)
    load_source(config, "loyalty", "b1")
    members = lake.bronze("loyalty", "members")
    assert (
        members.row(0, named=True)["consent_email"] == "1" and members["_file"][0] == "loyalty/loyalty.sqlite"
    )


def test_rows_the_row_filter_drops_are_neither_landed_nor_quarantined_but_counted(config, landing, lake):
    erased = "13900000000"  # the pipeline passes the suppression list of erased people this way
    exports.pos_members(
        landing,
        rows=[
            "8800000001,,王芳,13800138000,F,1985-03-12,,S001,2024-03-01 10:22:05",
            f"8800000002,,Erased,{erased},F,1985-03-12,,S001,2024-03-01 10:22:05",
            f"8800000003,,Erased Typo,{erased},F,1985-03-12,,S001,yesterday",
            "8800000004,,Typo,13700000000,F,1985-03-12,,S001,yesterday",
            # an unreadable birthday costs the birthday: the row lands, the value is recorded...
            "8800000005,,Birthday,13700000001,F,31/31/1985,,S001,2024-03-01 10:22:05",
            # ...unless the row is an erased person's: then neither is kept, and it counts once
            f"8800000006,,Erased Birthday,{erased},F,31/31/1985,,S001,2024-03-01 10:22:05",
        ],
    )
    row_filter = RowFilter(
        landed=lambda source, entity, rows: (rows["mobile"] == erased).fill_null(False),
        rejected=lambda source, raw: raw.str.contains(erased, literal=True),
    )
    summary = load_source(config, "pos", "b1", row_filter=row_filter)
    assert lake.bronze("pos", "members")["card_no"].to_list() == ["8800000001", "8800000005"]
    kept = lake.quarantine("pos").sort("row_number").select("row_number", "reason").rows()
    assert kept == [(4, "unparseable_timestamp"), (5, "invalid_value_nulled")]
    counts = ["rows_read", "rows_landed", "rows_quarantined", "rows_suppressed", "fields_nulled"]
    assert lake.manifest().select(counts).row(0) == (6, 2, 1, 3, 1)
    assert reconciled(lake.manifest()) and summary["rows_suppressed"] == 3


def test_the_report_counts_each_files_latest_load_not_its_later_skips(config, landing, lake):
    exports.pos_members(landing)
    exports.pos_tickets(landing, "2025-03", [exports.ticket_line("T1", 1), exports.ticket_line("", 2)])
    load_source(config, "pos", "b1")
    load_source(config, "pos", "b2")  # nothing changed: every file skipped
    report = load_report(lake.paths, "pos")
    landed = report["landed"].select(
        "entity", "status", "files", "rows_read", "rows_landed", "rows_quarantined", "rows_suppressed"
    )
    assert landed.rows() == [("members", "loaded", 1, 3, 3, 0, 0), ("tickets", "loaded", 1, 2, 1, 1, 0)]
    assert report["rejected"].select("entity", "reason", "rows").rows() == [
        ("tickets", "missing_primary_key", 1)
    ]


@needs_file_modes
def test_an_unreadable_file_fails_alone_and_every_other_file_and_source_lands(config, landing, lake):
    loaded = exports.pos_members(landing, store="S001")
    load_source(config, "pos", "b1")
    exports.pos_members(
        landing, store="S001", rows=["8800000009,,李雷,13900139009,M,,,S001,2024-04-01 09:00:00"]
    )
    unreadable_new = exports.pos_members(landing, store="S002")
    exports.pos_members(landing, store="S003")
    exports.service_tickets(landing)
    for path in (loaded, unreadable_new):
        path.chmod(0)
    command = [sys.executable, "-m", "cdp.cli", "--config", str(config.path), "--data-root"]
    proc = subprocess.run(
        [*without_file_access_overrides(), *command, str(config.data_root), "ingest", "--batch-id", "b2"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    for path in (loaded, unreadable_new):
        assert f"{path.relative_to(landing).as_posix()}: cannot be read as csv" in proc.stderr
        assert "Permission denied" in proc.stderr
    assert "Traceback" not in proc.stderr
    bronze = lake.bronze("pos", "members")
    assert bronze.filter(pl.col("_batch_id") == "b1")["_file"].unique().to_list() == [
        "pos/stores/S001/members.csv"  # the unreadable re-delivery keeps its earlier rows
    ]
    assert bronze.filter(pl.col("_batch_id") == "b2")["_file"].unique().to_list() == [
        "pos/stores/S003/members.csv"
    ]
    assert lake.bronze("service", "tickets").height == 2  # a later source still ran
    latest = lake.manifest().filter(pl.col("batch_id") == "b2")
    assert dict(zip(latest["file"], latest["status"], strict=True)) == {
        "pos/stores/S001/members.csv": "failed",
        "pos/stores/S002/members.csv": "failed",
        "pos/stores/S003/members.csv": "loaded",
        "service/tickets_2025-03.csv": "loaded",
    }


def test_a_link_whose_target_is_gone_fails_naming_it_instead_of_being_skipped(config, landing, lake):
    """A landing entry linked to a share that is not mounted: the export is not silently skipped."""
    exports.pos_members(landing, store="S002")
    gone = landing / "pos" / "stores" / "S001" / "members.csv"
    gone.parent.mkdir(parents=True)
    gone.symlink_to(landing.parent / "unmounted" / "members.csv")
    with pytest.raises(SourceFailed) as failure:
        load_source(config, "pos", "b1")
    assert "pos/stores/S001/members.csv: cannot be read: a link to" in str(failure.value)
    assert "unmounted/members.csv, which does not exist" in str(failure.value)
    assert lake.bronze("pos", "members").height == 3  # the other store still landed
    statuses = dict(zip(lake.manifest()["file"], lake.manifest()["status"], strict=True))
    assert statuses == {"pos/stores/S001/members.csv": "failed", "pos/stores/S002/members.csv": "loaded"}


def test_a_missing_landing_folder_is_reported_not_taken_for_a_quiet_day(config, landing, lake, caplog):
    """An unmounted share reads no files, like a day without exports: the summary and the log say so."""
    exports.pos_members(landing, rows=["1,,A,13800138000,F,1985-03-12,,S001,2024-03-01 10:22:05"])
    (landing / "service").mkdir()  # there, but nothing delivered yet: a quiet day, no warning
    assert "warnings" not in load_source(config, "pos", "b1")
    assert "warnings" not in load_source(config, "service", "b1")
    with caplog.at_level("WARNING", logger="cdp.ingest"):
        summary = load_source(config, "social", "b1")
    assert summary["status"] == "ok" and summary["rows_read"] == 0
    folder = (landing / "social").as_posix()
    assert summary["warnings"] == [
        f"{entity}: the landing folder {folder} does not exist (a share not mounted, an export folder "
        "renamed?): nothing could be read from it"
        for entity in ("profiles", "posts")
    ]
    assert f"social: profiles: the landing folder {folder} does not exist" in caplog.text


def test_reread_reads_unchanged_files_again_replacing_their_rows(config, landing, lake):
    """After an upgrade that changed how files are judged (outside their fingerprint), `--reread`
    applies it to files loaded before; the rest stay skipped and no row is doubled."""
    today = datetime.now(ZoneInfo(config.timezone)).date()
    ahead = today + timedelta(days=30)
    exports.pos_members(landing, rows=[f"1,,A,13800138000,F,1985-03-12,,S001,{ahead} 10:00:00"])
    exports.service_tickets(landing)
    load_source(config, "pos", "b1")
    load_source(config, "service", "b1")
    assert lake.quarantine("pos")["reason"].to_list() == ["implausible_timestamp"]
    future = "b" + ahead.strftime("%Y%m%d") + "T000000"  # a run for that day judges it by that day

    load_source(config, "pos", future)  # unchanged: skipped, still judged by its first read
    assert lake.quarantine("pos")["reason"].to_list() == ["implausible_timestamp"]
    load_source(config, "pos", future, choices=FileChoices(reread=("pos/*",)))
    load_source(config, "service", future, choices=FileChoices(reread=("pos/*",)))
    assert lake.bronze("pos", "members").select("card_no", "_batch_id").rows() == [("1", future)]
    assert lake.quarantine("pos").is_empty()
    assert set(lake.bronze("service", "tickets")["_batch_id"]) == {"b1"}  # not named: not read again
    statuses = lake.manifest().filter(pl.col("batch_id") == future).select("source", "status").rows()
    assert sorted(statuses) == [("pos", "replaced"), ("pos", "skipped"), ("service", "skipped")]
    assert reconciled(lake.manifest())
