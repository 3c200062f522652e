"""Name variants folded onto one spelling: nicknames and other romanisations of Chinese names.

The same person is written "Bob" on one card and "Robert" on another, "Wong" by a Hong Kong
cashier and "Wang" in pinyin. String similarity cannot see that these agree (Jaro-Winkler of
"bob"/"robert" is 0.6), so such variants are mapped to one canonical spelling before comparing,
the way names are folded to pinyin. The table is reference data, not logic: a CSV with columns
`canonical, variant` (the built-in one ships in `reference/name_variants.csv`; cdp.yaml can name
another file or add entries). Only unambiguous variants belong in it: "Wu" is pinyin for 吴 and
Cantonese for 胡, so it is not folded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import polars as pl

from identity_resolution.records import IdentityInputError

BUILT_IN = Path(__file__).parent / "reference" / "name_variants.csv"
COLUMNS = ("canonical", "variant")


@lru_cache(maxsize=8)
def _read_table(path: Path) -> tuple[tuple[str, str], ...]:
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise IdentityInputError(f"{path}: cannot read the name variants table: {exc}") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise IdentityInputError(f"{path}: the name variants table needs columns {', '.join(COLUMNS)}")
    cleaned = frame.select([pl.col(c).str.strip_chars().str.to_lowercase() for c in COLUMNS]).drop_nulls()
    return tuple(cleaned.select("variant", "canonical").iter_rows())


def name_variants(path: str | Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """variant -> canonical (lower case), from the table at `path` (None: built-in) plus `extra`."""
    table = dict(_read_table(Path(path) if path else BUILT_IN))
    table.update({k.strip().lower(): v.strip().lower() for k, v in (extra or {}).items()})
    return {variant: canonical for variant, canonical in table.items() if variant != canonical}
