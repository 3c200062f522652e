"""A source's freshness SLA must allow for how often it delivers (`schedule`).

The shipped survey source delivers one workbook per quarterly wave but was declared weekly with a
192/384 h SLA: in daily operation it would have warned from the 9th day after each wave and
stopped every publish from the 17th. Such a mismatch is now refused when the registry is read.
"""

from __future__ import annotations

import pytest

from ingest.config import SCHEDULE_HOURS, sources_config
from tests.ingest.conftest import tuned
from warehouse.config import ConfigError

ENTITY = {"responses": {"path": "survey/*.xlsx", "format": "xlsx", "sheet": "responses"}}


def _source(**settings: object) -> dict:
    return {"entities": ENTITY, **settings}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"schedule": "quarterly", "freshness": {"warn_hours": 192, "fail_hours": 384}},
            "warn_hours 192 is shorter",
        ),
        ({"schedule": "weekly"}, "schedule weekly needs its own freshness"),
        ({"freshness": {"warn_hours": 48, "fail_hours": 30}}, "fail_hours 30 is below warn_hours 48"),
    ],
)
def test_a_freshness_sla_shorter_than_the_delivery_schedule_is_refused(config, settings, message):
    with pytest.raises(ConfigError, match=message):
        sources_config(tuned(config, "sources", x=_source(**settings)))


def test_a_freshness_sla_that_allows_for_the_schedule_is_accepted(config):
    sources = sources_config(
        tuned(
            config,
            "sources",
            x=_source(schedule="quarterly", freshness={"warn_hours": 2400, "fail_hours": 2760}),
        )
    )
    assert sources.get("x").freshness.warn_hours == 2400


def test_every_shipped_source_s_sla_allows_for_its_schedule(config):
    for name in (sources := sources_config(config)).names():
        source = sources.get(name)
        assert source.freshness.warn_hours >= SCHEDULE_HOURS[source.schedule], name
    assert sources.get("survey").schedule == "quarterly"  # one workbook per wave (datagen/keys.py)
