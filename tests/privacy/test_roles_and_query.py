"""Least privilege where analysts query: each role reads its own database and nothing else."""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest

from privacy import audit
from privacy.errors import AccessDenied, PrivacyError
from privacy.layout import PrivacyPaths
from privacy.query import check_access, parse, run_query
from privacy.roles import ACCESS_TABLE, published_columns, role_tables
from privacy.settings import load_settings
from tests.privacy.lake import XIAOYU
from warehouse.paths import LakePaths

ROLES = [
    "system_admin",
    "data_admin",
    "market_analyst",
    "customer_manager",
    "sales_rep",
    "customer_service_rep",
]


def role_db_columns(config, role: str) -> dict[str, set[str]]:
    with duckdb.connect(str(PrivacyPaths.of(config).role_db(role)), read_only=True) as con:
        rows = con.execute(
            "select table_name, column_name from duckdb_columns() where table_name != ?", [ACCESS_TABLE]
        ).fetchall()
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


@pytest.mark.parametrize("role", ROLES)
def test_each_role_database_holds_exactly_what_the_role_may_read(published_lake, role):
    config = published_lake.config
    settings = load_settings(config).roles[role]
    published = published_columns(LakePaths.at(config.data_root))
    actual = role_db_columns(config, role)
    for mart, columns in published.items():
        allowed = settings.marts.get(mart)
        expected = set(columns) if allowed == "*" else set(columns) & set(allowed or [])
        assert actual.get(mart, set()) == expected, f"{role}: {mart}"
    assert ("audit_log" in actual) == settings.audit_log


@pytest.mark.parametrize("role", ROLES)
def test_every_column_a_role_may_not_see_is_refused_before_it_runs(published_lake, role):
    config = published_lake.config
    granted = role_tables(config, role)
    published = published_columns(LakePaths.at(config.data_root))
    for mart, columns in published.items():
        for column in columns:
            sql = f'select "{column}" from {mart}'
            if column in granted.get(mart, []):
                assert check_access(role, parse(sql), granted, published) == [mart]
            else:
                with pytest.raises(AccessDenied, match=f"may not read (table {mart}|column {mart}.{column})"):
                    check_access(role, parse(sql), granted, published)


def test_allowed_queries_run_and_are_audited(published_lake):
    config = published_lake.config
    result = run_query(
        config,
        "market_analyst",
        "select city, count(*) as n from dim_customer group by city",
        actor="analyst.wu",
    )
    assert result.frame.height >= 1 and result.tables == ["dim_customer"]
    event = audit.read(config).filter(pl.col("actor") == "analyst.wu").row(-1, named=True)
    assert (event["action"], event["role"], event["target"], event["outcome"]) == (
        "role_query",
        "market_analyst",
        "dim_customer",
        "ok",
    )
    assert event["columns_read"] == "city" and event["row_count"] == result.frame.height


@pytest.mark.parametrize(
    "role, sql, reason",
    [
        ("market_analyst", "select email from dim_customer", "may not read column dim_customer.email"),
        ("market_analyst", "select * from activation_lists", "may not read table activation_lists"),
        (
            "sales_rep",
            "select * from activation_lists_restricted",
            "may not read table activation_lists_restricted",
        ),
        ("sales_rep", "select national_id from dim_customer", "national_id is never published"),
        (
            "data_admin",
            "select * from read_parquet('marts/dim_customer.parquet')",
            "table functions are not allowed",
        ),
        ("data_admin", "select * from duckdb_tables()", "table functions are not allowed"),
        ("data_admin", "delete from dim_customer", "only a single SELECT"),
        ("data_admin", "select 1; select 2", "only a single SELECT"),
        ("customer_service_rep", "select * from other_db.main.dim_customer", "only the role's own tables"),
        ("nobody", "select 1", "unknown role 'nobody'"),
    ],
)
def test_forbidden_queries_are_refused_and_the_refusal_is_audited(published_lake, role, sql, reason):
    with pytest.raises(AccessDenied, match=reason):
        run_query(published_lake.config, role, sql, actor="curious")
    if role != "nobody":
        event = audit.read(published_lake.config).filter(pl.col("actor") == "curious").row(-1, named=True)
        assert (event["outcome"], event["role"]) == ("refused", role)


