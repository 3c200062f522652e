"""JSON lines: streamed as lines, parsed by DuckDB's JSON functions, one column per top-level key.

Nested objects and arrays stay as JSON text in bronze (the silver mapping reads into them with JSON
paths). A line that is not a JSON object (a truncated last line, a stray log message) is quarantined
as `malformed_json` with its text.
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
from ingest.readers.csv import utf8_path

# A byte that valid JSON text never contains unescaped, so each line is a single "field".
NO_DELIMITER = "\x01"


def read_jsonl(request: ReadRequest) -> Iterator[RawBatch]:
    path = utf8_path(request, request.entity.encoding_for(request.item.name))
    invalid: dict[int, str] = {}

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        invalid[row.number] = row.text
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            use_threads=False, block_size=request.block_bytes, column_names=["line"]
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=NO_DELIMITER, quote_char=False, escape_char=False, invalid_row_handler=keep_invalid
        ),
        convert_options=pacsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False),
    )
    keys: list[str] = []
    con = duckdb.connect()
    next_number = 1
    for batch in reader:
        numbers, next_number = valid_row_numbers(next_number, batch.num_rows, set(invalid))
        lines = pa.table({"line": batch.column("line"), "n": pa.array(numbers, pa.int64())})
        con.register("lines", lines)
        checked = con.sql(
            "select line, n, case when json_valid(line) then json_type(line) = 'OBJECT' else false end as ok"
            " from lines"
        ).pl()
        good = checked.filter(pl.col("ok"))
        bad = checked.filter(~pl.col("ok"))
        rejects = [
            (int(n), line, *_reason(line))
            for n, line in bad.select("n", "line").iter_rows()  # bad lines only: few
        ]
        rejects += [(n, text, *_reason(text)) for n, text in invalid.items() if n < next_number]
        for n in [n for n in invalid if n < next_number]:
            del invalid[n]
        _learn_keys(con, good, keys)
        if not keys:  # only empty objects so far: nothing to land
            rejects += [
                (int(n), line, "malformed_json", "empty JSON object")
                for n, line in good.select("n", "line").iter_rows()
            ]
            good = good.clear()
        frame = _columns(con, good, keys)
        yield RawBatch(frame, good["n"].to_numpy(), rejects_frame(rejects))
    if invalid:
        yield RawBatch(
            pl.DataFrame(schema=dict.fromkeys(keys, pl.String)),
            np.empty(0, dtype=np.int64),
            rejects_frame([(n, text, *_reason(text)) for n, text in sorted(invalid.items())]),
        )
    con.close()


def _reason(line: str) -> tuple[str, str]:
    if UNDECODABLE_MARK in line:
        return "undecodable_bytes", "bytes that do not decode in the declared encoding"
    return "malformed_json", "line is not a complete JSON object (truncated or not JSON)"


def _learn_keys(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, keys: list[str]) -> None:
    """Keys in first-seen order: the first object's order, then newly seen keys sorted."""
    if good.is_empty():
        return
    con.register("good", good)
    if not keys:
        first = next(iter(con.sql("select json_keys(line) from good limit 1").fetchall()), None)
        keys.extend(first[0] if first else [])
    seen = con.sql("select distinct unnest(json_keys(line)) as k from good order by k").fetchall()
    keys.extend(k for (k,) in seen if k not in keys)


def _columns(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    if not keys:
        return pl.DataFrame()
    con.register("good", good)
    selects = ", ".join(f"json_extract_string(line, {_path_literal(k)}) as c{i}" for i, k in enumerate(keys))
    frame = con.sql(f"select {selects} from good").pl()
    return frame.rename({f"c{i}": k for i, k in enumerate(keys)})


def _path_literal(key: str) -> str:
    """A SQL string literal holding the JSON path of one top-level key."""
    path = '$."' + key.replace('"', '\\"') + '"'
    return "'" + path.replace("'", "''") + "'"
