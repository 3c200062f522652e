"""The `generator:` section of cdp.yaml: every tunable of the simulation, with documented defaults.

Defaults sit near the baselines retailers report (about 45% of people with more than one record,
~30% stale or mistyped contacts, ~25% missing basic fields, ~18% of till tickets exported twice), so
the downstream stages are judged on data that is as messy as the real thing. Everything that is a
*rate* or a *behaviour* lives here; the vocabulary people write with (names, products, texts) lives in
`datagen/vocabulary/` because it is data, not a setting.
"""

from __future__ import annotations

from datetime import date
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from warehouse.config import CdpConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationSettings(_Section):
    """Who the retailer's people are."""

    chinese_share: float = Field(0.85, ge=0, le=1, description="Chinese names; the rest Western")
    female_share: float = Field(0.52, ge=0, le=1)
    age_mean: float = Field(38.0, gt=0)
    age_sd: float = Field(12.0, gt=0)
    age_min: int = Field(18, ge=0)
    age_max: int = Field(80, ge=1)
    household_share: float = Field(0.15, ge=0, le=1, description="people living with another customer")
    household_shared_phone_share: float = Field(
        0.5, ge=0, le=1, description="household members whose records carry the family's phone"
    )
    mover_share: float = Field(0.08, ge=0, le=1, description="people who move house in the window")
    phone_change_share: float = Field(0.15, ge=0, le=1, description="people who change phone number")
    foreign_phone_share: float = Field(0.2, ge=0, le=1, description="Western people with a non-CN phone")
    emails_per_person: list[float] = Field(
        [0.55, 0.30, 0.15], description="probability of owning 1, 2, 3 email addresses"
    )


class StoreSettings(_Section):
    count: int = Field(40, ge=1, le=999)
    legacy_share: float = Field(0.25, ge=0, le=1, description="stores on legacy GBK tills")


class ChannelSettings(_Section):
    """How people shop: store-only, online-only or both."""

    store_only: float = Field(0.45, ge=0)
    online_only: float = Field(0.30, ge=0)
    omni: float = Field(0.25, ge=0)
    anonymous_ticket_share: float = Field(
        0.20, ge=0, lt=1, description="till tickets of walk-in shoppers nobody knows"
    )
    unscanned_card_share: float = Field(0.08, ge=0, le=1, description="member forgets to show the card")


class BehaviourSettings(_Section):
    """Purchasing as BG/NBD (rate, dropout) and Gamma-Gamma (spend), so RFM and CLV have signal.

    Rates are purchases per day; a person's rate ~ Gamma(r, 1/alpha), their dropout probability
    after each purchase ~ Beta(a, b), their mean spend from Gamma-Gamma (p, q, gamma).
    """

    preexisting_share: float = Field(0.45, ge=0, le=1, description="customers since before the window")
    preexisting_alive_share: float = Field(0.7, ge=0, le=1)
    never_purchase_share: float = Field(0.06, ge=0, le=1, description="registered, never bought")
    rate_r: float = Field(1.2, gt=0)
    rate_alpha: float = Field(39.0, gt=0)
    dropout_a: float = Field(0.8, gt=0)
    dropout_b: float = Field(16.0, gt=0)
    spend_p: float = Field(6.0, gt=0)
    spend_q: float = Field(3.5, gt=1)
    spend_gamma: float = Field(105.0, gt=0)
    store_lines_mean: float = Field(2.0, ge=1, description="lines per till ticket")
    online_lines_mean: float = Field(1.7, ge=1, description="line items per web order")


class SeasonPeak(_Section):
    name: str
    month_day: str = Field(pattern=r"^\d{2}-\d{2}$", description="MM-DD of the peak day")
    ramp_days: int = Field(10, ge=0)
    lift: float = Field(2.0, ge=0, description="purchase intensity multiplier on the peak day")
    online_lift: float = Field(1.0, description="extra log-odds of buying online around the peak")


