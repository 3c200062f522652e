"""An invalid optional profile attribute (`null_if_invalid`: birthdays) costs the value, not the row.

A POS member whose birthday reads `31/13/2025` still lands, with the birthday null, so their orders
keep their customer; the value is recorded in quarantine as `invalid_value_nulled` (file, row, the
row's text, field, value and the reason it would have had) and counted apart from rejected rows.
A key, a `not_null` column, an amount or an event time that fails still rejects the row whole.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

import polars as pl
import pytest
from pydantic import ValidationError

from ingest.config import EntityConfig, SourcesConfig
from ingest.loader import load_source
from ingest.report import load_report
from ingest.silver.registry import entity_problems
from ingest.standardize import standardize
from tests.ingest import landing as exports

CARD = "8800010087"
NULLED = "the field was nulled and the row landed"
COUNTS = ["rows_read", "rows_landed", "rows_quarantined", "rows_suppressed", "fields_nulled"]


def test_a_member_with_an_unreadable_birthday_lands_without_it_and_keeps_their_orders(config, landing, lake):
    exports.pos_members(
        landing,
        rows=[
            "8800000001,,王芳,13800138000,F,1985-03-12,,S001,2024-03-01 10:22:05",
            f"{CARD},,李娜,13800138087,F,31/13/2025,,S001,2024-03-01 10:22:05",
        ],
    )
    exports.pos_tickets(
        landing, "2025-03", [exports.ticket_line("T1", 1, card=CARD), exports.ticket_line("T2", 1, card=CARD)]
    )
    summary = load_source(config, "pos", "b1")
    standardize(config, "b1")

    members = lake.bronze("pos", "members").select("card_no", "birthday").rows()
    assert members == [("8800000001", "1985-03-12"), (CARD, None)]
    [recorded] = lake.quarantine("pos").rows(named=True)
    assert (recorded["entity"], recorded["file"], recorded["row_number"]) == (
        "members",
        "pos/stores/S001/members.csv",
        2,
    )
    assert recorded["reason"] == "invalid_value_nulled"
    assert (
        recorded["detail"]
        == f"field 'birthday': '31/13/2025' is not a valid date (unparseable_date); {NULLED}"
    )
    assert recorded["raw"] == f"{CARD},,李娜,13800138087,F,31/13/2025,,S001,2024-03-01 10:22:05"
    manifest = lake.manifest().filter(pl.col("entity") == "members")
    assert manifest.select(COUNTS).row(0) == (2, 2, 0, 0, 1)  # a nulled value is no quarantined row
    assert "1 invalid value(s) nulled" in manifest["message"][0]
    assert (summary["rows_quarantined"], summary["fields_nulled"]) == (0, 1)

    customers = lake.silver("customer_records")
    assert customers.filter(pl.col("record_id") == f"pos:{CARD}")["date_of_birth"].to_list() == [None]
    orders = lake.silver("orders")
    assert orders.height == 2
    unknown = orders.join(customers, on="record_id", how="anti")
    assert unknown.is_empty(), "an order whose member was quarantined has no customer"


def test_a_row_rejected_for_another_field_is_rejected_once_with_that_reason(config, landing, lake):
    """A required or typed non-soft field that fails still rejects the row (its birthday too)."""
    exports.pos_members(landing, rows=[f"{CARD},,李娜,13800138087,F,31/13/2025,,S001,yesterday"])
    exports.pos_tickets(
        landing,
        "2025-03",
        [exports.ticket_line("T1", 1, card=CARD, sold_at="N/A"), exports.ticket_line("", 2)],
    )
    load_source(config, "pos", "b1")
    rejected = lake.quarantine("pos").sort("entity", "row_number").select("entity", "row_number", "reason")
    assert rejected.rows() == [
        ("members", 1, "unparseable_timestamp"),  # registered_at, not the birthday
        ("tickets", 1, "unparseable_timestamp"),  # a sale time
        ("tickets", 2, "missing_primary_key"),
    ]
    assert lake.manifest().select(COUNTS).sum().row(0) == (3, 0, 3, 0, 0)


def test_web_shop_birthdays_are_typed_on_landing_so_a_bad_one_is_recorded_not_silently_nulled(
    config, landing, lake
):
    path = exports.ecom_customers(landing)
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace('"birthday": null', '"birthday": "1990-02-30"')
    third = lines[0].replace("700000001", "700000003").replace('"1990-05-01"', '"9999-12-31"')
    exports.write_text(path, "\n".join([*lines, third]) + "\n")
    load_source(config, "ecom", "b1")
    standardize(config, "b1")

    landed = lake.bronze("ecom", "customers").select("id", "birthday").rows()
    assert landed == [("700000001", "1990-05-01"), ("700000002", None), ("700000003", None)]
    recorded = lake.quarantine("ecom").sort("row_number").select("row_number", "reason", "detail")
    assert recorded["reason"].to_list() == ["invalid_value_nulled"] * 2
    assert (
        recorded["detail"][0]
        == f"field 'birthday': '1990-02-30' is not a valid date (unparseable_date); {NULLED}"
    )
    assert recorded["detail"][1].startswith(
        "field 'birthday': '9999-12-31' is outside its plausible range 1900-01-01"
    )
    assert recorded["detail"][1].endswith(f"(implausible_date); {NULLED}")
    births = lake.silver("customer_records").sort("record_id").select("record_id", "date_of_birth").rows()
    assert births == [
        ("ecom:700000001", date(1990, 5, 1)),
        ("ecom:700000002", None),
        ("ecom:700000003", None),  # not 9999-12-31: it would fail the silver gate's birth-date rule
    ]
    assert lake.manifest().select(COUNTS).row(0) == (3, 3, 0, 0, 2)


def test_a_loyalty_member_with_an_unreadable_birth_date_keeps_their_points(config, landing, lake):
    exports.loyalty(landing)
    with sqlite3.connect(landing / "loyalty" / "loyalty.sqlite") as con:
        con.execute("update members set birth_date = '0000-00-00'")
    load_source(config, "loyalty", "b1")
    assert lake.bronze("loyalty", "members").select("member_id", "birth_date").rows() == [("L00000001", None)]
    assert lake.quarantine("loyalty")["detail"].to_list() == [
        f"field 'birth_date': '0000-00-00' is not a valid date (unparseable_date); {NULLED}"
    ]
    assert lake.bronze("loyalty", "points").height == 2


def test_the_report_lists_nulled_values_apart_from_rejected_rows(config, landing, lake):
    exports.pos_members(
        landing,
        rows=[
            f"{CARD},,李娜,13800138087,F,31/13/2025,,S001,2024-03-01 10:22:05",
            "8800000002,,B,13800138000,F,1985-03-12,,S001,N/A",
        ],
    )
    load_source(config, "pos", "b1")
    report = load_report(lake.paths, "pos")
    assert report["landed"].select(
        "rows_read", "rows_landed", "rows_quarantined", "fields_nulled"
    ).rows() == [(2, 1, 1, 1)]
    assert report["rejected"].select("entity", "reason", "rows").rows() == [
        ("members", "unparseable_timestamp", 1)
    ]
    assert report["nulled"].select("entity", "field", "values").rows() == [("members", "birthday", 1)]


def _members(**changes: object) -> dict:
    return {
        "path": "x.csv",
        "format": "csv",
        "primary_key": ["card_no"],
        "types": {"birthday": "date"},
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"null_if_invalid": ["email"]}, "null_if_invalid column 'email' has no type"),
        ({"null_if_invalid": ["card_no"], "types": {"card_no": "integer"}}, "is a primary key or not_null"),
        ({"null_if_invalid": ["birthday"], "not_null": ["birthday"]}, "is a primary key or not_null"),
    ],
)
def test_only_a_typed_optional_column_may_be_nulled_instead_of_its_row(changes, message):
    with pytest.raises(ValidationError, match=message):
        EntityConfig.model_validate(_members(**changes))


def test_declaring_null_if_invalid_re_reads_the_files_and_none_keeps_the_fingerprint(config):
    members = config.section("sources", SourcesConfig).get("pos").entities["members"]
    assert members.null_if_invalid == ["birthday"]
    without = members.model_copy(update={"null_if_invalid": []})
    assert without.fingerprint() != members.fingerprint()  # landed rows change: the files are read again
    assert (
        EntityConfig.model_validate(_members()).fingerprint()
        == EntityConfig.model_validate(_members(null_if_invalid=[])).fingerprint()
    )


def test_a_web_shop_marketing_consent_that_is_no_yes_or_no_is_recorded_and_its_customer_lands(
    config, landing, lake
):
    """accepts_marketing and its time were typed only in silver: `maybe` became an unknown consent
    without a trace. Typed on landing, the bad values are recorded; every spelling of yes/no the
    silver parser reads still lands as the boolean it means."""
    path = exports.ecom_customers(landing)
    first, second = path.read_text().splitlines()
    bad = first.replace('"accepts_marketing": true', '"accepts_marketing": "maybe"').replace(
        '"accepts_marketing_updated_at": "2024-01-02T10:00:00+08:00"',
        '"accepts_marketing_updated_at": "soon"',
    )
    spellings = ["Y", "true", "1", "是", "N", "False", "0", "否"]
    others = [
        first.replace("700000001", f"70000010{i}").replace(
            '"accepts_marketing": true', f'"accepts_marketing": "{v}"'
        )
        for i, v in enumerate(spellings)
    ]
    exports.write_text(path, "\n".join([bad, second, *others]) + "\n")
    load_source(config, "ecom", "b1")
    standardize(config, "b1")

    landed = lake.bronze("ecom", "customers").filter(pl.col("id") == "700000001")
    assert landed.select("accepts_marketing", "accepts_marketing_updated_at").row(0) == (None, None)
    recorded = lake.quarantine("ecom").sort("detail")
    assert recorded.select("entity", "file", "row_number", "reason").unique().rows() == [
        ("customers", "ecom/customers.jsonl", 1, "invalid_value_nulled")
    ]
    assert recorded["detail"].to_list() == [
        f"field 'accepts_marketing': 'maybe' is not a valid boolean (bad_boolean); {NULLED}",
        f"field 'accepts_marketing_updated_at': 'soon' is not a valid timestamp (unparseable_timestamp); {NULLED}",
    ]
    assert lake.manifest().select(COUNTS).row(0) == (10, 10, 0, 0, 2)
    consents = dict(lake.silver("customer_records").select("source_record_id", "consent_email").rows())
    assert consents.pop("700000001") is None
    assert consents == {
        "700000002": False,
        **{f"70000010{i}": i < 4 for i in range(len(spellings))},
    }
    updated = lake.silver("customer_records").filter(pl.col("source_record_id") == "700000100")
    assert updated["consent_updated_at"].to_list() == [datetime(2024, 1, 2, 10, 0)]


def test_a_loyalty_consent_that_is_no_yes_or_no_is_recorded_and_the_member_keeps_the_others(
    config, landing, lake
):
    exports.loyalty(landing)
    with sqlite3.connect(landing / "loyalty" / "loyalty.sqlite") as con:
        con.execute(
            "update members set consent_sms = 'unknown', consent_wechat = 'Y', consent_profiling = 'yes'"
        )
        con.execute(
            "insert into members select 'L00000002', full_name, mobile, email, birth_date, gender, national_id,"
            " tier, enrolled_at, address, city, province, postcode, 'false', 'n', '否', 0, consent_updated_at"
            " from members"
        )
    load_source(config, "loyalty", "b1")
    standardize(config, "b1")

    consents = ["consent_email", "consent_sms", "consent_wechat", "consent_profiling"]
    assert lake.bronze("loyalty", "members").sort("member_id").select("member_id", *consents).rows() == [
        ("L00000001", "1", None, "Y", "yes"),
        ("L00000002", "false", "n", "否", "0"),
    ]
    [recorded] = lake.quarantine("loyalty").rows(named=True)
    assert (recorded["entity"], recorded["row_number"], recorded["reason"]) == (
        "members",
        1,
        "invalid_value_nulled",
    )
    assert (
        recorded["detail"] == f"field 'consent_sms': 'unknown' is not a valid boolean (bad_boolean); {NULLED}"
    )
    silver = lake.silver("customer_records").sort("record_id").select("record_id", *consents).rows()
    assert silver == [
        ("loyalty:L00000001", True, None, True, True),
        ("loyalty:L00000002", False, False, False, False),
    ]


def test_a_web_order_with_an_unreadable_updated_at_is_recorded_and_the_order_lands(config, landing, lake):
    order = exports.ecom_order(5100000001, 700000001, ["created", "shipped"])
    exports.ecom_orders(landing, "2025-03", [{**order, "updated_at": "2025-02-30T25:61:00+08:00"}])
    load_source(config, "ecom", "b1")
    standardize(config, "b1")

    [recorded] = lake.quarantine("ecom").rows(named=True)
    assert (recorded["entity"], recorded["row_number"], recorded["reason"]) == (
        "orders",
        1,
        "invalid_value_nulled",
    )
    assert recorded["detail"].startswith(
        "field 'updated_at': '2025-02-30T25:61:00+08:00' is not a valid timestamp"
    )
    assert lake.silver("orders").select("order_id", "status").rows() == [("ecom:5100000001", "shipped")]


def test_a_gender_outside_the_vocabulary_is_unknown_by_design_and_not_recorded(config, landing, lake):
    """Gender is no typed value but a controlled vocabulary (standardize.gender): a code outside it
    is an unknown gender, U, deliberately; it is no bad input, so nothing goes to quarantine."""
    exports.pos_members(
        landing,
        rows=[
            "8800000001,,王芳,13800138000,女,1985-03-12,,S001,2024-03-01 10:22:05",
            "8800000002,,李娜,13800138001,X,1985-03-12,,S001,2024-03-01 10:22:05",
            "8800000003,,张伟,13800138002,,1985-03-12,,S001,2024-03-01 10:22:05",
        ],
    )
    load_source(config, "pos", "b1")
    standardize(config, "b1")
    genders = lake.silver("customer_records").sort("record_id")["gender"].to_list()
    assert genders == ["F", "U", "U"]
    assert lake.quarantine().is_empty()


def test_every_source_column_silver_types_is_typed_on_landing_with_the_same_type(config):
    """Silver parses a mapped source column with the parser of its silver type; a value it cannot
    parse becomes null there without a record. Typed on landing, the value is checked first: its row
    is rejected or (null_if_invalid) the value is nulled and recorded. So every such column of the
    registry is typed, with the type silver gives it; a JSON path or template cannot be typed on
    landing, so none feeds a typed silver column. (Ingest and standardize refuse a registry that
    breaks this: tests/ingest/test_new_source.py.)"""
    problems = [
        problem
        for source, registry in config.section("sources", SourcesConfig).root.items()
        for name, entity in registry.entities.items()
        for problem in entity_problems(source, name, entity, paths=True)
    ]
    assert problems == []


def test_a_loyalty_member_with_an_unreadable_consent_time_lands_with_their_consents(config, landing, lake):
    """The web shop's consent time is null_if_invalid; the loyalty programme's is too."""
    exports.loyalty(landing)
    with sqlite3.connect(landing / "loyalty" / "loyalty.sqlite") as con:
        con.execute("update members set consent_updated_at = 'last spring'")
    load_source(config, "loyalty", "b1")
    standardize(config, "b1")

    assert lake.quarantine("loyalty").select("entity", "row_number", "reason", "detail").rows() == [
        (
            "members",
            1,
            "invalid_value_nulled",
            f"field 'consent_updated_at': 'last spring' is not a valid timestamp (unparseable_timestamp); {NULLED}",
        )
    ]
    silver = lake.silver("customer_records").select("record_id", "consent_email", "consent_updated_at")
    assert silver.rows() == [("loyalty:L00000001", True, None)]


def test_a_service_ticket_with_an_unreadable_response_time_resolution_time_or_csat_still_counts(
    config, landing, lake
):
    """A ticket lost on landing is lost from the service KPIs and its requester from identity
    resolution: an unreadable optional time or score costs that value only."""
    line = "{id},R{id},王芳,wf@example.com,13800138000,phone,high,confirmed,broken lid,SN1,2025-03-01 09:00:00,{rest}"
    exports.service_tickets(
        landing,
        rows=[
            line.format(id="T1", rest="soon,2025-03-02 09:00:00,2,5"),
            line.format(id="T2", rest="2025-03-01 10:00:00,2025-02-30 25:61:00,2,5"),
            line.format(id="T3", rest="2025-03-01 10:00:00,2999-01-01 00:00:00,2,5"),
            line.format(id="T4", rest="2025-03-01 10:00:00,2025-03-02 09:00:00,2,five"),
            "T5,R5,李娜,ln@example.com,13800138001,chat,low,logged,question,,yesterday,,,1,",  # its own time: rejected
        ],
    )
    load_source(config, "service", "b1")
    standardize(config, "b1")

    recorded = lake.quarantine("service").sort("row_number").select("row_number", "reason", "detail").rows()
    assert [(n, reason) for n, reason, _ in recorded] == [
        (1, "invalid_value_nulled"),
        (2, "invalid_value_nulled"),
        (3, "invalid_value_nulled"),
        (4, "invalid_value_nulled"),
        (5, "unparseable_timestamp"),
    ]
    assert [detail.split(" is ")[0] for _, _, detail in recorded[:4]] == [
        "field 'first_response_at': 'soon'",
        "field 'resolved_at': '2025-02-30 25:61:00'",
        "field 'resolved_at': '2999-01-01 00:00:00'",
        "field 'csat': 'five'",
    ]
    assert "(implausible_timestamp)" in recorded[2][2]
    tickets = lake.silver("tickets").sort("ticket_id")
    assert tickets.select("ticket_id", "first_response_at", "resolved_at", "csat").rows() == [
        ("service:T1", None, datetime(2025, 3, 2, 9), 5),
        ("service:T2", datetime(2025, 3, 1, 10), None, 5),
        ("service:T3", datetime(2025, 3, 1, 10), None, 5),
        ("service:T4", datetime(2025, 3, 1, 10), datetime(2025, 3, 2, 9), None),
    ]
    requesters = lake.silver("customer_records")["record_id"].sort().to_list()
    assert requesters == ["service:RT1", "service:RT2", "service:RT3", "service:RT4"]


def test_a_survey_response_with_an_unreadable_score_keeps_its_respondent(config, landing, lake):
    exports.survey(
        landing,
        responses=[
            ["Q1", "2025-03-03 10:00:00", "王芳", "wf@example.com", "13800138000", "ten", 5, "store", "很好"],
            ["Q2", "2025-03-04 10:00:00", "Li Lei", "ll@example.com", None, 3, "good", "online", "slow"],
        ],
    )
    load_source(config, "survey", "b1")
    standardize(config, "b1")

    details = lake.quarantine("survey").sort("row_number").select("row_number", "reason", "detail").rows()
    assert details == [
        (1, "invalid_value_nulled", f"field 'nps': 'ten' is not a valid integer (bad_number); {NULLED}"),
        (2, "invalid_value_nulled", f"field 'csat': 'good' is not a valid integer (bad_number); {NULLED}"),
    ]
    responses = lake.silver("survey_responses").sort("response_id").select("response_id", "nps", "csat")
    assert responses.rows() == [("survey:Q1", None, 5), ("survey:Q2", 3, None)]
    assert lake.silver("customer_records")["record_id"].sort().to_list() == ["survey:Q1", "survey:Q2"]


def test_a_coupon_with_an_unreadable_redemption_time_is_still_counted_as_issued(config, landing, lake):
    exports.loyalty(landing)
    exports.write_text(
        landing / "loyalty" / "coupons.csv",
        "coupon_id,member_id,campaign,value,issued_at,expires_at,redeemed_at,order_ref\n"
        "C1,L00000001,spring,10.00,2025-03-01 00:00:00,2025-04-01 00:00:00,yesterday,#100123\n"
        "C2,L00000001,spring,10.00,N/A,2025-04-01 00:00:00,,\n",  # its own time: rejected whole
    )
    load_source(config, "loyalty", "b1")
    standardize(config, "b1")

    recorded = (
        lake.quarantine("loyalty").sort("row_number").select("entity", "row_number", "reason", "detail")
    )
    assert recorded.rows() == [
        (
            "coupons",
            1,
            "invalid_value_nulled",
            f"field 'redeemed_at': 'yesterday' is not a valid timestamp (unparseable_timestamp); {NULLED}",
        ),
        ("coupons", 2, "unparseable_timestamp", "field 'issued_at': 'N/A' is not a valid timestamp"),
    ]
    coupons = lake.silver("coupons").select("coupon_id", "redeemed_at", "order_ref").rows()
    assert coupons == [("loyalty:C1", None, "#100123")]


def test_a_ticket_with_an_unreadable_contact_count_lands_with_its_csat(config, landing, lake):
    """`contacts` is an optional measure: a count of "n/a" used to reject the whole ticket (and its
    CSAT, and its requester). It costs the count only, recorded like any nulled value."""
    line = (
        "T1,R1,王芳,wf@example.com,13800138000,phone,high,confirmed,broken lid,SN1,2025-03-01 09:00:00,{rest}"
    )
    exports.service_tickets(landing, rows=[line.format(rest="2025-03-01 10:00:00,2025-03-02 09:00:00,n/a,5")])
    summary = load_source(config, "service", "b1")
    standardize(config, "b1")

    [recorded] = lake.quarantine("service").rows(named=True)
    assert (recorded["file"], recorded["row_number"], recorded["reason"]) == (
        "service/tickets_2025-03.csv",
        1,
        "invalid_value_nulled",
    )
    assert recorded["detail"] == f"field 'contacts': 'n/a' is not a valid integer (bad_number); {NULLED}"
    assert lake.manifest().select(COUNTS).row(0) == (1, 1, 0, 0, 1)
    assert (summary["rows_quarantined"], summary["fields_nulled"]) == (0, 1)
    tickets = lake.silver("tickets").select("ticket_id", "contacts", "csat").rows()
    assert tickets == [("service:T1", None, 5)]
    assert lake.silver("customer_records")["record_id"].to_list() == ["service:R1"]


def test_a_post_with_an_unreadable_like_count_lands_without_it(config, landing, lake):
    """A like count of "1.2k" (as a social tool displays it) used to cost the post; now only the count."""
    exports.social(landing)
    posts = landing / "social" / "posts" / "posts_2025-03.jsonl"
    exports.write_text(posts, posts.read_text().replace('"likes": 3', '"likes": "1.2k"'))
    load_source(config, "social", "b1")
    standardize(config, "b1")

    [recorded] = lake.quarantine("social").rows(named=True)
    assert (recorded["entity"], recorded["file"], recorded["row_number"], recorded["reason"]) == (
        "posts",
        "social/posts/posts_2025-03.jsonl",
        1,
        "invalid_value_nulled",
    )
    assert recorded["detail"] == f"field 'likes': '1.2k' is not a valid integer (bad_number); {NULLED}"
    posts_landed = lake.silver("social_posts").sort("post_id").select("post_id", "text", "likes").rows()
    assert posts_landed == [("social:p1", "好用!", None), ("social:p2", "太慢了", 0)]


def test_a_coupon_with_an_unreadable_expiry_is_rejected_naming_file_row_field_and_value(
    config, landing, lake
):
    """Not null_if_invalid on purpose: coupon_redemption_rates reads a coupon without an expiry as open
    for ever, so a nulled expiry would turn an expired coupon into an open one without a trace."""
    coupons = config.section("sources", SourcesConfig).get("loyalty").entities["coupons"]
    assert "expires_at" not in coupons.null_if_invalid
    exports.loyalty(landing)
    exports.write_text(
        landing / "loyalty" / "coupons.csv",
        "coupon_id,member_id,campaign,value,issued_at,expires_at,redeemed_at,order_ref\n"
        "C1,L00000001,spring,10.00,2025-03-01 00:00:00,2025-04-01 00:00:00,,\n"
        "C2,L00000001,spring,10.00,2025-03-01 00:00:00,next month,,\n",
    )
    load_source(config, "loyalty", "b1")
    standardize(config, "b1")

    [recorded] = lake.quarantine("loyalty").rows(named=True)
    assert (recorded["entity"], recorded["file"], recorded["row_number"], recorded["reason"]) == (
        "coupons",
        "loyalty/coupons.csv",
        2,
        "unparseable_timestamp",
    )
    assert recorded["detail"] == "field 'expires_at': 'next month' is not a valid timestamp"
    assert recorded["raw"] == "C2,L00000001,spring,10.00,2025-03-01 00:00:00,next month,,"
    assert lake.silver("coupons")["coupon_id"].to_list() == ["loyalty:C1"]
