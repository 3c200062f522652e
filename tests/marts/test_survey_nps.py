"""survey_nps: the Net Promoter Score per month and touchpoint, checked against a hand computation.

NPS = share of promoters (9-10) minus share of detractors (0-6), in points; its standard error is
100 x sqrt((p_promoter + p_detractor - (p_promoter - p_detractor)^2) / n). On the tiny lake C01
answered the service survey on 06-23 with a 10 and C12 the online one on 06-29 with a 6. Given
more answers: eight store answers in June from respondents the identity graph does not know yet
(9, 10, 8, 7, 3, 0, an unreadable score nulled on ingest and an 11), C01 answering the service
survey again on 06-25 with a 2 (their latest answer replaces the 10), a store 10 in May, and a store
10 on 07-01, after the as-of date (2026-06-30, the latest order), which is not known yet.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from statistics import NormalDist

import duckdb
import pyarrow as pa
import pytest

from tests.fixtures.tiny_lake import BATCH, survey_responses
from tests.marts.conftest import BuiltMarts
from warehouse import dbt, delta
from warehouse.paths import LakePaths

Z95 = NormalDist().inv_cdf(0.975)  # cdp.yaml marts.surveys.confidence_level: 0.95
NPS = (
    "select month_start, touchpoint, responses, promoters, passives, detractors, duplicate_responses, "
    "unscored_responses, nps, nps_standard_error, nps_ci_low, nps_ci_high "
    "from marts.survey_nps order by month_start, touchpoint"
)


def _answer(response_id: str, record_id: str, at: datetime, nps: int | None, touchpoint: str) -> dict:
    return dict(
        response_id=response_id,
        record_id=record_id,
        submitted_at=at,
        nps=nps,
        csat=None,
        touchpoint=touchpoint,
        comment=None,
    )


def _more_answers() -> list[dict]:
    june = datetime(2026, 6, 12, 10)
    store = [9, 10, 8, 7, 3, 0, None, 11]
    return [
        *(_answer(f"X{n}", f"survey:X{n}", june, nps, "store") for n, nps in enumerate(store, 1)),
        _answer("S102", "survey:S101", datetime(2026, 6, 25, 9), 2, "service"),  # C01 again
        _answer("X10", "survey:X10", datetime(2026, 5, 10, 9), 10, "store"),
        _answer("X11", "survey:X11", datetime(2026, 7, 1, 9), 10, "store"),  # after the as-of date
    ]


def _expected(
    month: str, touchpoint: str, promoters: int, passives: int, detractors: int, dup: int, unscored: int
):
    """A row of survey_nps computed by hand from its counts."""
    n = promoters + passives + detractors
    p, d = promoters / n, detractors / n
    nps = 100 * (p - d)
    se = 100 * math.sqrt((p + d - (p - d) ** 2) / n)
    low, high = max(nps - Z95 * se, -100), min(nps + Z95 * se, 100)
    return (month, touchpoint, n, promoters, passives, detractors, dup, unscored, nps, se, low, high)


def test_nps_per_month_and_touchpoint_matches_the_hand_computation(built: BuiltMarts, tmp_path: Path):
    config = built.copy_to(tmp_path)
    root = config.data_root
    paths = LakePaths.at(root)
    delta.write(
        pa.Table.from_pylist(_more_answers(), schema=survey_responses().schema),
        paths.silver("survey_responses"),
        batch_id=BATCH,
    )

    assert dbt.invoke(config, ["build"], "--select", "stg_silver__survey_responses survey_nps").success
    with duckdb.connect(str(paths.build_duckdb), read_only=True) as con:
        rows = [(str(r[0]), *r[1:]) for r in con.execute(NPS).fetchall()]

    expected = [
        _expected("2026-05-01", "all", 1, 0, 0, 0, 0),
        _expected("2026-05-01", "store", 1, 0, 0, 0, 0),
        # every June answer once: store 2/2/2 (+ the null and the 11 unscored), C01's latest service
        # answer (the 2; their 10 replaced), C12's online 6
        _expected("2026-06-01", "all", 2, 2, 4, 1, 2),
        _expected("2026-06-01", "online", 0, 0, 1, 0, 0),
        _expected("2026-06-01", "service", 0, 0, 1, 1, 0),
        _expected("2026-06-01", "store", 2, 2, 2, 0, 2),
    ]
    assert [row[:8] for row in rows] == [row[:8] for row in expected]
    for row, want in zip(rows, expected, strict=True):
        assert row[8:] == pytest.approx(want[8:], abs=1e-9), row[:2]
    june_all = rows[2]
    assert june_all[8] == pytest.approx(-25.0)  # (2 - 4) / 8 promoters minus detractors
    assert june_all[9] == pytest.approx(100 * math.sqrt(0.6875 / 8))  # (0.25 + 0.5 - 0.25^2) / 8
    june_store = rows[5]
    assert (june_store[8], june_store[9]) == pytest.approx((0.0, 100 / 3))  # sqrt((2/3) / 6) = 1/3


def test_nps_on_the_tiny_lake_as_published(built: BuiltMarts):
    """C01's 10 on the service survey and C12's 6 on the online one: a June NPS of 0 over both."""
    rows = built.by_key(
        "select touchpoint, responses, promoters, detractors, nps, nps_ci_low, nps_ci_high "
        "from survey_nps where month_start = date '2026-06-01'"
    )
    assert rows == {
        "all": (2, 1, 1, 0.0, -100.0, 100.0),  # se = 100 sqrt(1 / 2): the interval is cut at -100..100
        "online": (1, 0, 1, -100.0, -100.0, -100.0),
        "service": (1, 1, 0, 100.0, 100.0, 100.0),
    }