class SeasonalitySettings(_Section):
    weekend_lift: float = Field(1.3, gt=0)
    peaks: list[SeasonPeak] = Field(
        default_factory=lambda: [
            SeasonPeak(name="11.11", month_day="11-11", ramp_days=10, lift=4.0, online_lift=1.5),
            SeasonPeak(name="618", month_day="06-18", ramp_days=10, lift=2.5, online_lift=1.0),
            SeasonPeak(name="12.12", month_day="12-12", ramp_days=3, lift=1.6, online_lift=0.8),
        ]
    )
    chinese_new_year: list[date] = Field(
        default_factory=lambda: [date(2025, 1, 29), date(2026, 2, 17), date(2027, 2, 6), date(2028, 1, 26)]
    )
    new_year_shopping_days: int = Field(14, ge=0, description="days of gift shopping before the festival")
    new_year_shopping_lift: float = Field(1.8, gt=0)
    new_year_holiday_days: int = Field(4, ge=0, description="days after the festival when shops are quiet")
    new_year_holiday_lift: float = Field(0.5, gt=0)


class SourceSettings(_Section):
    """Which systems know a person who has more than one record (single-record people have one)."""

    pos_card: float = Field(0.9, ge=0, le=1, description="store shoppers holding a till card")
    pos_second_card: float = Field(0.15, ge=0, le=1)
    ecom_second_account: float = Field(0.15, ge=0, le=1)
    loyalty_store: float = Field(0.55, ge=0, le=1, description="store shoppers in the loyalty programme")
    loyalty_online: float = Field(0.25, ge=0, le=1)
    loyalty_second_enrolment: float = Field(0.05, ge=0, le=1)
    social: float = Field(0.25, ge=0, le=1)
    social_second_platform: float = Field(0.3, ge=0, le=1)
    service: float = Field(0.15, ge=0, le=1)
    service_second_requester: float = Field(0.2, ge=0, le=1)
    survey: float = Field(0.12, ge=0, le=1)
    survey_extra_response: float = Field(0.3, ge=0, le=1, description="respondents answering again")
    single_record_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "pos": 0.50,
            "ecom": 0.36,
            "loyalty": 0.06,
            "social": 0.04,
            "service": 0.02,
            "survey": 0.02,
        },
        description="where the only record of a single-record person lives",
    )


class NoiseSettings(_Section):
    """Identity noise and export defects, as shares of records (or tickets/rows where named)."""

    multi_record_share: float = Field(0.45, ge=0, le=1, description="people with more than one record")
    name_typo: float = Field(0.08, ge=0, le=1, description="typo, transposition or homophone")
    nickname: float = Field(0.35, ge=0, le=1, description="Western records using a nickname")
    romanised_name: float = Field(
        0.2, ge=0, le=1, description="Chinese names typed in pinyin where the system takes characters"
    )
    alt_romanisation: float = Field(0.08, ge=0, le=1, description="pinyin records using e.g. Wong for 王")
    wrong_contact: float = Field(0.30, ge=0, le=1, description="records with a stale or mistyped contact")
    email_variant: float = Field(
        0.25, ge=0, le=1, description="addresses written differently: Case, moved dots, +tags"
    )
    stale_share_of_wrong: float = Field(0.5, ge=0, le=1, description="of wrong contacts: stale, not typo")
    missing_fields: float = Field(0.25, ge=0, le=1, description="records missing basic fields")
    incomplete_address: float = Field(0.15, ge=0, le=1)
    junk_identifier: float = Field(
        0.02, ge=0, le=1, description="placeholder phone/email typed by a cashier (shared by strangers)"
    )
    national_id_present: float = Field(0.45, ge=0, le=1)
    national_id_typo: float = Field(0.05, ge=0, le=1, description="of present national ids")
    member_no_blank: float = Field(0.6, ge=0, le=1, description="till cards not showing the member number")
    duplicate_ticket: float = Field(0.18, ge=0, le=1, description="till tickets exported twice")
    duplicate_ticket_next_month: float = Field(0.3, ge=0, le=1, description="copy lands in next month's file")
    duplicate_ticket_triple: float = Field(0.05, ge=0, le=1, description="of duplicated: exported 3 times")
    duplicate_event: float = Field(0.01, ge=0, le=1, description="web events delivered twice")
    bad_row: float = Field(0.002, ge=0, le=0.05, description="rows ingestion must quarantine")
    illegal_status_path: float = Field(0.005, ge=0, le=1, description="web orders with an impossible path")


