"""BG/NBD + Gamma-Gamma predictions per customer as of today, from the current fit (analytics.clv).

The statistics live in `analytics.clv` (the same code as `cdp clv predict`); this model only feeds
it each customer's summary (`int_customers__clv_summary`) and stores its output, so `dbt build`
stays the unit of work. The parameters come from the latest row of `int_customers__clv_fit`
(fitted there, or reused from an earlier day); the predictions are computed for every customer
every run, since recency and tenure move with the as-of date. Settings come from cdp.yaml `clv:` (passed as the
`clv_settings` var). When the data cannot identify the models (for example nobody has bought
twice yet) the rows are still written, with null predictions and the reason in
`clv_model_status`, so the rest of the marts build.
"""

# Calls are written as attribute calls (clv.predict_clv) because Cosmos' project parser, which
# renders the Airflow task graph, only understands those in Python models.
import json

import polars as pl


def model(dbt, session):
    dbt.config(materialized="table")
    import analytics.clv as clv

    settings = clv.ClvSettings.model_validate(json.loads(dbt.config.get("clv_settings_json") or "{}"))
    fit = clv.FitRecord.from_row(
        dbt.ref("int_customers__clv_fit").order("_fitted_at desc").limit(1).pl().row(0, named=True)
    )
    summary = dbt.ref("int_customers__clv_summary").order("customer_id").pl()
    if fit.params is None:
        predicted = summary.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(name) for name in clv.PREDICTION_COLUMNS
        )
    else:
        predicted = clv.predict_clv(summary, fit.params, settings.predict)
    return predicted.with_columns(
        pl.lit(fit.status).alias("clv_model_status"),
        pl.lit(settings.time_unit).alias("time_unit"),
    )
