"""Gamma-Gamma: how much a customer spends per purchase, shrunk towards the population mean.

Fader & Hardie (2013), "The Gamma-Gamma model of monetary value". Each purchase amount is
Gamma(p, nu) with a customer-specific nu ~ Gamma(q, v), so a customer's average of x repeat
purchases, z-bar, is informative in proportion to x: one big basket says little, twenty say a lot.
Assumes spend is independent of purchase frequency, which lets it pair with BG/NBD.

Fitted on customers with at least one repeat purchase and a positive `monetary_value` (the
model's amounts are positive; a customer whose refunds cancel their repeat spend carries no
information about basket size).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
from scipy.special import digamma, gammaln

from analytics.clv.errors import FitError
from analytics.clv.mle import LikelihoodProblem, distinct_rows, maximize
from analytics.clv.settings import FitSettings
from analytics.clv.summary import require_summary_columns

MODEL = "Gamma-Gamma"
FIT_COLUMNS = ["frequency", "monetary_value"]


@dataclass(frozen=True)
class GammaGammaParams:
    """Amount ~ Gamma(shape p, rate nu) per purchase; nu ~ Gamma(shape q, rate v) across customers."""

    p: float
    q: float
    v: float

    def to_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, float]) -> GammaGammaParams:
        return cls(**{name: float(values[name]) for name in ("p", "q", "v")})

    @property
    def population_mean(self) -> float:
        """Mean spend per purchase across customers, p v / (q - 1); infinite unless q > 1."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else float("inf")


def repeat_buyers(summary: pl.DataFrame) -> pl.DataFrame:
    """The customers the model is fitted on: at least one repeat purchase, positive mean spend."""
    return summary.filter((pl.col("frequency") > 0) & (pl.col("monetary_value") > 0))


def log_likelihood(params: GammaGammaParams, frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of z-bar given x (Fader & Hardie 2013, eq. 4); needs x > 0, z-bar > 0."""
    theta = np.array([params.p, params.q, params.v])
    loglik, _ = _loglik_and_grad(
        theta, *(np.asarray(a, dtype=np.float64) for a in (frequency, monetary_value))
    )
    return loglik


def _loglik_and_grad(theta: np.ndarray, x: np.ndarray, zbar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ln f = ln G(px+q) - ln G(px) - ln G(q) + q ln v + (px-1) ln zbar + px ln x - (px+q) ln(v + x zbar)."""
    p, q, v = theta
    px = p * x
    log_pooled = np.log(v + x * zbar)
    psi_pxq = digamma(px + q)
    loglik = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(zbar)
        + px * np.log(x)
        - (px + q) * log_pooled
    )
    grad = np.empty((x.size, 3))
    grad[:, 0] = x * (psi_pxq - digamma(px) + np.log(zbar) + np.log(x) - log_pooled)
    grad[:, 1] = psi_pxq - digamma(q) + np.log(v) - log_pooled
    grad[:, 2] = q / v - (px + q) / (v + x * zbar)
    return loglik, grad


def fit_gamma_gamma(summary: pl.DataFrame, settings: FitSettings | None = None) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters on the summary's repeat buyers."""
    settings = settings or FitSettings()
    require_summary_columns(summary, FIT_COLUMNS, MODEL)
    buyers = repeat_buyers(summary)
    if buyers.height == 0:
        raise FitError(
            f"{MODEL}: no customer has a repeat purchase with a positive amount; "
            "the model needs repeat purchasers (is the observation end too early?)"
        )
    data, weights = distinct_rows(buyers, FIT_COLUMNS)
    x, zbar = data["frequency"], data["monetary_value"]
    # p = 1, q = 2 and v matching the mean spend, p v / (q - 1): right scale in any currency.
    start = np.array([1.0, 2.0, float(np.average(zbar, weights=weights))])
    problem = LikelihoodProblem(
        model=MODEL,
        parameter_names=("p", "q", "v"),
        loglik_and_grad=lambda theta: _loglik_and_grad(theta, x, zbar),
        weights=weights,
        start=start,
    )
    return GammaGammaParams(*(float(value) for value in maximize(problem, settings)))


def expected_order_value(
    params: GammaGammaParams, frequency: np.ndarray, monetary_value: np.ndarray
) -> np.ndarray:
    """E[spend per purchase | x, z-bar] = p (v + x z-bar) / (p x + q - 1) (Fader & Hardie 2013, eq. 5).

    A weighted average of the population mean and the customer's own mean, the weight on the
    latter growing with x. Customers without repeats get the population mean (NaN if q <= 1, where
    that mean does not exist).
    """
    x = np.asarray(frequency, dtype=np.float64)
    zbar = np.where(x > 0, np.asarray(monetary_value, dtype=np.float64), 0.0)
    denominator = params.p * x + params.q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        value = params.p * (params.v + x * zbar) / denominator
    return np.where(denominator > 0, value, np.nan)
