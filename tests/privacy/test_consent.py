"""Consent per purpose: the latest statement across a customer's records wins; none is not consent."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from privacy.consent import activation_violations, effective_consent
from privacy.settings import ConsentSettings

SETTINGS = ConsentSettings()


def records() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "record_id": ["loyalty:1", "ecom:1", "pos:1", "ecom:2"],
            "consent_email": [True, False, None, None],
            "consent_sms": [True, None, None, None],
            "consent_wechat": [None, None, None, None],
            "consent_profiling": [None, True, None, None],
            "consent_updated_at": [datetime(2025, 1, 1), None, None, None],
            "updated_at": [None, datetime(2025, 6, 1), datetime(2026, 1, 1), None],
            "created_at": [None, None, None, datetime(2025, 1, 1)],
        }
    )


def links() -> pl.LazyFrame:
    return pl.LazyFrame(
        {"record_id": ["loyalty:1", "ecom:1", "pos:1", "ecom:2"], "customer_id": ["C1", "C1", "C1", "C2"]}
    )


def test_the_latest_statement_wins_per_purpose_and_unknown_stays_unknown():
    consent = effective_consent(records(), links(), SETTINGS).sort("customer_id")
    c1, c2 = consent.rows(named=True)
    # the web shop said no to email in June, after the loyalty programme's yes in January
    assert (c1["marketing_email"], c1["marketing_email_record"]) == (False, "ecom:1")
    assert (c1["marketing_sms"], c1["marketing_sms_at"]) == (True, datetime(2025, 1, 1))
    assert c1["marketing_wechat"] is None  # nobody asked: not consent
    assert c1["profiling"] is True
    assert all(c2[p] is None for p in SETTINGS.purposes)


def test_activation_rows_without_consent_for_their_channel_are_violations():
    consent = effective_consent(records(), links(), SETTINGS)
    activation = pl.DataFrame(
        {"customer_id": ["C1", "C1", "C2", "C1"], "contact_channel": ["sms", "email", "email", "fax"]}
    )
    violations = activation_violations(activation, consent, SETTINGS)
    assert violations.select("customer_id", "contact_channel").rows() == [
        ("C1", "email"),  # withdrawn
        ("C2", "email"),  # never given
        ("C1", "fax"),  # no purpose covers it
    ]


def test_the_published_activation_list_contacts_no_one_without_consent(published_lake):
    from privacy.consent import published_activation_violations
    from warehouse.paths import LakePaths

    assert pl.read_parquet(LakePaths.at(published_lake.root).mart("activation_lists")).height > 0
    assert published_activation_violations(published_lake.config).is_empty()
