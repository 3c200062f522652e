"""Privacy on the real dbt marts of the tiny lake (one dbt build, shared with tests/marts' fixture).

Slow: the marts are built by dbt. Everything else in tests/privacy uses a small hand-built marts
database; this module proves the catalogue, the pseudonymised publish, consent in activation lists,
the roles and erasure on what dbt actually produces.
"""

from __future__ import annotations

import shutil

import duckdb
import polars as pl
import pytest

from privacy.catalogue import built_marts, published_marts, unclassified_columns
from privacy.consent import published_activation_violations
from privacy.erasure import erase
from privacy.errors import AccessDenied
from privacy.query import run_query
from privacy.subject import Request
from tests.fixtures.tiny_lake import GOLDEN
from tests.marts.conftest import built  # noqa: F401  (the session's dbt build)
from tests.privacy.lake import privacy_config, publish
from warehouse.paths import LakePaths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real(built, tmp_path_factory):  # noqa: F811
    """A copy of the built tiny lake, published the privacy way."""
    root = tmp_path_factory.mktemp("real_marts") / "data"
    shutil.copytree(built.paths.root, root, symlinks=True)
    config = privacy_config(root)
    for stale in [LakePaths.at(root).duckdb, *LakePaths.at(root).marts.glob("*.parquet")]:
        stale.unlink()
    publish(config, LakePaths.at(root).build_duckdb)
    return config


def clear_identifiers() -> set[str]:
    values = set()
    for person in GOLDEN.values():
        values |= {
            v for k in ("email", "phone", "full_name", "given_name", "family_name") if (v := person[k])
        }
    return values


def test_every_column_of_every_real_mart_is_classified(real):
    paths = LakePaths.at(real.data_root)
    tables = built_marts(paths.build_duckdb) + published_marts(paths)
    assert {"dim_customer", "activation_lists", "fct_orders", "customer_clv"} <= {t.table for t in tables}
    assert unclassified_columns(real, tables) == []


def test_the_real_marts_are_published_without_direct_identifiers(real):
    paths = LakePaths.at(real.data_root)
    clear = clear_identifiers()
    with duckdb.connect(str(paths.duckdb), read_only=True) as con:
        for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
            frame = con.sql(f'select * from "{table}"').pl()
            for column in frame.columns:
                leaked = {str(v) for v in frame[column].drop_nulls().to_list()} & clear
                assert not leaked, f"cdp.duckdb {table}.{column}"
    dim = pl.read_parquet(paths.mart("dim_customer"))
    assert "138****8001" in dim["phone"].to_list() and "national_id" not in dim.columns


def test_the_published_activation_lists_contact_no_one_without_consent(real):
    activation = pl.read_parquet(LakePaths.at(real.data_root).mart("activation_lists"))
    assert activation.height > 0
    assert published_activation_violations(real).is_empty()


def test_counts_and_points_are_published_as_integers_not_doubles(real):
    """DuckDB sums integers into HUGEINT, which Parquet stores as DOUBLE unless publishing casts it."""
    paths = LakePaths.at(real.data_root)
    for mart, columns in {
        "dim_customer": ("cancelled_orders", "points_balance"),
        "loyalty_balance": ("points_earned", "points_balance"),
    }.items():
        schema = pl.read_parquet_schema(paths.mart(mart))
        with duckdb.connect(str(paths.duckdb), read_only=True) as con:
            types = dict(
                con.execute(
                    f"select column_name, data_type from information_schema.columns where table_name = '{mart}'"
                ).fetchall()
            )
        for column in columns:
            assert schema[column] == pl.Int64, (mart, column, schema[column])
            assert types[column] == "BIGINT", (mart, column, types[column])


def test_roles_on_the_real_marts(real):
    from privacy.roles import publish_roles

    summary = publish_roles(real)
    assert all(not info["skipped"] for info in summary.values()), summary
    rows = run_query(real, "market_analyst", "select rfm_segment, count(*) as n from dim_customer group by 1")
    assert rows.frame["n"].sum() == len(GOLDEN)
    with pytest.raises(AccessDenied, match=r"may not read column dim_customer\.email"):
        run_query(real, "market_analyst", "select email from dim_customer")
    with pytest.raises(AccessDenied, match="may not read table service_kpis"):
        run_query(real, "sales_rep", "select * from service_kpis")


def test_erasing_a_real_customer_removes_them_from_every_real_mart(real, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(real.data_root, root, symlinks=True)
    config = privacy_config(root)
    outcome = erase(config, Request("customer_id", "C01"))
    assert outcome.status == "erased", outcome.sweep
    remaining = run_query(config, "data_admin", "select count(*) as n from dim_customer").frame["n"][0]
    assert remaining == len(GOLDEN) - 1
    for path in root.rglob("*"):
        if path.is_file():
            assert b"wang.fang@example.cn" not in path.read_bytes(), path
