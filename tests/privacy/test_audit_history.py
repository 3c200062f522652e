"""An audit log written before queries were logged by shape is rewritten to its shape, once.

The old log is written the way the code before the shape rule wrote it: the SQL as typed in
`detail.sql`, the refusal or error beside it quoting the same values, append-only, no mark.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from privacy import audit
from privacy.audit_history import ACTION, COMMAND, redact_history
from privacy.backup import backup, restore
from privacy.layout import PrivacyPaths
from tests.privacy.lake import privacy_config
from tests.privacy.test_cli import cdp
from tests.privacy.test_erasure import files_mentioning
from warehouse import delta
from warehouse.config import CdpConfig

JANE = "jane@x.com"
PHONE = "13800000000"
QUOTED = "li.na@qq.com"
EXPORTED = "wang.fang@163.com"
COMMENT = "ticket 4711 for Li Na"
LITERALS = [JANE, PHONE, QUOTED, EXPORTED, COMMENT]

OLD_EVENTS = [  # (actor, action, role, outcome, detail) as logged before the shape rule
    (
        "li",
        "role_query",
        "market_analyst",
        "ok",
        {"sql": f"select customer_id from dim_customer where email = '{JANE}'"},
    ),
    (
        "li",
        "role_query",
        "market_analyst",
        "refused",
        {
            "sql": f"select email from dim_customer where phone = {PHONE}",
            "reason": "role market_analyst may not read column dim_customer.email",
        },
    ),
    ("airflow:cdp_daily", "pipeline_run", None, "ok", {"batch": "b1"}),
    (
        "wang",
        "role_query",
        "data_admin",
        "failed",
        {
            "sql": f'select customer_id from dim_customer where email = "{QUOTED}" /* {COMMENT} */',
            "error": f'Binder Error: Referenced column "{QUOTED}" not found in FROM clause!\n'
            f'LINE 1: ...where email = "{QUOTED}"\n                        ^',
        },
    ),
    (
        "wang",
        "export",
        "customer_manager",
        "ok",
        {"sql": f"select * from dim_customer where email = '{EXPORTED}'", "tables": ["dim_customer"]},
    ),
    (
        "li",
        "role_query",
        "market_analyst",
        "ok",
        {"sql": "select city, count(*) from dim_customer group by city"},
    ),
]


def write_old_log(config: CdpConfig, events=OLD_EVENTS) -> pl.DataFrame:
    """The audit log as the code before the shape rule left it; returns its rows."""
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    rows = [
        {
            "event_id": f"e{i:02d}",
            "occurred_at": start + timedelta(minutes=i),
            "actor": actor,
            "action": action,
            "role": role,
            "target": "dim_customer" if role else "b1",
            "columns_read": None,
            "row_count": i,
            "outcome": outcome,
            "detail": json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True),
            "batch_id": None,
            "host": "h1",
        }
        for i, (actor, action, role, outcome, detail) in enumerate(events)
    ]
    frame = pl.DataFrame(rows, schema=audit.AUDIT_SCHEMA)
    path = PrivacyPaths.of(config).audit_log
    shutil.rmtree(path, ignore_errors=True)
    for i in range(len(rows)):  # one commit per event, as record() appends them
        delta.write(frame.slice(i, 1), path, "append")
    delta.open_table(path).alter.set_table_properties(audit.APPEND_ONLY)
    return frame


def parquet_text(folder: Path) -> str:
    """Every value of every Parquet file under `folder`, old versions included, decoded."""
    return "\n".join(str(pq.read_table(p).to_pylist()) for p in sorted(folder.rglob("*.parquet")))


@pytest.fixture
def config(tmp_path):
    return privacy_config(tmp_path / "data")


def test_old_events_are_rewritten_to_their_shape_once_keeping_every_event(config):
    old = write_old_log(config)
    folder = PrivacyPaths.of(config).audit_log
    assert audit.history_unredacted(config)
    assert files_mentioning(folder, [JANE])  # the old files hold the literal as typed

    result = redact_history(config, actor="dpo")

    assert (result.already, result.events_checked, result.events_redacted) == (False, 6, 4)
    log = audit.read(config)
    kept = log.filter(pl.col("action") != ACTION)
    columns = [c for c in audit.AUDIT_SCHEMA if c != "detail"]
    assert kept.select(columns).equals(old.select(columns))  # same events, order, times, actors
    details = [json.loads(d) for d in kept["detail"]]
    assert details[0] == {"sql": "select customer_id from dim_customer where email = ?"}
    assert details[1]["sql"] == "select email from dim_customer where phone = ?"
    assert details[1]["reason"] == "role market_analyst may not read column dim_customer.email"
    assert details[2] == {"batch": "b1"}
    assert details[3]["sql"] == 'select customer_id from dim_customer where email = "?" /* ? */'
    assert details[3]["error"] == "Binder Error: Referenced column ? not found in FROM clause!"
    assert details[4] == {"sql": "select * from dim_customer where email = ?", "tables": ["dim_customer"]}
    assert kept["detail"][5] == old["detail"][5]  # already in shape form: untouched
    for literal in LITERALS:
        assert literal not in str(log.rows()) and literal not in parquet_text(folder)
    assert files_mentioning(folder, LITERALS) == {}  # no old version, no commit statistics
    event = log.row(-1, named=True)
    assert (event["action"], event["actor"], event["row_count"]) == (ACTION, "dpo", 4)
    assert json.loads(event["detail"])["events_redacted"] == 4
    assert not audit.history_unredacted(config)
    with pytest.raises(Exception, match="append-only"):
        delta.delete_where(folder, "true")


def test_a_second_run_and_events_logged_since_are_left_alone(config):
    write_old_log(config)
    redact_history(config)
    audit.record(config, "role_query", sql=f"select 1 from dim_customer where email = '{JANE}'")
    version = delta.open_table(PrivacyPaths.of(config).audit_log).version()
    before = audit.read(config)

    again = redact_history(config)

    assert again.already and again.events_redacted == 0
    assert delta.open_table(PrivacyPaths.of(config).audit_log).version() == version
    assert audit.read(config).equals(before)


def test_a_log_started_today_is_already_in_shape_form(config):
    audit.record(config, "role_query", sql="select 1")
    assert not audit.history_unredacted(config)
    assert redact_history(config).already


def test_privacy_check_fails_on_an_old_log_until_the_command_ran(monkeypatch, capsys, lake_copy):
    write_old_log(lake_copy.config)
    code, _, err = cdp(monkeypatch, capsys, lake_copy, "privacy", "check", "--no-declared")
    assert code == 1 and COMMAND in err and "audit log" in err

    code, out, _ = cdp(
        monkeypatch, capsys, lake_copy, "privacy", "audit", "--redact-history", "--user", "dpo"
    )
    assert code == 0 and "4 of 6 event(s) rewritten" in out and "role databases rebuilt" in out
    admin_db = PrivacyPaths.of(lake_copy.config).role_db("system_admin")
    with duckdb.connect(str(admin_db), read_only=True) as con:
        copied = str(con.execute("select * from audit_log").fetchall())
    assert "email = ?" in copied and not any(literal in copied for literal in LITERALS)

    code, out, _ = cdp(monkeypatch, capsys, lake_copy, "privacy", "check", "--no-declared")
    assert code == 0 and "every query is logged by its shape" in out
    code, out, _ = cdp(monkeypatch, capsys, lake_copy, "privacy", "audit", "--redact-history")
    assert code == 0 and "nothing to do" in out


def test_a_restored_old_log_is_rewritten_to_its_shape_before_it_is_renamed_into_place(lake_copy, tmp_path):
    config = lake_copy.config
    write_old_log(config)
    taken = backup(config, "full")

    restored = restore(config, tmp_path / "R", taken.backup_id)

    r = config.with_data_root(tmp_path / "R")
    assert restored.audit_events_redacted == 4
    assert not audit.history_unredacted(r)
    assert files_mentioning(PrivacyPaths.of(r).audit_log, LITERALS) == {}
    assert audit.read(r)["action"].to_list()[-1] == ACTION
    event = audit.read(config).filter(pl.col("action") == "restore").row(-1, named=True)
    assert json.loads(event["detail"])["audit_events_redacted"] == 4
    assert audit.history_unredacted(config)  # the live root is the operator's to redact


def test_a_run_cut_short_before_the_mark_is_finished_by_running_it_again(config):
    write_old_log(config)
    folder = PrivacyPaths.of(config).audit_log
    audit.redact_history(config, frozenset())  # the rewrite committed, then the process was killed
    delta.open_table(folder).alter.set_table_properties({"delta.appendOnly": "false"})  # mid-lift
    assert audit.history_unredacted(config) and files_mentioning(folder, [JANE])  # old versions

    result = redact_history(config)

    assert (result.already, result.events_redacted) == (False, 0)
    assert files_mentioning(folder, LITERALS) == {} and not audit.history_unredacted(config)
    assert delta.open_table(folder).metadata().configuration["delta.appendOnly"] == "true"
    assert audit.read(config).height == len(OLD_EVENTS) + 1
