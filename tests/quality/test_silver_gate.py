"""The silver gate (bronze + silver + identity suites) on a clean lake and on deliberately broken ones."""

from __future__ import annotations

import json
import socket
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from quality.gate import run_gate
from quality.settings import load_settings
from tests.quality.conftest import GateRun, gate
from tests.quality.lake import (
    CHECKED_AT,
    RUN_ID,
    Lake,
    clean_lake,
    daily_orders,
    drop_emails,
    drop_orders_on,
    lake_config,
    miscode_gender,
    orphan_orders,
    publish_previous,
    published_checksums,
    undate_orders,
)
from warehouse import delta

SILVER_GATE = ["bronze", "silver"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> GateRun:
    """The clean lake, gated with the network switched off (GX must not phone home)."""
    original = socket.socket.connect

    def refuse(*args, **kwargs):
        raise AssertionError(f"the quality gate tried to open a network connection: {args[1:]}")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        return gate(tmp_path_factory.mktemp("clean"), SILVER_GATE)
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]


ORPHANS: list[str] = []
UNDATED: list[str] = []
MISCODED: list[str] = []
PUBLISHED: dict[str, str] = {}


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> GateRun:
    """One source without e-mails, a day without POS orders, 20% of web orders of unknown customers,
    one web order without a date and a POS record with an unknown gender code."""
    return gate(
        tmp_path_factory.mktemp("broken"),
        ["silver"],
        lambda lake: drop_emails(lake, "loyalty"),
        lambda lake: daily_orders(lake, "pos"),
        lambda lake: drop_orders_on(lake, date(2026, 6, 28), "pos"),
        lambda lake: ORPHANS.extend(orphan_orders(lake, "ecom", 0.2)),
        lambda lake: UNDATED.extend(undate_orders(lake, "ecom", 1)),
        lambda lake: MISCODED.append(miscode_gender(lake, "pos")),
        lambda lake: PUBLISHED.update(publish_previous(lake)),
    )


# --- a clean lake ---------------------------------------------------------------------------
def test_clean_lake_passes_every_critical_rule_offline(clean):
    assert clean.error is None
    assert clean.report is not None and clean.report.status in {"passed", "warnings"}
    assert not clean.report.critical_failures


def test_results_are_one_row_per_rule_and_source_tagged_with_dimension_and_severity(clean):
    results = clean.results
    assert set(results.columns) >= {
        "run_id", "checked_at", "layer", "suite", "source", "entity", "dimension", "expectation",
        "column", "severity", "checked", "passed", "success", "score", "details",
    }  # fmt: skip
    assert results["run_id"].unique().to_list() == [RUN_ID]
    assert set(results["layer"]) == {"bronze", "silver"}
    assert set(results["severity"]) == {"critical", "warning"}
    assert set(results["dimension"]) <= {
        "completeness",
        "accuracy",
        "consistency",
        "timeliness",
        "validity",
        "uniqueness",
    }
    per_source = results.filter(pl.col("suite") == "silver_customer_records")
    assert set(per_source["source"]) == {"pos", "ecom", "social", "service", "loyalty", "survey"}
    assert results.filter(pl.col("passed") > pl.col("checked")).is_empty()


def test_orders_are_scored_by_rows_not_by_source(clean):
    duplicates = clean.results.filter(
        (pl.col("suite") == "silver_orders") & (pl.col("column") == "duplicated_orders")
    )
    assert dict(zip(duplicates["source"], duplicates["checked"], strict=True)) == {"ecom": 19, "pos": 9}


def test_duplicate_rates_before_and_after_resolution_are_measured(clean):
    metrics = clean.lake.quality("dq_metrics")
    value = dict(
        metrics.filter(pl.col("source") == "all").select(pl.col("metric"), pl.col("value")).iter_rows()
    )
    # 21 customer records resolved to 12 customers: 9 of 21 records were copies of a person.
    assert value["duplicate_rate_before"] == pytest.approx(9 / 21)
    assert value["records_per_customer"] == pytest.approx(21 / 12)
    assert value["duplicate_rate_after"] == 0
    assert {"freshness_hours", "rows_landed", "row_count"} <= set(metrics["metric"])


def test_cross_source_consistency_judges_every_customer_with_several_records(clean):
    """Only customers with two or more records are compared: one judged row each, per attribute
    that at least one of their records holds (a null count is not judged, as in GX)."""
    links = delta.read(clean.lake.paths.identity("identity_links"), ["record_id", "customer_id"])
    records = clean.lake.silver("customer_records").select(
        "record_id", "date_of_birth", "gender", "name_pinyin"
    )
    several = (
        links.join(records, on="record_id")
        .group_by("customer_id")
        .agg(
            pl.len().alias("records"),
            pl.col("date_of_birth").is_not_null().any().alias("date_of_birth_values"),
            (pl.col("gender").is_not_null() & (pl.col("gender") != "U")).any().alias("gender_values"),
            pl.col("name_pinyin").is_not_null().any().alias("name_values"),
        )
        .filter(pl.col("records") > 1)
    )
    assert 0 < several["gender_values"].sum() < several.height  # some customers hold no gender
    judged = clean.results.filter(pl.col("suite") == "silver_cross_source_consistency")
    assert dict(zip(judged["column"], judged["checked"], strict=True)) == {
        column: several[column].sum() for column in ("date_of_birth_values", "gender_values", "name_values")
    }


