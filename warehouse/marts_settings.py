"""The `marts:` section of cdp.yaml: the business rules behind the dbt marts, validated in one place.

Marketing and service change these numbers (dormant after 30 days, the 24 h promise, what counts as
high value) more often than anyone changes SQL, so the dbt project takes every one of them as a
dbt var built here (`dbt_vars`) and hard-codes none. Defaults mirror the documented cdp.yaml.
"""

from __future__ import annotations

from datetime import date
from statistics import NormalDist
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from warehouse.config import CdpConfig

SECTION = "marts"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LifecycleSettings(_Section):
    """potential -> new -> active -> dormant -> churned, by days since the first/last purchase."""

    new_days: int = Field(30, gt=0)
    dormant_days: int = Field(30, gt=0)
    churn_days: int = Field(180, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if self.churn_days <= self.dormant_days:
            raise ValueError("lifecycle.churn_days must be greater than lifecycle.dormant_days")
        return self


class ScoreRange(_Section):
    """An inclusive range of 1-5 quintile scores."""

    min: int = Field(1, ge=1, le=5)
    max: int = Field(5, ge=1, le=5)


class RfmSegment(_Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    recency: ScoreRange = Field(default_factory=ScoreRange)
    frequency: ScoreRange = Field(default_factory=ScoreRange)


def _default_segments() -> list[RfmSegment]:
    """The classic recency x frequency grid; first match wins."""
    grid = [
        ("champions", (5, 5), (4, 5)),
        ("loyal_customers", (3, 4), (4, 5)),
        ("cannot_lose_them", (1, 2), (5, 5)),
        ("at_risk", (1, 2), (3, 4)),
        ("hibernating", (1, 2), (1, 2)),
        ("need_attention", (3, 3), (3, 3)),
        ("about_to_sleep", (3, 3), (1, 2)),
        ("potential_loyalists", (4, 5), (2, 3)),
        ("promising", (4, 4), (1, 1)),
        ("new_customers", (5, 5), (1, 1)),
    ]
    return [
        RfmSegment(
            name=name, recency=ScoreRange(min=r[0], max=r[1]), frequency=ScoreRange(min=f[0], max=f[1])
        )
        for name, r, f in grid
    ]


class RfmSettings(_Section):
    segments: list[RfmSegment] = Field(default_factory=_default_segments, min_length=1)
    default_segment: str = "others"


class HighValueRule(_Section):
    min_monetary_score: int = Field(5, ge=1, le=5)


class HighPotentialRule(_Section):
    window_days: int = Field(90, gt=0)
    min_window_purchases: int = Field(2, gt=0)
    min_order_value_growth: float = Field(0.5, ge=0)


class FrequentRule(_Section):
    window_days: int = Field(7, gt=0)
    min_purchases: int = Field(3, gt=0)


class ChurnRiskRule(_Section):
    min_band: Literal["medium", "high"] = "high"


class TagSettings(_Section):
    high_value: HighValueRule = Field(default_factory=HighValueRule)
    high_potential: HighPotentialRule = Field(default_factory=HighPotentialRule)
    frequent: FrequentRule = Field(default_factory=FrequentRule)
    churn_risk: ChurnRiskRule = Field(default_factory=ChurnRiskRule)


class OneTimeBuyerRule(_Section):
    """P(alive) for the churn score of customers with a single purchase day.

    BG/NBD lets a customer drop out only right after a repeat purchase, so its P(alive) is 1 for
    every one-time buyer however long ago they bought: most retail customers could never reach a
    high churn risk. For them the score uses instead the share of repeat buyers whose usual gap
    is at least the days since the purchase (`int_customers__repeat_gap_survival`), once there are
    `min_repeat_buyers` repeat buyers to compare with; with fewer, the overdue part alone.
    """

    min_repeat_buyers: int = Field(30, gt=0)


class ChurnRiskSettings(_Section):
    """score = w_alive * (1 - P(alive)) + w_overdue * min(1, (gap / usual gap - 1) / (overdue_cap - 1)).

    P(alive) is BG/NBD's for repeat buyers and the repeat-gap survival for one-time buyers
    (`one_time_buyers`); without either, the score is the overdue part alone.
    """

    weight_probability_alive: float = Field(0.6, ge=0)
    weight_overdue: float = Field(0.4, ge=0)
    overdue_cap: float = Field(3.0, gt=1)
    medium_from: float = Field(0.4, ge=0, le=1)
    high_from: float = Field(0.7, ge=0, le=1)
    one_time_buyers: OneTimeBuyerRule = Field(default_factory=OneTimeBuyerRule)

    @model_validator(mode="after")
    def _weights(self) -> ChurnRiskSettings:
        if abs(self.weight_probability_alive + self.weight_overdue - 1.0) > 1e-9:
            raise ValueError("churn_risk weights must add up to 1")
        if self.medium_from > self.high_from:
            raise ValueError("churn_risk.medium_from must not exceed churn_risk.high_from")
        return self


class ServiceSettings(_Section):
    first_response_promise_hours: float = Field(24, gt=0)
    resolution_promise_hours: float = Field(48, gt=0)
    satisfied_csat_from: int = Field(4, ge=1, le=5)


class SurveySettings(_Section):
    """NPS from survey answers: the level of the NPS confidence interval (`survey_nps`)."""

    confidence_level: float = Field(0.95, gt=0.5, lt=1)


class LoyaltySettings(_Section):
    points_per_yuan: float = Field(100, gt=0)


class CrossSellSettings(_Section):
    level: Literal["category", "sku"] = "category"
    min_support: float = Field(0.01, ge=0, le=1)
    min_confidence: float = Field(0.2, ge=0, le=1)
    min_lift: float = Field(1.2, ge=0)
    min_orders: int = Field(2, ge=1)
    # A daily run keeps the rules until the purchase lines grew by this share since their last
    # build (0: rebuilt every run); a full refresh or a changed setting always rebuilds them.
    rebuild_min_growth: float = Field(0.05, ge=0)


# The completeness bar is one setting, `quality.completeness.threshold` (issue 6): the quality gate
# lists records below it for repair and activation lists leave those customers out. `dbt_vars`
# passes it to the marts as `activation.min_completeness`; quality.settings shares this default.
DEFAULT_COMPLETENESS_THRESHOLD = 0.8


def completeness_threshold(config: CdpConfig) -> float:
    """`quality.completeness.threshold` (read raw: the quality package validates its section)."""
    completeness = (config.section("quality") or {}).get("completeness") or {}
    return float(completeness.get("threshold", DEFAULT_COMPLETENESS_THRESHOLD))


class ActivationSettings(_Section):
    @model_validator(mode="before")
    @classmethod
    def _one_completeness_bar(cls, value: Any) -> Any:
        if isinstance(value, dict) and "min_completeness" in value:
            raise ValueError(
                "activation.min_completeness is no longer a marts setting: set "
                "quality.completeness.threshold, the one bar for repair and activation lists"
            )
        return value

    channel_priority: list[Literal["email", "sms", "wechat"]] = Field(
        default_factory=lambda: ["email", "sms", "wechat"], min_length=1
    )
    cross_sell: CrossSellSettings = Field(default_factory=CrossSellSettings)


class CampaignArm(_Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    weight: float = Field(gt=0)


class Campaign(_Section):
    """A/B test: who was in the audience on `starts_on`, split deterministically into arms."""

    id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    starts_on: date
    conversion_window_days: int = Field(30, gt=0)
    audience_states: list[Literal["potential", "new", "active", "dormant", "churned"]] = Field(
        default_factory=list
    )
    arms: list[CampaignArm] = Field(
        default_factory=lambda: [
            CampaignArm(name="control", weight=0.5),
            CampaignArm(name="treatment", weight=0.5),
        ],
        min_length=2,
    )
    control_arm: str = "control"

    @model_validator(mode="after")
    def _control_is_an_arm(self) -> Campaign:
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"campaign {self.id}: arm names must be unique")
        if self.control_arm not in names:
            raise ValueError(f"campaign {self.id}: control_arm '{self.control_arm}' is not one of {names}")
        return self


class ExperimentSettings(_Section):
    confidence_level: float = Field(0.95, gt=0.5, lt=1)
    hash_buckets: int = Field(10000, gt=1)
    campaigns: list[Campaign] = Field(default_factory=list)


class EngineSettings(_Section):
    """How DuckDB runs the build (dbt threads, DuckDB threads and memory)."""

    dbt_threads: int = Field(1, gt=0)
    duckdb_threads: int = Field(2, gt=0)
    memory_limit: str = "8GB"


class ReportSettings(_Section):
    weeks: int = Field(12, gt=0)


class MartsSettings(_Section):
    as_of_date: date | None = None
    purchase_statuses: list[str] = Field(
        default_factory=lambda: ["completed", "settled", "shipped"], min_length=1
    )
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    rfm: RfmSettings = Field(default_factory=RfmSettings)
    tags: TagSettings = Field(default_factory=TagSettings)
    churn_risk: ChurnRiskSettings = Field(default_factory=ChurnRiskSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    surveys: SurveySettings = Field(default_factory=SurveySettings)
    loyalty: LoyaltySettings = Field(default_factory=LoyaltySettings)
    activation: ActivationSettings = Field(default_factory=ActivationSettings)
    experiments: ExperimentSettings = Field(default_factory=ExperimentSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)


def load_settings(config: CdpConfig) -> MartsSettings:
    return config.section(SECTION, MartsSettings)


def dbt_vars(config: CdpConfig) -> dict[str, Any]:
    """Every business parameter the dbt project reads with `var(...)`, JSON-serialisable.

    The CLV model's settings (`clv:` section, owned by analytics) travel as they are; the model
    validates them itself.
    """
    settings = load_settings(config)
    experiments = settings.experiments
    data = settings.model_dump(mode="json", exclude={"engine", "report"})
    data["experiments"]["z"] = NormalDist().inv_cdf(0.5 + experiments.confidence_level / 2)
    data["surveys"]["z"] = NormalDist().inv_cdf(0.5 + settings.surveys.confidence_level / 2)
    data["activation"]["min_completeness"] = completeness_threshold(config)
    return {"cdp": data, "clv_settings": config.section("clv") or {}}
