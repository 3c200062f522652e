"""What downstream tools see: one type per kind of value, whatever the data or the configuration.

BI and marketing tools map the Parquet schema once; a money column that is decimal(18,2) in one
mart and decimal(38,2) in the next (DuckDB widens every SUM of a decimal to 38 digits), or a column
whose type follows a configured number, breaks that mapping or a join between marts.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse import dbt

AMOUNT = "decimal(18,2)"  # the `amount_cny` doc block: "Amount in the order's currency (CNY), decimal(18,2)."


def _documented_amounts(built) -> dict[tuple[str, str], str]:
    """(mart, column) -> description, for every published mart column documented as an amount."""
    manifest = json.loads((dbt.target_dir(built.config) / "manifest.json").read_text())
    published = set(built.paths.published_marts())
    return {
        (node["name"], column): spec["description"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["name"] in published
        for column, spec in node["columns"].items()
        if AMOUNT in spec.get("description", "")
    }


def test_every_amount_is_decimal_18_2_in_the_parquet_and_in_cdp_duckdb(built):
    amounts = _documented_amounts(built)
    assert ("dim_customer", "total_spend") in amounts and ("fct_orders", "lines_amount") in amounts
    wrong = {}
    for mart, column in amounts:
        for file in built.paths.mart_files(mart):
            field = pq.read_schema(file).field(column)
            if field.type != pa.decimal128(18, 2):
                wrong[(mart, column, file.name)] = str(field.type)
        in_duckdb = built.rows(
            "select data_type from information_schema.columns "
            f"where table_name = '{mart}' and column_name = '{column}'"
        )
        if in_duckdb != [("DECIMAL(18,2)",)]:
            wrong[(mart, column, "cdp.duckdb")] = in_duckdb
    assert wrong == {}


def test_hours_are_double_whatever_the_configured_promise(built):
    """The promises came out as the literal of the configured number (24.0: decimal(3,1); 168.0
    would have been decimal(4,1)), so editing cdp.yaml changed the published schema."""
    hours = {
        field.name: field.type
        for file in built.paths.mart_files("service_kpis")
        for field in pq.read_schema(file)
        if field.name.endswith("_hours")
    }
    assert set(hours) >= {"first_response_promise_hours", "resolution_promise_hours", "avg_resolution_hours"}
    assert set(hours.values()) == {pa.float64()}
