"""Reusing the last fit: when the marts' daily build needs new BG/NBD + Gamma-Gamma parameters.

The parameters describe the whole customer base; one day adds ~0.5% purchases and moves them
by less than their sampling error, yet a fit at 1M customers is the costliest step of the daily
CLV model. So the build keeps a record of each fit (`FitRecord`: the as-of date and purchases it
was fitted on, the fit settings, the parameters) and fits again only when `refit_reason` says so:
no usable earlier fit, other fit settings, the purchases changed by more than
`clv.refit.max_purchase_change` of those it was fitted on, or `clv.refit.max_age_days` passed.
Predictions are still computed every run for every customer, as of that run's date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from analytics.clv.errors import ClvError
from analytics.clv.params import ClvParams
from analytics.clv.settings import ClvSettings
from analytics.clv.workflow import fit_clv

# One row per fit, as the marts store it (dbt model int_customers__clv_fit).
FIT_SCHEMA: dict[str, Any] = {
    "as_of_date": pl.Date,
    "purchases": pl.Int64,
    "fit_settings": pl.String,
    "parameters": pl.String,
    "clv_model_status": pl.String,
    "refit_reason": pl.String,
}


def fit_settings_key(settings: ClvSettings) -> str:
    """The settings a fit depends on (time unit and optimizer), as one comparable string."""
    return json.dumps({"time_unit": settings.time_unit, "fit": settings.fit.model_dump()}, sort_keys=True)


@dataclass(frozen=True)
class FitRecord:
    """One fit: on the purchases up to `as_of_date` (`purchases` of them), with `fit_settings`.

    `params` is None when the data could not identify the models; `status` then says why.
    """

    as_of_date: date
    purchases: int
    fit_settings: str
    params: ClvParams | None
    status: str
    refit_reason: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FitRecord:
        """A stored row (FIT_SCHEMA columns) back as a record."""
        parameters = row.get("parameters")
        return cls(
            as_of_date=row["as_of_date"],
            purchases=int(row["purchases"]),
            fit_settings=row["fit_settings"],
            params=ClvParams.from_dict(json.loads(parameters)) if parameters else None,
            status=row["clv_model_status"],
            refit_reason=row["refit_reason"],
        )

    def to_frame(self) -> pl.DataFrame:
        """The record as the one-row frame the marts store."""
        parameters = json.dumps(self.params.to_dict(), sort_keys=True) if self.params else None
        return pl.DataFrame(
            [
                {
                    "as_of_date": self.as_of_date,
                    "purchases": self.purchases,
                    "fit_settings": self.fit_settings,
                    "parameters": parameters,
                    "clv_model_status": self.status,
                    "refit_reason": self.refit_reason,
                }
            ],
            schema=FIT_SCHEMA,
        )


def refit_reason(last: FitRecord | None, *, as_of: date, purchases: int, settings: ClvSettings) -> str | None:
    """Why the models must be fitted again on `purchases` as of `as_of`, or None to reuse `last`."""
    if last is None:
        return "no earlier fit"
    if last.params is None:
        return "the last fit failed"
    if last.fit_settings != fit_settings_key(settings):
        return "the fit settings changed"
    days = abs((as_of - last.as_of_date).days)
    if days >= settings.refit.max_age_days:
        return f"last fit {days} day(s) old (max_age_days {settings.refit.max_age_days})"
    change = abs(purchases - last.purchases)
    if change > settings.refit.max_purchase_change * last.purchases:
        return (
            f"purchases {last.purchases:,} -> {purchases:,} "
            f"(max_purchase_change {settings.refit.max_purchase_change:.0%})"
        )
    return None


def fit_record(
    summary: pl.DataFrame, *, as_of: date, purchases: int, settings: ClvSettings, reason: str
) -> FitRecord:
    """Fit both models on `summary`; a fit the data cannot identify is recorded, not raised, so
    the marts still build (with null predictions and the reason in the status)."""
    try:
        params: ClvParams | None = fit_clv(summary, settings.time_unit, settings.fit)
        status = "fitted " + json.dumps(params.to_dict(), sort_keys=True)  # type: ignore[union-attr]
    except ClvError as exc:
        params, status = None, f"not fitted: {exc}"
    return FitRecord(as_of, purchases, fit_settings_key(settings), params, status, reason)
