"""A configured as-of date in the past: dim_customer's counts stop on that day, as its purchase
figures do.

The tiny lake runs to 2026-06-30. As of 2026-06-24 (cdp.yaml `marts.as_of_date`): C01 had ordered
four times (T105 on 06-30 not yet), opened chat K1 (06-22, resolved that day) and call K3 (06-24,
still open) and answered survey S101 (06-23, NPS 10); C04 had three orders (one cancelled) and
tickets K4 (resolved 06-18) and K2 (opened 06-23, resolved only on 06-25: open as of 06-24); C07 had
ordered once (O701-O703 are 06-25 to 06-29); C12's survey answer (06-29) was still to come.
service_kpis knows the same: K2 answered after 30 h but not yet resolved nor rated.

A backfill as of 2026-05-31 is a point-in-time view: C02 (first record 06-10, birthday in May)
and C12 (06-20) were not known yet, so they have no lifecycle state and are on no list, though
dim_customer keeps their rows (no record known yet); C01 had three records (R001 and S101 came in
June); C09 (05-20) was a potential customer. A campaign starting 06-20 had not started, so it
assigns no one; spring_winback (05-01) assigns as before. The daily path: the lake's orders up to
05-15 make the as-of date 05-10 (C09 not known yet); once the later orders arrive the as-of moves
to 06-30 and the incremental build adds C09, who never bought.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date

import duckdb
import polars as pl
import pytest

from tests.marts.conftest import TEST_CAMPAIGN, BuiltMarts
from warehouse import dbt, delta
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

AS_OF = "2026-06-24"
MODELS = (
    "int_calendar__as_of int_orders__purchases int_customers__purchase_summary int_customers__activity"
    " service_kpis"
)
COLUMNS = "orders, cancelled_orders, service_tickets, open_service_tickets, avg_service_csat, latest_nps"


@pytest.fixture(scope="module")
def build_db(built: BuiltMarts, tmp_path_factory: pytest.TempPathFactory):
    """The build database of a copy of the tiny lake, its activity rebuilt as of 2026-06-24."""
    config = built.copy_to(tmp_path_factory.mktemp("as_of"))
    raw = copy.deepcopy(config.raw)
    raw["marts"]["as_of_date"] = AS_OF
    config = replace(config, raw=raw)
    assert dbt.invoke(config, ["run"], "--select", MODELS).success
    with duckdb.connect(str(LakePaths.at(config.data_root).build_duckdb), read_only=True) as con:
        yield con


def test_counts_stop_on_the_as_of_date(build_db):
    activity = {
        row[0]: row[1:]
        for row in build_db.execute(
            f"select customer_id, {COLUMNS} from intermediate.int_customers__activity "
            "where customer_id in ('C01', 'C04', 'C07', 'C12')"
        ).fetchall()
    }
    assert activity == {
        "C01": (4, 0, 2, 1, 5.0, 10),
        "C04": (3, 1, 2, 1, 2.0, None),  # K4 rated 2; K2's 3 came with its resolution on 06-25
        "C07": (1, 0, 0, 0, None, None),
        "C12": (0, 0, 0, 0, None, None),
    }


def test_orders_and_events_are_those_of_the_facts_up_to_the_as_of_date(build_db):
    """Every customer: orders >= purchase orders (both as of the same day), and the counts are the
    facts' rows up to it."""
    mismatches = build_db.execute(
        f"""
        with orders as (
            select customer_id, count(*) as orders from marts.fct_orders
            where customer_id is not null and order_date <= date '{AS_OF}' group by customer_id
        ),
        events as (
            select customer_id, count(*) as web_events from marts.fct_events
            where customer_id is not null and event_date <= date '{AS_OF}' group by customer_id
        )
        select activity.customer_id
        from intermediate.int_customers__activity as activity
        left join intermediate.int_customers__purchase_summary as summary using (customer_id)
        left join orders using (customer_id)
        left join events using (customer_id)
        where activity.orders <> coalesce(orders.orders, 0)
            or activity.web_events <> coalesce(events.web_events, 0)
            or activity.orders < coalesce(summary.purchase_orders, 0)
        """
    ).fetchall()
    assert mismatches == []


