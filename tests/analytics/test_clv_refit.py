"""When the daily build fits CLV again (`refit_reason`) and how a fit is stored and read back."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from analytics.clv import (
    BgNbdParams,
    ClvParams,
    ClvSettings,
    FitRecord,
    GammaGammaParams,
    fit_record,
    fit_settings_key,
    refit_reason,
)

SETTINGS = ClvSettings()  # refit: max_purchase_change 5%, max_age_days 7
PARAMS = ClvParams(BgNbdParams(0.24, 4.4, 0.79, 2.4), GammaGammaParams(6.25, 3.74, 15.44), 1000, "week")
FIT = FitRecord(date(2026, 10, 31), 10_000, fit_settings_key(SETTINGS), PARAMS, "fitted {}", "no earlier fit")


def _reason(last: FitRecord | None, as_of: date = date(2026, 11, 1), purchases: int = 10_050, **refit):
    settings = SETTINGS.model_copy(update={"refit": SETTINGS.refit.model_copy(update=refit)})
    return refit_reason(last, as_of=as_of, purchases=purchases, settings=settings)


def test_a_day_later_with_a_few_more_purchases_reuses_the_fit():
    assert _reason(FIT) is None


def test_no_earlier_fit_or_a_failed_one_fits():
    assert _reason(None) == "no earlier fit"
    failed = FitRecord(
        FIT.as_of_date, FIT.purchases, FIT.fit_settings, None, "not fitted: x", "no earlier fit"
    )
    assert _reason(failed) == "the last fit failed"


@pytest.mark.parametrize("purchases", [10_501, 9_499])
def test_purchases_changed_by_more_than_the_share_fit(purchases):
    assert _reason(FIT, purchases=purchases).startswith("purchases 10,000 -> ")


def test_exactly_the_share_still_reuses():
    assert _reason(FIT, purchases=10_500) is None


def test_an_old_fit_or_max_age_zero_fits():
    assert _reason(FIT, as_of=date(2026, 11, 7)).startswith("last fit 7 day(s) old")
    assert _reason(FIT, max_age_days=0).startswith("last fit 1 day(s) old")


def test_other_fit_settings_fit_but_other_predict_settings_do_not():
    assert refit_reason(
        FIT, as_of=date(2026, 11, 1), purchases=10_000, settings=ClvSettings(time_unit="day")
    ) == ("the fit settings changed")
    horizon = ClvSettings.model_validate({"predict": {"horizon_months": 6}})
    assert refit_reason(FIT, as_of=date(2026, 11, 1), purchases=10_000, settings=horizon) is None


def test_a_record_round_trips_through_its_stored_row():
    frame = FIT.to_frame()
    assert frame.height == 1
    assert FitRecord.from_row(frame.row(0, named=True)) == FIT


def test_a_fit_the_data_cannot_identify_is_recorded_not_raised():
    nobody_repeats = pl.DataFrame(
        {"frequency": [0, 0], "recency": [0.0, 0.0], "tenure": [5.0, 3.0], "monetary_value": [0.0, 0.0]}
    )
    record = fit_record(nobody_repeats, as_of=date(2026, 11, 1), purchases=2, settings=SETTINGS, reason="r")
    assert record.params is None
    assert record.status.startswith("not fitted: ")
    assert FitRecord.from_row(record.to_frame().row(0, named=True)) == record
