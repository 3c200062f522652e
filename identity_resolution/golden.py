"""Golden record: per customer and attribute, the surviving value and the record it came from.

Rules (per attribute in `identity.survivorship.rules`, else the default):
- `most_recent_valid`: the latest value that is valid (`<attr>_valid` when the input has it),
  by `updated_at` / `created_at`;
- `most_recent_consent`: the consent given or withdrawn last, dated by `consent_updated_at`, else
  `updated_at` / `created_at` (ties: the greater record id), as `privacy.consent` reads consent:
  a withdrawal newer than a grant wins even when the granting record was edited later;
- `most_frequent`: the value most records agree on;
- `most_trusted_source`: the value from the most trusted source (`source_trust` order);
- `longest_complete_address`: every address part from the one record whose address is most
  complete (most parts, then longest street), so street, city and postcode always belong together.
Ties fall back to trust, then recency, then record id, so the result is deterministic. Each rule is
a sort inside the customer's records: one vectorised pass per attribute.
"""

from __future__ import annotations

import polars as pl

from identity_resolution.records import OPTIONAL_COLUMNS, RECENCY_COLUMNS
from identity_resolution.settings import Survivorship

UNTRUSTED_RANK = 1_000
# Attributes that say something about the person (not lineage or bookkeeping).
DEFAULT_RULES = {
    "email": "most_recent_valid",
    "phone": "most_recent_valid",
    "date_of_birth": "most_trusted_source",
    "national_id": "most_trusted_source",
    "member_id": "most_trusted_source",
    "consent_email": "most_recent_consent",
    "consent_sms": "most_recent_consent",
    "consent_wechat": "most_recent_consent",
    "consent_profiling": "most_recent_consent",
}
# What dates a record's consent (the privacy settings' default `consent.timestamp_columns`).
CONSENT_DATE_COLUMNS = ("consent_updated_at", *RECENCY_COLUMNS)
# The person columns of the identity input, plus what only silver records carry.
PROFILE_ATTRIBUTES = (
    *OPTIONAL_COLUMNS,
    "name_pinyin",
    "consent_email",
    "consent_sms",
    "consent_wechat",
    "consent_profiling",
)


def _timestamp(records: pl.DataFrame, column: str) -> pl.Expr:
    """A column as a naive UTC timestamp whatever `cdp resolve` was given: dates, timestamps with
    or without a zone, or text (a CSV's), which reads as missing where it is not a timestamp."""
    dtype = records.schema[column]
    value = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            value = value.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return value.cast(pl.Datetime("us"))
    if dtype == pl.Date:
        return value.cast(pl.Datetime("us"))
    if dtype == pl.String:
        return value.str.to_datetime(strict=False, time_unit="us", time_zone="UTC").dt.replace_time_zone(None)
    return pl.lit(None, dtype=pl.Datetime("us"))


def _latest(records: pl.DataFrame, columns: tuple[str, ...]) -> pl.Expr:
    candidates = [_timestamp(records, c) for c in columns if c in records.columns]
    return pl.coalesce(candidates) if candidates else pl.lit(None, dtype=pl.Datetime("us"))


def _present(column: str) -> pl.Expr:
    value = pl.col(column)
    return value.is_not_null() & (value.cast(pl.String).str.strip_chars() != "")


def _choose(prepared: pl.DataFrame, attribute: str, rule: str) -> pl.DataFrame:
    """customer_id, the golden value of `attribute` and `<attribute>_source`."""
    valid = f"{attribute}_valid"
    # Only the columns the choice needs: sorting the whole wide profile per attribute is what
    # made the golden record the slowest step of a resolve.
    needed = ["customer_id", "record_id", attribute, "_trust", "_recency"]
    candidates = prepared.filter(_present(attribute)).select(
        *needed, *([valid] if valid in prepared.columns else [])
    )
    if rule == "most_recent_valid" and valid in prepared.columns:
        candidates = candidates.filter(_is_valid(prepared, valid))
    if rule == "most_recent_consent":
        return _latest_consent(prepared, attribute)
    order: list[tuple[pl.Expr | str, bool]] = []
    if rule == "most_frequent":
        order.append((pl.len().over("customer_id", attribute), True))
    if rule == "most_recent_valid":
        order.append(("_recency", True))
    order += [("_trust", False), ("_recency", True), ("record_id", False)]
    sort_exprs = [e if isinstance(e, pl.Expr) else pl.col(e) for e, _ in order]
    return (
        candidates.sort(
            ["customer_id", *sort_exprs], descending=[False, *[d for _, d in order]], nulls_last=True
        )
        .unique("customer_id", keep="first", maintain_order=True)
        .select("customer_id", attribute, pl.col("record_id").alias(f"{attribute}_source"))
    )


