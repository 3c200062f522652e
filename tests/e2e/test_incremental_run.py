"""The daily run: a full load, then one day of new files, must give the marts a full rebuild gives.

Given a generated data set loaded in full and then one `--increment-day` processed incrementally
(ingestion skips files it has loaded, identity resolution extends the saved graph, the marts build
on top), the published marts equal those of one full run over the same files from an empty lake:
the same customers, the same orders with the same amounts, the same grouping of source records into
customers. The stages run through `bench.pipeline.run_pipeline`, the benchmark's own runner, so
this also specifies that the benchmark runs every stage.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from bench.pipeline import run_pipeline
from datagen import generate_dataset, generate_increment
from warehouse.config import REPO_ROOT, load_config
from warehouse.paths import LakePaths

PEOPLE = 300
INCREMENT_DAY = date(2026, 11, 1)
STAGES = (
    "standardize",
    "resolve",
    "quality gate silver",
    "build marts (dbt build)",
    "quality gate gold",
    "publish",
)


def _published(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(sql.replace("MARTS", str(LakePaths.at(root).marts))).fetchall()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, list[str], list[str]]:
    base = tmp_path_factory.mktemp("incremental")
    daily = base / "daily"
    generate_dataset(
        out_dir=daily,
        customers=PEOPLE,
        seed=7,
        config=load_config(REPO_ROOT / "cdp.yaml", data_root=daily),
    )
    full_steps = run_pipeline(daily, "full", "b20261031T000000")
    generate_increment(daily, INCREMENT_DAY)
    rebuilt = base / "rebuilt"
    rebuilt.mkdir()
    for part in ("landing", "truth"):  # the union of the base files and the day's files
        shutil.copytree(daily / part, rebuilt / part)
    daily_steps = run_pipeline(daily, "incremental", "b20261101T000000")
    run_pipeline(rebuilt, "full", "b20261101T000000")
    return daily, rebuilt, [s.name for s in full_steps], [s.name for s in daily_steps]


@pytest.mark.slow
def test_every_stage_runs_in_both_modes(runs):
    _, _, full_steps, daily_steps = runs
    for names in (full_steps, daily_steps):
        assert set(STAGES) <= set(names)
        assert sum(name.startswith("ingest ") for name in names) == 6
        assert names[-1].startswith("total")


@pytest.mark.slow
def test_the_day_adds_orders_and_customer_records(runs):
    daily, _, _, _ = runs
    manifest = _published(
        daily, "select count(*) from 'MARTS/fct_orders/*.parquet' where order_date >= date '2026-11-01'"
    )
    assert manifest[0][0] > 0


@pytest.mark.slow
def test_dim_customer_has_the_full_rebuilds_customers(runs):
    daily, rebuilt, _, _ = runs
    sql = "select count(*), count(distinct customer_id) from 'MARTS/dim_customer.parquet'"
    assert _published(daily, sql) == _published(rebuilt, sql)


@pytest.mark.slow
def test_fct_orders_has_the_full_rebuilds_orders_and_amounts(runs):
    daily, rebuilt, _, _ = runs
    sql = (
        "select order_id, status, total_amount, line_count, order_date "
        "from 'MARTS/fct_orders/*.parquet' order by order_id"
    )
    incremental, full = _published(daily, sql), _published(rebuilt, sql)
    assert len(incremental) == len(full)
    assert incremental == full


@pytest.mark.slow
def test_source_records_are_grouped_into_the_same_customers(runs):
    """Customer ids may be minted differently; who is grouped with whom must not differ."""
    daily, rebuilt, _, _ = runs
    sql = (
        "select list(source || ':' || source_record_id order by source, source_record_id) "
        "from 'MARTS/identity_links.parquet' group by customer_id"
    )

    def groups(root: Path) -> set[tuple[str, ...]]:
        return {tuple(row[0]) for row in _published(root, sql)}

    assert groups(daily) == groups(rebuilt)


@pytest.mark.slow
def test_orders_belong_to_the_same_customers(runs):
    """Each order's customer holds the same source records in both lakes."""
    daily, rebuilt, _, _ = runs
    sql = (
        "with members as ("
        "  select customer_id, list(source || ':' || source_record_id order by source, source_record_id) as m"
        "  from 'MARTS/identity_links.parquet' group by customer_id)"
        " select o.order_id, members.m from 'MARTS/fct_orders/*.parquet' as o"
        " left join members on o.customer_id = members.customer_id order by o.order_id"
    )
    assert _published(daily, sql) == _published(rebuilt, sql)


@pytest.mark.slow
def test_the_activation_lists_contact_no_one_without_consent(runs):
    """Generated people withdraw consent in one source after granting it in another (edited later)."""
    from privacy.consent import published_activation_violations

    for root in runs[:2]:
        violations = published_activation_violations(load_config(REPO_ROOT / "cdp.yaml", data_root=root))
        assert violations.is_empty(), violations


@pytest.mark.slow
def test_every_column_of_every_layer_is_classified_after_a_full_and_a_daily_run(runs):
    """`cdp privacy check` on a working root: the daily run's bookkeeping (the gates' incremental
    state, the repair list, the load manifest) is in the PII catalogue like every other table."""
    from privacy.catalogue import discover, unclassified_columns

    for root in runs[:2]:
        config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
        assert unclassified_columns(config, discover(config, include_declared=False)) == [], root