class LoyaltySettings(_Section):
    points_per_yuan: float = Field(1.0, gt=0)
    points_per_redemption: int = Field(1000, gt=0, description="1,000 points = 10 yuan off")
    yuan_per_redemption: float = Field(10.0, gt=0)
    redeem_every_points: int = Field(2000, gt=0, description="earned points between redemption chances")
    redeem_probability: float = Field(0.6, ge=0, le=1)
    expire_after_days: int = Field(365, gt=0, description="inactivity after which a year-end sweep expires")
    adjust_share: float = Field(0.01, ge=0, le=1, description="goodwill/correction entries per earn entry")
    coupon_redeem_probability: float = Field(0.35, ge=0, le=1)
    coupon_campaigns: dict[str, float] = Field(
        default_factory=lambda: {
            "welcome": 20.0,
            "birthday": 50.0,
            "11.11": 30.0,
            "618": 20.0,
            "spring": 10.0,
        },
        description="campaign -> coupon value in yuan",
    )
    coupon_valid_days: int = Field(30, gt=0)


class ServiceSettings(_Section):
    first_response_median_hours: float = Field(3.0, gt=0)
    first_response_spread: float = Field(1.3, gt=0, description="lognormal sigma")
    resolution_median_hours: float = Field(18.0, gt=0, description="after first response")
    resolution_spread: float = Field(1.0, gt=0)
    unresolved_share: float = Field(0.05, ge=0, le=1)
    csat_answered_share: float = Field(0.4, ge=0, le=1)
    tickets_per_requester_mean: float = Field(1.6, ge=1)


class EngagementSettings(_Section):
    """Web browsing, social posting and survey answering."""

    browse_sessions_per_order: float = Field(0.2, ge=0, description="sessions without an order, per order")
    browse_sessions_per_account: float = Field(0.2, ge=0, description="and per account over the window")
    logged_in_share: float = Field(0.75, ge=0, le=1)
    anonymous_session_share: float = Field(0.1, ge=0, le=1, description="sessions from unknown devices")
    posts_per_profile_mean: float = Field(3.0, ge=0)
    comments_per_profile_mean: float = Field(2.0, ge=0)
    survey_summary_sheet_share: float = Field(0.4, ge=0, le=1)


class GeneratorSettings(_Section):
    """`generator:` in cdp.yaml."""

    customers: int = Field(5000, ge=1, description="simulated people")
    seed: int = 42
    start_date: date = date(2024, 11, 1)
    end_date: date = date(2026, 10, 31)
    chunk_size: int = Field(50_000, ge=100, description="people simulated together; bounds memory")
    workers: int = Field(2, ge=1, description="processes simulating chunks in parallel")
    increment_horizon_days: int = Field(
        31, ge=0, description="days after end_date simulated ahead for `cdp generate --increment-day`"
    )
    increment_new_record_share: float = Field(
        0.005, ge=0, le=1, description="new customer records per increment day, as a share of all records"
    )
    population: PopulationSettings = PopulationSettings()
    stores: StoreSettings = StoreSettings()
    channels: ChannelSettings = ChannelSettings()
    behaviour: BehaviourSettings = BehaviourSettings()
    seasonality: SeasonalitySettings = SeasonalitySettings()
    sources: SourceSettings = SourceSettings()
    noise: NoiseSettings = NoiseSettings()
    loyalty: LoyaltySettings = LoyaltySettings()
    service: ServiceSettings = ServiceSettings()
    engagement: EngagementSettings = EngagementSettings()

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Self:
        if self.end_date <= self.start_date:
            raise ValueError(f"end_date {self.end_date} must be after start_date {self.start_date}")
        if self.population.age_max <= self.population.age_min:
            raise ValueError("population.age_max must be above population.age_min")
        if len(self.population.emails_per_person) == 0 or min(self.population.emails_per_person) < 0:
            raise ValueError("population.emails_per_person needs at least one non-negative probability")
        weights = self.sources.single_record_weights
        unknown = set(weights) - {"pos", "ecom", "loyalty", "social", "service", "survey"}
        if unknown or not any(v > 0 for v in weights.values()):
            raise ValueError(f"sources.single_record_weights: unknown sources {sorted(unknown)} or all zero")
        channels = self.channels
        if channels.store_only + channels.online_only + channels.omni <= 0:
            raise ValueError("channels: store_only + online_only + omni must be positive")
        return self


def load_settings(config: CdpConfig, **overrides: object) -> GeneratorSettings:
    """The validated `generator:` section, with command-line overrides (customers, seed) applied."""
    settings = config.section("generator", GeneratorSettings)
    given = {key: value for key, value in overrides.items() if value is not None}
    return settings.model_copy(update=given) if given else settings
