"""Parquet exports: typed columns land as text the checks read, and a widened date is no retype.

Given a warehouse unload with real timestamp, date and float columns, every value lands (or is
quarantined for its value, never for how it was turned into text), and silver's parsers read back
the values the file held.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pyarrow as pa
import pytest

from ingest.config import DEFAULT_TIMESTAMP_FORMATS, standardize_settings
from ingest.errors import SourceFailed
from ingest.loader import load_source
from ingest.parsing import parse_as
from tests.ingest import landing as exports
from tests.ingest.conftest import tuned
from warehouse.config import CdpConfig


def _shop(config: CdpConfig, types: dict[str, str]) -> CdpConfig:
    """The configuration with a `shop` source: visits exported as monthly Parquet files."""
    visits = {"path": "shop/visits_*.parquet", "format": "parquet", "primary_key": ["id"], "types": types}
    return tuned(config, "sources", shop={"entities": {"visits": visits}})


def _parsed(
    config: CdpConfig, values: pl.Series, column_type: str, timestamp_formats: list[str] | None = None
) -> list[object]:
    """The values as silver types them (the same parsers the landing checks use)."""
    rules = standardize_settings(config)
    parse = parse_as(
        pl.col("v"),
        column_type,  # type: ignore[arg-type]
        date_formats=rules.date_formats,
        timestamp_formats=timestamp_formats or rules.timestamp_formats,
        timezone=config.timezone,
    )
    return values.to_frame("v").select(parse).to_series().to_list()


def test_timestamp_and_date_columns_land_and_read_back_as_the_values_written(config, landing, lake):
    shop = _shop(config, {"at": "timestamp", "at_zoned": "timestamp", "day": "date"})
    at = [datetime(2026, 10, 1, 10, 0), datetime(2026, 10, 1, 10, 0, 0, 250000)]
    exports.parquet(
        landing / "shop" / "visits_2026-10.parquet",
        {
            "id": pa.array(["v1", "v2"]),
            "at": pa.array(at, pa.timestamp("us")),
            "at_zoned": pa.array(at, pa.timestamp("us")).cast(pa.timestamp("us", tz="Asia/Shanghai")),
            "day": pa.array([date(2026, 10, 1), date(2026, 10, 2)], pa.date32()),
        },
    )
    assert load_source(shop, "shop", "b1")["status"] == "ok"
    assert lake.quarantine("shop").is_empty()
    bronze = lake.bronze("shop", "visits")
    assert bronze["at"].to_list() == ["2026-10-01T10:00:00", "2026-10-01T10:00:00.250"]
    assert bronze["day"].to_list() == ["2026-10-01", "2026-10-02"]
    assert _parsed(shop, bronze["at"], "timestamp") == at
    assert _parsed(shop, bronze["at"], "timestamp", DEFAULT_TIMESTAMP_FORMATS) == at  # without cdp.yaml's
    assert _parsed(shop, bronze["day"], "date") == [date(2026, 10, 1), date(2026, 10, 2)]
    # Written as instants shown in Shanghai time: they land with their offset and read as local time.
    assert bronze["at_zoned"].to_list() == ["2026-10-01T18:00:00+08:00", "2026-10-01T18:00:00.250+08:00"]
    assert _parsed(shop, bronze["at_zoned"], "timestamp") == [a.replace(hour=18) for a in at]


def test_floats_land_in_digits_and_an_amount_beyond_the_decimal_is_quarantined_with_them(
    config, landing, lake
):
    shop = _shop(config, {"amount": "decimal"})
    exports.parquet(
        landing / "shop" / "visits_2026-10.parquet",
        {"id": pa.array(["v1", "v2", "v3"]), "amount": pa.array([0.1, 0.000025, 1e20], pa.float64())},
    )
    load_source(shop, "shop", "b1")
    bronze = lake.bronze("shop", "visits")
    assert bronze.select("id", "amount").rows() == [("v1", "0.1"), ("v2", "0.000025")]
    bad = lake.quarantine("shop").row(0, named=True)
    assert (bad["row_number"], bad["reason"], bad["detail"]) == (
        3,
        "bad_number",
        "field 'amount': '100000000000000000000.0' is a number beyond the range of decimal(18,2) "
        "(16 digits before the point)",
    )


def _visits(landing, month: str, at: pa.Array, ids: pa.Array | None = None) -> None:
    ids = ids if ids is not None else pa.array([f"{month}-{n}" for n in range(len(at))])
    exports.parquet(landing / "shop" / f"visits_{month}.parquet", {"id": ids, "at": at})


def test_a_date_column_widened_to_a_timestamp_lands_and_a_real_retype_still_fails(config, landing, lake):
    shop = _shop(config, {"at": "timestamp"})
    days = [date(2026, 9, 1 + n) for n in range(25)]  # enough values to judge a retype
    _visits(landing, "2026-09", pa.array(days, pa.date32()))
    load_source(shop, "shop", "b1")
    times = [datetime(2026, 10, 1 + n, 10, 0) for n in range(25)]
    _visits(landing, "2026-10", pa.array(times, pa.timestamp("us")))
    assert load_source(shop, "shop", "b2")["status"] == "ok"
    assert lake.bronze("shop", "visits").height == 50 and lake.quarantine("shop").is_empty()
    _visits(landing, "2026-11", pa.array(times, pa.timestamp("us")), ids=pa.array(range(25), pa.int64()))
    with pytest.raises(
        SourceFailed, match=r"'id' in shop/visits_2026-11.parquet changed type from string to int64"
    ):
        load_source(shop, "shop", "b3")
