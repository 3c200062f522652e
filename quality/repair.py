"""The completeness rule: customer records below the threshold are listed for repair.

Ingest scores each record (`completeness_score`, the share of key profile fields present and
valid); this module only applies the business threshold and says *which* fields a data steward has
to fix. The dbt marts exclude these records from activation lists.
"""

from __future__ import annotations

import polars as pl

REPAIR_SCHEMA = {
    "record_id": pl.String,
    "source": pl.String,
    "completeness_score": pl.Float64,
    "missing_fields": pl.String,
    "run_id": pl.String,
}


def _missing(field: str, columns: list[str], unknown: list[str]) -> pl.Expr:
    """Missing: null, blank, an "unknown" value, or flagged invalid by its `<field>_valid` column."""
    if field not in columns:
        return pl.lit(True)
    text = pl.col(field).cast(pl.String).str.strip_chars()
    absent = text.is_null() | (text == "") | text.is_in(unknown)
    if f"{field}_valid" in columns:
        absent = absent | ~pl.col(f"{field}_valid").fill_null(True)
    return absent


def repair_list(
    records: pl.LazyFrame,
    fields: list[str],
    threshold: float,
    run_id: str,
    unknown_values: dict[str, list[str]] | None = None,
) -> pl.LazyFrame:
    """record_id, source, completeness_score, missing_fields (comma list), run_id.

    A record without any score counts as incomplete: nobody has checked it.
    """
    columns = records.collect_schema().names()
    unknown = unknown_values or {}
    missing = pl.concat_str(
        [pl.when(_missing(f, columns, unknown.get(f, []))).then(pl.lit(f)) for f in fields],
        separator=",",
        ignore_nulls=True,
    )
    score = pl.col("completeness_score")
    return (
        records.filter(score.is_null() | (score < threshold))
        .select(
            "record_id",
            "source",
            score.cast(pl.Float64),
            pl.when(missing != "").then(missing).alias("missing_fields"),
            pl.lit(run_id).alias("run_id"),
        )
        .sort("record_id")
        .cast(REPAIR_SCHEMA)  # type: ignore[arg-type]
    )


def completeness_by_source(
    records: pl.LazyFrame,
    threshold: float,
    target: float,
    target_by_source: dict[str, float],
    sample_rows: int,
) -> pl.DataFrame:
    """Per source: records, complete records (score >= threshold), their share and the share expected."""
    score = pl.col("completeness_score")
    complete = score.fill_null(0) >= threshold
    targets = pl.DataFrame(
        {"source": list(target_by_source), "target": list(target_by_source.values())},
        schema={"source": pl.String, "target": pl.Float64},
    )
    return (
        records.group_by("source")
        .agg(
            pl.len().alias("records"),
            complete.sum().alias("complete_records"),
            pl.col("record_id").filter(~complete).sort().head(sample_rows).alias("sample_incomplete"),
        )
        .collect()
        .join(targets, on="source", how="left")
        .with_columns(
            incomplete_records=pl.col("records") - pl.col("complete_records"),
            complete_share=(pl.col("complete_records") / pl.col("records")).round(4),
            expected_share=pl.col("target").fill_null(target),
        )
        .drop("target")
        .sort("source")
    )
