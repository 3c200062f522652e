"""What every silver builder receives: the bronze tables feeding it, mapped to canonical columns."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ingest.config import EntityConfig, SilverMapping, StandardizeSettings
from ingest.silver.mapping import apply_mapping, narrowed_to_keys, type_frame


@dataclass(frozen=True)
class Rules:
    """The run-wide standardization settings."""

    settings: StandardizeSettings
    phone_region: str
    currency: str
    timezone: str
    batch_id: str


@dataclass(frozen=True)
class Part:
    """One bronze table feeding one silver entity."""

    source: str
    entity_name: str
    entity: EntityConfig
    mapping: SilverMapping
    bronze: pl.LazyFrame
    rows: int = 0  # bronze rows: decides whether the part is built in pieces

    def canonical(self) -> pl.LazyFrame:
        """Mapped canonical columns (still text), plus lineage and the source name: a lazy plan."""
        return apply_mapping(self.bronze, self.mapping).with_columns(source=pl.lit(self.source))

    def canonical_of(self, key: str, keys: pl.Series) -> pl.LazyFrame:
        """The canonical rows whose `key` is one of `keys`, reading only the bronze rows that can be."""
        bronze = narrowed_to_keys(self.bronze, self.mapping, key, keys)
        return (
            apply_mapping(bronze, self.mapping)
            .with_columns(source=pl.lit(self.source))
            .filter(pl.col(key).is_in(keys.implode()))
        )

    def typed(self, frame: pl.DataFrame, schema: dict[str, pl.DataType], rules: Rules) -> pl.DataFrame:
        """Canonical text columns of one piece parsed into the schema's types (eager: see `type_frame`)."""
        return type_frame(
            frame,
            schema,
            date_formats=self.entity.date_formats or rules.settings.date_formats,
            timestamp_formats=self.entity.timestamp_formats or rules.settings.timestamp_formats,
            timezone=rules.timezone,
            decimal_comma=self.entity.decimal_comma,
        )


def prefixed(source_column: str, source: pl.Expr | str = "source") -> pl.Expr:
    """`<source>:<id>`: keys never collide across sources (null stays null)."""
    source_expr = pl.col(source) if isinstance(source, str) else source
    return pl.when(pl.col(source_column).is_not_null()).then(
        pl.concat_str([source_expr, pl.lit(":"), pl.col(source_column)])
    )


@dataclass(frozen=True)
class Plan:
    """How to read one bronze table for one silver build: the part as this build maps it, the key
    that keeps a piece self-contained, and the types its columns are parsed into per piece."""

    part: Part
    key: str
    schema: dict[str, pl.DataType]

    @property
    def rows(self) -> pl.LazyFrame:
        """The lazy canonical rows (text)."""
        return self.part.canonical()

    def rows_of(self, keys: pl.Series) -> pl.LazyFrame:
        """The canonical rows of `keys` only (a daily rebuild of the keys that changed)."""
        return self.part.canonical_of(self.key, keys)


@dataclass(frozen=True)
class Piece:
    """What building one piece of one bronze table gives: silver rows per table, dedup log rows, counts."""

    tables: dict[str, pl.DataFrame]
    dedup_log: pl.DataFrame
    stats: dict[str, int]
