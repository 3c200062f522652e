"""Excel workbooks: one configured sheet, streamed by openpyxl's read-only mode into column lists.

Other sheets (a `summary` tab) are ignored and named in the manifest message; a missing sheet fails
the file with the sheets that do exist. openpyxl parses cells in Python (no native Excel engine is
installed), so the reader does as little as possible per cell: rows are taken in blocks, turned
into columns with `zip`, and each column becomes text in one go (text and integer columns without
any Python call per value; only a column mixing types, dates or fractions is converted value by value).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from itertools import islice, zip_longest
from typing import Any

import numpy as np
import polars as pl

from ingest.errors import FileFailed
from ingest.readers.base import RawBatch, ReadRequest, rejects_frame

ROWS_PER_BATCH = 50_000


def read_xlsx(request: ReadRequest) -> Iterator[RawBatch]:
    from openpyxl import load_workbook

    assert request.item.path is not None and request.entity.sheet
    try:
        workbook = load_workbook(request.item.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken zip
        raise FileFailed(f"not a readable .xlsx workbook: {exc}") from exc
    try:
        sheet_name = request.entity.sheet
        if sheet_name not in workbook.sheetnames:
            raise FileFailed(
                f"sheet {sheet_name!r} not found; the workbook has: {', '.join(workbook.sheetnames)}"
            )
        ignored = [name for name in workbook.sheetnames if name != sheet_name]
        if ignored:
            request.notes.messages.append(f"ignored sheet(s): {', '.join(ignored)}")
        rows = workbook[sheet_name].iter_rows(values_only=True)
        first = next(rows, None)
        if first is None:
            raise FileFailed(f"sheet {sheet_name!r} is empty: no header and no rows")
        names = [str(v).strip() if v is not None else "" for v in first]
        while names and names[-1] == "":
            names.pop()
        start = 1
        while block := list(islice(rows, ROWS_PER_BATCH)):
            yield _batch(names, block, start)
            start += len(block)
        if start == 1:
            yield _batch(names, [], start)
    finally:
        workbook.close()


def _batch(names: list[str], block: list[tuple], start: int) -> RawBatch:
    """One block of sheet rows: blank rows skipped, rows with values beyond the header quarantined."""
    width = len(names)
    columns = list(zip_longest(*block, fillvalue=None)) if block else []
    columns += [(None,) * len(block)] * (width - len(columns))
    frame = pl.DataFrame(
        [_text_column(name, values) for name, values in zip(names, columns[:width], strict=True)],
        schema=dict.fromkeys(names, pl.String),
    )
    numbers = np.arange(start, start + len(block), dtype=np.int64)
    extra = np.zeros(len(block), dtype=bool)
    for values in columns[width:]:  # cells right of the header: usually none, or all empty
        extra |= np.fromiter((v is not None for v in values), dtype=bool, count=len(block))
    filled = (
        frame.select(pl.any_horizontal(pl.all().is_not_null())).to_series().to_numpy() if width else extra
    )
    rejects = [
        (
            int(numbers[i]),
            "\t".join("" if v is None else _text(v) for v in block[i]),
            "wrong_column_count",
            f"expected {width} fields, found values beyond column {width}",
        )
        for i in np.flatnonzero(extra)
    ]
    keep = filled & ~extra
    return RawBatch(frame.filter(pl.Series(keep)), numbers[keep], rejects_frame(rejects))


def _text_column(name: str, values: tuple[Any, ...]) -> pl.Series:
    kinds = {type(v) for v in values} - {type(None)}
    if kinds <= {str}:
        return pl.Series(name, values, dtype=pl.String)
    if kinds <= {int}:
        return pl.Series(name, values, dtype=pl.Int64).cast(pl.String)
    return pl.Series(name, [_text(v) for v in values], dtype=pl.String)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
