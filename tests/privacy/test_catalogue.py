"""Every column of every layer is classified; a new column without a classification is caught."""

from __future__ import annotations

import polars as pl

from privacy.catalogue import declared_marts, discover, lake_tables, unclassified_columns
from privacy.settings import PrivacySettings, load_settings
from warehouse import delta
from warehouse.paths import LakePaths


def test_every_column_of_a_real_lake_and_its_published_marts_is_classified(published_lake):
    tables = discover(published_lake.config)
    layers = {t.layer for t in tables}
    assert {"bronze", "silver", "identity", "quarantine", "meta", "audit", "marts"} <= layers
    assert unclassified_columns(published_lake.config, tables) == []


def test_every_column_the_dbt_marts_document_is_classified(published_lake):
    declared = declared_marts()
    assert {"dim_customer", "activation_lists", "identity_links", "fct_orders"} <= {t.table for t in declared}
    assert unclassified_columns(published_lake.config, declared) == []


def test_a_new_column_without_classification_is_reported_with_its_table(lake_copy):
    paths = LakePaths.at(lake_copy.root)
    records = delta.read(paths.silver("customer_records")).with_columns(favourite_colour=pl.lit("blue"))
    delta.write(records, paths.silver("customer_records"), "overwrite")
    missing = unclassified_columns(lake_copy.config, lake_tables(paths))
    assert [(m.layer, m.table, m.column) for m in missing] == [
        ("silver", "customer_records", "favourite_colour")
    ]


def test_table_overrides_beat_the_column_glossary_and_exact_names_beat_globs(published_lake):
    catalogue = load_settings(published_lake.config).catalogue
    assert catalogue.spec("bronze", "ecom__orders", "name").classification == "quasi"  # an order's name
    assert catalogue.spec("bronze", "pos__members", "name").identifies == "name"  # a person's name
    assert catalogue.spec("identity", "golden_customer", "email_source").identifies == "record_id"
    assert catalogue.spec("silver", "customer_records", "_source").classification == "none"


def test_defaults_publish_direct_identifiers_nowhere():
    spec = PrivacySettings(catalogue={"columns": {"email": {"class": "direct", "grade": 4}}}).catalogue.spec(
        "marts", "x", "email"
    )
    assert spec is not None and spec.published_treatment == "drop"
