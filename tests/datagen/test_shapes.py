"""Every source in its native shape: the files, columns, encodings and formats of docs/data_model.md §1."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from tests.datagen.helpers import read_csvs, read_jsonl

POS_MEMBERS = [
    "card_no",
    "member_no",
    "name",
    "mobile",
    "gender",
    "birthday",
    "email",
    "store_id",
    "registered_at",
]
POS_TICKETS = ["ticket_no", "store_id", "card_no", "sold_at", "line_no", "sku", "item_name", "category", "qty",
               "unit_price", "line_amount", "payment_method"]  # fmt: skip
SERVICE = ["ticket_id", "requester_id", "requester_name", "requester_email", "requester_phone", "channel", "priority",
           "status", "subject", "product_serial", "created_at", "first_response_at", "resolved_at", "contacts", "csat"]  # fmt: skip
POINTS = ["entry_id", "member_id", "occurred_at", "entry_type", "points", "order_ref", "store_id"]
COUPONS = [
    "coupon_id",
    "member_id",
    "campaign",
    "value",
    "issued_at",
    "expires_at",
    "redeemed_at",
    "order_ref",
]
MEMBERS = ["member_id", "full_name", "mobile", "email", "birth_date", "gender", "national_id", "tier", "enrolled_at",
           "address", "city", "province", "postcode", "consent_email", "consent_sms", "consent_wechat",
           "consent_profiling", "consent_updated_at"]  # fmt: skip
SURVEY = [
    "response_id",
    "submitted_at",
    "respondent_name",
    "email",
    "phone",
    "nps",
    "csat",
    "touchpoint",
    "comment",
]
CUSTOMER = ["id", "email", "first_name", "last_name", "phone", "created_at", "updated_at", "accepts_marketing",
            "accepts_marketing_updated_at", "birthday", "gender", "device_id", "default_address"]  # fmt: skip
ORDER = ["id", "name", "customer_id", "email", "phone", "created_at", "updated_at", "currency", "total_price",
         "payment_gateway", "status", "status_history", "shipping_address", "line_items"]  # fmt: skip
EVENT = ["event_id", "event_type", "customer_id", "device_id", "session_id", "sku", "channel", "ts"]
PROFILE = ["platform", "handle", "display_name", "bio", "email", "phone", "followers", "created_at"]
POST = ["post_id", "platform", "handle", "type", "parent_post_id", "text", "created_at", "likes"]


def _header(path: Path) -> list[str]:
    raw = path.read_bytes().split(b"\n", 1)[0].rstrip(b"\r")
    return raw.decode("ascii").split(",")


@pytest.mark.parametrize(
    "pattern, columns",
    [
        ("pos/*/*/members.csv", POS_MEMBERS),
        ("pos/*/*/tickets_*.csv", POS_TICKETS),
        ("service/tickets_*.csv", SERVICE),
        ("loyalty/points/points_*.csv", POINTS),
        ("loyalty/coupons.csv", COUPONS),
    ],
)
def test_csv_exports_have_the_documented_columns(dataset: Path, pattern: str, columns: list[str]):
    files = sorted((dataset / "landing").glob(pattern))
    assert files, pattern
    for path in files:
        assert _header(path) == columns, path


@pytest.mark.parametrize(
    "pattern, keys",
    [
        ("ecom/customers.jsonl", CUSTOMER),
        ("ecom/orders/orders_*.jsonl", ORDER),
        ("ecom/events/events_*.jsonl", EVENT),
        ("social/profiles.jsonl", PROFILE),
        ("social/posts/posts_*.jsonl", POST),
    ],
)
def test_json_lines_have_the_documented_keys_in_order(dataset: Path, pattern: str, keys: list[str]):
    files = sorted((dataset / "landing").glob(pattern))
    assert files, pattern
    for path in files:
        with path.open(encoding="utf-8") as handle:
            assert list(json.loads(handle.readline())) == keys, path


def test_web_orders_nest_line_items_status_history_and_shipping_address(dataset: Path):
    order = json.loads(
        (dataset / "landing/ecom/orders/orders_2025-11.jsonl").open(encoding="utf-8").readline()
    )
    assert list(order["line_items"][0]) == ["id", "sku", "title", "category", "quantity", "price"]
    assert list(order["status_history"][0]) == ["status", "at"]
    assert {"name", "address1", "city", "province", "zip", "country_code", "phone"} <= set(
        order["shipping_address"]
    )
    assert order["currency"] == "CNY" and isinstance(order["id"], int) and order["name"].startswith("#")


def test_legacy_tills_write_gbk_with_crlf_and_modern_tills_utf8_with_lf(dataset: Path):
    legacy = sorted((dataset / "landing/pos/legacy").rglob("*.csv"))
    modern = sorted((dataset / "landing/pos/stores").rglob("*.csv"))
    assert legacy and modern
    not_utf8 = 0
    for path in legacy:
        raw = path.read_bytes()
        raw.decode("gbk")  # must not raise
        assert raw.count(b"\r\n") == raw.count(b"\n"), path
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8 += 1
    assert not_utf8 > 0, "no legacy file carries Chinese text that would give GBK away"
    for path in modern:
        raw = path.read_bytes()
        raw.decode("utf-8")
        assert b"\r\n" not in raw, path


def test_loyalty_members_live_in_a_sqlite_table(dataset: Path):
    with sqlite3.connect(dataset / "landing/loyalty/loyalty.sqlite") as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(members)")]
        count = connection.execute("SELECT count(*) FROM members").fetchone()[0]
    assert columns == MEMBERS
    assert count > 0


def test_survey_workbooks_are_readable_and_some_carry_a_summary_sheet(dataset: Path):
    workbooks = sorted((dataset / "landing/survey").glob("responses_*-Q[1-4].xlsx"))
    assert len(workbooks) >= 8
    sheets = [openpyxl.load_workbook(path, read_only=True).sheetnames for path in workbooks]
    assert all(names[0] == "responses" for names in sheets)
    assert any("summary" in names for names in sheets) and any(names == ["responses"] for names in sheets)
    first = openpyxl.load_workbook(workbooks[0], read_only=True)["responses"]
    assert [cell.value for cell in next(first.iter_rows(max_row=1))] == SURVEY


def test_monthly_files_hold_the_events_of_their_month(dataset: Path):
    for path in sorted((dataset / "landing/ecom/orders").glob("orders_????-??.jsonl")):
        created = pl.read_ndjson(path)["created_at"].drop_nulls()
        month = path.stem.removeprefix("orders_")
        share = created.str.starts_with(month).mean()
        assert share > 0.98, path  # the rest are injected unparseable dates
    tickets = read_csvs(dataset, "pos/*/*/tickets_????-??.csv").with_columns(
        file_month=pl.col("_file").str.extract(r"tickets_(\d{4}-\d{2})"),
        sold_month=pl.col("sold_at").str.slice(0, 7),
    )
    previous = pl.col("file_month").str.to_date("%Y-%m").dt.offset_by("-1mo").dt.strftime("%Y-%m")
    in_place = (pl.col("sold_month") == pl.col("file_month")) | (pl.col("sold_month") == previous)
    assert tickets.select(in_place.mean()).item() > 0.99


def test_amounts_carry_thousands_separators_on_tills_and_plain_decimals_on_the_web(dataset: Path):
    lines = read_csvs(dataset, "pos/*/*/tickets_2025-*.csv")
    assert lines["line_amount"].str.contains(r"^\d{1,3}(,\d{3})+\.\d{2}$").any()
    orders = read_jsonl(dataset, "ecom/orders/orders_2025-*.jsonl")
    assert orders["total_price"].drop_nulls().str.contains(r"^\d+\.\d{2}$").mean() > 0.99
