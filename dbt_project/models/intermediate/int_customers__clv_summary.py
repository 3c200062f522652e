"""Per customer, the purchase history BG/NBD + Gamma-Gamma work on, as of the as-of date.

`analytics.clv.summarize_transactions` (the same code as `cdp clv fit`) on the purchases up to the
as-of date: frequency, recency, tenure, monetary value and the first/last purchase. Its own model
so that a build computes it once for both its readers: the fit (`int_customers__clv_fit`, only on
the days it fits) and the predictions (`int_customers__clv_predicted`, every build).
"""

# Calls are written as attribute calls (clv.summarize_transactions) because Cosmos' project
# parser, which renders the Airflow task graph, only understands those in Python models.
import json


def model(dbt, session):
    dbt.config(materialized="table")
    import analytics.clv as clv

    settings = clv.ClvSettings.model_validate(json.loads(dbt.config.get("clv_settings_json") or "{}"))
    as_of = dbt.ref("int_calendar__as_of").limit(1).fetchall()[0][0]
    purchases = dbt.ref("int_orders__purchases").select("customer_id, order_date, amount").pl()
    return clv.summarize_transactions(
        purchases,
        observation_end=as_of,
        time_unit=settings.time_unit,
        columns=clv.TransactionColumns("customer_id", "order_date", "amount"),
        source="int_orders__purchases",
    )
