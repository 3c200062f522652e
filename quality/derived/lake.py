"""The load manifest and the bronze lineage columns, as the derived frames read them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from quality.catalog import Catalog


LANDED_STATUSES = ("loaded", "replaced")  # docs/data_model.md: load_manifest.status


LINEAGE_COLUMNS = ("_source", "_file", "_row_number", "_batch_id", "_ingested_at", "_row_hash")


TEXT_TYPES = ("VARCHAR",)


def read_manifest(catalog: Catalog) -> pl.DataFrame | None:
    if not catalog.ensure("meta.load_manifest"):
        return None
    return catalog.frame(
        "select source, entity, file, batch_id, status, rows_landed, finished_at from meta.load_manifest"
    )


def landed_per_batch(manifest: pl.DataFrame) -> pl.DataFrame:
    """Rows landed and rows added per source entity and batch (a batch that landed nothing: 0, 0).

    `rows_landed` is what the batch wrote; `rows_added` what it grew the entity by, the measure of
    a delivery's volume. They differ for a file landed again whole (status `replaced`: a snapshot
    re-delivered every day, such as a database table read whole, a corrected export, a file re-read
    after its reading rules changed), whose rows replace the ones it held: it adds its rows minus
    those. Judged by its landed rows, an unchanged members table of 20,000 rows would be a
    20,000-row spike on each day it is re-delivered and a drop to 0 on each day it is not.
    """
    landed = pl.col("status").is_in(LANDED_STATUSES)
    file_keys = ["source", "entity", "file"]
    loads = manifest.sort("batch_id", "finished_at").with_columns(
        rows=pl.when(landed).then(pl.col("rows_landed").fill_null(0)).otherwise(0)
    )
    # Rows the file holds after each load: a `replaced` load starts it over, any other adds to it.
    held = loads.with_columns(
        generation=(pl.col("status") == "replaced").cast(pl.Int64).cum_sum().over(file_keys)
    ).with_columns(held=pl.col("rows").cum_sum().over([*file_keys, "generation"]))
    added = pl.when(pl.col("status") == "replaced").then(
        pl.col("rows") - pl.col("held").shift(1).over(file_keys).fill_null(0)
    )
    return (
        held.with_columns(added=added.otherwise(pl.col("rows")))
        .group_by("source", "entity", "batch_id")
        .agg(pl.col("rows").sum().alias("rows_landed"), pl.col("added").sum().alias("rows_added"))
    )


def current_batch(manifest: pl.DataFrame, batch_id: str) -> str | None:
    """This run's batch when it loaded anything, else the newest batch (an ad-hoc `cdp quality`)."""
    batches = manifest.get_column("batch_id")
    if (batches == batch_id).any():
        return batch_id
    return batches.max() if len(batches) else None  # type: ignore[return-value]


def manifest_and_batch(catalog: Catalog) -> tuple[pl.DataFrame, str] | None:
    """The load manifest and the batch a drift rule judges (`current_batch` of the gate's run), or
    None before anything was loaded: what every per-run rule starts from."""
    manifest = read_manifest(catalog)
    if manifest is None:
        return None
    batch = current_batch(manifest, catalog.parameters["run_id"])
    return None if batch is None else (manifest, batch)
