"""Excel workbooks: one configured sheet, streamed row by row by openpyxl's read-only mode.

Other sheets (a `summary` tab) are ignored and named in the manifest message; a missing sheet fails
the file with the sheets that do exist. openpyxl yields Python rows, so this reader loops in
Python: fine for survey-sized workbooks, and the only way without a native Excel engine installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time

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
        width = len(names)
        buffer: list[tuple] = []
        rejects: list[tuple[int, str, str, str]] = []
        numbers: list[int] = []
        for number, row in enumerate(rows, start=1):
            values = [_text(v) for v in row]
            extra = [v for v in values[width:] if v is not None]
            if extra:
                raw = "\t".join("" if v is None else v for v in values)
                rejects.append(
                    (
                        number,
                        raw,
                        "wrong_column_count",
                        f"expected {width} fields, found values beyond column {width}",
                    )
                )
            elif any(v is not None for v in values):
                buffer.append(tuple(values[:width]) + (None,) * (width - len(values)))
                numbers.append(number)
            if len(buffer) >= ROWS_PER_BATCH:
                yield _batch(names, buffer, numbers, rejects)
                buffer, numbers, rejects = [], [], []
        yield _batch(names, buffer, numbers, rejects)
    finally:
        workbook.close()


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


def _batch(names: list[str], rows: list[tuple], numbers: list[int], rejects: list) -> RawBatch:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
    return RawBatch(frame, np.asarray(numbers, dtype=np.int64), rejects_frame(rejects))
