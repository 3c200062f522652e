"""Golden record survivorship: one value per attribute, and the record it came from."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from identity_resolution.golden import golden_records
from identity_resolution.settings import Survivorship


def test_each_attribute_survives_by_its_rule_with_its_source():
    records = pl.DataFrame(
        {
            "record_id": ["pos:1", "ecom:2", "loyalty:3", "survey:4"],
            "source": ["pos", "ecom", "loyalty", "survey"],
            "full_name": ["王芳", "Wang Fang", "王芳", None],
            "email": ["old@qq.com", "new@qq.com", "bad@@qq", "newest@qq.com"],
            "email_valid": [True, True, False, True],
            "date_of_birth": ["1985-03-12", "1985-03-21", "1985-03-12", None],
            "street": ["延安西路", "延安西路 100号 2室", None, "Yan'an Rd"],
            "city": ["上海", "上海", None, None],
            "postcode": [None, "200040", None, None],
            "updated_at": [
                datetime(2025, 1, 1),
                datetime(2025, 6, 1),
                datetime(2026, 1, 1),
                datetime(2024, 1, 1),
            ],
        }
    )
    assignments = pl.DataFrame({"record_id": records["record_id"], "customer_id": ["C1"] * 4})
    golden = golden_records(records, assignments, Survivorship()).row(0, named=True)
    assert (golden["full_name"], golden["full_name_source"]) == (
        "王芳",
        "loyalty:3",
    )  # most frequent, then trust
    assert (golden["email"], golden["email_source"]) == ("new@qq.com", "ecom:2")  # most recent valid
    assert (golden["date_of_birth"], golden["date_of_birth_source"]) == ("1985-03-12", "loyalty:3")  # trusted
    # the most complete address, all parts from the same record
    assert (golden["street"], golden["city"], golden["postcode"]) == ("延安西路 100号 2室", "上海", "200040")
    assert {golden["street_source"], golden["postcode_source"]} == {"ecom:2"}
    assert golden["record_count"] == 4
    assert golden["sources"] == "ecom,loyalty,pos,survey"


def test_configured_rules_override_the_built_in_ones():
    records = pl.DataFrame(
        {"record_id": ["a", "b", "c"], "source": ["pos", "pos", "loyalty"], "gender": ["F", "F", "M"]}
    )
    assignments = pl.DataFrame({"record_id": ["a", "b", "c"], "customer_id": ["C1"] * 3})
    frequent = golden_records(records, assignments, Survivorship())
    trusted = golden_records(records, assignments, Survivorship(rules={"gender": "most_trusted_source"}))
    assert frequent["gender"][0] == "F"
    assert trusted["gender"][0] == "M"


def test_a_customer_of_one_record_keeps_what_its_rules_would_pick():
    # The same record as a customer of its own and as one of two (with a record of nothing but
    # an id): every rule must pick the same values, sources and address from it either way.
    record = {
        "record_id": "pos:1",
        "source": "pos",
        "full_name": "王芳",
        "email": "bad@@qq",
        "email_valid": False,  # most recent *valid*: no golden email at all
        "phone": " ",  # blank is missing
        "date_of_birth": "1985-03-12",
        "street": "",
        "city": "上海",  # the address is complete in one part, the street blank
        "updated_at": datetime(2025, 1, 1),
    }
    bare = {"record_id": "pos:2", "source": "pos", "street": " ", "updated_at": datetime(2024, 1, 1)}
    records = pl.DataFrame([record, bare], infer_schema_length=None)
    alone = golden_records(
        records, pl.DataFrame({"record_id": ["pos:1", "pos:2"], "customer_id": ["C1", "C2"]}), Survivorship()
    )
    together = golden_records(
        records, pl.DataFrame({"record_id": ["pos:1", "pos:2"], "customer_id": ["C1", "C1"]}), Survivorship()
    )
    own, joint = alone.row(0, named=True), together.row(0, named=True)
    assert (own["email"], own["email_source"], own["phone"]) == (None, None, None)
    assert (own["street"], own["street_source"], own["city_source"]) == ("", None, "pos:1")
    assert alone.columns == together.columns and alone.schema == together.schema
    assert {k: v for k, v in own.items() if k not in ("record_count", "sources")} == {
        k: v for k, v in joint.items() if k not in ("record_count", "sources")
    }
    assert (own["record_count"], own["sources"], joint["record_count"]) == (1, "pos", 2)
    assert alone.row(1, named=True)["street"] is None  # no address part present: no address


def test_a_withdrawal_dated_after_a_grant_wins_even_when_the_granting_record_changed_later():
    records = pl.DataFrame(
        {
            "record_id": ["ecom:1", "loyalty:2", "pos:3"],
            "source": ["ecom", "loyalty", "pos"],
            "consent_email": [True, False, None],
            "consent_sms": [True, None, False],
            "consent_updated_at": [datetime(2024, 9, 1), datetime(2024, 9, 2), None],
            "updated_at": [datetime(2025, 9, 2), datetime(2024, 9, 2), datetime(2024, 1, 1)],
        }
    )
    assignments = pl.DataFrame({"record_id": records["record_id"], "customer_id": ["C1"] * 3})
    golden = golden_records(records, assignments, Survivorship()).row(0, named=True)
    assert (golden["consent_email"], golden["consent_email_source"]) == (False, "loyalty:2")
    # the till's refusal is dated by its record (2024-01-01), older than the web shop's grant
    assert (golden["consent_sms"], golden["consent_sms_source"]) == (True, "ecom:1")


def test_text_timestamps_and_validity_flags_from_a_csv_are_read_not_a_crash():
    records = pl.DataFrame(
        {
            "record_id": ["a", "b", "c"],
            "source": ["crm", "web", "web"],
            "email": ["old@qq.com", "new@qq.com", "bad@qq"],
            "email_valid": ["yes", "true", "no"],
            "updated_at": ["2024-03-01", "2025-03-02", "2026-01-01"],
            "created_at": ["not a date", None, "2020-01-01"],
        }
    )
    assignments = pl.DataFrame({"record_id": records["record_id"], "customer_id": ["C1"] * 3})
    golden = golden_records(records, assignments, Survivorship()).row(0, named=True)
    assert (golden["email"], golden["email_source"]) == ("new@qq.com", "b")
