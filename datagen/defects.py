"""Rows ingestion must quarantine, and the bookkeeping of everything written.

A small share of rows per file gets one defect a real export shows: a date nobody can parse, a number
with a letter O for a zero (`12,3O.00`), or a missing key. Each injected defect is recorded (file,
row, column, kind, original value, outcome) in `truth/injected_errors.parquet`, so ingestion tests can
check that exactly these rows were quarantined. A defect in an optional profile attribute (a
birthday: the caller names such `soft` columns) costs the value, not the row: its outcome is
`field_nulled` (the row lands with the field null, the value is recorded in quarantine), every other
defect's `row_quarantined`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from datagen.random_streams import stream
from datagen.writers import write_csv, write_jsonl

ROW_QUARANTINED, FIELD_NULLED = "row_quarantined", "field_nulled"
BAD_DATES = ["2025-02-30 25:61:00", "N/A", "31/13/2025", "0000-00-00 00:00:00", "yesterday"]


def corrupt(value: pl.Expr, kind: str, pick: pl.Expr) -> pl.Expr:
    if kind == "unparseable_date":
        return _bad_date(pick)
    if kind == "bad_number":
        text = value.cast(pl.String)
        return (
            pl.when(text.str.contains("0"))
            .then(text.str.replace("0", "O"))
            .otherwise(pl.concat_str([text, pl.lit("O")]))
        )
    if kind == "missing_key":
        return pl.lit(None, dtype=pl.String)
    raise ValueError(f"unknown defect kind {kind}")


def _bad_date(pick: pl.Expr) -> pl.Expr:
    expr = pl.lit(BAD_DATES[-1])
    for i, text in enumerate(BAD_DATES[:-1]):
        expr = pl.when(pick == i).then(pl.lit(text)).otherwise(expr)
    return expr


@dataclass
class Output:
    """Writes landing files, injecting defects, and remembers files, defects and duplicates."""

    root: Path
    seed: int
    bad_row_share: float
    files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # "<source>.<entity>" -> rows written
    errors: list[pl.DataFrame] = field(default_factory=list)
    duplicates: list[pl.DataFrame] = field(default_factory=list)

    def inject(
        self,
        frame: pl.DataFrame,
        rel: str,
        source: str,
        entity: str,
        key: str,
        defects: list[tuple[str, str]],
        file_column: str | None = None,
        file_names: list[str] | None = None,
        protect: str | None = None,
        soft: Collection[str] = (),
    ) -> pl.DataFrame:
        """Corrupt ~bad_row_share of rows (one defect each) and record what was done.

        With `file_column`, `frame` holds the rows of several files (e.g. every store's till file of a
        month), each file's rows together: row numbers are counted per file and the log names each
        file (the column holds the name, or an index into `file_names`). Rows where the boolean
        column `protect` is true are never corrupted (events exported twice, so the duplicate truth
        stays exact). Only the hit rows are touched: the rest of the frame is never rewritten.
        A defect in one of the `soft` columns is recorded as nulling the field, not losing the row.
        """
        if not defects or frame.height == 0 or self.bad_row_share <= 0:
            return frame
        rng = stream(self.seed, "defects", rel)
        eligible = ~frame[protect].to_numpy() if protect else np.ones(frame.height, dtype=bool)
        hit = np.flatnonzero((rng.random(frame.height) < self.bad_row_share) & eligible)
        if hit.size == 0:
            return frame
        which = rng.integers(0, len(defects), hit.size)
        pick = pl.Series(rng.integers(0, len(BAD_DATES), hit.size))
        rows = frame[hit]
        if file_column:
            files = frame[file_column]
            first = np.flatnonzero(files.ne_missing(files.shift(1)).fill_null(True).to_numpy())
            row_in_file = hit - first[np.searchsorted(first, hit, side="right") - 1]
            names = rows[file_column]
            file = names if file_names is None else pl.Series(file_names, dtype=pl.String).gather(names)
        else:
            row_in_file, file = hit, pl.Series([rel] * hit.size, dtype=pl.String)
        log = pl.DataFrame(
            {
                "source": [source] * hit.size,
                "entity": [entity] * hit.size,
                "file": file,
                "row_number": row_in_file.astype(np.int64) + 1,
                "record_key": rows[key].cast(pl.String),
            }
        )
        for i, (column, kind) in enumerate(defects):
            chosen = which == i
            if not chosen.any():
                continue
            original = rows[column].filter(pl.Series(chosen))
            values = pl.DataFrame({"value": original, "pick": pick.filter(pl.Series(chosen))})
            replaced = values.with_columns(value=corrupt(pl.col("value"), kind, pl.col("pick")))["value"]
            target = frame[column]
            if kind == "missing_key":
                replaced = replaced.cast(target.dtype)
            elif target.dtype != pl.String:
                target = target.cast(pl.String)
            frame = frame.with_columns(target.scatter(hit[chosen], replaced).alias(column))
            self.errors.append(
                log.filter(pl.Series(chosen)).with_columns(
                    column=pl.lit(column),
                    kind=pl.lit(kind),
                    original=original.cast(pl.String),
                    outcome=pl.lit(FIELD_NULLED if column in soft else ROW_QUARANTINED),
                )
            )
        return frame

    def csv(
        self,
        frame: pl.DataFrame,
        rel: str,
        source: str,
        entity: str,
        key: str,
        defects: list[tuple[str, str]] = (),  # type: ignore[assignment]
        encoding: str = "utf-8",
        line_terminator: str = "\n",
        append: bool = False,
        soft: Collection[str] = (),
    ) -> None:
        frame = self.inject(frame, rel, source, entity, key, list(defects), soft=soft)
        write_csv(frame, self.root / rel, encoding=encoding, line_terminator=line_terminator, append=append)
        self.wrote(rel, source, entity, frame.height)

    def jsonl(
        self,
        frame: pl.DataFrame,
        rel: str,
        source: str,
        entity: str,
        key: str,
        defects: list[tuple[str, str]] = (),  # type: ignore[assignment]
        append: bool = False,
        protect: str | None = None,
        soft: Collection[str] = (),
    ) -> None:
        frame = self.inject(frame, rel, source, entity, key, list(defects), protect=protect, soft=soft)
        if protect:
            frame = frame.drop(protect)
        write_jsonl(frame, self.root / rel, append=append)
        self.wrote(rel, source, entity, frame.height)

    def wrote(self, rel: str, source: str, entity: str, rows: int) -> None:
        """Remember a file written (by this class or by a format-specific writer)."""
        self.files.append(rel)
        key = f"{source}.{entity}"
        self.rows[key] = self.rows.get(key, 0) + rows

    def duplicate(self, source: str, entity: str, keys: pl.DataFrame) -> None:
        """keys: record_key, copies (exported more than once)."""
        if keys.height:
            self.duplicates.append(
                keys.select(
                    source=pl.lit(source), entity=pl.lit(entity), record_key="record_key", copies="copies"
                )
            )

    def error_table(self) -> pl.DataFrame:
        schema = {"source": pl.String, "entity": pl.String, "file": pl.String, "row_number": pl.Int64,
                  "record_key": pl.String, "column": pl.String, "kind": pl.String, "original": pl.String,
                  "outcome": pl.String}  # fmt: skip
        frames = [f.cast(schema) for f in self.errors if f.height]
        return pl.concat(frames).sort("file", "row_number") if frames else pl.DataFrame(schema=schema)

    def duplicate_table(self) -> pl.DataFrame:
        schema = {"source": pl.String, "entity": pl.String, "record_key": pl.String, "copies": pl.Int64}
        frames = [f.cast(schema) for f in self.duplicates]
        if not frames:
            return pl.DataFrame(schema=schema)
        return (
            pl.concat(frames)
            .group_by("source", "entity", "record_key")
            .agg(pl.col("copies").max())
            .sort("source", "entity", "record_key")
        )