def _latest_consent(prepared: pl.DataFrame, attribute: str) -> pl.DataFrame:
    return (
        prepared.filter(pl.col(attribute).is_not_null())
        .select("customer_id", "record_id", attribute, "_consent_at")
        .sort(["customer_id", "_consent_at", "record_id"], descending=[False, True, True], nulls_last=True)
        .unique("customer_id", keep="first", maintain_order=True)
        .select("customer_id", attribute, pl.col("record_id").alias(f"{attribute}_source"))
    )


def _is_valid(prepared: pl.DataFrame, column: str) -> pl.Expr:
    """`<attr>_valid` as a filter: missing counts as valid; a column that is not boolean (a CSV
    given to `cdp resolve`) reads true/false, yes/no, 1/0, and anything else as missing."""
    value = pl.col(column)
    if prepared.schema[column] != pl.Boolean:
        text = value.cast(pl.String).str.strip_chars().str.to_lowercase()
        value = (
            pl.when(text.is_in(["true", "yes", "y", "1", "t"]))
            .then(True)
            .when(text.is_in(["false", "no", "n", "0", "f"]))
            .then(False)
        )
    return value.fill_null(True)


def _address(prepared: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    present = [c for c in columns if c in prepared.columns]
    completeness = pl.sum_horizontal([_present(c).cast(pl.Int32) for c in present])
    street_length = (
        pl.col("street").cast(pl.String).str.len_chars().fill_null(0) if "street" in present else pl.lit(0)
    )
    best = (
        prepared.filter(completeness > 0)
        .select("customer_id", "record_id", "_trust", "_recency", *present)
        .sort(
            ["customer_id", completeness, street_length, "_trust", "_recency", "record_id"],
            descending=[False, True, True, False, True, False],
            nulls_last=True,
        )
        .unique("customer_id", keep="first", maintain_order=True)
    )
    return best.select(
        "customer_id",
        *present,
        *[pl.when(_present(c)).then(pl.col("record_id")).alias(f"{c}_source") for c in present],
    )


def golden_records(records: pl.DataFrame, assignments: pl.DataFrame, settings: Survivorship) -> pl.DataFrame:
    """One row per customer: golden attributes, their source records, record_count and sources."""
    trust = {source: rank for rank, source in enumerate(settings.source_trust)}
    # Only the columns a rule reads (silver rows carry lineage and scores too): at 1M records
    # the joined copy of every column was the largest allocation of the whole resolve.
    used = {"record_id", "source", *CONSENT_DATE_COLUMNS, *settings.address_columns}
    for attribute in PROFILE_ATTRIBUTES:
        used |= {attribute, f"{attribute}_valid"}
    records = records.select([c for c in records.columns if c in used])

    def prepared(customers: pl.DataFrame) -> pl.DataFrame:
        """The records of `customers` (record_id, customer_id) with their trust and recency."""
        return records.join(customers, on="record_id").with_columns(
            pl.col("source")
            .replace_strict(trust, default=UNTRUSTED_RANK, return_dtype=pl.Int32)
            .alias("_trust"),
            _latest(records, RECENCY_COLUMNS).alias("_recency"),
            _latest(records, CONSENT_DATE_COLUMNS).alias("_consent_at"),
        )

    address_columns = [c for c in settings.address_columns if c in records.columns]
    rules = {**DEFAULT_RULES, **settings.rules}
    attributes = {
        attribute: _attribute_rule(rules.get(attribute, settings.default_rule), settings)
        for attribute in PROFILE_ATTRIBUTES
        if attribute in records.columns and attribute not in address_columns
    }
    # One part at a time, so that only one part's joined copy of the records is in memory.
    customers = assignments.select("record_id", "customer_id")
    alone = pl.len().over("customer_id") == 1
    chosen = _chosen(prepared(customers.filter(~alone)), attributes, address_columns)
    own = _own_values(prepared(customers.filter(alone)), attributes, address_columns)
    return pl.concat([chosen, own.select(chosen.columns)]).sort("customer_id")


def _attribute_rule(rule: str, settings: Survivorship) -> str:
    """The address rule applies to the address columns together; elsewhere it means the default."""
    return settings.default_rule if rule == "longest_complete_address" else rule


def _chosen(prepared: pl.DataFrame, attributes: dict[str, str], address_columns: list[str]) -> pl.DataFrame:
    """Golden rows of customers with several records: each rule sorts their records."""
    golden = prepared.group_by("customer_id").agg(
        pl.len().cast(pl.Int64).alias("record_count"),
        pl.col("source").unique().sort().str.join(",").alias("sources"),
    )
    for attribute, rule in attributes.items():
        golden = golden.join(_choose(prepared, attribute, rule), on="customer_id", how="left")
    if address_columns:
        golden = golden.join(_address(prepared, address_columns), on="customer_id", how="left")
    return golden


def _own_values(
    prepared: pl.DataFrame, attributes: dict[str, str], address_columns: list[str]
) -> pl.DataFrame:
    """Golden rows of customers with one record (most of them): every rule picks the record's
    own value where it would pick any (present; valid, for `most_recent_valid`), so no sort."""
    columns = [
        pl.col("customer_id"),
        pl.lit(1, dtype=pl.Int64).alias("record_count"),
        pl.col("source").alias("sources"),
    ]
    for attribute, rule in attributes.items():
        taken = _present(attribute)
        if rule == "most_recent_valid" and f"{attribute}_valid" in prepared.columns:
            taken = taken & _is_valid(prepared, f"{attribute}_valid")
        elif rule == "most_recent_consent":
            taken = pl.col(attribute).is_not_null()
        columns += [
            pl.when(taken).then(pl.col(attribute)).alias(attribute),
            pl.when(taken).then(pl.col("record_id")).alias(f"{attribute}_source"),
        ]
    if address_columns:
        any_part = pl.any_horizontal([_present(c) for c in address_columns])
        columns += [pl.when(any_part).then(pl.col(c)).alias(c) for c in address_columns]
        columns += [
            pl.when(any_part & _present(c)).then(pl.col("record_id")).alias(f"{c}_source")
            for c in address_columns
        ]
    return prepared.select(columns)


def refresh_golden_records(
    records: pl.DataFrame,
    assignments: pl.DataFrame,
    settings: Survivorship,
    previous: pl.DataFrame | pl.LazyFrame,
    affected: pl.Series,
) -> pl.DataFrame:
    """`golden_records` rebuilt only for the `affected` customer ids (a member joined, left or
    changed); every other customer keeps its previous row, which is what a full rebuild would
    give, since each customer's golden record depends on its own records alone.

    `previous` may be a scan of the saved table: its unaffected rows are then read, merged and
    sorted in one query, without a whole copy of the previous table in memory beside them."""
    current = assignments.filter(pl.col("customer_id").is_in(affected.implode()))
    fresh = golden_records(
        records.join(current.select("record_id"), on="record_id", how="semi"), current, settings
    )
    kept = previous.lazy().filter(~pl.col("customer_id").is_in(affected.implode()))
    if kept.collect_schema().names() != fresh.columns:  # the profile columns changed: rebuild everyone
        return golden_records(records, assignments, settings)
    return pl.concat([kept.cast(fresh.schema), fresh.lazy()]).sort("customer_id").collect()  # type: ignore[arg-type]
