"""The retailer's stores: where they are, which run legacy GBK tills, their placeholder phone.

Built once per run from the seed, independent of how people are chunked, so every chunk and every
increment sees the same stores.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.random_streams import choice_index, stream
from datagen.settings import GeneratorSettings
from datagen.vocabulary import Vocabulary


def build_stores(settings: GeneratorSettings, vocabulary: Vocabulary) -> pl.DataFrame:
    """store_idx, store_id (S001), city_idx, city, legacy, default_phone, traffic.

    Stores open in cities in proportion to population; each store has a landline that cashiers type
    when a customer will not give a number (a junk identifier shared by strangers).
    """
    rng = stream(settings.seed, "stores")
    count = settings.stores.count
    places = vocabulary.places
    city_idx = np.sort(choice_index(rng, places["weight"].to_numpy(), count))
    legacy = np.zeros(count, dtype=bool)
    legacy[rng.permutation(count)[: round(count * settings.stores.legacy_share)]] = True
    landline = rng.integers(10_000_000, 89_999_999, count)
    stores = pl.DataFrame(
        {
            "store_idx": np.arange(count, dtype=np.int64),
            "city_idx": city_idx.astype(np.int64),
            "legacy": legacy,
            "landline": landline,
            "traffic": rng.gamma(4.0, 0.25, count),
        }
    ).with_row_index("row")
    return (
        stores.join(
            places.select(pl.int_range(pl.len()).alias("city_idx"), "city", "area_code"), on="city_idx"
        )
        .select(
            "store_idx",
            pl.format("S{}", (pl.col("store_idx") + 1).cast(pl.String).str.zfill(3)).alias("store_id"),
            "city_idx",
            "city",
            "legacy",
            pl.format("{}-{}", "area_code", pl.col("landline").cast(pl.String)).alias("default_phone"),
            "traffic",
        )
        .sort("store_idx")
    )


def assign_home_store(
    rng: np.random.Generator, stores: pl.DataFrame, person_city: np.ndarray, cities: int
) -> np.ndarray:
    """A store in the person's city when there is one, else any store by traffic."""
    store_city = stores["city_idx"].to_numpy()
    order = np.argsort(store_city, kind="stable")
    counts = np.bincount(store_city, minlength=cities)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    local_count = counts[person_city]
    local = order[
        np.minimum(
            offsets[person_city] + np.floor(rng.random(len(person_city)) * local_count).astype(int),
            len(order) - 1,
        )
    ]
    anywhere = choice_index(rng, stores["traffic"].to_numpy(), len(person_city))
    return np.where(local_count > 0, local, anywhere).astype(np.int64)
