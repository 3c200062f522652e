"""The privacy commands: clear messages and exit codes, never a traceback for a user's mistake."""

from __future__ import annotations

import sys

import polars as pl
import pytest
import yaml

from cdp.cli import main
from tests.privacy.lake import XIAOYU
from warehouse import delta
from warehouse.paths import LakePaths


def cdp(monkeypatch, capsys, lake, *args: str) -> tuple[int, str, str]:
    """Run `cdp --config <lake's cdp.yaml> --data-root <lake> ARGS` in this process."""
    config_file = lake.root.parent / "cdp.yaml"
    if not config_file.exists():
        config_file.write_text(yaml.safe_dump(lake.config.raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(
        sys, "argv", ["cdp", "-q", "--config", str(config_file), "--data-root", str(lake.root), *args]
    )
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_privacy_check_passes_then_names_a_new_unclassified_column(monkeypatch, capsys, lake_copy):
    code, out, _ = cdp(monkeypatch, capsys, lake_copy, "privacy", "check", "--no-declared")
    assert code == 0 and "every column is classified" in out
    path = LakePaths.at(lake_copy.root).silver("tickets")
    delta.write(delta.read(path).with_columns(agent_notes=pl.lit("x")), path, "overwrite")
    code, _, err = cdp(monkeypatch, capsys, lake_copy, "privacy", "check", "--no-declared")
    assert code == 1 and "silver/tickets.agent_notes" in err


def test_a_refused_query_exits_3_with_the_reason_and_no_traceback(monkeypatch, capsys, lake_copy):
    code, _, err = cdp(
        monkeypatch, capsys, lake_copy, "query", "--role", "market_analyst", "select email from dim_customer"
    )
    assert code == 3
    assert "role market_analyst may not read column dim_customer.email" in err and "Traceback" not in err


def test_an_allowed_query_prints_csv(monkeypatch, capsys, lake_copy):
    code, out, _ = cdp(
        monkeypatch,
        capsys,
        lake_copy,
        "query",
        "--role",
        "market_analyst",
        "--format",
        "csv",
        "select count(*) as customers from dim_customer",
    )
    assert code == 0 and out.startswith("customers\n")


def test_erase_needs_exactly_one_identifier_and_a_dry_run_changes_nothing(monkeypatch, capsys, lake_copy):
    code, _, err = cdp(monkeypatch, capsys, lake_copy, "erase", "--yes")
    assert code == 2 and "exactly one of --customer-id, --email, --phone" in err
    code, out, _ = cdp(monkeypatch, capsys, lake_copy, "erase", "--email", XIAOYU.email, "--dry-run")
    assert code == 0 and "dry run: nothing was changed" in out and '"bronze/pos__members": 1' in out
    code, _, err = cdp(monkeypatch, capsys, lake_copy, "erase", "--email", "nobody@example.com", "--yes")
    assert code == 1 and "no one with email 'nobody@example.com'" in err and "Traceback" not in err


def test_backup_then_restore_drill(monkeypatch, capsys, lake_copy):
    code, out, _ = cdp(monkeypatch, capsys, lake_copy, "backup", "--full")
    assert code == 0 and "full backup" in out
    code, out, _ = cdp(monkeypatch, capsys, lake_copy, "restore", "--verify")
    assert code == 0 and "matching sha256" in out and "drill" in out
    code, _, err = cdp(monkeypatch, capsys, lake_copy, "restore", "--target", str(lake_copy.root))
    assert code == 1 and "is not empty" in err


@pytest.mark.parametrize("missing", ["CDP_HMAC_KEY"])
def test_a_missing_key_is_a_clean_error(monkeypatch, capsys, lake_copy, missing):
    monkeypatch.delenv(missing)
    monkeypatch.setenv("HOME", str(lake_copy.root.parent / "home"))  # no ~/.config/cdp key files either
    code, _, err = cdp(monkeypatch, capsys, lake_copy, "erase", "--email", XIAOYU.email, "--dry-run")
    assert code == 1 and "no HMAC key: set $CDP_HMAC_KEY" in err and "Traceback" not in err


def test_consent_on_a_root_nothing_has_run_on_says_what_to_run(monkeypatch, capsys, tmp_path):
    """A fresh data root: a message naming the missing table and the stage, not a polars traceback."""
    monkeypatch.setattr(
        sys, "argv", ["cdp", "-q", "--data-root", str(tmp_path / "fresh"), "privacy", "consent"]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code != 0 and "Traceback" not in err
    assert "silver/customer_records does not exist yet" in err and "cdp run --until resolve" in err