def test_service_kpis_know_what_was_answered_resolved_and_rated_by_then(build_db):
    weeks = {
        (row[0].isoformat(), row[1]): row[2:]
        for row in build_db.execute(
            "select week_start, channel, tickets, responded_tickets, resolved_tickets, avg_first_response_hours, "
            "avg_resolution_hours, resolution_promise_share, first_contact_resolution_rate, avg_csat, csat_responses "
            "from marts.service_kpis"
        ).fetchall()
    }
    # K1 (1 h, resolved in 3 h, one contact, CSAT 5) and K2 (30 h, resolved only on 06-25, CSAT 3 then)
    assert weeks[("2026-06-22", "chat")] == (2, 2, 1, 15.5, 3.0, 0.5, 1.0, 5.0, 1)
    assert weeks[("2026-06-22", "phone")][:3] == (1, 1, 0)  # K3, opened on the as-of date
    assert max(week for week, _ in weeks) <= AS_OF


BACKFILL_AS_OF = "2026-05-31"
LATER_CAMPAIGN = {**TEST_CAMPAIGN, "id": "summer_all", "starts_on": "2026-06-20", "audience_states": []}
BACKFILL_MODELS = (
    "int_calendar__as_of int_orders__purchases int_customers__purchase_summary int_customers__fingerprinted"
    " int_customers__known int_customers__contactability int_customers__activity customer_lifecycle_history"
    " customer_lifecycle ab_assignments activation_lists dim_customer"
)


def _copy(built: BuiltMarts, tmp_path_factory: pytest.TempPathFactory, name: str) -> CdpConfig:
    """The tiny config on a copy of the built tiny lake (its build database included)."""
    return built.copy_to(tmp_path_factory.mktemp(name))


@pytest.fixture(scope="module")
def backfill(built: BuiltMarts, tmp_path_factory: pytest.TempPathFactory):
    """The build database of a copy of the tiny lake, its customer marts rebuilt as of 2026-05-31
    with a second campaign that starts after that day."""
    config = _copy(built, tmp_path_factory, "backfill")
    raw = copy.deepcopy(config.raw)
    raw["marts"]["as_of_date"] = BACKFILL_AS_OF
    raw["marts"]["experiments"]["campaigns"] = [TEST_CAMPAIGN, LATER_CAMPAIGN]
    config = replace(config, raw=raw)
    assert dbt.invoke(config, ["run"], "--select", BACKFILL_MODELS).success
    with duckdb.connect(str(LakePaths.at(config.data_root).build_duckdb), read_only=True) as con:
        yield con


def test_customers_first_recorded_after_the_as_of_date_have_no_lifecycle_state(backfill):
    history = backfill.execute(
        "select customer_id, lifecycle_state, valid_from from marts.customer_lifecycle_history"
    ).fetchall()
    assert {row[0] for row in history} == {f"C{n:02d}" for n in range(1, 13)} - {"C02", "C12"}
    assert max(row[2] for row in history).isoformat() <= BACKFILL_AS_OF
    current = backfill.execute(
        "select customer_id, lifecycle_state, state_since, days_in_state from marts.customer_lifecycle "
        "where customer_id in ('C02', 'C09', 'C12')"
    ).fetchall()
    assert [(c, s, d.isoformat(), n) for c, s, d, n in current] == [("C09", "potential", "2026-05-20", 11)]
    dim = backfill.execute(
        "select customer_id, lifecycle_state, as_of_date from marts.dim_customer "
        "where customer_id in ('C02', 'C12') order by customer_id"
    ).fetchall()
    assert [(c, s, d.isoformat()) for c, s, d in dim] == [
        ("C02", None, BACKFILL_AS_OF),
        ("C12", None, BACKFILL_AS_OF),
    ]


