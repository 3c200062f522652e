"""The bronze suites: structure of every bronze table, freshness against the SLA, volume anomalies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import polars as pl
import pytest

from tests.quality.conftest import GateRun, gate
from tests.quality.lake import CHECKED_AT, LANDED_AT, RUN_ID, Lake, bronze_rows_without_key, write_manifest
from warehouse import delta

# cdp.yaml: ecom (hourly) warns after 3 hours and fails after 12; pos (daily) after 26 and 50.
STALE_ECOM = CHECKED_AT - timedelta(hours=6)
DEAD_POS = CHECKED_AT - timedelta(hours=80)


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> GateRun:
    """Two pos members landed without their key; ecom's newest file is stale, pos's is past its hard limit."""

    def late_files(lake):
        write_manifest(
            lake, [("pos", "members", 3, DEAD_POS), ("ecom", "orders", 2, STALE_ECOM)], mode="overwrite"
        )

    return gate(tmp_path_factory.mktemp("bronze"), ["bronze"], bronze_rows_without_key, late_files)


def test_rows_landed_without_their_key_fail_critically_naming_file_and_row(broken):
    failed = broken.failed("bronze_structure", "rows_missing_key", "pos").row(0, named=True)
    assert (failed["entity"], failed["severity"], failed["dimension"]) == (
        "members",
        "critical",
        "completeness",
    )
    assert (failed["checked"], failed["passed"]) == (3, 1)
    sample = json.loads(failed["details"])["sample"][0]
    assert sample["key_columns"] == "card_no"
    assert sample["sample_missing_key"] == "pos/stores/S001/members.csv:1, pos/stores/S001/members.csv:2"
    assert "bronze_structure" in str(broken.error) and "rows_missing_key" in str(broken.error)


def test_complete_bronze_tables_pass(broken):
    ecom = broken.results.filter((pl.col("suite") == "bronze_structure") & (pl.col("source") == "ecom"))
    assert ecom.height == 4 and ecom["success"].all()


def test_a_source_past_its_warn_hours_is_a_timeliness_warning(broken):
    failed = broken.failed("bronze_freshness", "warn_hours,freshness_hours", "ecom")
    assert failed["severity"].to_list() == ["warning"]
    assert broken.failed("bronze_freshness", "fail_hours,freshness_hours", "ecom").is_empty()


def test_a_source_past_its_hard_limit_fails_its_check(broken):
    failed = broken.failed("bronze_freshness", "fail_hours,freshness_hours", "pos").row(0, named=True)
    assert (failed["severity"], failed["dimension"]) == ("critical", "timeliness")
    assert json.loads(failed["details"])["sample"][0]["freshness_hours"] == 80
    metrics = broken.lake.quality("dq_metrics").filter(pl.col("metric") == "freshness_hours")
    assert dict(metrics.select("source", "value").iter_rows()) == {"pos": 80.0, "ecom": 6.0}


def test_volumes_are_not_judged_without_history(broken):
    volume = broken.results.filter(pl.col("suite") == "bronze_volume")
    assert volume["success"].all() and (volume["checked"] == 0).all()


# --- volumes of a snapshot re-delivered whole ------------------------------------------------
# Six earlier daily runs, then this one (RUN_ID): each run lands a day file of tickets, and the
# loyalty database's members table, read whole, is re-landed (`replaced`) on each day it changed.
EARLIER_RUNS = [f"b202606{day}T020000" for day in range(25, 31)]
MEMBER_SNAPSHOTS = [800, 804, 806, 811, 813, 816]  # ~3 members join a day
DAY_TICKETS = [100, 96, 104, 99, 101, 98]


def _daily_runs(members_now: int | None, tickets_now: int) -> Callable[[Lake], None]:
    """The earlier runs' manifest rows and this run's; `members_now` None: the table did not
    change today (skipped, nothing landed)."""

    def write(lake: Lake) -> None:
        runs = [*EARLIER_RUNS, RUN_ID]
        snapshots = [*MEMBER_SNAPSHOTS, members_now]
        rows = []
        for i, (batch, members, tickets) in enumerate(
            zip(runs, snapshots, [*DAY_TICKETS, tickets_now], strict=True)
        ):
            landed_at = LANDED_AT - timedelta(days=len(runs) - 1 - i)
            status = "skipped" if members is None else ("loaded" if i == 0 else "replaced")
            rows += [
                ("loyalty", "members", "loyalty/loyalty.sqlite", members or 0, batch, status, landed_at),
                ("pos", "tickets", f"pos/tickets_{batch[1:9]}.csv", tickets, batch, "loaded", landed_at),
            ]
        columns = ["source", "entity", "file", "rows_landed", "batch_id", "status", "finished_at"]
        frame = pl.DataFrame(rows, schema=columns, orient="row").with_columns(
            pl.col("finished_at").cast(pl.Datetime("us", "UTC"))
        )
        delta.write(frame, lake.paths.meta("load_manifest"), "append")

    return write


@pytest.fixture(scope="module")
def ordinary_day(tmp_path_factory) -> GateRun:
    """No member joined today: the snapshot is unchanged (skipped); the tickets are as usual."""
    return gate(tmp_path_factory.mktemp("ordinary"), ["bronze"], _daily_runs(None, 102))


@pytest.fixture(scope="module")
def busy_day(tmp_path_factory) -> GateRun:
    """14 members join today, against 2 to 5 on the earlier days (robust z 4.7, 10.5 rows above the median)."""
    return gate(tmp_path_factory.mktemp("busy"), ["bronze"], _daily_runs(830, 102))


@pytest.fixture(scope="module")
def abnormal_day(tmp_path_factory) -> GateRun:
    """The members table comes back half-empty, and the tills deliver a fifth of a day."""
    return gate(tmp_path_factory.mktemp("abnormal"), ["bronze"], _daily_runs(410, 20))


def _volume(run: GateRun, source: str, entity: str) -> dict:
    volume = run.results.filter(pl.col("suite") == "bronze_volume")
    [row] = volume.filter((pl.col("source") == source) & (pl.col("entity") == entity)).rows(named=True)
    return row


def test_an_unchanged_snapshot_on_an_ordinary_day_is_no_volume_anomaly(ordinary_day):
    # Judged by the rows it landed, the members table fell from ~810 a day to 0; it added 0 rows,
    # as on any day no member joins (its history: 800 at the first load, then 4, 2, 5, 2, 3).
    for source, entity in (("loyalty", "members"), ("pos", "tickets")):
        row = _volume(ordinary_day, source, entity)
        assert (row["checked"], row["success"]) == (1, True), row


def test_a_handful_more_members_than_usual_is_no_volume_anomaly(busy_day):
    # an entity adding a few rows a day swings by multiples: 14 rows is far in z, not in rows
    row = _volume(busy_day, "loyalty", "members")
    assert (row["checked"], row["success"]) == (1, True), row


def test_a_half_empty_snapshot_and_a_short_day_file_still_warn(abnormal_day):
    members, tickets = _volume(abnormal_day, "loyalty", "members"), _volume(abnormal_day, "pos", "tickets")
    assert (members["success"], members["severity"], tickets["success"]) == (False, "warning", False)
    sample = json.loads(members["details"])["sample"][0]
    assert (sample["rows_landed"], sample["rows_added"], sample["history_median"]) == (410, -406, 3.5)
