"""The words the simulated people and systems use: names, places, products and texts.

Kept as data files in `datagen/vocabulary/` (not settings): surnames with their real frequencies and
Cantonese spellings, given names with pinyin, homophones cashiers confuse, Western first names with
their nicknames, cities with postcode prefixes and id region codes, a product catalogue and the
texts people post, and `habits.yaml`: the shapes of behaviour and of each system's formats
(purchase hours, payment mix, phone and name styles per source). Loaded once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

VOCABULARY_DIR = Path(__file__).resolve().parent / "vocabulary"


@dataclass(frozen=True)
class Vocabulary:
    surnames_zh: pl.DataFrame  # family_name, pinyin, alt_latin, weight
    given_zh: pl.DataFrame  # given_name, pinyin, gender, weight
    homophones: pl.DataFrame  # char, alternative (one row per pair)
    given_western: pl.DataFrame  # first_name, gender, nicknames (list[str]), weight
    surnames_western: pl.DataFrame  # family_name, weight
    places: pl.DataFrame  # city, province, postcode_prefix, region_code, area_code, weight, districts
    streets: pl.Series
    catalog: pl.DataFrame  # sku, item_name, category, price_cents; sorted by price_cents
    texts: dict[str, Any]
    habits: dict[str, Any]

    def share(self, name: str) -> float:
        """A named habit share from habits.yaml (`shares:`)."""
        return float(self.habits["shares"][name])

    @property
    def catalog_prices(self) -> np.ndarray:
        return self.catalog["price_cents"].to_numpy()


def _csv(name: str, **kwargs: Any) -> pl.DataFrame:
    return pl.read_csv(VOCABULARY_DIR / name, infer_schema_length=0, **kwargs)


def _yaml(name: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when libyaml is there
    return yaml.load((VOCABULARY_DIR / name).read_text(encoding="utf-8"), Loader=loader)


def _catalog(products: pl.DataFrame) -> pl.DataFrame:
    """One SKU per product variant; larger variants cost more, some prices end in .90."""
    items = products.with_row_index("item").with_columns(
        pl.col("base_price").cast(pl.Float64), pl.col("variants").str.split("|")
    )
    skus = items.explode("variants").with_columns(
        variant=pl.int_range(pl.len()).over("item"),
    )
    price_yuan = (pl.col("base_price") * (1 + 0.2 * pl.col("variant"))).round(0).cast(pl.Int64)
    ends_in_90 = ((pl.col("item") + pl.col("variant")) % 3 == 0).cast(pl.Int64)
    return (
        skus.with_columns(price_cents=price_yuan * 100 - 10 * ends_in_90)
        .with_row_index("sku_no", offset=101)
        .select(
            sku=pl.format("SKU-{}", pl.col("sku_no").cast(pl.String).str.zfill(6)),
            item_name=pl.concat_str(["item_name", "variants"], separator=" "),
            category="category",
            price_cents="price_cents",
        )
        .sort("price_cents", "sku")
    )


@cache
def load() -> Vocabulary:
    homophones = (
        _csv("homophones_zh.csv")
        .with_columns(pl.col("alternatives").str.split("|"))
        .explode("alternatives")
        .rename({"alternatives": "alternative"})
    )
    western = _csv("names_western.csv").with_columns(
        pl.col("weight").cast(pl.Float64),
        pl.when(pl.col("nicknames").is_null() | (pl.col("nicknames") == ""))
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(pl.col("nicknames").str.split("|"))
        .alias("nicknames"),
    )
    places = _csv("places.csv").with_columns(
        pl.col("weight").cast(pl.Float64), pl.col("districts").str.split("|")
    )
    streets = pl.Series("street", (VOCABULARY_DIR / "streets_zh.txt").read_text(encoding="utf-8").split())
    return Vocabulary(
        surnames_zh=_csv("surnames_zh.csv").with_columns(pl.col("weight").cast(pl.Float64)),
        given_zh=_csv("given_names_zh.csv").with_columns(pl.col("weight").cast(pl.Float64)),
        homophones=homophones,
        given_western=western,
        surnames_western=_csv("surnames_western.csv").with_columns(pl.col("weight").cast(pl.Float64)),
        places=places,
        streets=streets,
        catalog=_catalog(_csv("products.csv")),
        texts=_yaml("texts.yaml"),
        habits=_yaml("habits.yaml"),
    )
