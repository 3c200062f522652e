"""Synthetic transactions drawn from the BG/NBD and Gamma-Gamma processes themselves.

Used by the benchmark and the tests to check that fitting recovers known parameters, at any size,
without real data. Fully vectorised: no loop over customers or purchases.

Per customer (time in days; the parameters are therefore in the `day` unit):
- first purchase on `observation_end - T`, T uniform on 0..max_tenure_days;
- purchase rate lambda ~ Gamma(r, alpha), dropout probability p ~ Beta(a, b);
- repeat purchases while alive form a Poisson process; the customer drops out right after the
  J-th repeat purchase, J ~ Geometric(p). So the count in (0, T] is x = min(N, J) with
  N ~ Poisson(lambda T). Given N, purchase times are N sorted uniforms on (0, T]: the x-th of them
  (the last one observed) is T * Beta(x, N - x + 1), and the x - 1 before it are uniform below it;
- every purchase amount ~ Gamma(p, nu) with nu ~ Gamma(q, v) per customer.
Times are cut to calendar days, as real order dates are (two purchases on one day then merge in
the summary, exactly as they would in real data).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from analytics.clv.bgnbd import BgNbdParams
from analytics.clv.gamma_gamma import GammaGammaParams


def simulate_transactions(
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
    *,
    customers: int,
    observation_end: date,
    max_tenure_days: int,
    seed: int,
) -> pl.DataFrame:
    """Columns `customer_id` (str), `order_date` (date), `amount` (float); one row per purchase."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, max_tenure_days + 1, customers)
    rate = rng.gamma(bgnbd.r, 1.0 / bgnbd.alpha, customers)
    dropout = rng.beta(bgnbd.a, bgnbd.b, customers)
    alive_purchases = rng.poisson(rate * tenure)
    repeats = np.minimum(alive_purchases, rng.geometric(dropout))

    buyers = np.flatnonzero(repeats > 0)
    last = tenure[buyers] * rng.beta(repeats[buyers], alive_purchases[buyers] - repeats[buyers] + 1)
    earlier_owner = np.repeat(buyers, repeats[buyers] - 1)
    earlier = rng.random(earlier_owner.size) * np.repeat(last, repeats[buyers] - 1)

    owner = np.concatenate([np.arange(customers), buyers, earlier_owner])
    offset_days = np.concatenate([np.zeros(customers), last, earlier]).astype(np.int64)
    spend_rate = rng.gamma(gamma_gamma.q, 1.0 / gamma_gamma.v, customers)
    amount = rng.gamma(gamma_gamma.p, 1.0 / spend_rate[owner])
    del earlier, earlier_owner, last

    first_day = pl.lit(observation_end, dtype=pl.Date) - pl.duration(days=pl.col("tenure"))
    return (
        pl.DataFrame({"owner": owner, "offset": offset_days, "amount": amount})
        .with_columns(pl.Series("tenure", tenure[owner]))
        .select(
            ("C" + pl.col("owner").cast(pl.String).str.zfill(len(str(customers)))).alias("customer_id"),
            (first_day + pl.duration(days=pl.col("offset"))).alias("order_date"),
            pl.col("amount").round(2),
        )
    )
