"""The loyalty programme: members, the points ledger and coupons.

Members earn 1 point per yuan on every purchase booked on their membership (till or web), redeem
1,000 points for 10 yuan off now and then (never more than they have), get goodwill adjustments,
and lose their balance at a year-end sweep after a year without activity. Coupons are issued by
campaign (welcome, birthday, 11.11, 618, spring festival) and some are redeemed on the member's next
purchase before they expire.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from datagen.calendar import DAY, Calendar, day_seconds
from datagen.settings import GeneratorSettings
from datagen.vocabulary import load as load_vocabulary


def _consent_shares() -> dict[str, list[float]]:
    """Per channel: share opted in, share unknown (habits.yaml `consent`)."""
    return load_vocabulary().habits["consent"]


LEDGER_COLUMNS = [
    "member_rkey",
    "occurred_at",
    "entry_type",
    "points",
    "order_okey",
    "order_kind",
    "store_idx",
]


def simulate_ledger(
    member_orders: pl.DataFrame, settings: GeneratorSettings, calendar: Calendar, rng: np.random.Generator
) -> pl.DataFrame:
    """Ledger entries from member purchases (member_rkey, okey, kind, at, total_cents, store_idx)."""
    loyalty = settings.loyalty
    orders = member_orders.sort("member_rkey", "at", "okey")
    earn = orders.select(
        "member_rkey",
        occurred_at="at",
        entry_type=pl.lit("earn"),
        points=(pl.col("total_cents") * loyalty.points_per_yuan // 100).cast(pl.Int64),
        order_okey="okey",
        order_kind="kind",
        store_idx="store_idx",
    )
    cumulative = earn.select(pl.col("points").cum_sum().over("member_rkey")).to_series()
    crossed = (cumulative // loyalty.redeem_every_points) > (
        (cumulative - earn["points"]) // loyalty.redeem_every_points
    )
    redeem_mask = crossed.to_numpy() & (rng.random(earn.height) < loyalty.redeem_probability)
    redeem = earn.filter(pl.Series(redeem_mask)).with_columns(
        occurred_at=pl.col("occurred_at") + 1,
        entry_type=pl.lit("redeem"),
        points=pl.lit(-loyalty.points_per_redemption, dtype=pl.Int64),
    )
    goodwill = rng.random(earn.height) < loyalty.adjust_share
    adjust = earn.filter(pl.Series(goodwill)).with_columns(
        occurred_at=pl.col("occurred_at")
        + pl.lit(pl.Series(rng.integers(DAY, 20 * DAY, int(goodwill.sum())))),
        entry_type=pl.lit("adjust"),
        points=pl.lit(pl.Series(rng.choice([100, 200, 500], int(goodwill.sum())))).cast(pl.Int64),
        order_okey=pl.lit(-1, dtype=pl.Int64),
        order_kind=pl.lit(None, dtype=pl.String),
        store_idx=pl.lit(-1, dtype=pl.Int64),
    )
    ledger = pl.concat([earn, redeem, adjust]).sort("member_rkey", "occurred_at", maintain_order=True)
    return pl.concat([ledger, _expiries(ledger, loyalty.expire_after_days, calendar)]).sort(
        "member_rkey", "occurred_at", "entry_type", "order_okey", maintain_order=True
    )


def _expiries(ledger: pl.DataFrame, expire_after_days: int, calendar: Calendar) -> pl.DataFrame:
    """Year-end sweeps: members inactive for `expire_after_days` lose their remaining balance."""
    parts = []
    for year in range(calendar.start.year, calendar.horizon_end.year + 1):
        sweep = day_seconds(date(year, 12, 31)) + DAY - 1
        if not calendar.start_s <= sweep < calendar.horizon_s:
            continue
        before = ledger.filter(pl.col("occurred_at") <= sweep)
        after = ledger.filter(pl.col("occurred_at") > sweep).select("member_rkey").unique()
        lapsed = (
            before.group_by("member_rkey")
            .agg(balance=pl.col("points").sum(), last=pl.col("occurred_at").max())
            .filter((pl.col("balance") > 0) & (pl.col("last") < sweep - expire_after_days * DAY))
            .join(after, on="member_rkey", how="anti")
        )
        parts.append(
            lapsed.select(
                "member_rkey",
                occurred_at=pl.lit(sweep, dtype=pl.Int64),
                entry_type=pl.lit("expire"),
                points=-pl.col("balance"),
                order_okey=pl.lit(-1, dtype=pl.Int64),
                order_kind=pl.lit(None, dtype=pl.String),
                store_idx=pl.lit(-1, dtype=pl.Int64),
            )
        )
    return pl.concat(parts) if parts else ledger.clear()


def simulate_coupons(
    members: pl.DataFrame,
    member_orders: pl.DataFrame,
    people: pl.DataFrame,
    settings: GeneratorSettings,
    calendar: Calendar,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Coupons per campaign; redeemed on the member's next purchase within the validity (or not)."""
    loyalty = settings.loyalty
    campaigns = loyalty.coupon_campaigns
    valid = loyalty.coupon_valid_days * DAY
    base = members.select("rkey", "person_idx", "created_at").join(
        people.select("person_idx", "birth_date"), on="person_idx", how="left", maintain_order="left"
    )
    issues = []
    if "welcome" in campaigns:
        issues.append(
            base.filter(pl.col("created_at") >= calendar.start_s).select(
                "rkey", issued_at=pl.col("created_at") + 60, campaign=pl.lit("welcome")
            )
        )
    for year in range(calendar.start.year, calendar.horizon_end.year + 1):
        drops = {"11.11": date(year, 11, 1), "618": date(year, 6, 1)}
        new_years = [d for d in settings.seasonality.chinese_new_year if d.year == year]
        if new_years:
            drops["spring"] = date.fromordinal(new_years[0].toordinal() - 21)
        for campaign, day in drops.items():
            at = day_seconds(day) + 9 * 3600
            if campaign in campaigns and calendar.start_s <= at < calendar.horizon_s:
                issues.append(
                    base.filter(pl.col("created_at") < at).select(
                        "rkey", issued_at=pl.lit(at, dtype=pl.Int64), campaign=pl.lit(campaign)
                    )
                )
        if "birthday" in campaigns:
            birthday = base.filter(pl.col("birth_date").is_not_null()).select(
                "rkey",
                "created_at",
                issued_at=pl.date(year, pl.col("birth_date").dt.month(), 1).dt.epoch("s") + 9 * 3600,
                campaign=pl.lit("birthday"),
            )
            issues.append(
                birthday.filter(
                    (pl.col("issued_at") >= calendar.start_s)
                    & (pl.col("issued_at") < calendar.horizon_s)
                    & (pl.col("created_at") < pl.col("issued_at"))
                ).drop("created_at")
            )
    coupons = pl.concat(issues).rename({"rkey": "member_rkey"})
    # a share of members ignore campaign mail entirely
    coupons = coupons.filter(
        pl.lit(pl.Series(rng.random(coupons.height) < load_vocabulary().share("coupon_opened")))
        | (pl.col("campaign") == "welcome")
    )
    coupons = coupons.sort("member_rkey", "issued_at", "campaign", maintain_order=True).with_columns(
        value_cents=pl.col("campaign").replace_strict(
            {k: int(v * 100) for k, v in campaigns.items()}, return_dtype=pl.Int64
        ),
        expires_at=pl.col("issued_at") + valid,
    )
    purchases = member_orders.select("member_rkey", "at", "okey", "kind").sort("member_rkey", "at", "okey")
    matched = coupons.join_asof(
        purchases,
        left_on="issued_at",
        right_on="at",
        by="member_rkey",
        strategy="forward",
        check_sortedness=False,
    )
    redeem = (
        matched["at"].is_not_null().to_numpy()
        & (matched["at"].fill_null(0) <= matched["expires_at"]).to_numpy()
    )
    redeem &= rng.random(matched.height) < loyalty.coupon_redeem_probability
    keep = pl.lit(pl.Series(redeem))
    return matched.select(
        "member_rkey",
        "campaign",
        "value_cents",
        "issued_at",
        "expires_at",
        redeemed_at=pl.when(keep).then("at").otherwise(None),
        order_okey=pl.when(keep).then("okey").otherwise(-1),
        order_kind=pl.when(keep).then("kind").otherwise(None),
    )


