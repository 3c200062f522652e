"""JSON lines: streamed as lines, parsed by DuckDB's JSON functions, one column per top-level key.

The file is read once (`ingest.stream.LandingStream`: sha256 and UTF-8 conversion on the way), split
into lines by pyarrow, and each block is checked and unpacked by the source run's DuckDB connection:
a validity pass, the keys, then every key in one `json_extract_string(line, [paths])` (one parse per
line, not one per key). Nested objects and arrays stay as JSON text in bronze (the silver mapping
reads into them with JSON paths). A line that is not a JSON object (a truncated last line, a stray
log message) is quarantined as `malformed_json` with its text.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from ingest.encoding import UNDECODABLE_MARK
from ingest.readers.base import RawBatch, ReadRequest, rejects_frame, valid_row_numbers
from ingest.readers.csv import close_stream, open_stream
from ingest.validate import row_hash_sql

# A byte that valid JSON text never contains unescaped, so each line is a single "field".
NO_DELIMITER = "\x01"
# Valid JSON that starts with `{` is an object: cheaper than json_type, which parses again.
IS_OBJECT = "json_valid(line) and ltrim(line) like '{%'"


def read_jsonl(request: ReadRequest) -> Iterator[RawBatch]:
    stream = open_stream(request)
    con = request.con
    invalid: dict[int, str] = {}

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        invalid[row.number] = row.text
        return "skip"

    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=request.block_bytes, column_names=["line"]
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=NO_DELIMITER, quote_char=False, escape_char=False, invalid_row_handler=keep_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={"line": pa.string()}, strings_can_be_null=False
            ),
        )
        keys: list[str] = []
        next_number = 1
        for batch in reader:
            numbers, next_number = valid_row_numbers(next_number, batch.num_rows, set(invalid))
            lines = pa.table({"line": batch.column("line"), "n": pa.array(numbers, pa.int64())})
            con.register("lines", lines)
            con.execute(
                f"create or replace temp table checked as select n, line, {IS_OBJECT} as ok from lines"
            )
            con.unregister("lines")
            bad = con.sql("select n, line from checked where not ok order by n").fetchall()  # few
            rejects = [(int(n), line, *_reason(line)) for n, line in bad]
            rejects += [(n, text, *_reason(text)) for n, text in invalid.items() if n < next_number]
            for n in [n for n in invalid if n < next_number]:
                del invalid[n]
            _learn_keys(con, keys)
            hashes = None
            if keys:
                frame, good_numbers, hashes = _columns(con, keys)
            else:  # only empty objects so far: nothing to land
                empty = con.sql("select n, line from checked where ok order by n").fetchall()
                rejects += [(int(n), line, "malformed_json", "empty JSON object") for n, line in empty]
                frame, good_numbers = pl.DataFrame(), np.empty(0, dtype=np.int64)
            yield RawBatch(
                frame, good_numbers, rejects_frame(rejects), marked=stream.marked, row_hashes=hashes
            )
        if invalid:
            yield RawBatch(
                pl.DataFrame(schema=dict.fromkeys(keys, pl.String)),
                np.empty(0, dtype=np.int64),
                rejects_frame([(n, text, *_reason(text)) for n, text in sorted(invalid.items())]),
            )
    finally:
        con.execute("drop table if exists checked")
        close_stream(request, stream)


def _reason(line: str) -> tuple[str, str]:
    if UNDECODABLE_MARK in line:
        return "undecodable_bytes", "bytes that do not decode in the declared encoding"
    return "malformed_json", "line is not a complete JSON object (truncated or not JSON)"


def _learn_keys(con: duckdb.DuckDBPyConnection, keys: list[str]) -> None:
    """Keys in first-seen order: the first object's order, then newly seen keys sorted."""
    if not keys:
        first = con.sql("select json_keys(line) from checked where ok order by n limit 1").fetchall()
        keys.extend(first[0][0] if first else [])
    seen = con.sql("select distinct unnest(json_keys(line)) as k from checked where ok order by k").fetchall()
    keys.extend(k for (k,) in seen if k not in keys)


def _columns(con: duckdb.DuckDBPyConnection, keys: list[str]) -> tuple[pl.DataFrame, np.ndarray, pl.Series]:
    """Every key of the valid lines as text, extracted in one parse per line; their line numbers and
    row hashes (`ingest.validate.row_hash_sql`, computed here while DuckDB holds the values)."""
    paths = ", ".join(_path_literal(k) for k in keys)
    selects = ", ".join(f"v[{i + 1}] as c{i}" for i in range(len(keys)))
    aliases = {f"c{i}": k for i, k in enumerate(keys)}
    hashed = row_hash_sql({f"c{i}": k for i, k in enumerate(keys)})
    frame = con.sql(
        f"select n, {selects}, {hashed} as _row_hash from (select n, json_extract_string(line, [{paths}]) as v"
        " from checked where ok order by n)"
    ).pl()
    numbers = frame["n"].to_numpy()
    return frame.drop("n", "_row_hash").rename(aliases), numbers, frame["_row_hash"]


def _path_literal(key: str) -> str:
    """A SQL string literal holding the JSON path of one top-level key."""
    path = '$."' + key.replace('"', '\\"') + '"'
    return "'" + path.replace("'", "''") + "'"
