"""What every silver builder receives: the bronze tables feeding it, mapped to canonical columns."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ingest.config import EntityConfig, SilverMapping, StandardizeSettings
from ingest.silver.mapping import apply_mapping, type_columns


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

    def canonical(self, schema: dict[str, pl.DataType], rules: Rules) -> pl.LazyFrame:
        """Mapped and typed canonical columns, plus lineage and the source name."""
        mapped = apply_mapping(self.bronze, self.mapping)
        typed = type_columns(
            mapped,
            schema,
            date_formats=self.entity.date_formats or rules.settings.date_formats,
            timestamp_formats=self.entity.timestamp_formats or rules.settings.timestamp_formats,
            timezone=rules.timezone,
        )
        return typed.with_columns(source=pl.lit(self.source))


def prefixed(source_column: str, source: pl.Expr | str = "source") -> pl.Expr:
    """`<source>:<id>`: keys never collide across sources (null stays null)."""
    source_expr = pl.col(source) if isinstance(source, str) else source
    return pl.when(pl.col(source_column).is_not_null()).then(
        pl.concat_str([source_expr, pl.lit(":"), pl.col(source_column)])
    )