def tiers(
    members: pl.DataFrame, member_orders: pl.DataFrame, thresholds_yuan: list[float], names: list[str]
) -> pl.DataFrame:
    """Tier per membership from its total spend in the window."""
    spend = member_orders.group_by("member_rkey").agg(spend=pl.col("total_cents").sum() / 100)
    tier = pl.lit(names[0])
    for threshold, name in zip(thresholds_yuan[1:], names[1:], strict=True):
        tier = pl.when(pl.col("spend").fill_null(0) >= threshold).then(pl.lit(name)).otherwise(tier)
    return (
        members.join(spend, left_on="rkey", right_on="member_rkey", how="left", maintain_order="left")
        .with_columns(tier=tier)
        .drop("spend")
    )


def consent_flags(members: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """0/1/null opt-ins and when they were last changed (at enrolment or later)."""
    n = members.height

    def flag(share_yes: float, share_null: float) -> pl.Series:
        u = rng.random(n)
        values = np.where(u < share_yes, 1, 0).astype(np.int64)
        return pl.Series(values).set(pl.Series(u > 1 - share_null), None)

    later = rng.random(n) < load_vocabulary().share("consent_changed_later")
    delay = rng.integers(DAY, 300 * DAY, n)
    return members.with_columns(
        consent_email=flag(*_consent_shares()["email"]),
        consent_sms=flag(*_consent_shares()["sms"]),
        consent_wechat=flag(*_consent_shares()["wechat"]),
        consent_profiling=flag(*_consent_shares()["profiling"]),
        consent_updated_at=pl.col("created_at") + pl.lit(pl.Series(np.where(later, delay, 0))),
    )