def test_records_below_the_completeness_threshold_are_listed_for_repair(clean):
    repair = clean.lake.quality("repair_list")
    assert repair.columns == ["record_id", "source", "completeness_score", "missing_fields", "run_id"]
    assert (repair["completeness_score"] < 0.8).all()
    records = clean.lake.silver("customer_records")
    assert repair.height == records.filter(pl.col("completeness_score") < 0.8).height > 0
    assert repair["missing_fields"].null_count() == 0
    assert clean.report.repair_records == repair.height


def test_data_docs_are_built_and_returned_in_the_summary(clean):
    summary = clean.report.summary()
    index = clean.lake.paths.docs / "quality" / "index.html"
    assert summary["quality_docs"] == str(index)
    assert "silver_customer_records" in index.read_text(encoding="utf-8")


def test_rerunning_a_gate_replaces_its_own_results_and_keeps_the_other_gates(clean):
    def counts(table: str) -> pl.DataFrame:
        return clean.lake.quality(table).group_by("layer").len().sort("layer")

    results, metrics = counts("dq_results"), counts("dq_metrics")
    run_gate(clean.lake.config, ["bronze"], RUN_ID, checked_at=CHECKED_AT)
    run_gate(clean.lake.config, ["gold"], RUN_ID, checked_at=CHECKED_AT)  # no build database yet
    assert counts("dq_results").equals(results)
    assert counts("dq_metrics").equals(metrics)


# --- broken lakes -----------------------------------------------------------------------------
def test_orders_pointing_to_unknown_customers_fail_critically_naming_suite_rule_and_rows(broken):
    assert broken.error is not None
    message = str(broken.error)
    assert "suite silver_orders" in message
    assert "expect_column_values_to_be_between on column unknown_customer_share" in message
    assert "[source ecom]" in message
    assert f"{ORPHANS[0]} -> ecom:GHOST" in message  # a sample of the failing orders
    failed = broken.failed("silver_orders", "unknown_customer_share", "ecom").row(0, named=True)
    assert failed["severity"] == "critical"
    assert failed["checked"] - failed["passed"] == 4


def test_a_source_with_every_email_missing_is_a_completeness_warning(broken):
    failed = broken.failed("silver_customer_records", "email_share", "loyalty")
    assert failed["expectation"].to_list() == ["expect_column_values_to_be_between"]
    assert failed["severity"].to_list() == ["warning"]
    assert failed["dimension"].to_list() == ["completeness"]
    assert broken.failed("silver_customer_records", "email_share", "ecom").is_empty()
    assert broken.failed("silver_customer_records", "malformed_email_share", "loyalty").is_empty()


def test_a_gender_code_outside_the_vocabulary_fails_critically_naming_the_record(broken):
    # customer records are judged per source from DuckDB counts; the sample names the record
    [failed] = broken.failed("silver_customer_records", "invalid_genders", "pos").iter_rows(named=True)
    assert (failed["severity"], failed["dimension"]) == ("critical", "validity")
    assert failed["checked"] - failed["passed"] == 1
    assert f"{MISCODED[0]}: X" in str(broken.error)
    assert broken.failed("silver_customer_records", "invalid_genders", "ecom").is_empty()


def test_a_day_without_orders_is_a_warning_naming_the_day(broken):
    failed = broken.failed("silver_orders_daily", "orders", "pos").row(0, named=True)
    assert failed["severity"] == "warning"
    assert failed["checked"] - failed["passed"] == 1
    assert json.loads(failed["details"])["sample"] == [{"order_date": "2026-06-28T00:00:00", "orders": 0}]


def test_undated_orders_are_a_warning_and_critical_only_above_one_percent(broken):
    # any undated order is reported; one of 19 web orders (5%) is past the 1% that stops a publish
    [warned] = broken.failed("silver_orders", "orders_without_date", "ecom").iter_rows(named=True)
    [stopped] = broken.failed("silver_orders", "undated_order_share", "ecom").iter_rows(named=True)
    assert (warned["severity"], stopped["severity"]) == ("warning", "critical")
    assert warned["checked"] - warned["passed"] == stopped["checked"] - stopped["passed"] == 1
    assert UNDATED[0] in str(broken.error)
    assert broken.failed("silver_orders", "undated_order_share", "pos").is_empty()


