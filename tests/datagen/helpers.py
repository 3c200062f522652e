"""Building small generated data sets for the generator's tests, and readers for the native files.

The data set is the repository's cdp.yaml with a few knobs turned down so it builds in seconds
(12 stores instead of 40, a 3-day increment horizon), plus one increment day applied, so every check
of the truth also covers increments.
"""

from __future__ import annotations

import glob
import hashlib
import sqlite3
from datetime import date
from functools import cache
from pathlib import Path

import openpyxl
import polars as pl

from warehouse.config import REPO_ROOT, CdpConfig, load_config

PEOPLE = 1200
SEED = 11
INCREMENT_DAY = date(2026, 11, 1)


@cache
def _repository_config() -> CdpConfig:
    return load_config(REPO_ROOT / "cdp.yaml")


def small_config(root: Path, **generator: object) -> CdpConfig:
    base = _repository_config().with_data_root(root)
    section = {**base.raw.get("generator", {}), "stores": {"count": 12, "legacy_share": 0.25}}
    section["increment_horizon_days"] = 3
    section.update(generator)
    return CdpConfig(path=base.path, raw={**base.raw, "generator": section}, data_root=base.data_root)


def build(
    root: Path, people: int = PEOPLE, seed: int = SEED, increment: bool = True, **generator: object
) -> Path:
    from datagen import generate_dataset, generate_increment

    config = small_config(root, **generator)
    generate_dataset(out_dir=root, customers=people, seed=seed, config=config)
    if increment:
        generate_increment(root, INCREMENT_DAY)
    return root


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# --- readers for the native formats (independent of the generator's code) -------------------
def read_csv(path: Path | str) -> pl.DataFrame:
    """A landing CSV as strings; legacy tills are GBK."""
    raw = Path(path).read_bytes()
    text = raw.decode("gbk") if "/legacy/" in str(path) else raw.decode("utf-8")
    return pl.read_csv(text.encode("utf-8"), infer_schema=False)


def read_csvs(root: Path, pattern: str) -> pl.DataFrame:
    files = sorted(glob.glob(str(root / "landing" / pattern), recursive=True))
    return pl.concat([read_csv(f).with_columns(_file=pl.lit(str(Path(f).relative_to(root)))) for f in files])


def read_jsonl(root: Path, pattern: str) -> pl.DataFrame:
    files = sorted(glob.glob(str(root / "landing" / pattern)))
    return pl.concat([pl.read_ndjson(f, infer_schema_length=None) for f in files], how="diagonal_relaxed")


def read_members(root: Path) -> pl.DataFrame:
    with sqlite3.connect(root / "landing/loyalty/loyalty.sqlite") as connection:
        cursor = connection.execute("SELECT * FROM members")
        columns = [c[0] for c in cursor.description]
        return pl.DataFrame(cursor.fetchall(), schema=columns, orient="row", infer_schema_length=None)


def read_surveys(root: Path) -> pl.DataFrame:
    frames = []
    for path in sorted((root / "landing/survey").glob("responses_*.xlsx")):
        sheet = openpyxl.load_workbook(path, read_only=True)["responses"]
        rows = list(sheet.iter_rows(values_only=True))
        frames.append(pl.DataFrame(rows[1:], schema=list(rows[0]), orient="row").cast(pl.String))
    return pl.concat(frames)


def digits(column: str) -> pl.Expr:
    """A phone reduced to its digits (+86 138 0013 8000 -> 8613800138000)."""
    return pl.col(column).str.replace_all(r"\D", "")
