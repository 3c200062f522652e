"""`cdp ingest --report`: per source what landed and why rows were rejected, from the lake itself."""

from __future__ import annotations

import polars as pl

from ingest.tables import NULLED_REASON
from warehouse import delta
from warehouse.paths import LakePaths


def load_report(paths: LakePaths, source: str | None = None) -> dict[str, pl.DataFrame]:
    """Files and rows per source/entity/status (each file's latest load, not its later skips), the
    files that failed, the quarantine reasons of rejected rows, and the invalid values nulled in
    rows that landed (`null_if_invalid`), apart: those rows are counted as landed."""
    manifest_path, quarantine_path = paths.meta("load_manifest"), paths.quarantine
    report: dict[str, pl.DataFrame] = {}
    if delta.exists(manifest_path):
        manifest = delta.scan(manifest_path)
        if source:
            manifest = manifest.filter(pl.col("source") == source)
        for column in ("rows_suppressed", "fields_nulled"):  # absent from manifests written before them
            if column not in manifest.collect_schema():
                manifest = manifest.with_columns(pl.lit(None, dtype=pl.Int64).alias(column))
        # A skipped file's rows are those of the load that landed it: skips would report zeros.
        loads = manifest.filter(pl.col("status") != "skipped")
        latest = loads.sort("finished_at").group_by("source", "entity", "file").agg(pl.all().last())
        report["landed"] = (
            latest.group_by("source", "entity", "status")
            .agg(
                pl.len().alias("files"),
                pl.col("rows_read").sum(),
                pl.col("rows_landed").sum(),
                pl.col("rows_quarantined").sum(),
                pl.col("rows_suppressed").fill_null(0).sum(),
                pl.col("fields_nulled").fill_null(0).sum(),
                pl.col("finished_at").max().alias("last_load"),
            )
            .sort("source", "entity", "status")
            .collect()
        )
        report["failures"] = (
            latest.filter(pl.col("status") == "failed")
            .select("source", "entity", "file", "message")
            .sort("source", "entity", "file")
            .collect()
        )
    if delta.exists(quarantine_path):
        quarantine = delta.scan(quarantine_path)
        if source:
            quarantine = quarantine.filter(pl.col("source") == source)
        nulled = pl.col("reason") == NULLED_REASON
        report["rejected"] = (
            quarantine.filter(~nulled)
            .group_by("source", "entity", "reason")
            .agg(pl.len().alias("rows"), pl.col("detail").first().alias("example"))
            .sort("source", "entity", pl.col("rows"), descending=[False, False, True])
            .collect()
        )
        # The field is the detail's first words ("field 'birthday': ..."), written by ingest.validate.
        report["nulled"] = (
            quarantine.filter(nulled)
            .with_columns(field=pl.col("detail").str.extract(r"^field '([^']*)'"))
            .group_by("source", "entity", "field")
            .agg(pl.len().alias("values"), pl.col("detail").first().alias("example"))
            .sort("source", "entity", pl.col("values"), descending=[False, False, True])
            .collect()
        )
    return report
