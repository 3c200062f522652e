"""Arrow query results -> the pandas frames GX validates, typed so GX stays on its fast paths.

GX's pandas engine only vectorises a range check when the column is a numpy int/float or a
datetime64[ns], and hashes string columns far faster when they are Arrow-backed; Decimal, date and
object columns drop it into per-row Python. So: decimals become float64, dates and timestamps
datetime64[ns] (time zones dropped after converting to UTC), strings `string[pyarrow]`, booleans
nullable `boolean`. Lists (sample columns) stay Python lists.
"""

from __future__ import annotations

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

UNLABELLED = "all"  # the `source` of results that are not split by source
MISSING_LABEL = "unknown"  # a batch_by value that is null

_STRING = pd.StringDtype("pyarrow")


def _column(array: pa.ChunkedArray) -> pd.Series | pd.api.extensions.ExtensionArray:
    kind = array.type
    if pa.types.is_string_view(kind):
        array, kind = array.cast(pa.large_string()), pa.large_string()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array.to_pandas(types_mapper=lambda _: _STRING)
    if pa.types.is_decimal(kind):
        return array.cast(pa.float64()).to_pandas()
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            array = pc.cast(array, pa.timestamp(kind.unit))
        return array.cast(pa.timestamp("ns")).to_pandas()
    if pa.types.is_date(kind):
        return array.cast(pa.timestamp("ns")).to_pandas()
    if pa.types.is_boolean(kind):
        return array.to_pandas(types_mapper=lambda _: pd.BooleanDtype())
    if pa.types.is_integer(kind) and array.null_count:
        return array.cast(pa.float64()).to_pandas()
    return array.to_pandas()


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """One column at a time, so the typing rules above apply per column."""
    return pd.DataFrame({name: _column(table.column(name)) for name in table.column_names}, copy=False)


def partitions(table: pa.Table, batch_by: list[str]) -> list[tuple[dict[str, str], pa.Table]]:
    """(labels, rows) per distinct combination of `batch_by` values, in first-seen order.

    Without `batch_by` the whole table is one batch (even when empty, so table-level rules still
    judge it); with it, an empty table has no batches.
    """
    if not batch_by:
        return [({}, table)]
    absent = [c for c in batch_by if c not in table.column_names]
    if absent:
        raise KeyError(", ".join(absent))
    if table.num_rows == 0:
        return []
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    groups = frame.partition_by(batch_by, as_dict=True, maintain_order=True)
    return [
        (
            {c: MISSING_LABEL if v is None else str(v) for c, v in zip(batch_by, key, strict=True)},
            part.to_arrow(),
        )
        for key, part in groups.items()
    ]


def batch_label(labels: dict[str, str]) -> str:
    """The batch's name in GX and the data docs: its `batch_by` values, or `all`."""
    return ".".join(labels.values()) or UNLABELLED
