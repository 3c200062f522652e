"""One small reader per landing format, all behind the same `Reader` signature."""

from __future__ import annotations

from ingest.readers.base import RawBatch, Reader, ReadNotes, ReadRequest
from ingest.readers.csv import read_csv
from ingest.readers.database import read_table
from ingest.readers.jsonl import read_jsonl
from ingest.readers.parquet import read_parquet
from ingest.readers.xlsx import read_xlsx

READERS: dict[str, Reader] = {
    "csv": read_csv,
    "jsonl": read_jsonl,
    "xlsx": read_xlsx,
    "parquet": read_parquet,
    "sqlite": read_table,
    "postgres": read_table,
}

__all__ = ["READERS", "RawBatch", "ReadNotes", "ReadRequest", "Reader"]
