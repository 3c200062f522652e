"""The BG/NBD + Gamma-Gamma fits the CLV predictions use: one row per fit, the latest one current.

A fit at 1M customers is the costliest step of the daily CLV model, and a day's purchases barely
move the parameters, so a continued (incremental) build reuses the last fit unless
`analytics.clv.refit_reason` finds a reason to fit again (cdp.yaml `clv.refit`: purchases changed
by more than `max_purchase_change`, `max_age_days` passed, other fit settings, a failed fit). The
first build and `--full-refresh` always fit; an erasure deletes the build database, so the run
after it fits too. A reused fit appends no row.
"""

# Calls are written as attribute calls (clv.fit_record) because Cosmos' project parser, which
# renders the Airflow task graph, only understands those in Python models.
import json
import logging
from datetime import UTC, datetime

import polars as pl

log = logging.getLogger("cdp.marts.clv")


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append")
    import analytics.clv as clv

    settings = clv.ClvSettings.model_validate(json.loads(dbt.config.get("clv_settings_json") or "{}"))
    as_of = dbt.ref("int_calendar__as_of").limit(1).fetchall()[0][0]
    count = dbt.ref("int_orders__purchases").aggregate("count(*)").fetchall()[0][0]
    last = None
    if dbt.is_incremental:
        latest = session.sql(f"select * from {dbt.this} order by _fitted_at desc limit 1").pl()
        last = clv.FitRecord.from_row(latest.row(0, named=True)) if latest.height else None
    reason = clv.refit_reason(last, as_of=as_of, purchases=count, settings=settings)
    if reason is None:
        log.info(
            "customer_clv: reusing the fit as of %s on %s purchases", last.as_of_date, f"{last.purchases:,}"
        )
        return pl.DataFrame(schema={**clv.FIT_SCHEMA, "_fitted_at": pl.Datetime("us")})
    summary = dbt.ref("int_customers__clv_summary").order("customer_id").pl()
    record = clv.fit_record(summary, as_of=as_of, purchases=count, settings=settings, reason=reason)
    log.info("customer_clv: fitted (%s): %s", reason, record.status)
    fitted_at = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, like the lake's timestamps
    return record.to_frame().with_columns(pl.lit(fitted_at, dtype=pl.Datetime("us")).alias("_fitted_at"))
