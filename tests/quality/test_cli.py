"""`cdp quality`: the gates on demand, with a clean error when a critical rule fails."""

from __future__ import annotations

import sys

import pytest

from cdp.cli import main
from tests.quality.lake import clean_lake, write_build_database


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
    assert (lake.paths.docs / "quality" / "index.html").exists()


def test_cdp_quality_reports_warnings_and_succeeds(tmp_path, monkeypatch, capsys):
    lake = clean_lake(tmp_path / "data")
    write_build_database(lake)
    monkeypatch.setattr(sys, "argv", ["cdp", "--data-root", str(lake.root), "quality", "--layer", "gold"])
    main()  # returns normally: exit status 0
    out = capsys.readouterr().out
    assert "Quality gate (gold): passed" in out and "quality_docs" in out
