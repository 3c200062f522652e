"""BG/NBD and Gamma-Gamma: likelihoods, fits, predictions, and recovery of known parameters."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from scipy.optimize import approx_fprime

from analytics.clv import (
    BgNbdParams,
    ClvParams,
    FitError,
    GammaGammaParams,
    PredictSettings,
    bgnbd,
    expected_order_value,
    expected_purchases,
    fit_bgnbd,
    fit_clv,
    fit_gamma_gamma,
    gamma_gamma,
    predict_clv,
    probability_alive,
    summarize_transactions,
)
from analytics.clv.simulate import simulate_transactions

from .conftest import PUBLISHED_BGNBD, PUBLISHED_GAMMA_GAMMA

CDNOW_BGNBD = BgNbdParams(**PUBLISHED_BGNBD)
CDNOW_GAMMA_GAMMA = GammaGammaParams(**PUBLISHED_GAMMA_GAMMA)


def _within(fitted: dict[str, float], published: dict[str, float], tolerance: float) -> None:
    for name, value in published.items():
        assert fitted[name] == pytest.approx(value, rel=tolerance), (name, fitted)


def test_both_fits_reproduce_the_published_cdnow_estimates(cdnow_published_summary):
    _within(fit_bgnbd(cdnow_published_summary).to_dict(), PUBLISHED_BGNBD, 0.01)
    _within(fit_gamma_gamma(cdnow_published_summary).to_dict(), PUBLISHED_GAMMA_GAMMA, 0.01)


@pytest.mark.parametrize(
    "module, theta, data",
    [
        (bgnbd, [0.7, 3.0, 0.8, 2.5], ([0.0, 1, 2, 7, 30], [0.0, 1.5, 10, 20, 35], [5.0, 10, 20, 38, 40])),
        (gamma_gamma, [6.0, 3.7, 15.0], ([1.0, 2, 5, 20], [11.0, 30, 22.5, 40])),
    ],
    ids=["BG/NBD", "Gamma-Gamma"],
)
def test_analytic_gradients_match_finite_differences(module, theta, data):
    theta, arrays = np.array(theta), [np.array(values) for values in data]
    _, gradient = module._loglik_and_grad(theta, *arrays)
    for row in range(arrays[0].size):
        numeric = approx_fprime(
            theta,
            lambda t, row=row: module._loglik_and_grad(t, *(a[row : row + 1] for a in arrays))[0][0],
            1e-7,
        )
        np.testing.assert_allclose(gradient[row], numeric, rtol=1e-4, atol=1e-6)


def test_bgnbd_log_likelihood_matches_the_closed_form_for_a_one_time_buyer():
    # x = 0: L = B(a, b)/B(a, b) * (alpha / (alpha + T))^r
    params, tenure = BgNbdParams(r=0.5, alpha=4.0, a=0.8, b=2.5), 10.0
    expected = 0.5 * np.log(4.0 / 14.0)
    assert bgnbd.log_likelihood(params, [0], [0.0], [tenure])[0] == pytest.approx(expected)


def test_predictions_agree_with_the_lifetimes_package(cdnow_published_summary):
    lifetimes = pytest.importorskip("lifetimes")
    customers = cdnow_published_summary.head(200)
    x, t_x, big_t, zbar = (
        customers[c].to_numpy() for c in ("frequency", "recency", "tenure", "monetary_value")
    )
    reference_bg = lifetimes.BetaGeoFitter()
    reference_bg.params_ = CDNOW_BGNBD.to_dict()
    reference_bg.predict = reference_bg.conditional_expected_number_of_purchases_up_to_time  # set by fit()
    reference_gg = lifetimes.GammaGammaFitter()
    reference_gg.params_ = CDNOW_GAMMA_GAMMA.to_dict()

    np.testing.assert_allclose(
        expected_purchases(CDNOW_BGNBD, 39.0, x, t_x, big_t),
        reference_bg.conditional_expected_number_of_purchases_up_to_time(39.0, x, t_x, big_t),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        probability_alive(CDNOW_BGNBD, x, t_x, big_t),
        reference_bg.conditional_probability_alive(x, t_x, big_t),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        expected_order_value(CDNOW_GAMMA_GAMMA, x, zbar),
        reference_gg.conditional_expected_average_profit(
            customers["frequency"].to_pandas(), customers["monetary_value"].to_pandas()
        ),
        rtol=1e-9,
    )
    # lifetimes' CLV steps months of 4.345 weeks and discounts each month.
    predicted = predict_clv(
        customers,
        ClvParams(CDNOW_BGNBD, CDNOW_GAMMA_GAMMA, customers.height, "week"),
        PredictSettings(horizon_months=12, monthly_discount_rate=0.01, days_per_month=4.345 * 7),
    )
    reference_clv = reference_gg.customer_lifetime_value(
        reference_bg,
        customers["frequency"].to_pandas(),
        customers["recency"].to_pandas(),
        customers["tenure"].to_pandas(),
        customers["monetary_value"].to_pandas(),
        time=12,
        discount_rate=0.01,
        freq="W",
    )
    np.testing.assert_allclose(predicted["predicted_clv"].to_numpy(), reference_clv.to_numpy(), rtol=1e-9)


def test_expected_purchases_stay_finite_for_very_heavy_buyers():
    # The textbook form ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z) gives NaN at x = 5000.
    x = np.array([0.0, 50, 500, 5000])
    last_bought_today = np.full(4, 39.0)
    result = expected_purchases(CDNOW_BGNBD, 52.0, x, last_bought_today, last_bought_today)
    assert np.all(np.isfinite(result))
    assert np.all(np.diff(result) > 0)  # more past purchases: more expected
    own_rate_forever = x / 39.0 * 52.0
    assert np.all(result[1:] < own_rate_forever[1:])  # dropout can only lower it
    assert result[-1] > 0.5 * own_rate_forever[-1]


def test_customer_without_repeats_is_alive_and_gets_the_population_order_value():
    summary = pl.DataFrame(
        {"frequency": [0, 3], "recency": [0.0, 5.0], "tenure": [30.0, 30.0], "monetary_value": [0.0, 100.0]}
    )
    params = ClvParams(CDNOW_BGNBD, CDNOW_GAMMA_GAMMA, 2, "week")
    predicted = predict_clv(summary, params)
    assert predicted["probability_alive"].to_list()[0] == 1.0
    assert 0 < predicted["probability_alive"].to_list()[1] < 1  # long silence after frequent buying
    population_mean = 6.25 * 15.44 / (3.74 - 1)
    assert predicted["expected_order_value"][0] == pytest.approx(population_mean)
    # Three repeats at 100 pull the estimate from the population mean towards 100.
    assert population_mean < predicted["expected_order_value"][1] < 100


def test_undiscounted_clv_is_purchases_times_order_value_and_discounting_lowers_it(cdnow_published_summary):
    params = ClvParams(CDNOW_BGNBD, CDNOW_GAMMA_GAMMA, cdnow_published_summary.height, "week")
    plain = predict_clv(cdnow_published_summary, params, PredictSettings(horizon_months=12))
    np.testing.assert_allclose(
        plain["predicted_clv"].to_numpy(),
        (plain["predicted_purchases"] * plain["expected_order_value"]).to_numpy(),
    )
    np.testing.assert_allclose(
        plain["predicted_purchases"].to_numpy(),
        expected_purchases(
            CDNOW_BGNBD,
            12 * 30.4375 / 7,
            *(cdnow_published_summary[c] for c in ("frequency", "recency", "tenure")),
        ),
    )
    discounted = predict_clv(
        cdnow_published_summary, params, PredictSettings(horizon_months=12, monthly_discount_rate=0.02)
    )
    assert (discounted["predicted_clv"] < plain["predicted_clv"]).all()
    assert discounted.columns == [
        *cdnow_published_summary.columns,
        "probability_alive",
        "predicted_purchases",
        "expected_order_value",
        "predicted_clv",
    ]


def test_fits_recover_the_parameters_the_transactions_were_drawn_from():
    true_bgnbd = BgNbdParams(r=2.0, alpha=120.0, a=1.2, b=15.0)
    true_gamma_gamma = GammaGammaParams(p=6.0, q=4.0, v=150.0)
    end = date(2026, 10, 31)
    transactions = simulate_transactions(
        true_bgnbd, true_gamma_gamma, customers=30_000, observation_end=end, max_tenure_days=1825, seed=11
    )
    fitted = fit_clv(summarize_transactions(transactions, observation_end=end, time_unit="day"), "day")
    # Sampling noise at 30k customers plus day rounding (same-day purchases merge): 12% is generous
    # for these parameters and tight enough to catch a wrong likelihood.
    _within(fitted.bgnbd.to_dict(), true_bgnbd.to_dict(), 0.12)
    _within(fitted.gamma_gamma.to_dict(), true_gamma_gamma.to_dict(), 0.12)


def test_nobody_buying_twice_is_a_clear_fit_error():
    summary = pl.DataFrame(
        {"frequency": [0, 0], "recency": [0.0, 0.0], "tenure": [3.0, 5.0], "monetary_value": [0.0, 0.0]}
    )
    with pytest.raises(FitError, match="repeat purchasers"):
        fit_bgnbd(summary)
    with pytest.raises(FitError, match="repeat purchasers"):
        fit_gamma_gamma(summary)


def test_a_summary_without_the_model_columns_is_a_clear_fit_error():
    with pytest.raises(FitError, match="missing column"):
        fit_bgnbd(pl.DataFrame({"frequency": [1]}))
