"""Analysts' marts carry no direct identifier: keyed hashes, masks and generalisation instead."""

from __future__ import annotations

import os

import duckdb
import polars as pl
import pytest

from privacy import pseudonymise
from privacy.errors import CatalogueError
from privacy.keys import Key
from privacy.publishing import plan_mart
from privacy.settings import load_settings
from tests.privacy.lake import XIAOYU, privacy_config
from warehouse import delta
from warehouse.config import REPO_ROOT, load_config
from warehouse.paths import LakePaths

SETTINGS = load_settings(load_config(REPO_ROOT / "cdp.yaml"))


def treat(column: str, values: list, treatment: str, duckdb_type: str = "VARCHAR") -> list:
    con = duckdb.connect()
    con.register("t", pl.DataFrame({column: values}).to_arrow())
    hashed = [column] if treatment == "hmac" else []
    pseudonymise.register_pseudonyms(con, "t", hashed, Key(b"k" * 32, "test"), SETTINGS)
    item = pseudonymise.treated_column(column, duckdb_type, treatment, SETTINGS, "test")
    return [row[0] for row in con.execute(f"select {item} from t").fetchall()]


def test_phones_are_masked_to_a_hint():
    phones = ["+8613800138000", "138 0013 8000", "0086-138-0013-8000", "12345", None]
    assert treat("phone", phones, "mask_phone") == ["138****8000"] * 3 + ["****", None]


def test_emails_keep_only_their_first_letter_and_domain():
    emails = ["jane.doe@example.com", "x@y.cn", "not-an-email", None]
    assert treat("email", emails, "mask_email") == ["j***@example.com", "x***@y.cn", "***", None]


def test_names_keep_their_first_character():
    assert treat("full_name", ["王芳", "Jane Doe", None], "mask_name") == ["王**", "J**", None]


def test_keyed_hashes_are_stable_joinable_and_depend_on_the_key():
    hashed = treat("customer_id", ["C01", "C02", "C01", None], "hmac")
    assert hashed[0] == hashed[2] != hashed[1] and hashed[3] is None
    assert len(hashed[0]) == SETTINGS.pseudonyms.hex_chars and "C01" not in hashed[0]
    other_key = pseudonymise.pseudonym("C01", Key(os.urandom(32), "other"), 32)
    assert other_key != hashed[0]


@pytest.mark.parametrize("key_bytes", [32, 64, 100])  # a key longer than SHA-256's block is hashed first
def test_keyed_hashes_computed_in_duckdb_equal_python_hmac(key_bytes):
    key = Key(os.urandom(key_bytes), "test")
    values = ["C01", "王芳", "a'b", "", "x" * 200, None]
    con = duckdb.connect()
    con.execute("create table t as select unnest(?::varchar[]) as v", [values])

    pseudonymise.register_pseudonyms(con, "t", ["v"], key, SETTINGS)

    found = dict(con.execute(f"select value, pseudonym from {pseudonymise.PSEUDONYM_TABLE}").fetchall())
    assert found == {
        v: pseudonymise.pseudonym(v, key, SETTINGS.pseudonyms.hex_chars) for v in values if v is not None
    }


def test_dates_generalise_to_the_year():
    from datetime import date

    assert treat("date_of_birth", [date(1990, 5, 17)], "generalise", "DATE") == [date(1990, 1, 1)]


def test_unclassified_mart_columns_are_withheld_or_stop_the_publish():
    columns = [("customer_id", "VARCHAR"), ("favourite_colour", "VARCHAR")]
    plan = plan_mart("dim_customer", columns, SETTINGS)
    assert plan.unclassified == ["favourite_colour"] and len(plan.select) == 1
    strict = SETTINGS.model_copy(
        update={"publishing": SETTINGS.publishing.model_copy(update={"on_unclassified": "fail"})}
    )
    with pytest.raises(CatalogueError, match=r"marts/dim_customer\.favourite_colour has no classification"):
        plan_mart("dim_customer", columns, strict)


def test_the_restricted_copy_keeps_contacts_and_both_keep_the_surrogate_customer_id():
    """customer_id is the CDP's own pseudonymous key: marketing tools join assignments to lists on it."""
    columns = [("customer_id", "VARCHAR"), ("contact_address", "VARCHAR"), ("reason", "VARCHAR")]
    published = plan_mart("activation_lists", columns, SETTINGS)
    restricted = plan_mart("activation_lists", columns, SETTINGS, restricted=True)
    assert published.treatments == {"customer_id": "keep", "contact_address": "drop", "reason": "drop"}
    assert restricted.treatments == {"customer_id": "keep", "contact_address": "keep", "reason": "keep"}


def test_published_marts_and_cdp_duckdb_hold_no_name_email_phone_or_source_key_in_clear(published_lake):
    paths = LakePaths.at(published_lake.root)
    people = delta.read(paths.silver("customer_records"))
    clear = {
        *people["email"].drop_nulls().to_list(),
        *people["phone"].drop_nulls().to_list(),
        *people["full_name"].drop_nulls().to_list(),
        XIAOYU.email,
        # a record id is `<source>:<the source's key>`: a card or member number, a handle
        *people["record_id"].to_list(),
        *people["record_id"].str.split_exact(":", 1).struct.field("field_1").to_list(),
        XIAOYU.card,
        XIAOYU.member,
    }
    con = duckdb.connect(str(paths.duckdb), read_only=True)
    tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
    published = {f"cdp.duckdb:{t}": con.sql(f'select * from "{t}"').pl() for t in tables}
    published |= {f"marts/{p.name}": pl.read_parquet(p) for p in paths.marts.glob("*.parquet")}
    published |= {f"marts/{p.name}": pl.read_parquet(p / "*.parquet") for p in paths.marts.glob("fct_*")}
    assert "marts/fct_orders" in published and published["marts/identity_links.parquet"].height
    for where, frame in published.items():
        for column in frame.columns:
            values = {str(v) for v in frame[column].drop_nulls().to_list()}
            assert not values & clear, f"{where}.{column} publishes identifiers in clear"
    dim = published["marts/dim_customer.parquet"]
    assert set(dim["email"].drop_nulls().to_list()) >= {"x***@163.com"}


def test_config_refuses_a_catalogue_that_would_publish_national_ids(tmp_path):
    config = privacy_config(
        tmp_path / "data",
        catalogue={
            "columns": {
                "national_id": {
                    "class": "sensitive",
                    "grade": 4,
                    "treatment": "keep",
                    "identifies": "national_id",
                }
            }
        },
    )
    from privacy.settings import load_settings
    from warehouse.config import ConfigError

    with pytest.raises(ConfigError, match="a national id must have treatment drop"):
        load_settings(config)
