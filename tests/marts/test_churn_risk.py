"""One-time buyers reach the high churn-risk band when their purchase is long ago, recent ones do not.

BG/NBD's P(alive) is 1 for every customer without a repeat purchase, so a churn score built on it
alone could never call a one-time buyer high risk. On the tiny lake (as of 2026-06-30): C05 bought
once on 2025-11-01 (241 days ago), C02 once on 06-15 (15 days) and C12 once on 06-28 (2 days).
Seven customers bought on two days or more; their usual gaps are 29.7, 42.8, 42.8, 59, 61, 73 and
191 days (median 59).

With the repository's settings seven repeat buyers are fewer than
`churn_risk.one_time_buyers.min_repeat_buyers` (30), so a one-time buyer's score is the overdue part
alone; with the minimum at 5, their P(alive) is the share of the seven whose gap is at least the days
since the purchase.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from tests.marts.conftest import BuiltMarts
from warehouse import dbt
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

CHURN = (
    "select customer_id, churn_probability_alive, churn_probability_alive_basis, churn_risk_score, "
    "churn_risk_band, churn_risk_reason from customer_clv where customer_id in ('C02', 'C05', 'C12')"
)
# the as-of date and the models that follow it, down to the churn score (the CLV fit is not rebuilt)
CHURN_MODELS = (
    "int_calendar__as_of int_orders__purchases int_customers__purchase_summary"
    " int_customers__repeat_gap_survival customer_clv"
)


def _with(config: CdpConfig, *, min_repeat_buyers: int, as_of_date: str | None = None) -> CdpConfig:
    raw = copy.deepcopy(config.raw)
    raw["marts"]["churn_risk"]["one_time_buyers"] = {"min_repeat_buyers": min_repeat_buyers}
    if as_of_date:
        raw["marts"]["as_of_date"] = as_of_date
    return replace(config, raw=raw)


def _churn(config: CdpConfig) -> dict[str, tuple]:
    with duckdb.connect(str(LakePaths.at(config.data_root).build_duckdb), read_only=True) as con:
        rows = con.execute(CHURN.replace("from customer_clv", "from marts.customer_clv")).fetchall()
    return {row[0]: row[1:] for row in rows}


@pytest.fixture
def lake(built: BuiltMarts, tmp_path: Path) -> CdpConfig:
    """A copy of the built tiny lake (build database included) to rebuild the churn score on."""
    return built.copy_to(tmp_path)


def test_a_one_time_buyer_long_ago_is_high_risk_and_a_recent_one_is_not(built):
    bands = built.by_key(
        "select customer_id, churn_risk_score, churn_risk_band, churn_risk_reason from customer_clv"
    )
    # too few repeat buyers to compare with: the overdue part alone, 4.1 usual gaps ago -> 1.0
    assert bands["C05"][:2] == (1.0, "high")
    assert bands["C05"][2].startswith("P(alive) n/a (one-time buyer; fewer than 30 repeat buyers")
    for recent in ("C02", "C12"):
        assert bands[recent][:2] == (0.0, "low")
    assert {customer: row[:2] for customer, row in built.by_key(CHURN).items()} == dict.fromkeys(
        ("C02", "C05", "C12"), (None, None)
    )


def test_a_one_time_buyers_p_alive_is_the_share_of_repeat_buyers_with_a_gap_that_long(lake):
    compared = _with(lake, min_repeat_buyers=5)
    assert dbt.invoke(compared, ["run"], "--select", CHURN_MODELS).success
    churn = _churn(compared)
    # 241 days: longer than every repeat buyer's gap -> P(alive) 0, 0.6 x 1 + 0.4 x 1
    assert churn["C05"][:4] == (0.0, "repeat_gap_survival", 1.0, "high")
    assert churn["C05"][4].startswith(
        "P(alive) 0.0 (one-time buyer: share of 7 repeat buyers with a usual gap"
    )
    # 15 and 2 days: shorter than every gap -> P(alive) 1, not overdue
    for recent in ("C02", "C12"):
        assert churn[recent][:4] == (1.0, "repeat_gap_survival", 0.0, "low")


def test_the_share_moves_with_the_as_of_date(lake):
    """Two months on (2026-09-01, no new purchases): C02 bought 78 days ago, a gap only C03's 191
    reaches (1/7), C12 65 days ago (73 and 191: 2/7)."""
    later = _with(lake, min_repeat_buyers=5, as_of_date="2026-09-01")
    assert dbt.invoke(later, ["run"], "--select", CHURN_MODELS).success
    churn = _churn(later)
    assert churn["C02"][:2] == (pytest.approx(1 / 7), "repeat_gap_survival")
    assert churn["C12"][:2] == (pytest.approx(2 / 7), "repeat_gap_survival")
    # C02: 0.6 x 6/7 + 0.4 x (78/59 - 1) / 2 = 0.5143 + 0.0644 -> medium
    assert churn["C02"][2:4] == (pytest.approx(0.5787, abs=1e-4), "medium")
