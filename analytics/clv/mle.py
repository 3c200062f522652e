"""Maximum likelihood shared by both models: L-BFGS-B on log-parameters with analytic gradients.

Searching over log-parameters keeps every parameter positive without hard constraints and puts
scale parameters (alpha in days is 7x alpha in weeks) on a comparable footing. The objective is
the *mean* negative log-likelihood per customer, so tolerances do not depend on the data's size,
plus an optional L2 penalty `penalizer * sum(params**2)` (as in the `lifetimes` package) that
shrinks parameters when small samples make the likelihood flat. Identical rows are collapsed to
one row with a weight beforehand, which makes fits on a million customers cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import minimize

from analytics.clv.errors import FitError
from analytics.clv.settings import FitSettings

log = logging.getLogger("cdp.analytics.clv")

# Per-row log-likelihood (n,) and its gradient with respect to the natural parameters (n, k).
LoglikAndGrad = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

# Log-parameters stay within exp(+-LOG_PARAM_BOUND): far outside any sensible fit, but keeps the
# special functions finite while the line search explores.
LOG_PARAM_BOUND = 30.0


@dataclass(frozen=True)
class LikelihoodProblem:
    """One model on one data set: what to maximize, from where, with which row weights."""

    model: str
    parameter_names: tuple[str, ...]
    loglik_and_grad: LoglikAndGrad
    weights: np.ndarray
    start: np.ndarray


def distinct_rows(frame: pl.DataFrame, columns: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Collapse identical rows: returns each column's distinct values and how often each row occurs."""
    grouped = frame.group_by(columns).agg(pl.len().alias("weight")).sort(columns)
    data = {name: grouped[name].cast(pl.Float64).to_numpy() for name in columns}
    return data, grouped["weight"].cast(pl.Float64).to_numpy()


def maximize(problem: LikelihoodProblem, settings: FitSettings) -> np.ndarray:
    """Maximum-likelihood estimate of the natural (positive) parameters."""
    weights = problem.weights / problem.weights.sum()

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        loglik, grad = problem.loglik_and_grad(params)
        value = -float(weights @ loglik) + settings.penalizer * float(params @ params)
        grad_natural = -(weights @ grad) + 2.0 * settings.penalizer * params
        if not np.isfinite(value) or not np.all(np.isfinite(grad_natural)):
            return np.inf, np.zeros_like(params)
        return value, grad_natural * params  # chain rule: d/d(log p) = p * d/dp

    start = np.log(problem.start)
    if not np.isfinite(objective(start)[0]):
        raise FitError(
            f"{problem.model}: the likelihood is not finite at the starting values {problem.start}"
        )
    result = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_PARAM_BOUND, LOG_PARAM_BOUND)] * len(start),
        options={
            "maxiter": settings.max_iterations,
            "ftol": settings.tolerance,
            "gtol": settings.gradient_tolerance,
        },
    )
    params = np.exp(result.x)
    if not np.all(np.isfinite(params)) or not np.isfinite(result.fun):
        raise FitError(f"{problem.model}: the fit diverged ({result.message})")
    if result.status == 1:
        raise FitError(
            f"{problem.model}: no convergence within {settings.max_iterations} iterations; "
            "raise clv.fit.max_iterations in cdp.yaml or set a small clv.fit.penalizer"
        )
    if not result.success:
        # Usually the line search stalling at the optimum on rounding noise; keep the estimate.
        log.warning("%s: optimizer stopped with %r at %s", problem.model, result.message, params)
    if np.any(np.abs(result.x) >= LOG_PARAM_BOUND - 1e-6):
        raise FitError(
            f"{problem.model}: a parameter ran off to 0 or infinity ({_named(problem, params)}); "
            "the data cannot identify the model. More customers, a longer history or a small "
            "clv.fit.penalizer usually help"
        )
    log.info("%s fitted in %d iterations: %s", problem.model, result.nit, _named(problem, params))
    return params


def _named(problem: LikelihoodProblem, params: np.ndarray) -> str:
    return ", ".join(f"{n}={v:.6g}" for n, v in zip(problem.parameter_names, params, strict=True))
