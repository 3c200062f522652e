"""The weekly KPI report: CSV, Excel and a PDF with charts, from the published marts.

It reads `cdp.duckdb` read-only (what analysts see, never the build database), so a report always
describes a complete, published set of marts. The weeks covered end with the marts' as-of week;
files are named by that week, so re-running the report for the same marts rewrites the same
files (each written to a temporary name first and renamed into place).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from warehouse.config import CdpConfig
from warehouse.duckdb_connections import connect
from warehouse.errors import CdpError
from warehouse.marts_settings import load_settings
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.report")

WEEKLY_SQL = """
with weeks as (
    select cast(range as date) as week_start
    from range(cast(? as date), cast(? as date) + interval 1 day, interval 7 day)
),
sales as (
    select order_week as week_start,
        count(*) as purchase_orders,
        count(distinct customer_id) as buying_customers,
        sum(total_amount) as revenue
    from fct_orders
    where is_purchase
    group by order_week
),
first_purchases as (
    select cast(date_trunc('week', first_purchase_date) as date) as week_start, count(*) as new_customers
    from customer_lifecycle
    where first_purchase_date is not null
    group by 1
),
service as (
    select week_start,
        sum(tickets) as service_tickets,
        sum(responded_within_promise) / nullif(sum(tickets), 0) as first_response_promise_share,
        sum(resolved_within_promise) / nullif(sum(tickets), 0) as resolution_promise_share,
        sum(avg_csat * csat_responses) / nullif(sum(csat_responses), 0) as avg_csat
    from service_kpis
    group by week_start
)
select weeks.week_start,
    coalesce(sales.revenue, 0) as revenue,
    coalesce(sales.purchase_orders, 0) as purchase_orders,
    coalesce(sales.buying_customers, 0) as buying_customers,
    coalesce(sales.revenue / nullif(sales.purchase_orders, 0), 0) as avg_order_value,
    coalesce(first_purchases.new_customers, 0) as new_customers,
    coalesce(service.service_tickets, 0) as service_tickets,
    service.first_response_promise_share,
    service.resolution_promise_share,
    service.avg_csat
from weeks
left join sales using (week_start)
left join first_purchases using (week_start)
left join service using (week_start)
order by weeks.week_start
"""


class ReportError(CdpError):
    """The report cannot be made (no published marts yet, ...)."""


@dataclass(frozen=True)
class WeeklyReport:
    week_start: date
    csv: Path
    excel: Path
    pdf: Path

    def summary(self) -> dict[str, Any]:
        return {
            "week_start": self.week_start.isoformat(),
            "csv": str(self.csv),
            "excel": str(self.excel),
            "pdf": str(self.pdf),
        }


def export_weekly_report(config: CdpConfig) -> WeeklyReport:
    """Write `reports/weekly_kpis_<week>.{csv,xlsx,pdf}` for the weeks up to the marts' as-of week."""

    paths = LakePaths.at(config.data_root)
    if not paths.duckdb.exists():
        raise ReportError(f"{paths.duckdb} not found: publish the marts first (cdp run / the cdp_daily DAG)")
    weeks = load_settings(config).report.weeks
    with connect(paths.duckdb, read_only=True) as con:
        as_of = con.execute("select max(as_of_date) from customer_lifecycle").fetchall()[0][0]
        if as_of is None:
            raise ReportError(f"{paths.duckdb}: the marts are empty; nothing to report")
        last_week = as_of - timedelta(days=as_of.weekday())
        first_week = last_week - timedelta(weeks=weeks - 1)
        weekly = con.sql(WEEKLY_SQL, params=[first_week, last_week]).pl()
        lifecycle = con.sql(
            "select lifecycle_state, count(*) as customers from customer_lifecycle group by 1 order by 2 desc"
        ).pl()
        segments = con.sql(
            "select rfm_segment, count(*) as customers, sum(monetary) as revenue from customer_rfm "
            "group by 1 order by 3 desc"
        ).pl()
    paths.reports.mkdir(parents=True, exist_ok=True)
    stem = paths.reports / f"weekly_kpis_{last_week.isoformat()}"
    report = WeeklyReport(
        last_week, stem.with_suffix(".csv"), stem.with_suffix(".xlsx"), stem.with_suffix(".pdf")
    )
    _atomic(report.csv, lambda tmp: weekly.write_csv(tmp))
    _atomic(
        report.excel,
        lambda tmp: _write_excel(
            tmp, {"weekly_kpis": weekly, "lifecycle": lifecycle, "rfm_segments": segments}
        ),
    )
    _atomic(report.pdf, lambda tmp: _write_pdf(tmp, weekly, lifecycle, segments, last_week))
    log.info("weekly KPI report for the week of %s in %s", last_week, paths.reports)
    return report


def _atomic(target: Path, write: Any) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _write_excel(path: Path, sheets: dict[str, Any]) -> None:
    import xlsxwriter

    with xlsxwriter.Workbook(str(path)) as workbook:
        for name, frame in sheets.items():
            frame.write_excel(workbook, worksheet=name, autofit=True)


def _write_pdf(path: Path, weekly: Any, lifecycle: Any, segments: Any, week: date) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    weeks = [d.strftime("%m-%d") for d in weekly["week_start"].to_list()]
    with PdfPages(path, metadata={"Title": f"CDP weekly KPIs, week of {week}"}) as pdf:
        fig, axes = plt.subplots(2, 2, figsize=(11.7, 8.3))
        fig.suptitle(f"Customer Data Platform: weekly KPIs (week of {week})")
        axes[0][0].bar(weeks, [float(v) for v in weekly["revenue"].to_list()], color="#4C72B0")
        axes[0][0].set_title("Revenue (CNY)")
        axes[0][1].plot(weeks, weekly["buying_customers"].to_list(), marker="o", label="buying customers")
        axes[0][1].plot(weeks, weekly["new_customers"].to_list(), marker="o", label="new customers")
        axes[0][1].set_title("Customers")
        axes[0][1].legend()
        axes[1][0].bar(
            lifecycle["lifecycle_state"].to_list(), lifecycle["customers"].to_list(), color="#55A868"
        )
        axes[1][0].set_title("Customers by lifecycle state")
        shares = [
            v if v is not None else float("nan") for v in weekly["first_response_promise_share"].to_list()
        ]
        resolution = [
            v if v is not None else float("nan") for v in weekly["resolution_promise_share"].to_list()
        ]
        axes[1][1].plot(weeks, shares, marker="o", label="first response within promise")
        axes[1][1].plot(weeks, resolution, marker="o", label="resolved within promise")
        axes[1][1].set_ylim(0, 1.05)
        axes[1][1].set_title("Service promises kept")
        axes[1][1].legend()
        for ax in axes.flat:
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        fig.tight_layout()
        pdf.savefig(fig)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(11.7, 8.3))
        ax.barh(
            segments["rfm_segment"].to_list(),
            [float(v) for v in segments["revenue"].to_list()],
            color="#C44E52",
        )
        ax.set_title("Revenue by RFM segment (CNY)")
        fig.tight_layout()
        pdf.savefig(fig)
        plt.close(fig)
