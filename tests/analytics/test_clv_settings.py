"""The `clv:` section of cdp.yaml: documented defaults, validated, and used by the commands."""

from __future__ import annotations

import pytest

from analytics.clv import ClvSettings, load_settings
from warehouse.config import CdpConfig, ConfigError


def test_the_repository_config_spells_out_the_defaults(config):
    assert load_settings(config) == ClvSettings()
    assert config.section("clv"), "cdp.yaml should document the clv section"


def test_an_empty_section_takes_the_defaults():
    settings = load_settings(CdpConfig(path=None, raw={}))
    assert (settings.time_unit, settings.predict.horizon_months, settings.fit.penalizer) == ("week", 12, 0.0)


@pytest.mark.parametrize(
    "section",
    [{"time_unit": "month"}, {"fit": {"penalizer": -1}}, {"predict": {"horizon_months": 0}}, {"typo": 1}],
)
def test_bad_values_name_the_section(section):
    with pytest.raises(ConfigError, match="invalid section 'clv'"):
        load_settings(CdpConfig(path=None, raw={"clv": section}))
