"""What is in each purchase: catalogue lines whose amounts add up to the person's spend.

A purchase's value (from Gamma-Gamma) is split over its lines; each line picks the SKU whose price is
nearest the line's share (with some jitter, so baskets vary), so big spenders buy pricier things and
order totals keep the CLV signal. Amounts are integer cents.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.purchases import within_group_position
from datagen.vocabulary import Vocabulary


def build_lines(
    okey: np.ndarray,
    value_cents: np.ndarray,
    lines: np.ndarray,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """okey, line_no (1..), sku_idx (row of the price-sorted catalogue), qty, unit_price_cents, line_amount_cents."""
    owner = np.repeat(np.arange(len(okey)), lines)
    weight = rng.exponential(1.0, owner.size)
    share = weight / np.bincount(owner, weights=weight)[owner]
    single = rng.random(owner.size) < vocabulary.share("basket_single_quantity")
    qty = np.where(single, 1, 2 + (rng.random(owner.size) < vocabulary.share("basket_triple_quantity")))
    target = value_cents[owner] * share / qty
    prices = vocabulary.catalog_prices
    sku = np.searchsorted(prices, target) + rng.integers(-4, 5, owner.size)
    sku = np.clip(sku, 0, len(prices) - 1)
    unit = prices[sku]
    return pl.DataFrame(
        {
            "okey": okey[owner],
            "line_no": (within_group_position(lines) + 1).astype(np.int32),
            "sku_idx": sku.astype(np.int32),
            "qty": qty.astype(np.int32),
            "unit_price_cents": unit,
            "line_amount_cents": unit * qty,
        }
    )


def order_totals(lines: pl.DataFrame) -> pl.DataFrame:
    return lines.group_by("okey").agg(
        total_cents=pl.col("line_amount_cents").sum(), item_count=pl.col("qty").sum()
    )
