"""`cdp quality`: the gates on demand, with a clean error when a critical rule fails."""

from __future__ import annotations

import sys

import polars as pl
import pytest

from cdp.cli import main
from tests.quality.lake import clean_lake, write_build_database
from warehouse import delta


def test_cdp_quality_exits_non_zero_with_the_failing_rule_and_no_traceback(tmp_path, monkeypatch, capsys):
    lake = clean_lake(tmp_path / "data")
    write_build_database(lake, negative_clv=True)
    argv = ["cdp", "--data-root", str(lake.root), "quality", "--layer", "gold", "--run-id", "r1"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    stderr = capsys.readouterr().err
    assert (
        "suite gold_customer_clv, expectation expect_column_values_to_be_between on column negative_values"
        in stderr
    )
    assert "Traceback" not in stderr
    # what to do next, and where every result of the run is
    assert "Next: correct the sampled rows at their source" in stderr
    assert "lake/quality/dq_results where run_id = 'r1'" in stderr
    assert (lake.paths.docs / "quality" / "index.html").exists()


def test_cdp_quality_reports_warnings_and_succeeds(tmp_path, monkeypatch, capsys):
    lake = clean_lake(tmp_path / "data")
    write_build_database(lake)
    monkeypatch.setattr(sys, "argv", ["cdp", "--data-root", str(lake.root), "quality", "--layer", "gold"])
    main()  # returns normally: exit status 0
    out = capsys.readouterr().out
    assert "Quality gate (gold): passed" in out and "quality_docs" in out


def test_cdp_quality_full_judges_every_row_after_a_passing_gate(tmp_path, monkeypatch, capsys):
    lake = clean_lake(tmp_path / "data")
    base = ["cdp", "--data-root", str(lake.root), "quality", "--layer", "silver"]
    for run_id, extra in (("r1", []), ("r2", []), ("r3", ["--full"])):
        monkeypatch.setattr(sys, "argv", [*base, "--run-id", run_id, *extra])
        main()
    out = capsys.readouterr().out
    assert out.count("Quality gate (silver, changed rows)") == 1  # r2: nothing new to judge
    results = delta.read(lake.paths.lake / "quality" / "dq_results")
    orders = results.filter((pl.col("suite") == "silver_orders") & (pl.col("column") == "negative_totals"))
    # r2 found no new orders to judge row by row; r1 and r3 judged all of them (19 ecom, 9 pos)
    assert dict(orders.group_by("run_id").agg(pl.col("checked").sum()).iter_rows()) == {"r1": 28, "r3": 28}
    assert set(results.filter(pl.col("run_id") != "r2")["scope"]) == {"full"}


def test_cdp_quality_on_a_data_root_without_tables_fails_saying_nothing_was_checked(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(sys, "argv", ["cdp", "--data-root", str(tmp_path / "fresh"), "quality"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "nothing was checked" in captured.err and "run the pipeline first" in captured.err
    assert "passed" not in captured.out


WARNING = (
    "suite silver_orders_daily, expectation expect_column_values_to_be_between on column orders "
    '[source pos]: 150 of 730 rows failed; sample: [{"order_date": "2024-11-22", "orders": 0}]'
)


def _gate_summary(**changes: object) -> dict:
    summary = {
        "layers": ["silver"],
        "scope": "full",
        "status": "warnings",
        "critical": [],
        "warnings": [WARNING, WARNING.replace("[source pos]", "[source ecom]")],
        "failed_critical": 0,
        "failed_warnings": 2,
        "score": 0.99,
        "expectations": 10,
        "repair_list": 3,
        "seconds": 1.0,
        "skipped_suites": {},
        "quality_docs": "/data/docs/quality/index.html",
    }
    return {**summary, **changes}


def test_cdp_quality_names_the_source_of_each_failed_rule(capsys):
    from rich.console import Console

    from cdp.commands.quality import _print

    _print(_gate_summary(), Console(width=400))
    out = capsys.readouterr().out
    # "[source pos]" is not rich markup to be swallowed: two warnings of one rule must be told apart
    assert "[source pos]: 150 of 730" in out and "[source ecom]: 150 of 730" in out


def test_the_run_summary_lists_every_gate_warning_in_full_with_its_source(capsys):
    """`cdp run` shows a stage's details cut at 300 characters; the gate's findings follow whole."""
    from rich.console import Console

    from cdp.report import print_summary

    gate = {"stage": "quality_gate", "layer": "silver", "batch_id": "b1", **_gate_summary(failed_warnings=3)}
    print_summary({"batch_id": "b1", "stages": [gate]}, Console(width=400))
    out = capsys.readouterr().out
    assert f"quality_gate (silver) warning: {WARNING}" in out
    assert "[source ecom]: 150 of 730" in out
    assert "quality_gate (silver): 1 more in lake/quality/dq_results" in out
