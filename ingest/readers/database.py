"""A table in a database, read through a PyPI driver (sqlite3 from the standard library, psycopg).

DuckDB's sqlite/postgres extensions cannot be installed offline, so rows are fetched through the
DB-API in batches with every column cast to text by the database itself; nothing is read whole.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ingest.config import EntityConfig
from ingest.errors import FileFailed, IngestError
from ingest.landing import LandedItem
from ingest.readers.base import RawBatch, ReadRequest
from warehouse.sql import quote_identifier

FETCH_ROWS = 100_000
ENV_REFERENCE = re.compile(r"^\$\{(\w+)\}$")


def _table_sql(table: str) -> str:
    return ".".join(quote_identifier(part) for part in table.split("."))


def connection_string(entity: EntityConfig) -> str:
    """The configured connection, resolving `${ENV_VAR}` so secrets stay out of cdp.yaml."""
    value = entity.connection or ""
    match = ENV_REFERENCE.match(value)
    if match:
        if match.group(1) not in os.environ:
            raise IngestError(f"connection refers to ${{{match.group(1)}}}, which is not set")
        return os.environ[match.group(1)]
    return value


def _connect(request: ReadRequest) -> Any:
    if request.entity.format == "sqlite":
        assert request.item.path is not None
        uri = Path(request.item.path).resolve().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True)
    try:
        import psycopg
    except ImportError as exc:  # optional: only deployments with PostgreSQL sources need it
        raise IngestError(
            "PostgreSQL sources need the `psycopg` package: pip install 'psycopg[binary]'"
        ) from exc
    return psycopg.connect(connection_string(request.entity))


def read_table(request: ReadRequest) -> Iterator[RawBatch]:
    table = request.entity.table or ""
    with closing(_connect(request)) as con:
        cursor = con.cursor()
        try:
            cursor.execute(f"select * from {_table_sql(table)} where 1 = 0")
        except Exception as exc:
            raise FileFailed(f"table {table!r} cannot be read: {exc}") from exc
        names = [d[0] for d in cursor.description]
        casts = ", ".join(f"cast({quote_identifier(n)} as text)" for n in names)
        cursor.execute(f"select {casts} from {_table_sql(table)}")
        start = 1
        while rows := cursor.fetchmany(FETCH_ROWS):
            columns = list(zip(*rows, strict=True))
            frame = pl.DataFrame(
                {n: pl.Series(n, c, dtype=pl.String) for n, c in zip(names, columns, strict=True)}
            )
            yield RawBatch(frame, np.arange(start, start + frame.height, dtype=np.int64))
            start += frame.height
        if start == 1:
            yield RawBatch(pl.DataFrame(schema=dict.fromkeys(names, pl.String)), np.empty(0, dtype=np.int64))


def postgres_item(entity: EntityConfig) -> LandedItem:
    """A PostgreSQL table as a landed item: its checksum is computed by the server over every row."""
    import psycopg

    table = entity.table or ""
    with closing(psycopg.connect(connection_string(entity))) as con:
        count, digest = con.execute(
            f"select count(*), md5(coalesce(string_agg(md5(t::text), '' order by md5(t::text)), '')) "
            f"from {_table_sql(table)} t"
        ).fetchone()
    dsn = re.sub(r"//[^@/]*@", "//", connection_string(entity))  # no credentials in lineage
    return LandedItem(
        name=f"{dsn}#{table}",
        path=None,
        size_bytes=int(count),
        sha256=hashlib.sha256(str(digest).encode()).hexdigest(),
    )
