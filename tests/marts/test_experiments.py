"""A/B results on small arms: every interval bound stays within what its quantity can be.

On the tiny lake the win-back audience on 2026-05-01 is C01, C03, C07 and C10; C01 (250) and C10
(300) bought within 30 days. The campaign id decides the arms (MD5 buckets, 50/50):
`winback_3` puts one buyer and one non-buyer in each arm (control C10 + C03, treatment C01 + C07),
so the normal interval of revenue per customer reaches below 0 (150 - 1.96 x 212 / sqrt 2);
`winback_6` puts both buyers in control and none in treatment (a Wilson lower bound of no
converter, which floating point made -4e-17); `spring_winback` (the fixture's) a treatment arm of
one non-buyer against 2 of 3 in control, whose uplift interval reached -1.2. `summer_12` starts
on 2026-07-14, the day before the as-of date this module configures (2026-07-15; a campaign that
has not started by the as-of date assigns no one): no converter yet in a control arm of five (C01,
C03, C07, C10, C11, active or dormant and contactable) and a treatment arm of two, where the Wilson
formula's floating-point dust put the lower bound at +3e-17, above the rate of 0.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import duckdb
import pytest

from tests.marts.conftest import TEST_CAMPAIGN, BuiltMarts
from warehouse import dbt
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

CAMPAIGNS = [
    TEST_CAMPAIGN,
    {**TEST_CAMPAIGN, "id": "winback_3"},
    {**TEST_CAMPAIGN, "id": "winback_6"},
    {"id": "summer_12", "starts_on": "2026-07-14", "audience_states": ["active", "dormant"]},
]
AS_OF = "2026-07-15"  # summer_12 has started, two weeks after the tiny lake's last order


@pytest.fixture(scope="module")
def results(built: BuiltMarts, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    """ab_results rebuilt on a copy of the built tiny lake with the four campaigns, as of 2026-07-15."""
    config: CdpConfig = built.copy_to(tmp_path_factory.mktemp("experiments"))
    raw = copy.deepcopy(config.raw)
    raw["marts"]["experiments"]["campaigns"] = CAMPAIGNS
    raw["marts"]["as_of_date"] = AS_OF
    config = replace(config, raw=raw)
    assert dbt.invoke(config, ["run"], "--select", "+ab_results").success
    with duckdb.connect(str(LakePaths.at(config.data_root).build_duckdb), read_only=True) as con:
        cursor = con.execute("select * from marts.ab_results")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {(row["campaign_id"], row["arm"]): row for row in rows}


def test_the_arms_are_the_ones_the_docstring_describes(results):
    arms = {key: (row["customers"], row["converters"]) for key, row in results.items()}
    assert arms == {
        ("spring_winback", "control"): (3, 2),
        ("spring_winback", "treatment"): (1, 0),
        ("winback_3", "control"): (2, 1),
        ("winback_3", "treatment"): (2, 1),
        ("winback_6", "control"): (2, 2),
        ("winback_6", "treatment"): (2, 0),
        ("summer_12", "control"): (5, 0),
        ("summer_12", "treatment"): (2, 0),
    }


def test_rate_bounds_stay_in_0_1_and_no_converter_has_a_lower_bound_of_exactly_0(results):
    for key, row in results.items():
        assert (
            0
            <= row["conversion_rate_ci_low"]
            <= row["conversion_rate"]
            <= row["conversion_rate_ci_high"]
            <= 1
        ), key
    for no_converter in [
        ("winback_6", "treatment"),
        ("spring_winback", "treatment"),
        ("summer_12", "control"),
    ]:
        assert results[no_converter]["conversion_rate_ci_low"] == 0.0, no_converter
    assert results[("winback_6", "control")]["conversion_rate_ci_high"] == 1.0


def test_revenue_per_customer_bounds_are_never_negative(results):
    for key, row in results.items():
        low, mean, high = (
            row["revenue_per_customer_ci_low"],
            row["revenue_per_customer"],
            row["revenue_per_customer_ci_high"],
        )
        assert 0 <= low <= mean <= high, key
    # one buyer of two: 125 (C01 250, C07 0) and 150 (C10 300, C03 0) a customer, whose normal
    # intervals would start at 125 - 1.96 x 176.8 / sqrt 2 = -120 and 150 - 1.96 x 212.1 / sqrt 2 = -144
    assert results[("winback_3", "treatment")]["revenue_per_customer_ci_low"] == 0.0
    assert results[("winback_3", "control")]["revenue_per_customer_ci_low"] == 0.0
    assert results[("winback_3", "treatment")]["revenue_per_customer_ci_high"] == pytest.approx(
        125 + 1.959964 * (250 / 2**0.5) / 2**0.5, rel=1e-5
    )


def test_uplift_bounds_stay_in_minus_1_1(results):
    for key, row in results.items():
        if row["is_control"]:
            assert row["uplift_vs_control"] is None and row["uplift_ci_low"] is None, key
            continue
        assert -1 <= row["uplift_ci_low"] <= row["uplift_vs_control"] <= row["uplift_ci_high"] <= 1, key
    assert results[("spring_winback", "treatment")]["uplift_ci_low"] == -1.0
