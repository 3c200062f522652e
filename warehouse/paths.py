"""Where everything lives under the data root (CONTRACTS.md, "Layout of the data root").

Every package asks this module for paths instead of joining strings, so the layout is defined once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LakePaths:
    """The data root's layout."""

    root: Path

    @classmethod
    def at(cls, root: str | Path) -> LakePaths:
        return cls(Path(root).resolve())

    # --- raw inputs -------------------------------------------------------------------------
    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def truth(self) -> Path:
        """Generator ground truth; the pipeline never reads it."""
        return self.root / "truth"

    # --- lakehouse layers -------------------------------------------------------------------
    @property
    def lake(self) -> Path:
        return self.root / "lake"

    def bronze(self, source: str, entity: str) -> Path:
        return self.lake / "bronze" / f"{source}__{entity}"

    def silver(self, entity: str) -> Path:
        return self.lake / "silver" / entity

    def identity(self, table: str) -> Path:
        return self.lake / "identity" / table

    def meta(self, table: str) -> Path:
        """Pipeline bookkeeping tables (load manifest, schema registry, run log)."""
        return self.lake / "meta" / table

    @property
    def quarantine(self) -> Path:
        return self.lake / "quarantine"

    # --- published outputs -----------------------------------------------------------------
    @property
    def marts(self) -> Path:
        return self.root / "marts"

    def mart(self, name: str) -> Path:
        """`marts/<name>.parquet`, or the folder `marts/<name>/` of monthly files when published so."""
        folder = self.marts / name
        return folder if folder.is_dir() else self.marts / f"{name}.parquet"

    @property
    def duckdb(self) -> Path:
        """The analysts' database with every mart."""
        return self.root / "cdp.duckdb"

    @property
    def build(self) -> Path:
        """Scratch space where dbt builds before a publish swaps results in atomically."""
        return self.root / "build"

    @property
    def build_duckdb(self) -> Path:
        return self.build / "cdp_build.duckdb"

    @property
    def docs(self) -> Path:
        return self.root / "docs"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def runs(self) -> Path:
        """One JSON summary per pipeline run."""
        return self.root / "runs"
