"""Where everything lives under the data root (CONTRACTS.md, "Layout of the data root").

Every package asks this module for paths instead of joining strings, so the layout is defined once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GENERATOR_MANIFEST = "generator_manifest.json"


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

    @property
    def generator_manifest(self) -> Path:
        """Written by `cdp generate`: its presence marks `truth/` as the generator's own folder."""
        return self.truth / GENERATOR_MANIFEST

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
        return mart_location(self.marts, name)

    def published_marts(self) -> dict[str, Path]:
        """Every published mart -> its file or folder (`mart_locations`)."""
        return mart_locations(self.marts)

    def mart_files(self, name: str) -> list[Path]:
        """The Parquet files of a published mart (none when it is not published)."""
        return parquet_files(self.mart(name))

    def parquet_glob(self, name: str) -> str:
        """What `read_parquet` reads for a published mart: its file, or every file of its folder."""
        return parquet_glob(self.mart(name))

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


# --- a mart as a file or a folder of Parquet files ---------------------------------------------
# The one place that knows the shape (CONTRACTS.md: `marts/<mart>.parquet` or a folder of Parquet
# files). Plain functions of a folder, so a publish's staging folder is read the same way as marts/.
def mart_location(folder: Path, name: str) -> Path:
    """`<folder>/<name>/` when that folder exists, else `<folder>/<name>.parquet`."""
    directory = folder / name
    return directory if directory.is_dir() else folder / f"{name}.parquet"


def mart_locations(folder: Path) -> dict[str, Path]:
    """Mart name -> file or folder for every mart in `folder`, sorted by name.

    Hidden entries (a publish's `.<mart>.parquet.partial`, an erasure's scratch) are not marts.
    """
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for item in sorted(folder.iterdir()):
        if item.name.startswith("."):
            continue
        if item.is_dir():
            found[item.name] = item
        elif item.suffix == ".parquet":
            found[item.name.removesuffix(".parquet")] = item
    return found


def parquet_files(location: Path) -> list[Path]:
    """The Parquet files of a mart's file or folder, sorted; none when it does not exist."""
    if location.is_dir():
        return sorted(location.glob("*.parquet"))
    return [location] if location.is_file() else []


def parquet_glob(location: Path) -> str:
    """The `read_parquet` pattern of a mart's file or folder (`<folder>/*.parquet`)."""
    return str(location / "*.parquet") if location.is_dir() else str(location)
