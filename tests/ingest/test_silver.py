"""Bronze -> silver: standardized, typed, deduplicated entities (docs/data_model.md section 4)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest

from ingest.config import SilverMapping
from ingest.loader import load_source
from ingest.silver import text
from ingest.silver.customers import standardize_names
from ingest.silver.mapping import narrowed_to_keys
from ingest.silver.schema import SCHEMAS
from ingest.standardize import standardize
from tests.ingest import landing as exports
from tests.ingest.conftest import Lake
from warehouse import delta
from warehouse.config import REPO_ROOT, load_config
from warehouse.paths import LakePaths


def land(config, *sources: str, batch: str = "b1") -> None:
    for source in sources:
        load_source(config, source, batch)


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    """One small export of every source, landed and standardized once for the module (read-only)."""
    root = tmp_path_factory.mktemp("silver") / "data"
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    exports.every_source(root / "landing")
    land(config, "pos", "ecom", "social", "service", "loyalty", "survey")
    standardize(config, "b1")
    return config, Lake(LakePaths.at(root))


def test_every_silver_entity_has_the_documented_columns_and_types(everything):
    _, lake = everything
    for entity, schema in SCHEMAS.items():
        assert dict(lake.silver(entity).schema) == schema, entity


def test_phones_become_e164_once_per_distinct_value():
    frame = pl.DataFrame({"phone": ["13800138000", "+86 138 0013 8000", "0086-138-0013-8000", "12345", None]})
    out = text.standardize_phones(frame, "phone", "CN")
    assert out["phone"].to_list() == ["+8613800138000"] * 3 + ["12345", None]
    assert out["phone_valid"].to_list() == [True, True, True, False, None]


def test_full_width_phones_and_emails_standardize_like_their_ascii_forms():
    # a Chinese input method in full-width mode; the third number is full width after "13"
    frame = pl.DataFrame(
        {
            "phone": ["１３８００１３８０００", "＋８６　１３８－００１３－８０００", "13８００１３８０００"],
            "email": ["Ｗａｎｇ.Ｆａｎｇ@example.com", "ｗａｎｇ．ｆａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", None],
        }
    )
    out = text.standardize_phones(frame.with_columns(text.standardize_email("email")), "phone", "CN")
    assert out["phone"].to_list() == ["+8613800138000"] * 3 and out["phone_valid"].all()
    assert out["email"].to_list() == ["wang.fang@example.com"] * 2 + [None]
    assert out["email_valid"].to_list() == [True, True, None]


def test_a_full_width_birthday_lands_and_types_as_a_date(config, landing, lake):
    exports.pos_members(
        landing,
        rows=[
            "8800000001,,王芳,１３８００１３８０００,女,１９８５－０３－１２,,S001,2024-03-01 10:22:05",
            "8800000002,,王伟,13800138001,男,1990-01-01,,S001,2024-03-01 10:22:05",
        ],
    )
    land(config, "pos")
    assert lake.bronze("pos", "members").height == 2
    assert lake.quarantine("pos").is_empty()  # neither quarantined nor nulled as unparseable_date
    standardize(config, "b1")
    member = (
        lake.silver("customer_records").filter(pl.col("record_id") == "pos:8800000001").row(0, named=True)
    )
    assert (member["date_of_birth"], member["phone"]) == (date(1985, 3, 12), "+8613800138000")


def test_a_chinese_name_written_given_name_first_is_split_family_name_first():
    # A marketing tool fills "first name" + "last name" into one field: 雨涵 李 is 李雨涵.
    names = ["雨涵 李", "李 雨涵", "李雨涵", "娜娜 欧阳", "欧阳娜娜", "雨涵李"]
    out = standardize_names(pl.DataFrame({"full_name": names}))
    assert list(zip(out["family_name"], out["given_name"], strict=True)) == [
        ("李", "雨涵"),
        ("李", "雨涵"),
        ("李", "雨涵"),
        ("欧阳", "娜娜"),
        ("欧阳", "娜娜"),
        ("雨", "涵李"),  # without a space the order cannot be told from a rare family name
    ]


def test_customer_records_are_standardized(everything):
    _, lake = everything
    records = lake.silver("customer_records").sort("record_id")
    pos = {r["record_id"]: r for r in records.filter(pl.col("source") == "pos").iter_rows(named=True)}
    chinese, latin, upper = pos["pos:8800000001"], pos["pos:8800000002"], pos["pos:8800000003"]
    assert (
        chinese["family_name"],
        chinese["given_name"],
        chinese["name_pinyin"],
        chinese["name_script"],
    ) == (
        "王",
        "芳",
        "wang fang",
        "han",
    )
    assert (upper["full_name"], upper["name_pinyin"], upper["name_script"]) == (
        "Fang Wang",
        "fang wang",
        "latin",
    )
    assert [r["date_of_birth"] for r in (chinese, latin, upper)] == [date(1985, 3, 12)] * 3  # three formats
    assert [r["gender"] for r in (chinese, latin, upper)] == ["F", "F", "M"]  # 女 -> F
    assert (latin["email"], latin["email_valid"]) == ("wang.fang@example.com", True)
    assert upper["phone"] == "+8613800138002" and upper["phone_valid"]
    # country came from the phone's region: flagged as imputed, never silently
    assert (chinese["country"], chinese["imputed_fields"]) == ("CN", "country")
    ecom = records.filter(pl.col("record_id") == "ecom:700000001").row(0, named=True)
    assert (ecom["country"], ecom["imputed_fields"], ecom["city"]) == ("CN", None, "上海")
    assert ecom["created_at"] == datetime(2024, 1, 2, 10, 0)  # +08:00 -> local naive
    assert ecom["completeness_score"] == 1.0
    bad_email = records.filter(pl.col("record_id") == "ecom:700000002").row(0, named=True)
    assert bad_email["email_valid"] is False and bad_email["completeness_score"] == pytest.approx(1 / 6)


def test_service_requester_takes_the_latest_contact_details(everything):
    _, lake = everything
    requester = lake.silver("customer_records").filter(pl.col("record_id") == "service:R1")
    assert requester["email"].to_list() == ["wang.fang@example.com"]


def test_orders_from_ticket_lines_and_shop_orders(everything):
    _, lake = everything
    orders = {r["order_id"]: r for r in lake.silver("orders").iter_rows(named=True)}
    pos = orders["pos:S001-20250301-000123"]
    assert (pos["status"], pos["status_path_valid"], pos["total_amount"], pos["item_count"]) == (
        "completed",
        True,
        Decimal("2598.00"),
        2,
    )
    assert (pos["currency"], pos["imputed_fields"], pos["record_id"]) == ("CNY", "currency", "pos:8800000001")
    shop = orders["ecom:5100000001"]
    assert (shop["status_path"], shop["status_path_valid"], shop["total_amount"]) == (
        "created>shipped>settled",
        True,
        Decimal("356.00"),
    )
    lines = lake.silver("order_lines").filter(pl.col("order_id") == "ecom:5100000001").row(0, named=True)
    assert (lines["quantity"], lines["unit_price"], lines["line_amount"]) == (
        2,
        Decimal("178.00"),
        Decimal("356.00"),
    )


def test_a_web_order_keeps_its_name_as_the_order_number(everything):
    """Loyalty points and coupons name a web order by its name (#...), not by the shop's id."""
    _, lake = everything
    orders = {r["order_id"]: r for r in lake.silver("orders").iter_rows(named=True)}
    assert orders["ecom:5100000001"]["order_number"] == "#5100000001"
    assert orders["pos:S001-20250301-000123"]["order_number"] is None  # the ticket number is its id


def test_silver_written_before_a_column_existed_is_rebuilt_in_full(config, landing, lake):
    """An upgrade adds a silver column (orders' order_number): the next standardize rebuilds the
    table in full even though no bronze changed, so the existing rows get the column too."""
    exports.ecom_orders(landing, "2025-03", [exports.ecom_order(5100000001, 7, ["created"])])
    land(config, "ecom")
    standardize(config, "b1")
    older = lake.silver("orders").drop("order_number")
    delta.write(older, lake.paths.silver("orders"), "overwrite")
    summary = standardize(config, "b2")
    assert summary["entities"]["orders"]["status"] == "built"
    assert lake.silver("orders")["order_number"].to_list() == ["#5100000001"]


def test_ticket_exported_twice_is_removed_once_and_counted(config, landing, lake):
    lines = [exports.ticket_line("T1", 1), exports.ticket_line("T1", 2)]
    exports.pos_tickets(landing, "2025-03", [*lines, exports.ticket_line("T2", 1)])
    exports.pos_tickets(landing, "2025-04", lines)  # T1 again in the next month's file
    land(config, "pos")
    standardize(config, "b1")
    assert lake.silver("order_lines").height == 3
    assert lake.silver("orders").sort("order_id")["total_amount"].to_list() == [
        Decimal("2598.00"),
        Decimal("1299.00"),
    ]
    log = lake.silver("dedup_log").select("source", "entity", "duplicate_key", "copies_removed", "kind")
    assert log.rows() == [("pos", "orders", "T1", 1, "exact")]


def test_illegal_status_path_is_flagged(config, landing, lake):
    exports.ecom_orders(landing, "2025-03", [exports.ecom_order(1, 7, ["created", "settled"])])
    land(config, "ecom")
    standardize(config, "b1")
    order = lake.silver("orders").row(0, named=True)
    assert (order["status_path"], order["status_path_valid"]) == ("created>settled", False)


def test_a_later_export_of_an_order_supersedes_the_earlier_one(config, landing, lake):
    exports.ecom_orders(landing, "2025-03", [exports.ecom_order(1, 7, ["created"])])
    exports.ecom_orders(landing, "2025-04", [exports.ecom_order(1, 7, ["created", "shipped"])])
    land(config, "ecom")
    standardize(config, "b1")
    assert lake.silver("orders")["status_path"].to_list() == ["created>shipped"]
    assert lake.silver("dedup_log")["kind"].to_list() == ["superseded"]


def test_standardize_skips_entities_whose_bronze_did_not_change(everything):
    config, lake = everything
    version = lake.version(lake.paths.silver("customer_records"))
    again = standardize(config, "b2")
    assert again["entities"]["customer_records"] == {"status": "unchanged"}
    assert lake.version(lake.paths.silver("customer_records")) == version


def test_a_daily_rebuild_reads_only_the_bronze_rows_whose_raw_key_cleans_to_a_wanted_key(tmp_path):
    """The key filter reaches the Parquet scan through the raw column: padded raw values that clean
    to a wanted key are kept, every other row is left out before mapping."""
    bronze = tmp_path / "bronze.parquet"
    pl.DataFrame(
        {"ticket_no": [" T1", "T1", "T2", "T3 ", None, ""], "store": ["a", "b", "c", "d", "e", "f"]}
    ).write_parquet(bronze)
    by_column = SilverMapping(columns={"source_order_id": "ticket_no", "store_id": "store"})
    wanted = pl.Series(["T1", "T3", "T9"])

    narrowed = narrowed_to_keys(pl.scan_parquet(bronze), by_column, "source_order_id", wanted).collect()

    assert narrowed["store"].to_list() == ["a", "b", "d"]
    by_template = SilverMapping(columns={"source_order_id": {"template": "{store}-{ticket_no}"}})
    untouched = narrowed_to_keys(pl.scan_parquet(bronze), by_template, "source_order_id", wanted).collect()
    assert untouched.height == 6
