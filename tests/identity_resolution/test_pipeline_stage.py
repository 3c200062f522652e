"""The pipeline's resolve stage: silver customer_records in, the identity tables of the data model out."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
from click.testing import CliRunner

from cdp import pipeline
from cdp.cli import cli
from identity_resolution import store
from warehouse import delta
from warehouse.paths import LakePaths

from .conftest import with_identity


def silver_records() -> pl.DataFrame:
    """A slice of silver customer_records as the ingestion stage writes it (data model, section 4)."""
    return pl.DataFrame(
        {
            "record_id": ["pos:8800001", "ecom:700001", "loyalty:L1", "pos:8800002"],
            "source": ["pos", "ecom", "loyalty", "pos"],
            "source_record_id": ["8800001", "700001", "L1", "8800002"],
            "given_name": [None, "Fang", None, None],
            "family_name": [None, "Wang", None, None],
            "full_name": ["王芳", None, "王芳", "李娜"],
            "name_pinyin": ["wang fang", "wang fang", "wang fang", "li na"],
            "date_of_birth": [date(1985, 3, 12), None, date(1985, 3, 12), date(1990, 1, 1)],
            "gender": ["F", "F", "F", "F"],
            "email": [None, "fang.wang@qq.com", "fang.wang@qq.com", None],
            "email_valid": [None, True, True, None],
            "phone": ["+8613822761354", "+8613822761354", None, "+8613955501822"],
            "phone_valid": [True, True, None, True],
            "member_id": [None, None, "L1", None],
            "consent_email": [None, True, False, None],
            "consent_updated_at": [None, datetime(2025, 1, 1), datetime(2025, 6, 1), None],
            "updated_at": [datetime(2025, 1, 1)] * 4,
        }
    )


def test_resolve_stage_writes_the_identity_tables_and_continues_incrementally(config):
    config = with_identity(config)
    paths = LakePaths.at(config.data_root)
    delta.write(silver_records(), paths.silver("customer_records"), "overwrite")

    summary = pipeline.resolve(config, "b1")
    assert (summary["status"], summary["mode"], summary["customers"]) == ("ok", "full", 2)

    links = delta.read(paths.identity(store.LINKS))
    assert {
        "record_id",
        "source",
        "source_record_id",
        "customer_id",
        "link_rule",
        "match_probability",
        "match_weight",
        "linked_to_record_id",
        "evidence",
        "run_id",
        "resolved_at",
    } <= set(links.columns)
    assert links.filter(pl.col("record_id") == "ecom:700001")["source_record_id"][0] == "700001"
    golden = delta.read(paths.identity(store.GOLDEN))
    wang = golden.filter(pl.col("record_count") == 3).row(0, named=True)
    assert (
        wang["date_of_birth"] == date(1985, 3, 12) and wang["consent_email"] is False
    )  # typed, latest consent
    assert wang["consent_email_source"] == "loyalty:L1"
    for table in (store.HISTORY, store.HEALTH, store.AUDIT):
        assert delta.exists(paths.identity(table)), table

    again = pipeline.resolve(config, "b2")
    assert (again["mode"], again["changed_records"]) == ("incremental", 0)
    assert (
        delta.read(paths.identity(store.LINKS))
        .sort("record_id")["customer_id"]
        .equals(links.sort("record_id")["customer_id"])
    )


def test_a_saved_graph_of_the_earlier_format_is_rebuilt_in_full(config):
    # (compared pairs by record id, before they were stored by row number)
    config = with_identity(config)
    paths = LakePaths.at(config.data_root)
    delta.write(silver_records(), paths.silver("customer_records"), "overwrite")
    pipeline.resolve(config, "b1")
    base = paths.identity(store.PAIRS).parent
    ids = delta.read(base / store.FEATURES).sort("idx")["record_id"]
    pairs = delta.read(base / store.PAIRS)
    old_pairs = pairs.select(
        ids.gather(pairs["l_idx"]).alias("l_record_id"),
        ids.gather(pairs["r_idx"]).alias("r_record_id"),
        pl.selectors.starts_with("gamma_"),
    )
    delta.write(old_pairs, base / store.PAIRS, "overwrite")
    assert store.load_saved_graph(base) is None
    assert pipeline.resolve(config, "b2")["mode"] == "full"


def test_cdp_resolve_full_rebuilds_the_lake(config):
    config = with_identity(config)
    paths = LakePaths.at(config.data_root)
    delta.write(silver_records(), paths.silver("customer_records"), "overwrite")
    pipeline.resolve(config, "b1")
    # the rebuild reads the same cdp.yaml as the test config (fast model) through --config
    import yaml

    config_file = config.data_root.parent / "cdp.yaml"
    config_file.write_text(yaml.safe_dump(config.raw, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--config", str(config_file), "--data-root", str(config.data_root), "resolve", "--full"]
    )
    assert result.exit_code == 0, result.output
    assert "full" in result.output
    health = delta.read(paths.identity(store.HEALTH))
    assert health["run_id"].n_unique() == 2


def test_resolve_stage_without_silver_is_skipped_not_failed(config):
    assert pipeline.resolve(with_identity(config), "b1")["status"] == "skipped"


def test_a_rerun_of_the_batch_replaces_its_history_rows_instead_of_adding_them_again(config):
    """An Airflow retry or a re-run of the day resolves the same batch again: the run histories
    (graph_health, cardinality_audit, customer_id_history) keep one copy of that run's rows."""
    config = with_identity(config)
    paths = LakePaths.at(config.data_root)
    delta.write(silver_records(), paths.silver("customer_records"), "overwrite")
    histories = (store.HEALTH, store.AUDIT, store.HISTORY)

    def rows_of(batch: str) -> dict[str, int]:
        return {
            t: delta.read(paths.identity(t)).filter(pl.col("run_id") == batch).height
            for t in histories
            if delta.exists(paths.identity(t))
        }

    pipeline.resolve(config, "b1")
    first = rows_of("b1")
    assert first[store.HEALTH] > 0 and first[store.HISTORY] > 0
    pipeline.resolve(config, "b1")
    assert rows_of("b1") == first
    pipeline.resolve(config, "b2")  # the next day's run still adds its own rows
    assert rows_of("b2")[store.HEALTH] == first[store.HEALTH] and rows_of("b1") == first
