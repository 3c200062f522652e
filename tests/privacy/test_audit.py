"""The audit log: every event recorded, append-only, queryable as a table."""

from __future__ import annotations

import json

import pytest
from deltalake.exceptions import CommitFailedError

from privacy import audit
from privacy.layout import PrivacyPaths
from tests.privacy.lake import privacy_config
from warehouse import delta


@pytest.fixture
def config(tmp_path):
    return privacy_config(tmp_path / "data")


def test_events_record_who_what_which_columns_and_rows_and_the_outcome(config, monkeypatch):
    monkeypatch.setenv("CDP_USER", "analyst.li")
    audit.record(
        config,
        "role_query",
        role="market_analyst",
        target="dim_customer",
        columns=["customer_id", "city"],
        row_count=12,
        detail={"sql": "select 1"},
    )
    audit.record(config, "export", actor="dpo", target="out.csv", outcome="refused")
    log = audit.read(config)
    first, second = log.rows(named=True)
    assert (first["actor"], first["action"], first["role"], first["columns_read"], first["row_count"]) == (
        "analyst.li",
        "role_query",
        "market_analyst",
        "customer_id,city",
        12,
    )
    assert json.loads(first["detail"]) == {"sql": "select 1"}
    assert (second["actor"], second["outcome"]) == ("dpo", "refused")
    assert first["occurred_at"] <= second["occurred_at"]


def test_the_log_is_append_only(config):
    audit.record(config, "pipeline_run", target="b1")
    path = PrivacyPaths.of(config).audit_log
    with pytest.raises(CommitFailedError, match="append-only"):
        delta.delete_where(path, "action = 'pipeline_run'")
    assert audit.read(config).height == 1


def test_erasure_may_redact_an_erased_persons_identifiers_and_append_only_comes_back(config):
    audit.record(config, "role_query", detail={"sql": "select * from t where email = 'Jane.Doe@Example.com'"})
    audit.record(config, "role_query", detail={"sql": "select 2"})
    assert audit.redact(config, ["jane.doe@example.com"]) == 1
    details = audit.read(config)["detail"].to_list()
    assert "jane.doe" not in details[0].lower() and "[erased]" in details[0]
    assert details[1] == '{"sql": "select 2"}'
    with pytest.raises(CommitFailedError):
        delta.delete_where(PrivacyPaths.of(config).audit_log, "true")


@pytest.mark.parametrize(
    "sql, logged",
    [
        ("select * from t where email = 'li.na@qq.com'", "select * from t where email = ?"),
        ("select * from t where phone = 13800000000 limit 5", "select * from t where phone = ? limit ?"),
        (
            "select '张三' as n, c1 from t2 where x in (1.5, -2e3)",
            "select ? as n, c1 from t2 where x in (?, -?)",
        ),
        (
            "select \"col 1\" from t /* for li.na@qq.com */ where s = 'it''s'",
            'select "col 1" from t /* ? */ where s = ?',
        ),
        (
            "select * from t where d = date '2026-01-01' and h = 0x1F",
            "select * from t where d = date ? and h = ?",
        ),
        ("select * from t where email = 'li.na@qq", "select * from t where email = ?"),  # unterminated
    ],
)
def test_sql_is_logged_as_its_shape_without_literals_or_comments(config, sql, logged):
    audit.record(
        config, "role_query", sql=sql, detail={"error": f"Conversion Error: cannot read {sql[-12:]!r}"}
    )
    detail = json.loads(audit.read(config)["detail"][0])
    assert detail["sql"] == logged
    assert "li.na" not in detail["error"] and "13800000000" not in detail["error"]
