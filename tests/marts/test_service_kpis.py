"""The first-contact resolution rate counts only resolved tickets whose contact count is known.

A ticket's `contacts` is an optional measure: an export may leave it empty, and an unreadable one
(`n/a`) is nulled on ingest so the ticket still counts (cdp.yaml `null_if_invalid`). Such a ticket
is neither a first-contact resolution nor a repeat one: counted among the resolved tickets it would
pull the rate down as if the customer had had to come back. On the tiny lake the chats of the week
of 2026-06-22 are K1 (resolved at the first contact) and K2 (two contacts): a rate of 0.5.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from tests.fixtures.tiny_lake import BATCH, tickets
from tests.marts.conftest import BuiltMarts
from warehouse import dbt, delta
from warehouse.paths import LakePaths

FCR = (
    "select tickets, resolved_tickets, first_contact_resolutions, first_contact_resolution_rate "
    "from marts.service_kpis where week_start = date '2026-06-22' and channel = 'chat'"
)


def test_a_resolved_ticket_without_a_contact_count_does_not_lower_the_first_contact_resolution_rate(
    built: BuiltMarts, tmp_path: Path
):
    config = built.copy_to(tmp_path)
    root = config.data_root
    paths = LakePaths.at(root)
    unknown = {
        **tickets().slice(0, 1).to_pylist()[0],
        "ticket_id": "K9",
        "created_at": datetime(2026, 6, 24, 9),
        "first_response_at": datetime(2026, 6, 24, 10),
        "resolved_at": datetime(2026, 6, 24, 11),
        "contacts": None,
    }
    delta.write(
        pa.Table.from_pylist([unknown], schema=tickets().schema), paths.silver("tickets"), batch_id=BATCH
    )

    assert dbt.invoke(config, ["run"], "--select", "stg_silver__tickets service_kpis").success
    with duckdb.connect(str(paths.build_duckdb), read_only=True) as con:
        row = con.execute(FCR).fetchone()
    assert row == (3, 3, 1, 0.5)  # K9 counts as a ticket and as resolved, not in the rate: 1 of K1, K2