def test_only_the_customer_manager_reads_full_contact_details(published_lake):
    config = published_lake.config
    contacts = run_query(
        config, "customer_manager", "select contact_address from activation_lists_restricted"
    )
    assert XIAOYU.email in contacts.frame["contact_address"].to_list()
    masked = run_query(config, "sales_rep", "select email from dim_customer")
    assert XIAOYU.email not in masked.frame["email"].to_list()
    assert "x***@163.com" in masked.frame["email"].to_list()


def test_the_role_database_reaches_no_file_even_if_the_parser_were_fooled(published_lake):
    """The second lock: external access is off on the role's connection."""
    config = published_lake.config
    with (
        duckdb.connect(
            str(PrivacyPaths.of(config).role_db("market_analyst")),
            read_only=True,
            config={"enable_external_access": False},
        ) as con,
        pytest.raises(duckdb.PermissionException),
    ):
        con.execute(
            f"select * from read_parquet('{LakePaths.at(config.data_root).mart('activation_lists')}')"
        )


def test_exports_are_written_and_audited(published_lake, tmp_path):
    config = published_lake.config
    out = tmp_path / "segments.csv"
    run_query(config, "market_analyst", "select city from dim_customer", output=out, actor="exporter")
    assert out.read_text().startswith("city")
    event = audit.read(config).filter((pl.col("actor") == "exporter") & (pl.col("action") == "export"))
    assert event.row(0, named=True)["target"] == str(out)


def test_a_role_without_its_database_gets_a_clear_error(lake_copy):
    PrivacyPaths.of(lake_copy.config).role_db("sales_rep").unlink()
    with pytest.raises(PrivacyError, match="run `cdp publish-roles` first"):
        run_query(lake_copy.config, "sales_rep", "select 1")


def test_the_audit_log_keeps_each_querys_shape_but_never_the_values_it_looked_for(lake_copy):
    """system_admin reads the audit log and no customer: a query's literals must not reach it there."""
    config = lake_copy.config
    email = XIAOYU.email
    run_query(
        config,
        "customer_manager",
        f"select customer_id from dim_customer where email = '{email}' and record_count > 2 -- asked by {email}",
        actor="manager.chen",
    )
    with pytest.raises(AccessDenied):  # refused: the analyst may not read emails
        run_query(config, "market_analyst", f"select city from dim_customer where email = '{email}'")
    with pytest.raises(PrivacyError):  # failed: DuckDB's message quotes the value and the statement
        run_query(
            config, "customer_manager", f"select customer_id from dim_customer where record_count = '{email}'"
        )
    with pytest.raises(AccessDenied):  # refused by the parser: its message quotes the statement too
        run_query(config, "data_admin", f"select * frm dim_customer where email = '{email}'")
    with pytest.raises(PrivacyError):  # failed, and DuckDB's "LINE 1: ...zhao@163.com' or" cuts the value
        run_query(
            config,
            "customer_manager",
            f"select customer_id from dim_customer where email = '{email}' or customer_id = 'zzzzzz' "
            "or record_count = 'abc'",
        )
    with pytest.raises((AccessDenied, PrivacyError)):  # a value in double quotes is a "column" to DuckDB
        run_query(config, "customer_manager", f'select customer_id from dim_customer where email = "{email}"')
    run_query(config, "customer_manager", 'select "customer_id" from dim_customer', actor="manager.quoted")
    log = run_query(config, "system_admin", "select * from audit_log").frame
    assert log.height >= 7
    pieces = [email, email.split("@")[0], "zhao@163"]  # whole, or cut by an error excerpt
    leaked = [row for row in log.iter_rows(named=True) if any(p in str(row) for p in pieces)]
    assert leaked == []
    quoted = audit.read(config).filter(pl.col("actor") == "manager.quoted").row(-1, named=True)
    assert (
        json.loads(quoted["detail"])["sql"] == 'select "customer_id" from dim_customer'
    )  # a real name stays
    logged = audit.read(config).filter(pl.col("actor") == "manager.chen").row(-1, named=True)
    assert json.loads(logged["detail"])["sql"] == (
        "select customer_id from dim_customer where email = ? and record_count > ? /* ? */"
    )
