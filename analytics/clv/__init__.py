"""Customer lifetime value: BG/NBD (purchases, probability alive) and Gamma-Gamma (spend per purchase).

The API, in pipeline order (all pure functions on Polars frames except the file helpers):

    summary = summarize_transactions(tx, observation_end=date(2026, 10, 31), time_unit="week",
                                     columns=TransactionColumns("customer_id", "order_date", "amount"))
    params = fit_clv(summary, time_unit="week")                # or fit_bgnbd / fit_gamma_gamma
    mart = predict_clv(summary, params, PredictSettings(horizon_months=12))
    save_params(params, "clv_params.json"); load_params("clv_params.json")
    refit_reason(last_fit, as_of=..., purchases=..., settings=...)  # None: reuse the last fit

`fit_transactions_file` / `predict_transactions_file` are what `cdp clv fit` / `cdp clv predict` run. Settings come from the `clv:` section of
cdp.yaml (`load_settings(config)`). Every user-fixable problem raises a `ClvError` (a `CdpError`).
"""

from analytics.clv.bgnbd import BgNbdParams, expected_purchases, fit_bgnbd, probability_alive
from analytics.clv.errors import ClvError, FitError, ParamsError, TransactionsError
from analytics.clv.gamma_gamma import GammaGammaParams, expected_order_value, fit_gamma_gamma
from analytics.clv.params import ClvParams, load_params, save_params
from analytics.clv.predict import PREDICTION_COLUMNS, predict_clv
from analytics.clv.refit import FIT_SCHEMA, FitRecord, fit_record, fit_settings_key, refit_reason
from analytics.clv.settings import ClvSettings, FitSettings, PredictSettings, RefitSettings, load_settings
from analytics.clv.summary import SUMMARY_COLUMNS, summarize_transactions
from analytics.clv.transactions import TransactionColumns, scan_transactions
from analytics.clv.workflow import (
    fit_clv,
    fit_transactions_file,
    predict_transactions_file,
    summarize_file,
    write_parquet,
)

__all__ = [
    "FIT_SCHEMA",
    "PREDICTION_COLUMNS",
    "SUMMARY_COLUMNS",
    "BgNbdParams",
    "ClvError",
    "ClvParams",
    "ClvSettings",
    "FitError",
    "FitRecord",
    "FitSettings",
    "GammaGammaParams",
    "ParamsError",
    "PredictSettings",
    "RefitSettings",
    "TransactionColumns",
    "TransactionsError",
    "expected_order_value",
    "expected_purchases",
    "fit_bgnbd",
    "fit_clv",
    "fit_gamma_gamma",
    "fit_record",
    "fit_settings_key",
    "fit_transactions_file",
    "load_params",
    "load_settings",
    "predict_clv",
    "predict_transactions_file",
    "probability_alive",
    "refit_reason",
    "save_params",
    "scan_transactions",
    "summarize_file",
    "summarize_transactions",
    "write_parquet",
]
