"""Consent per purpose (marketing email / SMS / WeChat, profiling), as the person last expressed it.

A person's consent is scattered over their source records (the loyalty programme says yes to SMS,
the web shop says no to email). The effective consent of a resolved customer is, per purpose, the
value of the linked record that changed it last (`consent.timestamp_columns` date each record);
null means nobody asked, which is not consent. Activation lists must never contact anyone whose
effective consent for that channel's purpose is not true: `activation_violations` finds them.
"""

from __future__ import annotations

import polars as pl

from privacy.errors import PrivacyError
from privacy.settings import ConsentSettings, PrivacySettings, load_settings
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths


def effective_consent(records: pl.LazyFrame, links: pl.LazyFrame, settings: ConsentSettings) -> pl.DataFrame:
    """One row per customer: `<purpose>` (bool, null = never asked), `<purpose>_at`, `<purpose>_record`.

    `records` needs record_id, the purposes' consent columns and (some of) the timestamp columns;
    `links` needs record_id and customer_id.
    """
    columns = records.collect_schema().names()
    stamps = [c for c in settings.timestamp_columns if c in columns]
    dated = records.select(
        "record_id",
        pl.coalesce([pl.col(c).cast(pl.Datetime("us")) for c in stamps]).alias("changed_at")
        if stamps
        else pl.lit(None, dtype=pl.Datetime("us")).alias("changed_at"),
        *[
            (pl.col(column).cast(pl.Boolean) if column in columns else pl.lit(None, dtype=pl.Boolean)).alias(
                purpose
            )
            for purpose, column in settings.purposes.items()
        ],
    )
    long = (
        dated.join(links.select("record_id", "customer_id"), on="record_id", how="inner")
        .unpivot(
            index=["customer_id", "record_id", "changed_at"],
            on=list(settings.purposes),
            variable_name="purpose",
            value_name="granted",
        )
        .filter(pl.col("granted").is_not_null())
        .sort(["customer_id", "purpose", "changed_at", "record_id"], nulls_last=False)
        .group_by(["customer_id", "purpose"])
        .agg(pl.col("granted").last(), pl.col("changed_at").last(), pl.col("record_id").last())
        .collect()
    )
    customers = links.select("customer_id").unique().collect()
    for purpose in settings.purposes:
        chosen = long.filter(pl.col("purpose") == purpose).select(
            "customer_id",
            pl.col("granted").alias(purpose),
            pl.col("changed_at").alias(f"{purpose}_at"),
            pl.col("record_id").alias(f"{purpose}_record"),
        )
        customers = customers.join(chosen, on="customer_id", how="left")
    return customers.sort("customer_id")


def effective_consent_from_lake(config: CdpConfig, settings: PrivacySettings | None = None) -> pl.DataFrame:
    settings = settings or load_settings(config)
    paths = LakePaths.at(config.data_root)
    records, links = paths.silver("customer_records"), paths.identity("identity_links")
    for table, written_by in ((records, "standardize"), (links, "resolve")):
        if not delta.exists(table):
            raise PrivacyError(
                f"no consent to show: {table} does not exist yet; it is written by the pipeline's "
                f"{written_by} stage (`cdp run --until resolve` or the cdp_daily DAG)"
            )
    return effective_consent(delta.scan(records), delta.scan(links), settings.consent)


def activation_violations(
    activation: pl.DataFrame, consent: pl.DataFrame, settings: ConsentSettings
) -> pl.DataFrame:
    """Activation rows (customer_id, contact_channel, ...) without effective consent for the channel.

    A channel the configuration does not map to a purpose is itself a violation: nobody can have
    agreed to it.
    """
    purpose = pl.col("contact_channel").replace_strict(
        settings.channels, default=None, return_dtype=pl.String
    )
    granted = pl.coalesce(
        [pl.when(purpose == name).then(pl.col(name)) for name in settings.purposes]
    ).fill_null(False)
    return (
        activation.join(consent, on="customer_id", how="left")
        .with_columns(purpose=purpose, consented=granted)
        .filter(~pl.col("consented"))
        .select([*activation.columns, "purpose"])
    )


def published_activation_violations(config: CdpConfig) -> pl.DataFrame:
    """Violations in the published `activation_lists` mart, against the lake's consent.

    The mart's customer ids may be keyed hashes (pseudonymised publishing) or in clear: consent is
    offered under both, which never collide.
    """
    from privacy.keys import hmac_key
    from privacy.pseudonymise import pseudonym_array

    settings = load_settings(config)
    mart = LakePaths.at(config.data_root).mart("activation_lists")
    activation = pl.read_parquet(mart)
    consent = effective_consent_from_lake(config, settings)
    hashed = pseudonym_array(hmac_key(config, settings), settings.pseudonyms.hex_chars)
    pseudonymous = consent.with_columns(customer_id=pl.from_arrow(hashed(consent["customer_id"].to_arrow())))
    return activation_violations(activation, pl.concat([consent, pseudonymous]), settings.consent)
