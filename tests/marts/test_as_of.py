"""A configured as-of date in the past: dim_customer's counts stop on that day, as its purchase
figures do.

The tiny lake runs to 2026-06-30. As of 2026-06-24 (cdp.yaml `marts.as_of_date`): C01 had ordered
four times (T105 on 06-30 not yet), opened chat K1 (06-22, resolved that day) and call K3 (06-24,
still open) and answered survey S101 (06-23, NPS 10); C04 had three orders (one cancelled) and
tickets K4 (resolved 06-18) and K2 (opened 06-23, resolved only on 06-25: open as of 06-24); C07 had
ordered once (O701-O703 are 06-25 to 06-29); C12's survey answer (06-29) was still to come.
service_kpis knows the same: K2 answered after 30 h but not yet resolved nor rated.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import replace

import duckdb
import pytest

from tests.marts.conftest import BuiltMarts, tiny_config
from warehouse import dbt
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
    root = tmp_path_factory.mktemp("as_of") / "data"
    shutil.copytree(built.config.data_root, root)
    config = tiny_config(root)
    raw = copy.deepcopy(config.raw)
    raw["marts"]["as_of_date"] = AS_OF
    config = replace(config, raw=raw)
    assert dbt.invoke(config, ["run"], "--select", MODELS).success
    with duckdb.connect(str(LakePaths.at(root).build_duckdb), read_only=True) as con:
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
