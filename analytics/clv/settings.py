"""The `clv:` section of `cdp.yaml`: defaults for fitting and predicting customer lifetime value."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warehouse.config import CdpConfig

TimeUnit = Literal["week", "day"]

# Length of one model time unit in days; recency and tenure are fractional counts of these.
DAYS_PER_UNIT: dict[str, int] = {"week": 7, "day": 1}


class FitSettings(BaseModel):
    """How the maximum-likelihood search runs (shared by BG/NBD and Gamma-Gamma)."""

    model_config = ConfigDict(extra="forbid")

    penalizer: float = Field(0.0, ge=0.0)
    max_iterations: int = Field(1000, gt=0)
    tolerance: float = Field(1e-12, gt=0.0)
    gradient_tolerance: float = Field(1e-9, gt=0.0)


class PredictSettings(BaseModel):
    """Horizon and discounting of the predicted purchases and value."""

    model_config = ConfigDict(extra="forbid")

    horizon_months: int = Field(12, gt=0)
    monthly_discount_rate: float = Field(0.0, ge=0.0)
    days_per_month: float = Field(365.25 / 12, gt=0.0)


class RefitSettings(BaseModel):
    """When the marts' daily build fits the models again instead of reusing the last fit.

    The parameters describe the whole customer base and move little from one day's purchases, so
    refitting every day costs time for nothing; predictions are still computed every run, for
    every customer, as of that run's date.
    """

    model_config = ConfigDict(extra="forbid")

    max_purchase_change: float = Field(0.05, ge=0.0)
    max_age_days: int = Field(7, ge=0)


class ClvSettings(BaseModel):
    """Validated `clv:` section; every key optional (see cdp.yaml for what each one means)."""

    model_config = ConfigDict(extra="forbid")

    time_unit: TimeUnit = "week"
    fit: FitSettings = Field(default_factory=FitSettings)
    predict: PredictSettings = Field(default_factory=PredictSettings)
    refit: RefitSettings = Field(default_factory=RefitSettings)


def load_settings(config: CdpConfig) -> ClvSettings:
    return config.section("clv", ClvSettings)
