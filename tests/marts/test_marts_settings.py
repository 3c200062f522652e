"""The `marts:` section: documented defaults, and mistakes reported with the file and section."""

from __future__ import annotations

import pytest

from warehouse.config import CdpConfig, ConfigError
from warehouse.marts_settings import dbt_vars, load_settings


def test_repository_defaults_match_the_issue(config):
    settings = load_settings(config)
    assert (settings.lifecycle.dormant_days, settings.lifecycle.churn_days) == (30, 180)
    assert (settings.service.first_response_promise_hours, settings.service.resolution_promise_hours) == (
        24,
        48,
    )
    assert settings.tags.frequent.min_purchases == 3 and settings.tags.frequent.window_days == 7
    assert [s.name for s in settings.rfm.segments][:2] == ["champions", "loyal_customers"]


def test_dbt_vars_carry_every_rule_and_the_confidence_z(config):
    variables = dbt_vars(config)
    assert variables["cdp"]["lifecycle"]["dormant_days"] == 30
    assert variables["cdp"]["churn_risk"]["one_time_buyers"] == {"min_repeat_buyers": 30}
    assert variables["cdp"]["experiments"]["z"] == pytest.approx(1.959964, abs=1e-6)
    assert variables["cdp"]["surveys"]["z"] == pytest.approx(1.959964, abs=1e-6)  # survey_nps interval
    assert "engine" not in variables["cdp"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"lifecycle": {"dormant_days": 200, "churn_days": 180}}, "churn_days must be greater"),
        (
            {"churn_risk": {"weight_probability_alive": 0.9, "weight_overdue": 0.4}},
            "weights must add up to 1",
        ),
        (
            {"experiments": {"campaigns": [{"id": "x", "starts_on": "2026-01-01", "control_arm": "base"}]}},
            "control_arm 'base' is not one of",
        ),
        ({"activation": {"cross_sell": {"level": "brand"}}}, "category"),
    ],
)
def test_invalid_rules_name_the_section(section, message):
    config = CdpConfig(path=None, raw={"marts": section})
    with pytest.raises(ConfigError, match=rf"invalid section 'marts'(.|\n)*{message}"):
        load_settings(config)
