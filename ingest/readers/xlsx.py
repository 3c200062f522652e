"""Excel workbooks: one configured sheet, every cell as the text openpyxl's value renders to.

Other sheets (a `summary` tab) are ignored and named in the manifest message; a missing sheet fails
the file with the sheets that do exist. openpyxl opens the workbook (sheet names, the sheet's
dimension, the styles and the header row). The cells below the header are read by calamine
(`fastexcel`, Rust: the reader then costs about a tenth of the CPU) whenever that gives exactly what
openpyxl would. calamine reads a few things its own way: dates (its own test of number formats),
text not marked `xml:space="preserve"` (edge whitespace trimmed), `_x000D_` escapes (decoded),
numbers written loosely (" 3"), error cells, text formulas, columns mixing types (coerced). A sheet
with any of them, found by a scan of its XML or by calamine's strict typing, is streamed by openpyxl's
read-only mode as before. Both paths give text columns that become batches in one place; openpyxl's
values are turned into text a column at a time (text and integer columns without a Python call per
value; only a column mixing types, dates or fractions is converted value by value).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import islice, zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ingest.errors import FileFailed
from ingest.readers.base import RawBatch, ReadRequest, rejects_frame

ROWS_PER_BATCH = 50_000


@dataclass
class _Block:
    """Consecutive sheet rows as text columns (None: empty cell) and how many cells each row has."""

    columns: list[pl.Series]
    widths: np.ndarray  # openpyxl's tuple length per row: the fields of a quarantined row's raw text

    @property
    def height(self) -> int:
        return len(self.widths)


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
        sheet = workbook[sheet_name]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        if first is None:
            raise FileFailed(f"sheet {sheet_name!r} is empty: no header and no rows")
        names = [str(v).strip() if v is not None else "" for v in first]
        while names and names[-1] == "":
            names.pop()
        blocks = _calamine_blocks(request.item.path, workbook, sheet)
        if blocks is None:
            blocks = _openpyxl_blocks(rows)
        else:
            rows.close()
        start = 1
        for block in blocks:
            yield _batch(names, block, start)
            start += block.height
        if start == 1:
            yield _batch(names, _Block([], np.zeros(0, dtype=np.int64)), start)
    finally:
        workbook.close()


def _batch(names: list[str], block: _Block, start: int) -> RawBatch:
    """One block of sheet rows: blank rows skipped, rows with values beyond the header quarantined."""
    width, height = len(names), block.height
    columns = block.columns[:width]
    columns += [pl.Series([None] * height, dtype=pl.String)] * (width - len(columns))
    frame = pl.DataFrame(columns, schema=dict.fromkeys(names, pl.String))
    numbers = np.arange(start, start + height, dtype=np.int64)
    extra = np.zeros(height, dtype=bool)
    for column in block.columns[width:]:  # cells right of the header: usually none, or all empty
        extra |= column.is_not_null().to_numpy()
    filled = (
        frame.select(pl.any_horizontal(pl.all().is_not_null())).to_series().to_numpy() if width else extra
    )
    bad = np.flatnonzero(extra)
    cells = [column.gather(bad).to_list() for column in block.columns] if bad.size else []
    rejects = [
        (
            int(numbers[i]),
            "\t".join("" if v is None else v for v in row[: block.widths[i]]),
            "wrong_column_count",
            f"expected {width} fields, found values beyond column {width}",
        )
        for i, row in zip(bad, zip(*cells, strict=True), strict=True)
    ]
    keep = filled & ~extra
    return RawBatch(frame.filter(pl.Series(keep)), numbers[keep], rejects_frame(rejects))


# --- openpyxl: every cell parsed in Python -------------------------------------------------------
def _openpyxl_blocks(rows: Iterator[tuple]) -> Iterator[_Block]:
    """The rows after the header, in blocks, turned into columns with `zip` and each column into text."""
    while block := list(islice(rows, ROWS_PER_BATCH)):
        widths = np.fromiter(map(len, block), dtype=np.int64, count=len(block))
        yield _Block([_text_column(values) for values in zip_longest(*block, fillvalue=None)], widths)


def _text_column(values: tuple[Any, ...]) -> pl.Series:
    kinds = {type(v) for v in values} - {type(None)}
    if kinds <= {str}:
        return pl.Series(values=values, dtype=pl.String)
    if kinds <= {int}:
        try:
            return pl.Series(values=values, dtype=pl.Int64).cast(pl.String)
        except (TypeError, OverflowError):  # beyond 64 bits: written value by value below
            pass
    return pl.Series(values=[_text(v) for v in values], dtype=pl.String)


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


# --- calamine: the same text, parsed in Rust -----------------------------------------------------
# What calamine reads unlike openpyxl, found in the raw XML. Each pattern has a literal start, so a
# search skips through the bytes (one alternation of them all would be many times slower).
# Text: edge whitespace of a <t> without xml:space="preserve" (calamine trims it, openpyxl keeps it;
# any other attribute counts as a risk too), `_xHHHH_` escapes (calamine decodes them), CDATA, runs of
# rich text followed by plain text (calamine joins them in another order).
_TEXT_EDGES = re.compile(rb'<t(?:>(?:[ \t\r\n]|&#|[^<]*(?:[ \t\r\n]|&#\w+;)<)|\s(?!xml:space="preserve">))')
_ESCAPES = re.compile(rb"_x[0-9A-Fa-f]{4}_")
_RUNS_THEN_TEXT = re.compile(rb"</r>\s*<t[\s>]")
# Values: a number written other than plainly (openpyxl's int()/float() take " 3" and "1_000",
# calamine keeps them as text), an empty one, or text: formula text ("str"), errors, ISO dates.
_LOOSE_VALUES = re.compile(rb"<v(?:[^>]|>(?![-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?</v>))")
_ROWS = re.compile(rb'<row(?: r="([0-9]+)")?[\s>/]')
_EXACT_INTEGERS = 2**53  # integers beyond are not all floats: openpyxl keeps "9007199254740993" exact
_PLAIN_FRACTIONS = 1e-4  # below, Python writes 1e-05 where Polars writes 0.00001


def _calamine_blocks(path: Path, workbook: Any, sheet: Any) -> Iterator[_Block] | None:
    """The rows after the header as openpyxl would give them, read by calamine; None when it cannot.

    openpyxl's read-only rows start at A1 and span the sheet's declared dimension (cells outside it
    dropped); calamine's are placed by their cell references, so the columns are laid out on that
    dimension here. Without a dimension openpyxl sizes each row by its last cell, styled empty ones
    included, which calamine does not report: such sheets stay with openpyxl.
    """
    # openpyxl's own view of the file, from its read-only workbook (private, hence getattr: a
    # changed openpyxl falls back to the slow path rather than break)
    archive = getattr(workbook, "_archive", None)
    sheet_path = getattr(sheet, "_worksheet_path", None)
    date_formats = getattr(workbook, "_date_formats", None)
    max_row, width = getattr(sheet, "max_row", None), getattr(sheet, "max_column", None)
    if archive is None or sheet_path is None or date_formats is None or max_row is None or width is None:
        return None
    if date_formats:  # a style openpyxl reads as a date: calamine decides dates by its own rules
        return None
    last_row = _last_row_read_alike(archive, sheet_path)
    if last_row is None:
        return None
    import fastexcel

    # an all-empty column is typed as text with a warning; it is one here too
    logging.getLogger("fastexcel.types.dtype").setLevel(logging.ERROR)
    try:
        loaded = fastexcel.read_excel(str(path)).load_sheet(
            sheet.title,
            header_row=None,
            skip_rows=1,  # counted from the sheet's first row: the data starts on row 2, blanks kept
            dtype_coercion="strict",  # a column mixing types raises instead of being coerced
            schema_sample_rows=None,
        )
        table, errors = loaded.to_arrow_with_errors()
    except fastexcel.FastExcelError:
        return None
    if errors is not None:  # error cells (#N/A): openpyxl gives their text, fastexcel a null
        return None
    # openpyxl goes on to the last row element (blank rows after the data included), within the dimension
    height = min(last_row, max_row) - 1
    columns = [pl.Series([None] * height, dtype=pl.String)] * width
    for info, array in zip(loaded.selected_columns, table.columns, strict=True):
        if info.absolute_index < width:
            text = _calamine_text(pl.Series(array).slice(0, height), info.dtype)
            if text is None:
                return None
            columns[info.absolute_index] = text.extend_constant(None, height - len(text))
    return _sliced(columns, height)


def _last_row_read_alike(archive: Any, sheet_path: str) -> int | None:
    """The number of the sheet's last row element; None when calamine would read a cell of the sheet
    (or a shared string) unlike openpyxl.

    Assumes XML as spreadsheet writers make it: unprefixed elements, each cell in its own row.
    """
    xml = archive.read(sheet_path)
    if b"<sheetData" not in xml or _LOOSE_VALUES.search(xml) or _text_differs(xml):
        return None
    # rows numbered, in ascending order (openpyxl drops a row that goes back, calamine places it)
    rows = _ROWS.findall(xml)
    if not rows or not all(rows):
        return None
    numbers = np.array(rows, dtype=np.int64)
    if np.any(np.diff(numbers) <= 0):
        return None
    strings = next((n for n in archive.namelist() if n.lower() == "xl/sharedstrings.xml"), None)
    if strings is not None:
        table = archive.read(strings)
        if b"x005F_" in table or _text_differs(table):  # openpyxl drops "x005F_" from shared strings
            return None
    return int(numbers[-1])


def _text_differs(xml: bytes) -> bool:
    return bool(
        _TEXT_EDGES.search(xml)
        or _ESCAPES.search(xml)
        or b"<![CDATA[" in xml
        or (b"</r>" in xml and _RUNS_THEN_TEXT.search(xml))
    )


def _calamine_text(values: pl.Series, dtype: str) -> pl.Series | None:
    """A calamine column as `_text` renders openpyxl's values; None when it cannot tell."""
    if dtype in ("string", "null"):
        return values.cast(pl.String)
    if dtype == "boolean":
        return pl.select(pl.when(values).then(pl.lit("True")).when(~values).then(pl.lit("False"))).to_series()
    if dtype in ("float", "int"):
        return _number_text(values.cast(pl.Float64))
    return None  # dates and durations


def _number_text(values: pl.Series) -> pl.Series | None:
    """Numbers as `_text` writes them: integral ones without ".0", others as Python's repr."""
    if not values.is_finite().fill_null(True).all():
        return None
    integral = (values == values.floor()).fill_null(False)
    if (integral & (values.abs() >= _EXACT_INTEGERS)).any():
        return None
    text = pl.select(
        pl.when(integral).then(values.cast(pl.Int64).cast(pl.String)).otherwise(values.cast(pl.String))
    ).to_series()
    tiny = np.flatnonzero((~integral & (values.abs() < _PLAIN_FRACTIONS)).fill_null(False).to_numpy())
    if tiny.size:  # few: Python's own repr for the exponent notation
        text = text.scatter(tiny, [repr(v) for v in values.gather(tiny).to_list()])
    return text


def _sliced(columns: list[pl.Series], height: int) -> Iterator[_Block]:
    for begin in range(0, height, ROWS_PER_BATCH):
        size = min(ROWS_PER_BATCH, height - begin)
        yield _Block([c.slice(begin, size) for c in columns], np.full(size, len(columns), dtype=np.int64))
