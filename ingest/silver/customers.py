"""`customer_records`: one row per source customer record, contact details standardized and scored."""

from __future__ import annotations

import polars as pl

from ingest.silver import text
from ingest.silver.dedup import keep_latest
from ingest.silver.parts import Part, Piece, Plan, Rules, prefixed
from ingest.silver.schema import CUSTOMER_RECORDS, DEDUP_LOG, conform

NAME_COLUMNS = ["given_name", "family_name", "full_name"]


def customer_plan(part: Part) -> Plan:
    """The part's canonical rows, the key that keeps a piece self-contained, the types to parse."""
    return Plan(part, "source_record_id", CUSTOMER_RECORDS)


def build_customer_records(frame: pl.DataFrame, part: Part, rules: Rules) -> Piece:
    """One piece of one bronze table -> standardized, scored customer records (latest per record)."""
    frame = frame.filter(pl.col("source_record_id").is_not_null()).with_columns(
        record_id=prefixed("source_record_id")
    )
    rows_in = frame.height
    records, _ = keep_latest(
        frame,
        "record_id",
        "source_record_id",
        part.mapping.latest_by or ("updated_at" if "updated_at" in frame.columns else None),
    )
    records = standardize_names(records)
    records = standardize_contacts(records, rules)
    records = records.with_columns(
        gender=text.map_vocabulary("gender", rules.settings.gender, pl.lit("U"))
        if "gender" in records.columns
        else pl.lit("U"),
    )
    records = impute_country(records, rules)
    records = records.with_columns(
        completeness_score=completeness(rules.settings.completeness_fields, records.columns)
    )
    out = conform(records.lazy(), CUSTOMER_RECORDS).collect()
    stats = {
        "rows_in": rows_in,
        "rows": out.height,
        "superseded_removed": rows_in - out.height,
        "phone_valid": int(out["phone_valid"].sum() or 0),
        "email_valid": int(out["email_valid"].sum() or 0),
        "imputed_country": int((out["imputed_fields"] == "country").sum() or 0),
    }
    return Piece({"customer_records": out}, pl.DataFrame(schema=DEDUP_LOG), stats)


def standardize_names(frame: pl.DataFrame) -> pl.DataFrame:
    for column in NAME_COLUMNS:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    frame = frame.with_columns([text.clean_name(c) for c in NAME_COLUMNS])
    frame = frame.with_columns(
        _given_script=text.name_script("given_name"), _family_script=text.name_script("family_name")
    )
    han_parts = (pl.col("_given_script") == "han") & (pl.col("_family_script") == "han")
    frame = frame.with_columns(
        full_name=pl.coalesce(
            "full_name",
            pl.when(han_parts)
            .then(pl.concat_str(["family_name", "given_name"]))
            .otherwise(pl.concat_str(["given_name", "family_name"], separator=" ", ignore_nulls=True)),
        )
    ).with_columns(
        pl.when(pl.col("full_name").str.len_chars() > 0).then(pl.col("full_name")).alias("full_name")
    )
    frame = frame.with_columns(name_script=text.name_script("full_name"))
    family, given = text.split_han_name("full_name")
    is_han = pl.col("name_script") == "han"
    frame = frame.with_columns(
        family_name=pl.when(pl.col("family_name").is_null() & pl.col("given_name").is_null() & is_han)
        .then(family)
        .otherwise(pl.col("family_name")),
        given_name=pl.when(pl.col("family_name").is_null() & pl.col("given_name").is_null() & is_han)
        .then(given)
        .otherwise(pl.col("given_name")),
    )
    frame = frame.with_columns([text.latin_case(c, text.name_script(c)).alias(c) for c in NAME_COLUMNS])
    frame = text.add_pinyin(frame, "full_name", "name_script", "name_pinyin")
    return frame.drop("_given_script", "_family_script")


def standardize_contacts(frame: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    for column in ("email", "phone"):
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    frame = frame.with_columns(text.standardize_email("email"))
    return text.standardize_phones(frame, "phone", rules.phone_region)


def impute_country(frame: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """A missing country is taken from a valid phone's region, and flagged in `imputed_fields`."""
    if "country" not in frame.columns:
        frame = frame.with_columns(country=pl.lit(None, dtype=pl.String))
    country = pl.col("country").str.strip_chars().str.to_uppercase()
    frame = frame.with_columns(country=pl.when(country.str.len_chars() > 0).then(country))
    if not rules.settings.impute_country_from_phone_region:
        return frame.with_columns(imputed_fields=pl.lit(None, dtype=pl.String)).drop("_phone_region")
    imputed = pl.col("country").is_null() & pl.col("_phone_region").is_not_null()
    return frame.with_columns(
        country=pl.coalesce("country", "_phone_region"),
        imputed_fields=pl.when(imputed).then(pl.lit("country")),
    ).drop("_phone_region")


def completeness(fields: list[str], columns: list[str]) -> pl.Expr:
    """Share of the key profile fields present and valid (email/phone count only when valid)."""
    checks = []
    for field in fields:
        if field not in columns:
            checks.append(pl.lit(False))
        elif field in ("email", "phone"):
            checks.append(pl.col(f"{field}_valid").fill_null(False))
        elif field == "gender":
            checks.append(pl.col("gender").is_in(["F", "M"]))
        else:
            checks.append(pl.col(field).is_not_null())
    if not checks:
        return pl.lit(None, dtype=pl.Float64)
    return pl.sum_horizontal([c.cast(pl.Float64) for c in checks]) / len(checks)
