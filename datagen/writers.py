"""Writing files the way each source system does, byte-for-byte reproducibly.

CSV in UTF-8 or GBK (legacy tills, with CRLF), JSON lines, Excel workbooks, a SQLite database and
Parquet. Nothing may depend on the clock or on dict/thread ordering: workbooks carry a fixed creation
date and fixed zip entry dates, SQLite is filled in key order in one transaction, and every frame is
sorted before it is written. Files are written to a temporary name and renamed, so a crash never
leaves a half-written export that looks complete.
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from datagen.xlsx import write_workbook
from warehouse.errors import CdpError


class ExportEncodingError(CdpError):
    """A value cannot be written in the file's encoding (a vocabulary entry outside GBK)."""


def _replace(tmp: Path, target: Path) -> None:
    os.replace(tmp, target)


def _tmp(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp")


def _own(path: Path) -> Path:
    """`path`, made a file of its own before it is extended in place.

    A data set may share its files with a copy of it by hard links (`cdp bench pipeline` links its
    scratch copy of a kept data set): appending to a linked file would change every copy, so a
    linked file is first copied to a new one of its own.
    """
    if path.stat().st_nlink > 1:
        tmp = _tmp(path)
        shutil.copyfile(path, tmp)
        _replace(tmp, path)
    return path


def _is_utf8(encoding: str) -> bool:
    return encoding.lower() in ("utf-8", "utf8")


def csv_bytes(
    frame: pl.DataFrame, encoding: str = "utf-8", line_terminator: str = "\n", header: bool = True
) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer, line_terminator=line_terminator, quote_style="necessary", include_header=header)
    data = buffer.getvalue()
    if _is_utf8(encoding):
        return data
    try:
        return data.decode("utf-8").encode(encoding)
    except UnicodeEncodeError as exc:
        bad = data.decode("utf-8")[exc.start : exc.end]
        raise ExportEncodingError(f"cannot write {bad!r} in {encoding}: fix the vocabulary entry") from exc


def write_csv(
    frame: pl.DataFrame,
    path: Path,
    encoding: str = "utf-8",
    line_terminator: str = "\n",
    append: bool = False,
) -> None:
    """Write (or append rows without a header to) a CSV file.

    UTF-8 files are written by Polars straight to disk; other encodings go through one transcode.
    """
    if append and path.exists():
        if frame.height:
            with _own(path).open("ab") as handle:
                handle.write(csv_bytes(frame, encoding, line_terminator, header=False))
        return
    tmp = _tmp(path)
    if _is_utf8(encoding):
        frame.write_csv(tmp, line_terminator=line_terminator, quote_style="necessary")
    else:
        tmp.write_bytes(csv_bytes(frame, encoding, line_terminator))
    _replace(tmp, path)


def write_jsonl(frame: pl.DataFrame, path: Path, append: bool = False) -> None:
    if append and path.exists():
        buffer = io.BytesIO()
        frame.write_ndjson(buffer)
        with _own(path).open("ab") as handle:
            handle.write(buffer.getvalue())
        return
    tmp = _tmp(path)
    frame.write_ndjson(tmp)
    _replace(tmp, path)


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    tmp = _tmp(path)
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    _replace(tmp, path)


def write_text(text: str, path: Path) -> None:
    """A small file (the generator's manifest) replaced whole, never rewritten in place: a data
    set's files may be hard links shared with a copy (see `_own`)."""
    tmp = _tmp(path)
    tmp.write_text(text, encoding="utf-8")
    _replace(tmp, path)


def write_xlsx(sheets: dict[str, pl.DataFrame], path: Path) -> None:
    """One worksheet per frame (header row, then the rows); see `datagen.xlsx`."""
    tmp = _tmp(path)
    write_workbook(sheets, tmp)
    _replace(tmp, path)


def write_sqlite(
    path: Path, table: str, create_sql: str, frames: Iterable[pl.DataFrame], append: bool = False
) -> None:
    """Create (or, with `append`, extend) one table, inserting frames in the order given."""
    if append and path.exists():
        target = _own(path)
        connection = sqlite3.connect(target)
    else:
        target = _tmp(path)
        target.unlink(missing_ok=True)
        connection = sqlite3.connect(target)
        connection.execute(create_sql)
    try:
        with connection:
            for frame in frames:
                placeholders = ", ".join("?" for _ in frame.columns)
                connection.executemany(
                    f"INSERT INTO {table} ({', '.join(frame.columns)}) VALUES ({placeholders})",
                    frame.iter_rows(),
                )
    finally:
        connection.close()
    if target != path:
        _replace(target, path)