def test_a_critical_silver_failure_leaves_the_published_marts_untouched(broken):
    assert broken.error is not None and "nothing was published" in str(broken.error)
    assert PUBLISHED and published_checksums(broken.lake.root) == PUBLISHED


def test_a_failed_gate_still_records_its_results_and_docs(broken):
    assert broken.results.filter(~pl.col("success")).height >= 3
    assert (broken.lake.paths.docs / "quality" / "index.html").exists()


def _one_name_in_two_scripts(lake) -> None:
    """Every multi-record customer's records carry one name: 黄雪梅 in characters in the first,
    the same name typed in Latin letters, given name first, in the others (silver's columns)."""
    links = delta.read(lake.paths.identity("identity_links"), ["record_id", "customer_id"])
    several = links.filter(pl.len().over("customer_id") > 1).sort("record_id")
    first = several.group_by("customer_id").agg(pl.col("record_id").first())["record_id"]
    records = lake.silver("customer_records")
    shared = pl.col("record_id").is_in(several["record_id"].implode())
    han = pl.col("record_id").is_in(first.implode())

    def name(han_value: str, latin_value: str) -> pl.Expr:
        return pl.when(han).then(pl.lit(han_value)).otherwise(pl.lit(latin_value))

    lake.replace_silver(
        "customer_records",
        records.with_columns(
            full_name=pl.when(shared).then(name("黄雪梅", "Xuemei Huang")).otherwise(pl.col("full_name")),
            family_name=pl.when(shared).then(name("黄", "Huang")).otherwise(pl.col("family_name")),
            given_name=pl.when(shared).then(name("雪梅", "Xuemei")).otherwise(pl.col("given_name")),
            name_script=pl.when(shared).then(name("han", "latin")).otherwise(pl.col("name_script")),
            name_pinyin=pl.when(shared)
            .then(name("huang xue mei", "xuemei huang"))
            .otherwise(pl.col("name_pinyin")),
        ),
    )


@pytest.fixture(scope="module")
def two_scripts(tmp_path_factory) -> GateRun:
    return gate(tmp_path_factory.mktemp("scripts"), ["silver"], _one_name_in_two_scripts)


def test_a_chinese_name_and_the_same_name_typed_in_latin_letters_agree(two_scripts):
    # 黄雪梅's pinyin is a word per character (huang xue mei), the typed name a word per part
    # (Xuemei Huang): both are `huang xuemei`, one name, not a cross-source disagreement
    [names] = two_scripts.results.filter(
        (pl.col("suite") == "silver_cross_source_consistency") & (pl.col("column") == "name_values")
    ).rows(named=True)
    assert names["checked"] > 0 and names["passed"] == names["checked"], names


def _junk_phone(lake: Lake) -> None:
    """One loyalty record's phone a placeholder (12345678901): one of the source's few phones."""
    records = lake.silver("customer_records")
    record_id = records.filter((pl.col("source") == "loyalty") & pl.col("phone").is_not_null())["record_id"][
        0
    ]
    junk = pl.when(pl.col("record_id") == record_id).then(pl.lit("12345678901")).otherwise(pl.col("phone"))
    lake.replace_silver("customer_records", records.with_columns(phone=junk))


def _with_default_share_rows(root: Path) -> Lake:
    """The clean lake under cdp.yaml's own quality.min_share_rows (20): every source is below it."""
    return Lake(root=clean_lake(root).root, config=lake_config(root, min_share_rows=None))


@pytest.fixture(scope="module")
def junk_phone(tmp_path_factory) -> tuple[GateRun, GateRun]:
    """The same junk phone, judged from one row on and under the repository's default."""
    tmp = tmp_path_factory.mktemp("junk")
    return (
        gate(tmp / "every", ["silver"], _junk_phone),
        gate(tmp / "default", ["silver"], _junk_phone, build=_with_default_share_rows),
    )


def test_a_share_of_a_handful_of_records_is_not_judged(junk_phone):
    every, default = junk_phone
    phones = every.failed("silver_customer_records", "malformed_phone_share", "loyalty")
    assert phones["severity"].to_list() == ["warning"]  # 1 of a handful: above a tenth
    # under cdp.yaml's quality.min_share_rows (20), a few records are no evidence of a parsing
    # problem: the share rules write no result for them, the count rules still judge every row
    shares = default.results.filter(
        (pl.col("suite") == "silver_customer_records")
        & pl.col("column").is_in(["email_share", "malformed_email_share", "malformed_phone_share"])
    )
    assert shares.filter(~pl.col("success")).is_empty(), shares
    assert shares.filter(pl.col("checked") > 0).is_empty(), shares
    assert load_settings(default.lake.config).min_share_rows == 20
    counts = default.results.filter(
        (pl.col("suite") == "silver_customer_records") & (pl.col("column") == "invalid_genders")
    )
    assert counts.height > 0 and (counts["checked"] > 0).all()
