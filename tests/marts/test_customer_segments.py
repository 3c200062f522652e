"""RFM, lifecycle and tags on the tiny lake, checked against values worked out by hand.

As of 2026-06-30 (the latest order), ten customers have purchases. Scores rank customers from
worst to best; a score is 1 + floor(5 * (rank - 1) / 10), tied customers sharing a rank.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal


def test_rfm_values_scores_and_segments_match_the_hand_computation(built):
    rfm = built.by_key(
        "select customer_id, recency_days, frequency, monetary, recency_score, frequency_score, "
        "monetary_score, rfm_segment from customer_rfm"
    )
    assert rfm == {
        # customer: recency days, purchases, spend, R, F, M, segment
        "C01": (0, 5, Decimal("1500.00"), 5, 5, 5, "champions"),
        "C02": (15, 1, Decimal("120.00"), 3, 1, 2, "about_to_sleep"),
        "C03": (20, 2, Decimal("170.00"), 2, 2, 2, "hibernating"),
        "C04": (60, 2, Decimal("400.00"), 2, 2, 3, "hibernating"),
        "C05": (241, 1, Decimal("60.00"), 1, 1, 1, "hibernating"),
        "C07": (1, 4, Decimal("340.00"), 5, 4, 3, "champions"),
        "C08": (76, 2, Decimal("13000.00"), 1, 2, 5, "hibernating"),
        "C10": (5, 5, Decimal("1420.00"), 4, 5, 4, "loyal_customers"),
        "C11": (12, 2, Decimal("420.00"), 3, 2, 4, "about_to_sleep"),
        "C12": (2, 1, Decimal("60.00"), 4, 1, 1, "promising"),
    }


def test_cancelled_only_and_never_buying_customers_have_no_rfm(built):
    customers = {row[0] for row in built.rows("select customer_id from customer_rfm")}
    assert {"C06", "C09"}.isdisjoint(customers)


def test_current_lifecycle_state_and_since_when(built):
    lifecycle = built.by_key("select customer_id, lifecycle_state, state_since from customer_lifecycle")
    assert lifecycle == {
        "C01": ("active", date(2026, 6, 20)),  # dormant for a day after 05-20 + 30
        "C02": ("new", date(2026, 6, 15)),
        "C03": ("active", date(2026, 6, 10)),  # came back from churned
        "C04": ("dormant", date(2026, 5, 31)),  # 05-01 + 30
        "C05": ("churned", date(2026, 4, 30)),  # 2025-11-01 + 180
        "C06": ("potential", date(2026, 3, 1)),  # member since, never bought
        "C07": ("active", date(2026, 6, 25)),
        "C08": ("dormant", date(2026, 5, 15)),
        "C09": ("potential", date(2026, 5, 20)),  # a cancelled order is no purchase
        "C10": ("active", date(2026, 5, 10)),
        "C11": ("active", date(2026, 6, 18)),
        "C12": ("new", date(2026, 6, 28)),
    }


def test_lifecycle_history_records_every_transition(built):
    history = built.rows(
        "select lifecycle_state, previous_state, valid_from, valid_to from customer_lifecycle_history "
        "where customer_id = 'C03' order by valid_from"
    )
    assert history == [
        ("potential", None, date(2025, 11, 20), date(2025, 12, 1)),
        ("new", "potential", date(2025, 12, 1), date(2025, 12, 31)),
        ("dormant", "new", date(2025, 12, 31), date(2026, 5, 30)),
        ("churned", "dormant", date(2026, 5, 30), date(2026, 6, 10)),
        ("active", "churned", date(2026, 6, 10), None),
    ]


def test_tags_follow_the_configured_rules(built):
    tags = {
        (c, t) for c, t in built.rows("select customer_id, tag from customer_tags where tag <> 'churn_risk'")
    }
    assert tags == {
        ("C01", "high_value"),
        ("C08", "high_value"),
        ("C04", "dormant"),
        ("C08", "dormant"),
        ("C08", "high_value_but_dormant"),
        ("C07", "frequent"),  # 06-25, 06-27, 06-29: three in a week
        ("C10", "high_potential"),  # 400 a basket lately, up from 110
    }


def test_every_tag_says_why(built):
    reasons = dict(built.rows("select tag, reason from customer_tags where customer_id = 'C10'"))
    assert reasons["high_potential"] == "3 purchases in 90 days at an average of 400.0, up from 110.0"
