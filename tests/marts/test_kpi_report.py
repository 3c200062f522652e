"""The weekly KPI report from the published marts: the same figures in CSV, Excel and a PDF."""

from __future__ import annotations

import openpyxl
import polars as pl
import pytest

from warehouse.kpi_report import ReportError, export_weekly_report


def test_weekly_report_exports_csv_excel_and_pdf(built):
    report = export_weekly_report(built.config)
    assert report.week_start.isoformat() == "2026-06-29"  # the Monday of the as-of date 2026-06-30
    weekly = pl.read_csv(report.csv)
    assert weekly.height == 12
    last = weekly.row(-1, named=True)
    assert last["week_start"] == "2026-06-29"
    assert (last["purchase_orders"], last["revenue"]) == (3, 495.0)  # O703 100, T105 350, anonymous T9001 45
    workbook = openpyxl.load_workbook(report.excel, read_only=True)
    assert workbook.sheetnames == ["weekly_kpis", "lifecycle", "rfm_segments"]
    assert workbook["weekly_kpis"].max_row == 1 + 12  # header and twelve weeks
    assert report.pdf.read_bytes()[:5] == b"%PDF-"


def test_report_needs_published_marts(tmp_path):
    from tests.marts.conftest import tiny_config

    with pytest.raises(ReportError, match="publish the marts first"):
        export_weekly_report(tiny_config(tmp_path / "empty"))
