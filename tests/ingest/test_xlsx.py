"""The Excel reader reads a sheet with calamine only where that gives exactly what openpyxl gives.

Every workbook here is read twice: by the reader as it runs, and with calamine switched off (openpyxl
for every cell). The batches (text rows, row numbers, quarantined rows) and the manifest notes must
be the same, and calamine must have been used where it can be and declined where it cannot: dates,
a column mixing numbers and text, text calamine decodes differently (a Windows line break, which
xlsxwriter writes as `_x000D_`).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from ingest.config import sources_config
from ingest.landing import LandedItem
from ingest.readers import ReadNotes, ReadRequest
from ingest.readers import xlsx as reader

HEADER = ["response_id", "submitted_at", "visit_date", "respondent_name", "phone", "nps", "score", "vip"]
ROWS = [
    ["R1", datetime(2025, 4, 1, 10, 0, 5), date(2025, 3, 30), "王芳", 13800138000, 9, 4.5, True],
    ["R2", datetime(2025, 4, 2, 9, 30), date(2025, 4, 1), " Li Lei ", 13900139000, 7, 5.0, False],
    [],  # a blank row: skipped, and its number is not reused
    ["R3", datetime(2025, 4, 3, 23, 59, 59), None, "Wang", None, 0, 0.00001, None],
    ["R4", None, date(2025, 4, 4), "Zhao", -7, -1, -2.25, True, None, "stray"],  # quarantined
    ["R5", datetime(2025, 4, 5, 8, 0), date(2025, 4, 5), "", 1, 10, 123456.789, False],
]


def _workbook(path: Path, rows: list[list[object]], dates_as_text: bool) -> Path:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("responses")
    formats = {
        datetime: workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        date: workbook.add_format({"num_format": "yyyy-mm-dd"}),
    }
    sheet.write_row(0, 0, HEADER)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, date) and dates_as_text:
                sheet.write_string(
                    r, c, value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
                )
            elif isinstance(value, date):
                sheet.write_datetime(r, c, value, formats[type(value)])
            elif value is not None:
                sheet.write(r, c, value)
    workbook.add_worksheet("summary").write_row(0, 0, ["responses", len(rows)])
    workbook.close()
    return path


def _read(path: Path, config, monkeypatch, calamine: bool) -> tuple[list[tuple], list[str], bool]:
    """Every batch as (rows, columns, row numbers, rejects), the notes, and whether calamine read it."""
    used = []
    calamine_blocks = reader._calamine_blocks

    def spy(*args):
        blocks = calamine_blocks(*args) if calamine else None
        used.append(blocks is not None)
        return blocks

    monkeypatch.setattr(reader, "_calamine_blocks", spy)
    monkeypatch.setattr(reader, "ROWS_PER_BATCH", 2)  # several batches, a boundary on the blank row
    entity = sources_config(config).get("survey").entities["responses"]
    item = LandedItem(name=f"survey/{path.name}", path=path, size_bytes=path.stat().st_size)
    notes = ReadNotes()
    batches = [
        (
            batch.data.rows(),
            batch.data.columns,
            batch.row_numbers.tolist(),
            None if batch.rejects is None else batch.rejects.rows(),
        )
        for batch in reader.read_xlsx(ReadRequest(item, entity, 0, notes, None))
    ]
    return batches, notes.messages, used == [True]


@pytest.mark.parametrize(
    ("case", "calamine"),
    [
        ("numbers, text, booleans and dates written as text", True),
        ("dates as Excel dates", False),
        ("a column mixing numbers and text", False),
        ("a Windows line break in a comment", False),
    ],
)
def test_calamine_and_openpyxl_give_the_same_batches(tmp_path, config, monkeypatch, case, calamine):
    rows = [list(row) for row in ROWS]
    if case == "a column mixing numbers and text":
        rows[1][4] = "139-0013-9000"
    if case == "a Windows line break in a comment":
        rows[0][3] = "王芳\r\n(store)"
    path = _workbook(tmp_path / "responses_2025-Q2.xlsx", rows, dates_as_text=case != "dates as Excel dates")

    fast, fast_notes, used = _read(path, config, monkeypatch, calamine=True)
    slow, slow_notes, _ = _read(path, config, monkeypatch, calamine=False)

    assert used is calamine
    assert fast == slow
    assert fast_notes == slow_notes == ["ignored sheet(s): summary"]


def test_cells_read_by_calamine_become_the_text_openpyxl_values_show(tmp_path, config, monkeypatch):
    path = _workbook(tmp_path / "responses_2025-Q2.xlsx", ROWS, dates_as_text=True)
    batches, _, used = _read(path, config, monkeypatch, calamine=True)
    assert used
    rows = [row for data, _, _, _ in batches for row in data]
    assert rows == [
        ("R1", "2025-04-01 10:00:05", "2025-03-30", "王芳", "13800138000", "9", "4.5", "True"),
        ("R2", "2025-04-02 09:30:00", "2025-04-01", " Li Lei ", "13900139000", "7", "5", "False"),
        ("R3", "2025-04-03 23:59:59", None, "Wang", None, "0", "1e-05", None),
        ("R5", "2025-04-05 08:00:00", "2025-04-05", None, "1", "10", "123456.789", "False"),
    ]  # an empty text is an empty cell as xlsxwriter writes it
    assert [numbers for _, _, numbers, _ in batches] == [[1, 2], [4], [6]]  # row 3 blank, row 5 quarantined
    rejects = [reject for _, _, _, found in batches if found for reject in found]
    assert rejects == [
        (
            5,
            "R4\t\t2025-04-04\tZhao\t-7\t-1\t-2.25\tTrue\t\tstray",
            "wrong_column_count",
            "expected 8 fields, found values beyond column 8",
        )
    ]


def test_a_column_of_integers_beyond_64_bits_is_written_out_not_refused(tmp_path, config, monkeypatch):
    """openpyxl keeps "12345678901234567891" an int; it was turned into an Int64 column and failed."""
    import zipfile

    from datagen.xlsx import write_workbook

    path = tmp_path / "responses_2025-Q2.xlsx"
    write_workbook({"responses": pl.DataFrame({"response_id": ["R1"], "nps": [1]})}, path)
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b"<v>1</v>", b"<v>12345678901234567891</v>")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    batches, _, used = _read(path, config, monkeypatch, calamine=True)
    assert not used  # beyond 2**53 a float cannot tell which integer the cell holds
    assert batches[0][0] == [("R1", "12345678901234567891")]
