"""A new source is configuration only: a franchise's CSV export added under `sources:` in cdp.yaml.

Given a Latin-1, semicolon-delimited export with its own column names, DD.MM.YYYY dates and phones in
local format, the rows land in bronze with lineage and reach silver standardized. A mapping mistake
that would cost values silently (a canonical column silver does not know, a typed silver column fed
by a source column typed otherwise on landing) is refused before anything lands, naming the source,
entity and column.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from ingest.config import sources_config
from ingest.loader import load_source
from ingest.silver.registry import RegistryError
from ingest.standardize import standardize
from tests.ingest.conftest import tuned
from warehouse.config import CdpConfig, ConfigError

EXPORT = (
    "KundenNr;Vorname;Nachname;E-Mail;Telefon;Geburtsdatum;Angelegt\r\n"
    "F1000;Zoë;Müller;zoe.mueller@example.de;138 0013 8000;21.09.1985;15.03.2025\r\n"
    "F1001;Jürgen;Weiß;;139 1234 5678;01.02.1979;16.03.2025\r\n"
)


def _franchise(
    config: CdpConfig, types: dict[str, str], columns: dict[str, object] | None = None
) -> CdpConfig:
    """The configuration with a `franchise` source (customers) and DD.MM.YYYY timestamps readable."""
    customers = {
        "path": "franchise/customers.csv",
        "format": "csv",
        "delimiter": ";",
        "encoding": "latin-1",
        "primary_key": ["KundenNr"],
        "types": types,
        "silver": {
            "customer_records": {
                "columns": columns
                or {
                    "source_record_id": "KundenNr",
                    "given_name": "Vorname",
                    "family_name": "Nachname",
                    "email": "E-Mail",
                    "phone": "Telefon",
                    "date_of_birth": "Geburtsdatum",
                    "created_at": "Angelegt",
                }
            }
        },
    }
    config = tuned(config, "sources", franchise={"entities": {"customers": customers}})
    formats = [*config.raw["standardize"]["timestamp_formats"], "%d.%m.%Y"]
    return tuned(config, "standardize", timestamp_formats=formats)


def _export(landing: Path) -> None:
    folder = landing / "franchise"
    folder.mkdir()
    (folder / "customers.csv").write_bytes(EXPORT.encode("latin-1"))


def test_a_franchise_export_lands_with_lineage_and_reaches_silver_standardized(config, landing, lake):
    franchise = _franchise(config, {"Geburtsdatum": "date", "Angelegt": "timestamp"})
    _export(landing)
    assert load_source(franchise, "franchise", "b1")["status"] == "ok"
    bronze = lake.bronze("franchise", "customers")
    assert bronze["_file"].to_list() == ["franchise/customers.csv"] * 2
    assert bronze["_row_number"].to_list() == [1, 2]
    assert bronze["Vorname"].to_list() == ["Zoë", "Jürgen"]
    standardize(franchise, "b1")
    silver = lake.silver("customer_records").filter(source="franchise").sort("record_id")
    assert silver["record_id"].to_list() == ["franchise:F1000", "franchise:F1001"]
    assert silver["full_name"].to_list() == ["Zoë Müller", "Jürgen Weiß"]
    assert silver["phone"].to_list() == ["+8613800138000", "+8613912345678"]
    assert silver["date_of_birth"].to_list() == [date(1985, 9, 21), date(1979, 2, 1)]
    assert silver["created_at"].to_list() == [datetime(2025, 3, 15), datetime(2025, 3, 16)]


def test_a_date_typed_column_feeding_a_timestamp_is_refused_before_it_lands(config, landing, lake):
    """Typed `date` on landing, `15.03.2025` passes; silver's created_at is a timestamp parsed with the
    timestamp formats, and without the refusal every registration time became null unrecorded."""
    franchise = _franchise(config, {"Geburtsdatum": "date", "Angelegt": "date"})
    franchise = tuned(franchise, "standardize", timestamp_formats=["%Y-%m-%d %H:%M:%S"])
    _export(landing)
    with pytest.raises(
        RegistryError,
        match=r"franchise\.entities\.customers: silver created_at \(timestamp\) reads column 'Angelegt', typed date",
    ):
        load_source(franchise, "franchise", "b1")
    assert not lake.paths.bronze("franchise", "customers").exists()
    with pytest.raises(RegistryError, match="Angelegt"):
        standardize(franchise, "b1")


def test_an_untyped_column_feeding_a_typed_silver_column_is_refused(config, landing):
    franchise = _franchise(config, {"Geburtsdatum": "date"})
    _export(landing)
    with pytest.raises(
        RegistryError,
        match=r"reads column 'Angelegt', typed string on landing: declare `types: \{Angelegt: timestamp\}`",
    ):
        load_source(franchise, "franchise", "b1")


def test_a_canonical_column_silver_does_not_know_is_refused_not_dropped(config, landing):
    columns = {"source_record_id": "KundenNr", "mobile": "Telefon", "email": "E-Mail"}
    franchise = _franchise(config, {}, columns)
    _export(landing)
    with pytest.raises(
        RegistryError, match=r"silver\.customer_records: 'mobile' is no customer_records column"
    ):
        load_source(franchise, "franchise", "b1")


ORDERS = "BelegNr;KundenNr;Datum;Betrag\r\nB1;F1000;05.02.2026;1.299,50\r\nB2;F1001;06.02.2026;140,15\r\nB3;F1001;07.02.2026;1,299.00\r\n"


def _franchise_orders(config: CdpConfig) -> CdpConfig:
    orders = {
        "path": "franchise/orders_*.csv",
        "format": "csv",
        "delimiter": ";",
        "encoding": "latin-1",
        "decimal_comma": True,
        "timestamp_formats": ["%d.%m.%Y"],
        "primary_key": ["BelegNr"],
        "types": {"Datum": "timestamp", "Betrag": "decimal"},
        "silver": {
            "orders": {
                "columns": {
                    "source_order_id": "BelegNr",
                    "source_record_id": "KundenNr",
                    "ordered_at": "Datum",
                    "total_amount": "Betrag",
                    "channel": {"value": "store"},
                    "status": {"value": "completed"},
                }
            }
        },
    }
    return tuned(config, "sources", franchise={"entities": {"orders": orders}})


def test_amounts_written_with_a_decimal_comma_land_and_reach_silver_as_their_value(config, landing, lake):
    """`decimal_comma: true`: 1.299,50 is 1299.50 and 140,15 is 140.15; 1,299.00 (a point where the
    export writes commas) is quarantined naming file, row and field, never read as 1299."""
    franchise = _franchise_orders(config)
    (landing / "franchise").mkdir()
    (landing / "franchise" / "orders_2026.csv").write_bytes(ORDERS.encode("latin-1"))
    load_source(franchise, "franchise", "b1")
    rejected = lake.quarantine("franchise")
    assert rejected.select("file", "row_number", "reason").rows() == [
        ("franchise/orders_2026.csv", 3, "bad_number")
    ]
    assert "Betrag" in rejected["detail"][0]
    standardize(franchise, "b1")
    orders = lake.silver("orders").filter(source="franchise").sort("order_id")
    assert orders["order_id"].to_list() == ["franchise:B1", "franchise:B2"]
    assert [str(a) for a in orders["total_amount"]] == ["1299.50", "140.15"]
    assert orders["ordered_at"].to_list() == [datetime(2026, 2, 5), datetime(2026, 2, 6)]


def test_a_decimal_comma_is_for_csv_exports_whose_numbers_are_text(config):
    orders = {"path": "x/*.xlsx", "format": "xlsx", "sheet": "s", "decimal_comma": True}
    with pytest.raises(ConfigError, match="decimal_comma is for CSV exports"):
        sources_config(tuned(config, "sources", x={"entities": {"orders": orders}}))


def test_cdp_run_stops_at_once_on_a_mapping_mistake_as_on_any_configuration_error(config, landing):
    """The registry is cdp.yaml: a mapping mistake is said once, not recorded as one failed source
    while the run goes on to build silver and marts without it."""
    from cdp import pipeline

    franchise = _franchise(config, {"Geburtsdatum": "date"})
    _export(landing)
    with pytest.raises(RegistryError, match="Angelegt"):
        pipeline.run_all(franchise, "b1", sources=["franchise"], until="ingest")


def test_a_json_path_feeding_a_typed_silver_column_is_not_refused(config):
    """Nothing can type a value inside a JSON object on landing: refusing the mapping would leave a
    source with a nested birthday no way in (it is parsed in silver only, docs/data_model.md)."""
    from ingest.silver.registry import check_registry

    members = {
        "path": "app/members.jsonl",
        "format": "jsonl",
        "primary_key": ["id"],
        "silver": {
            "customer_records": {
                "columns": {"source_record_id": "id", "date_of_birth": {"json": "profile.birthday"}}
            }
        },
    }
    check_registry(
        sources_config(tuned(config, "sources", app={"entities": {"members": members}})), only="app"
    )


def test_a_new_source_missing_from_source_trust_is_named_not_silently_ranked_last(config):
    from cdp import pipeline

    franchise = _franchise(config, {"Geburtsdatum": "date", "Angelegt": "timestamp"})
    assert pipeline.untrusted_sources(config) == []
    (warning,) = pipeline.untrusted_sources(franchise)
    assert "source_trust: franchise;" in warning