def test_a_campaign_that_starts_after_the_as_of_date_assigns_no_one(backfill):
    assigned = backfill.execute(
        "select campaign_id, count(*) from marts.ab_assignments group by campaign_id"
    ).fetchall()
    assert assigned == [("spring_winback", assigned[0][1])] and assigned[0][1] > 0


def test_activation_lists_name_no_customer_unknown_on_the_as_of_date(backfill):
    """C02's birthday is in May, yet on 05-31 nobody knew C02 (first record 06-10)."""
    birthdays = backfill.execute(
        "select customer_id from marts.activation_lists where list_name = 'birthday_this_month'"
    ).fetchall()
    assert ("C02",) not in birthdays
    contactable = backfill.execute(
        "select customer_id, is_contactable from marts.dim_customer where customer_id = 'C02'"
    ).fetchall()
    assert contactable == [("C02", False)]  # consent to e-mail, but not a customer yet
    unknown = backfill.execute(
        "select count(*) from marts.activation_lists as lists "
        "inner join marts.dim_customer as dim using (customer_id) "
        "where cast(dim.customer_since as date) > dim.as_of_date"
    ).fetchall()
    assert unknown == [(0,)]


def _history(config: CdpConfig) -> list[tuple]:
    with duckdb.connect(str(LakePaths.at(config.data_root).build_duckdb), read_only=True) as con:
        return con.execute(
            "select customer_id, lifecycle_state, previous_state, valid_from, valid_to, is_current "
            "from marts.customer_lifecycle_history order by customer_id, valid_from"
        ).fetchall()


@pytest.mark.slow
def test_the_daily_build_adds_a_customer_once_the_as_of_date_reaches_their_first_record(
    built: BuiltMarts, tmp_path_factory: pytest.TempPathFactory
):
    """The as-of date follows the data (the latest order): orders up to 05-15 make it 05-10, when
    C09 (first record 05-20, only a cancelled order) was not known; the later orders move it to
    06-30 and the daily (incremental) build must add C09 as potential since 05-20, as a full build
    does, although nothing about C09's records or purchases changed."""
    config = _copy(built, tmp_path_factory, "as_of_moves")
    orders_path = LakePaths.at(config.data_root).silver("orders")
    orders = delta.read(orders_path)
    models = "+customer_lifecycle_history"
    delta.write(orders.filter(pl.col("order_date") <= pl.date(2026, 5, 15)), orders_path, "overwrite")
    assert dbt.invoke(config, ["run"], "--select", models, "--full-refresh").success
    before = _history(config)
    assert max(row[3] for row in before).isoformat() <= "2026-05-10"
    assert "C09" not in {row[0] for row in before}

    delta.write(orders, orders_path, "overwrite")
    assert dbt.invoke(config, ["run"], "--select", models).success  # continued, not rebuilt
    daily = _history(config)
    with duckdb.connect(str(LakePaths.at(config.data_root).build_duckdb), read_only=True) as con:
        kept = con.execute(
            "select count(*) from marts.customer_lifecycle_history "
            "where _built_at < (select max(_built_at) from marts.customer_lifecycle_history)"
        ).fetchall()
    assert kept[0][0] > 0  # continued: rows of customers the daily build did not rewrite stay
    assert [row[:4] for row in daily if row[0] == "C09"] == [("C09", "potential", None, date(2026, 5, 20))]
    assert dbt.invoke(config, ["run"], "--select", models, "--full-refresh").success
    assert daily == _history(config)


def test_linked_records_are_those_created_by_the_as_of_date(backfill):
    records = backfill.execute(
        "select customer_id, record_count, sources, source_record_ids, cast(customer_since as date) "
        "from marts.dim_customer where customer_id in ('C01', 'C02') order by customer_id"
    ).fetchall()
    assert records == [
        ("C01", 3, "ecom,loyalty,pos", "ecom:E001,loyalty:L001,pos:P001", date(2025, 6, 1)),
        ("C02", 0, None, None, date(2026, 6, 10)),
    ]
