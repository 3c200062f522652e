"""Publishing is all or nothing: readers keep the last good marts when a build fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from cdp.cli import cli
from tests.fixtures.file_access import needs_file_modes, without_file_access_overrides
from tests.fixtures.tiny_lake import BATCH, write_tiny_lake
from tests.marts.conftest import tiny_config
from warehouse import dbt, delta
from warehouse.paths import LakePaths
from warehouse.publish import PublishError, build_marts, built_batch, publish


@pytest.fixture
def published_copy(built, tmp_path: Path):
    """A copy of the session's published data root that a test may break."""
    root = tmp_path / "data"
    shutil.copytree(built.paths.root, root, symlinks=True)
    return tiny_config(root)


def _snapshot(root: Path) -> dict[str, bytes]:
    files = [*sorted((root / "marts").rglob("*.parquet")), root / "cdp.duckdb"]
    return {str(path.relative_to(root)): path.read_bytes() for path in files}


def test_a_failing_build_leaves_the_published_marts_untouched(published_copy):
    root = published_copy.data_root
    before = _snapshot(root)
    shutil.rmtree(root / "lake" / "silver" / "orders")  # an upstream stage lost a table

    with pytest.raises(dbt.DbtBuildError, match=r"silver table 'orders' not found at .*lake/silver/orders"):
        build_marts(published_copy, "b20260701T000000")
    with pytest.raises(PublishError, match="no successful marts build for batch b20260701T000000"):
        publish(published_copy, "b20260701T000000")

    assert _snapshot(root) == before


def test_publish_refuses_a_batch_that_was_not_built(published_copy):
    assert built_batch(published_copy) == BATCH
    with pytest.raises(PublishError, match=f"the last successful build is batch {BATCH}.*left as they were"):
        publish(published_copy, "b20990101T000000")


def test_missing_quality_tables_read_as_an_empty_scorecard(tmp_path: Path):
    config = tiny_config(tmp_path / "data")
    write_tiny_lake(config.data_root, with_quality=False)
    result = dbt.build(config, select="+dq_scorecard")
    assert result.success
    assert {n.name for n in result.nodes if n.resource_type == "model"} >= {
        "dq_scorecard",
        "stg_quality__dq_results",
    }
    import duckdb

    with duckdb.connect(str(config.data_root / "build" / "cdp_build.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.dq_scorecard").fetchall()[0][0] == 0


def test_republishing_an_unchanged_project_reuses_the_dbt_docs(published_copy, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="cdp.dbt"):
        result = publish(published_copy, BATCH)

    assert "dbt docs unchanged" in caplog.text
    assert "dbt docs generate" not in caplog.text
    assert result.docs_path is not None and result.docs_path.exists()
    stamp = result.docs_path.parent / dbt.DOCS_FINGERPRINT
    assert stamp.read_text(encoding="utf-8") == dbt.project_fingerprint(published_copy)


def test_a_changed_business_rule_changes_the_docs_fingerprint(published_copy):
    from warehouse.config import CdpConfig

    raw = dict(published_copy.raw)
    raw["marts"] = {**raw["marts"], "lifecycle": {**raw["marts"]["lifecycle"], "dormant_days": 45}}
    changed = CdpConfig(path=published_copy.path, raw=raw, data_root=published_copy.data_root)

    assert dbt.project_fingerprint(changed) != dbt.project_fingerprint(published_copy)


def test_the_published_marts_are_files_or_folders_of_parquet_and_hidden_entries_are_not_marts(tmp_path: Path):
    from warehouse.paths import LakePaths

    paths = LakePaths.at(tmp_path)
    (paths.marts / "fct_orders").mkdir(parents=True)
    for month in ("2026-10", "2026-09"):
        (paths.marts / "fct_orders" / f"{month}.parquet").write_bytes(b"")
    (paths.marts / "dim_customer.parquet").write_bytes(b"")
    (paths.marts / ".dim_customer.parquet.partial").write_bytes(b"")  # a publish's half-written file
    (paths.marts / ".fct_orders.parts").mkdir()  # a publish's scratch folder
    (paths.marts / "notes.txt").write_text("not a mart")

    assert paths.published_marts() == {
        "dim_customer": paths.marts / "dim_customer.parquet",
        "fct_orders": paths.marts / "fct_orders",
    }
    assert paths.mart_files("fct_orders") == [
        paths.marts / "fct_orders" / "2026-09.parquet",
        paths.marts / "fct_orders" / "2026-10.parquet",
    ]
    assert paths.mart_files("dim_customer") == [paths.marts / "dim_customer.parquet"]
    assert paths.mart_files("customer_rfm") == []  # not published
    assert paths.parquet_glob("fct_orders") == str(paths.marts / "fct_orders" / "*.parquet")
    assert paths.parquet_glob("dim_customer") == str(paths.marts / "dim_customer.parquet")


def test_cdp_marts_publish_pseudonymises_as_the_pipeline_does(published_copy):
    """`cdp marts publish` (re-publishing a build by hand, e.g. after a failed publish) wrote the marts
    as dbt built them, names, emails and phones in clear, and left the role databases stale."""
    root = published_copy.data_root
    emails = set(delta.read(LakePaths.at(root).silver("customer_records"))["email"].drop_nulls().to_list())
    assert emails
    args = ["--data-root", str(root), "-q", "marts", "publish", "--batch-id", BATCH, "--no-docs"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    published = pl.read_parquet(root / "marts" / "dim_customer.parquet")
    assert published.height > 0 and not emails & set(published["email"].drop_nulls().to_list())
    assert json.loads(result.output)["role_databases"]


@needs_file_modes
def test_a_publish_the_file_system_refuses_says_what_was_swapped_and_how_to_publish_again(published_copy):
    root = published_copy.data_root
    (root / "marts" / "dim_customer.parquet").unlink()  # so that the next publish has work to do
    before = _snapshot(root)
    publish_again = ["-q", "--data-root", str(root), "marts", "publish", "--batch-id", BATCH, "--no-docs"]
    (root / "marts").chmod(0o555)
    try:
        proc = subprocess.run(
            [*without_file_access_overrides(), sys.executable, "-m", "cdp.cli", *publish_again],
            capture_output=True,
            text=True,
        )
    finally:
        (root / "marts").chmod(0o755)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "stopped while swapping the staged marts in" in proc.stderr and "Permission denied" in proc.stderr
    assert "Swapped in before it: nothing" in proc.stderr
    assert f"cdp marts publish --batch-id {BATCH}" in proc.stderr
    assert _snapshot(root) == before  # readers still see the last published marts
