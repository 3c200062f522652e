"""Hygiene of the identity graph: junk and over-shared identifier values link nobody.

Applied to every record's features on every run (never only to new data), so adding a blocklist
entry or tightening a limit also unlinks what it would have wrongly joined in the past. Each value
that is cut is written to the cardinality audit so that an analyst can see what was cut and why.
"""

from __future__ import annotations

import polars as pl

from identity_resolution.settings import IDENTIFIER_COLUMNS, IdentitySettings

AUDIT_SCHEMA = {
    "identifier": pl.String,
    "value": pl.String,
    "reason": pl.String,
    "per": pl.String,
    "distinct_count": pl.Int64,
    "limit": pl.Int64,
    "records": pl.Int64,
}
PERSON = "person"


def person_signature() -> pl.Expr:
    """A coarse "which person" key that survives typos, scripts and word order: name initials.

    Only full names count: a display name (a social nickname) says nothing about who the person
    is, and a family name alone ("Ms Wang") fits every member of the family.
    """
    full_name = pl.col("name_initials").str.len_chars() >= 2
    return pl.when(~pl.col("name_is_display") & full_name).then(pl.col("name_initials"))


def shared_values(features: pl.DataFrame, columns: list[str], max_people: int) -> pl.DataFrame:
    """Per record and identifier: is its value seen with more than `max_people` distinct people?"""
    return features.select(
        [
            (person_signature().drop_nulls().n_unique().over(c) > max_people)
            .fill_null(False)
            .alias(f"shared_{c}")
            for c in columns
        ]
    )


def _blocklisted(settings: IdentitySettings, column: str, value: pl.Expr | None = None) -> pl.Expr:
    blocklist = settings.blocklist
    exact = [*blocklist.exact.get("*", []), *blocklist.exact.get(column, [])]
    patterns = [*blocklist.regex.get("*", []), *blocklist.regex.get(column, [])]
    value = pl.col(column) if value is None else value
    hit = value.is_in(exact) if exact else pl.lit(False)
    if patterns:
        hit = hit | value.str.contains("^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$")
    return hit.fill_null(False)


def _blocklist_audit(
    features: pl.DataFrame, settings: IdentitySettings
) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    audits = []
    for column in IDENTIFIER_COLUMNS:
        hit = _blocklisted(settings, column)
        audits.append(
            features.filter(hit)
            .group_by(pl.col(column).alias("value"))
            .agg(pl.len().cast(pl.Int64).alias("records"))
            .with_columns(
                identifier=pl.lit(column),
                reason=pl.lit("blocklist"),
                per=pl.lit(None, dtype=pl.String),
                distinct_count=pl.lit(None, dtype=pl.Int64),
                limit=pl.lit(None, dtype=pl.Int64),
            )
        )
    return _blank_blocklisted(features, settings, as_written=False), audits


def without_junk_values(profile: pl.DataFrame, settings: IdentitySettings) -> pl.DataFrame:
    """The profile rows with blocklisted identifier values (`test@test.com`, a store's default
    phone) missing: a value the blocklist calls junk links nobody, and must not become a
    customer's golden email or phone either (campaigns would write to it)."""
    return _blank_blocklisted(profile, settings, as_written=True)


def _blank_blocklisted(frame: pl.DataFrame, settings: IdentitySettings, *, as_written: bool) -> pl.DataFrame:
    """`frame` with its blocklisted identifier values missing. Features hold normalised values;
    values `as_written` (a profile's, as the source wrote them) are compared trimmed and, for
    emails, lower-cased."""
    blanked = []
    for column in IDENTIFIER_COLUMNS:
        if frame.schema.get(column) != pl.String:
            continue
        value = pl.col(column)
        if as_written:
            value = value.str.strip_chars()
            if column == "email":
                value = value.str.to_lowercase()
        blanked.append(
            pl.when(_blocklisted(settings, column, value)).then(None).otherwise(pl.col(column)).alias(column)
        )
    return frame.with_columns(blanked) if blanked else frame


def _cardinality_audit(features: pl.DataFrame, settings: IdentitySettings) -> list[pl.DataFrame]:
    audits = []
    for limit in settings.cardinality_limits:
        per = person_signature() if limit.per == PERSON else pl.col(limit.per)
        audits.append(
            features.filter(pl.col(limit.identifier).is_not_null())
            .group_by(pl.col(limit.identifier).alias("value"))
            .agg(
                per.drop_nulls().n_unique().cast(pl.Int64).alias("distinct_count"),
                pl.len().cast(pl.Int64).alias("records"),
            )
            .filter(pl.col("distinct_count") > limit.max)
            .with_columns(
                identifier=pl.lit(limit.identifier),
                reason=pl.lit("cardinality"),
                per=pl.lit(limit.per),
                limit=pl.lit(limit.max, dtype=pl.Int64),
            )
        )
    return audits


def apply_hygiene(features: pl.DataFrame, settings: IdentitySettings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Features with blocklisted and over-shared identifier values removed, and the audit of cuts."""
    cleaned, audits = _blocklist_audit(features, settings)
    audits += _cardinality_audit(cleaned, settings)
    audit = pl.concat([a.select(list(AUDIT_SCHEMA)).cast(AUDIT_SCHEMA) for a in audits]).sort(  # type: ignore[arg-type]
        "identifier", "reason", "value"
    )
    cut = audit.filter(pl.col("reason") == "cardinality")
    for column in cut["identifier"].unique().to_list():
        values = cut.filter(pl.col("identifier") == column)["value"]
        cleaned = cleaned.with_columns(
            pl.when(pl.col(column).is_in(values.implode())).then(None).otherwise(pl.col(column)).alias(column)
        )
    return cleaned, audit
