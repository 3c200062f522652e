"""A campaign's redeemed order revenue counts each purchase order once, and no cancelled order.

On the tiny lake spring2026's one redemption (CP1) is on ecom:O102 (300.00) and summer2026's (CP4)
on ecom:O104 (400.00). Given three more redemptions: CP5, a second spring coupon on O102 (named by
the shop's order id, O102); CP6, a spring coupon on ecom:O403, which was cancelled (999.00); and
CP7, a summer coupon on O102 (named as the web shop names it, #102). Spring's revenue stays 300.00
(O102 once, the cancelled order none) and summer's becomes 700.00: O102 carries coupons of both
campaigns and counts whole in each, so the campaigns' revenues do not add up to total revenue.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from tests.fixtures.tiny_lake import BATCH, coupons, web_order_number
from tests.marts.conftest import BuiltMarts
from warehouse import dbt, delta
from warehouse.paths import LakePaths

COUPONS = (
    "select campaign, coupons_issued, coupons_redeemed, redeemed_order_revenue, redeemed_orders "
    "from marts.coupon_redemption_rates order by campaign"
)


def _redeemed(coupon_id: str, campaign: str, order_ref: str, redeemed_at: datetime) -> dict:
    """A coupon of `campaign` the loyalty member L001 redeemed on the order `order_ref`."""
    return {
        "coupon_id": coupon_id,
        "record_id": "loyalty:L001",
        "campaign": campaign,
        "value": Decimal("20.00"),
        "issued_at": datetime(2026, 3, 1),
        "expires_at": datetime(2026, 7, 31),
        "redeemed_at": redeemed_at,
        "order_ref": order_ref,
    }


def test_an_order_counts_once_per_campaign_and_a_cancelled_order_is_no_revenue(
    built: BuiltMarts, tmp_path: Path
):
    config = built.copy_to(tmp_path)
    root = config.data_root
    paths = LakePaths.at(root)
    more = [
        _redeemed("CP5", "spring2026", "O102", datetime(2026, 3, 15, 14)),
        _redeemed("CP6", "spring2026", "ecom:O403", datetime(2026, 6, 1, 14)),
        _redeemed("CP7", "summer2026", web_order_number("ecom:O102"), datetime(2026, 3, 15, 14)),
    ]
    delta.write(pa.Table.from_pylist(more, schema=coupons().schema), paths.silver("coupons"), batch_id=BATCH)

    assert dbt.invoke(config, ["run"], "--select", "stg_silver__coupons coupon_redemption_rates").success
    with duckdb.connect(str(paths.build_duckdb), read_only=True) as con:
        rows = con.execute(COUPONS).fetchall()
    assert rows == [
        ("spring2026", 5, 3, Decimal("300.00"), 1),  # O102 once though two coupons; O403 was cancelled
        ("summer2026", 2, 2, Decimal("700.00"), 2),  # O104 and O102, which counts in spring too
    ]
