"""BG/NBD + Gamma-Gamma predictions per customer, fitted on today's purchases (analytics.clv).

The statistics live in `analytics.clv` (the same code as `cdp clv fit`); this model only feeds it
the purchases up to the as-of date and stores its output, so `dbt build` stays the unit of work.
Settings come from cdp.yaml `clv:` (passed as the `clv_settings` var). When the data cannot
identify the models (for example nobody has bought twice yet) the rows are still written, with
null predictions and the reason in `clv_model_status`, so the rest of the marts build.
"""

# Calls are written as attribute calls (clv.fit_clv) because Cosmos' project parser, which renders
# the Airflow task graph, only understands those in Python models.
import json
import logging

import polars as pl

log = logging.getLogger("cdp.marts.clv")


def model(dbt, session):
    dbt.config(materialized="table")
    import analytics.clv as clv

    settings = clv.ClvSettings.model_validate(json.loads(dbt.config.get("clv_settings_json") or "{}"))
    as_of = dbt.ref("int_calendar__as_of").limit(1).fetchall()[0][0]
    purchases = dbt.ref("int_orders__purchases").select("customer_id, order_date, amount").pl()
    summary = clv.summarize_transactions(
        purchases,
        observation_end=as_of,
        time_unit=settings.time_unit,
        columns=clv.TransactionColumns("customer_id", "order_date", "amount"),
        source="int_orders__purchases",
    )
    try:
        params = clv.fit_clv(summary, settings.time_unit, settings.fit)
    except clv.ClvError as exc:
        log.warning("customer_clv: models not fitted: %s", exc)
        return summary.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("probability_alive"),
            pl.lit(None, dtype=pl.Float64).alias("predicted_purchases"),
            pl.lit(None, dtype=pl.Float64).alias("expected_order_value"),
            pl.lit(None, dtype=pl.Float64).alias("predicted_clv"),
            pl.lit(f"not fitted: {exc}").alias("clv_model_status"),
            pl.lit(settings.time_unit).alias("time_unit"),
        )
    log.info("customer_clv: fitted %s", json.dumps(params.to_dict()))
    predicted = clv.predict_clv(summary, params, settings.predict)
    return predicted.with_columns(
        pl.lit("fitted " + json.dumps(params.to_dict(), sort_keys=True)).alias("clv_model_status"),
        pl.lit(settings.time_unit).alias("time_unit"),
    )
