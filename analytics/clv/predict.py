"""Per-customer predictions for the `customer_clv` mart from fitted parameters and the summary.

CLV over a horizon of H months sums, month by month, the expected purchases in that month times
the expected spend per purchase, discounted at a monthly rate d:
    CLV = sum_{m=1..H} (E[Y(m)] - E[Y(m-1)]) * E[spend] / (1 + d)^m
(Fader, Hardie & Lee 2005b, discrete-time approximation as in the `lifetimes` package). Without
discounting this is simply predicted purchases x expected order value.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analytics.clv import bgnbd
from analytics.clv.gamma_gamma import expected_order_value
from analytics.clv.params import ClvParams
from analytics.clv.settings import DAYS_PER_UNIT, PredictSettings
from analytics.clv.summary import require_summary_columns

PREDICTION_COLUMNS = ("probability_alive", "predicted_purchases", "expected_order_value", "predicted_clv")


def predict_clv(
    summary: pl.DataFrame, params: ClvParams, settings: PredictSettings | None = None
) -> pl.DataFrame:
    """The summary with four columns appended, one row per customer.

    - `probability_alive`: P(still a customer at the observation end).
    - `predicted_purchases`: expected purchases over the horizon (`horizon_months`).
    - `expected_order_value`: conditional Gamma-Gamma mean spend per purchase.
    - `predicted_clv`: expected (discounted) spend over the horizon.

    `summary` must be in the fitted parameters' time unit (`params.time_unit`).
    """
    settings = settings or PredictSettings()
    require_summary_columns(summary, ["frequency", "recency", "tenure", "monetary_value"], "predict_clv")
    history = [summary[name].to_numpy() for name in ("frequency", "recency", "tenure")]
    month = settings.days_per_month / DAYS_PER_UNIT[params.time_unit]

    order_value = expected_order_value(
        params.gamma_gamma, summary["frequency"].to_numpy(), summary["monetary_value"].to_numpy()
    )
    cumulative = np.zeros(summary.height)
    clv = np.zeros(summary.height)
    for months in range(1, settings.horizon_months + 1):  # a dozen vectorised steps, not rows
        purchases = bgnbd.expected_purchases(params.bgnbd, months * month, *history)
        clv += (purchases - cumulative) * order_value / (1.0 + settings.monthly_discount_rate) ** months
        cumulative = purchases
    return summary.with_columns(
        pl.Series("probability_alive", bgnbd.probability_alive(params.bgnbd, *history)),
        pl.Series("predicted_purchases", cumulative),
        pl.Series("expected_order_value", order_value, nan_to_null=True),
        pl.Series("predicted_clv", clv, nan_to_null=True),
    )
