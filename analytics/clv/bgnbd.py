"""BG/NBD: how many purchases a customer makes and whether they are still a customer.

Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
Pareto/NBD model". While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha);
after each repeat purchase they drop out for good with probability p ~ Beta(a, b). Only purchases
are observed, so "alive" is inferred: long silence after frequent buying is a bad sign, silence
after a single purchase much less so.

Inputs are the summary columns `frequency` (x), `recency` (t_x) and `tenure` (T); see
`analytics.clv.summary`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from analytics.clv.errors import FitError
from analytics.clv.mle import LikelihoodProblem, distinct_rows, maximize
from analytics.clv.settings import FitSettings
from analytics.clv.summary import require_summary_columns

MODEL = "BG/NBD"
FIT_COLUMNS = ["frequency", "recency", "tenure"]


@dataclass(frozen=True)
class BgNbdParams:
    """Purchase rate lambda ~ Gamma(shape r, rate alpha); dropout p ~ Beta(a, b). Time in model units."""

    r: float
    alpha: float
    a: float
    b: float

    def to_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, float]) -> BgNbdParams:
        return cls(**{name: float(values[name]) for name in ("r", "alpha", "a", "b")})


def log_likelihood(
    params: BgNbdParams, frequency: np.ndarray, recency: np.ndarray, tenure: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood (FHL 2005, eq. 6)."""
    theta = np.array([params.r, params.alpha, params.a, params.b])
    loglik, _ = _loglik_and_grad(theta, *_as_float(frequency, recency, tenure))
    return loglik


def _loglik_and_grad(
    theta: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ln L = A1 + ln(exp(A2) + [x > 0] exp(A3)), combined by log-sum-exp; gradient in (r, alpha, a, b).

    A1 = ln G(r+x) - ln G(r) + r ln alpha            (the purchases)
    A2 = ln B(a, b+x) - ln B(a, b) - (r+x) ln(alpha+T)      (alive at T)
    A3 = ln B(a+1, b+x-1) - ln B(a, b) - (r+x) ln(alpha+t_x)  (dropped out right after t_x)
    """
    r, alpha, a, b = theta
    repeat = x > 0
    x1 = np.where(repeat, x, 1.0)  # keeps A3's terms finite where it is masked out anyway
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + big_t)
    a3 = np.where(repeat, betaln(a + 1, b + x1 - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x), -np.inf)
    mix = np.logaddexp(a2, a3)
    w2, w3 = np.exp(a2 - mix), np.exp(a3 - mix)  # posterior weights of "alive" vs "dropped out"

    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x)
    grad = np.empty((x.size, 4))
    grad[:, 0] = (
        digamma(r + x) - digamma(r) + np.log(alpha) - w2 * np.log(alpha + big_t) - w3 * np.log(alpha + t_x)
    )
    grad[:, 1] = r / alpha - (r + x) * (w2 / (alpha + big_t) + w3 / (alpha + t_x))
    grad[:, 2] = psi_ab - psi_abx + w3 / a
    grad[:, 3] = psi_ab - digamma(b) - psi_abx + w2 * digamma(b + x) + w3 * digamma(b + x1 - 1)
    return a1 + mix, grad


def fit_bgnbd(summary: pl.DataFrame, settings: FitSettings | None = None) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters from a customer summary (`summarize_transactions`)."""
    settings = settings or FitSettings()
    require_summary_columns(summary, FIT_COLUMNS, MODEL)
    if summary.height == 0:
        raise FitError(f"{MODEL}: no customers to fit on (no purchases on or before the observation end)")
    if summary.filter(pl.col("frequency") > 0).height == 0:
        raise FitError(f"{MODEL}: no customer bought more than once; the model needs repeat purchasers")
    data, weights = distinct_rows(summary, FIT_COLUMNS)
    x, t_x, big_t = data["frequency"], data["recency"], data["tenure"]
    mean_x, mean_t = np.average(x, weights=weights), np.average(big_t, weights=weights)
    # r = a = b = 1 and alpha from the average purchase rate: a start in the right scale for any unit.
    start = np.array([1.0, (mean_t + 1.0) / (mean_x + 1.0), 1.0, 1.0])
    problem = LikelihoodProblem(
        model=MODEL,
        parameter_names=("r", "alpha", "a", "b"),
        loglik_and_grad=lambda theta: _loglik_and_grad(theta, x, t_x, big_t),
        weights=weights,
        start=start,
    )
    return BgNbdParams(*(float(value) for value in maximize(problem, settings)))


def probability_alive(
    params: BgNbdParams, frequency: np.ndarray, recency: np.ndarray, tenure: np.ndarray
) -> np.ndarray:
    """P(still a customer at T | x, t_x, T) (FHL 2005, eq. 11); 1 for customers without repeats."""
    x, t_x, big_t = _as_float(frequency, recency, tenure)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x1 = np.where(x > 0, x, 1.0)
    log_odds_dead = np.log(a / (b + x1 - 1)) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def expected_purchases(
    params: BgNbdParams, t: float, frequency: np.ndarray, recency: np.ndarray, tenure: np.ndarray
) -> np.ndarray:
    """Expected purchases in the next `t` time units given each history (FHL 2005, eq. 10).

    The term ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z) overflows for heavy buyers,
    so it is evaluated through Euler's transformation as
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), z = t/(alpha+T+t), whose first two arguments do not
    grow with x.
    """
    x, _, big_t = _as_float(frequency, recency, tenure)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + big_t + t)
    tail = (1.0 - z) ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    unconditional_shape = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
    return unconditional_shape * probability_alive(params, frequency, recency, tenure)


def _as_float(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(values, dtype=np.float64) for values in arrays)
