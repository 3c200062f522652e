"""The daily build reuses the last CLV fit; a big change, an old fit or `--full-refresh` fits again.

Given the tiny lake built once (one fit, as of its latest order date 2026-06-30), the CLV models
are built again on a copy: on the same purchases the fit is reused and the predictions are those
of the first build; with the as-of date moved back three days (a seventh of the purchases gone,
more than `clv.refit.max_purchase_change`) or ten days on (past `max_age_days`) the models are
fitted again; `--full-refresh` always fits.
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

CLV_MODELS = (
    "int_calendar__as_of int_orders__purchases int_customers__clv_summary int_customers__clv_fit"
    " int_customers__clv_predicted"
)
PREDICTED = "select * from intermediate.int_customers__clv_predicted order by customer_id"


@pytest.fixture
def lake(built: BuiltMarts, tmp_path: Path) -> CdpConfig:
    """A copy of the built tiny lake (build database included) to build the CLV models on again."""
    return built.copy_to(tmp_path)


def _as_of(config: CdpConfig, as_of_date: str) -> CdpConfig:
    raw = copy.deepcopy(config.raw)
    raw["marts"]["as_of_date"] = as_of_date
    return replace(config, raw=raw)


def _rows(config: CdpConfig, sql: str) -> list[tuple]:
    with duckdb.connect(str(LakePaths.at(config.data_root).build_duckdb), read_only=True) as con:
        return con.execute(sql).fetchall()


def _fits(config: CdpConfig) -> list[tuple]:
    """(as_of_date, purchases, refit_reason) of every fit, oldest first."""
    return _rows(
        config,
        "select as_of_date, purchases, refit_reason from intermediate.int_customers__clv_fit order by _fitted_at",
    )


def test_a_daily_build_reuses_the_fit(lake):
    before = _rows(lake, PREDICTED)
    [(as_of, purchases, reason)] = _fits(lake)
    assert (str(as_of), reason) == ("2026-06-30", "no earlier fit")

    assert dbt.invoke(lake, ["build"], "--select", CLV_MODELS).success
    assert _fits(lake) == [(as_of, purchases, reason)]
    assert _rows(lake, PREDICTED) == before


def test_a_big_change_in_purchases_refits(lake):
    earlier = _as_of(lake, "2026-06-27")
    assert dbt.invoke(earlier, ["run"], "--select", CLV_MODELS).success
    fits = _fits(earlier)
    assert len(fits) == 2
    assert fits[1][1] < fits[0][1] * 0.95
    assert fits[1][2].startswith("purchases ")
    used = _rows(earlier, "select distinct clv_model_status from intermediate.int_customers__clv_predicted")
    latest = _rows(
        earlier,
        "select clv_model_status from intermediate.int_customers__clv_fit order by _fitted_at desc limit 1",
    )
    assert used == latest


def test_an_old_fit_is_refit(lake):
    later = _as_of(lake, "2026-07-10")
    assert dbt.invoke(later, ["run"], "--select", CLV_MODELS).success
    fits = _fits(later)
    assert [str(f[0]) for f in fits] == ["2026-06-30", "2026-07-10"]
    assert fits[1][1] == fits[0][1]  # the same purchases, but ten days on
    assert fits[1][2].startswith("last fit 10 day(s) old")


def test_full_refresh_refits(lake):
    first = _rows(lake, "select _fitted_at from intermediate.int_customers__clv_fit")
    assert dbt.invoke(lake, ["build"], "--select", CLV_MODELS, "--full-refresh").success
    refitted = _rows(lake, "select _fitted_at, refit_reason from intermediate.int_customers__clv_fit")
    assert len(refitted) == 1
    assert refitted[0][0] > first[0][0]
    assert refitted[0][1] == "no earlier fit"
