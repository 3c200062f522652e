"""The expectation suites in the repository: declarative, tagged, valid GX, and clear when wrong."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from quality.gate import run_gate
from quality.gx_session import load_gx
from quality.settings import DEFAULT_SUITES_DIR
from quality.suite_spec import SuiteDefinitionError, load_suite, load_suites
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

VALID = """
name: {name}
layer: silver
entity: orders
data: {data}
{extra}
expectations:
  - type: {rule}
    kwargs: {{column: order_id}}
    dimension: uniqueness
    severity: critical
"""


def _write(
    folder: Path,
    name: str,
    data: str = "select order_id from silver.orders",
    rule: str = "expect_column_values_to_be_unique",
    extra: str = "",
) -> Path:
    path = folder / "silver" / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(VALID.format(name=name, data=data, rule=rule, extra=extra), encoding="utf-8")
    return path


def test_every_layer_ships_suites_and_every_rule_is_a_known_gx_expectation():
    load_gx()  # the one safe way to import GX (quality.gx_session._gx_import_guard)
    from great_expectations.expectations.registry import get_expectation_impl

    suites = load_suites(DEFAULT_SUITES_DIR)
    assert {s.layer for s in suites} == {"bronze", "silver", "gold"}
    for suite in suites:
        for rule in suite.expectations:
            assert get_expectation_impl(rule.type), f"{suite.path}: unknown expectation {rule.type}"
            assert rule.dimension and rule.severity in {"critical", "warning"}


def test_a_suite_tags_rules_in_gx_meta_and_severity(tmp_path):
    suite = load_suite(_write(tmp_path, "orders_unique"))
    config = suite.expectations[0].gx_config()
    assert config["severity"] == "critical"
    assert config["meta"] == {"dimension": "uniqueness"}
    assert suite.tables == ["silver.orders"]


def test_tables_named_in_comments_or_strings_are_not_required_by_a_suite(tmp_path):
    """Only what the query reads makes the suite wait for a table: a comment citing another table
    would otherwise skip the suite every day as 'not found'."""
    data = (
        '"-- joins quality.outcomes later\\n/* see silver.events */ '
        "select order_id, 'gold.fct_orders' as note from silver.orders\""
    )
    assert load_suite(_write(tmp_path, "commented", data=data)).tables == ["silver.orders"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"rule": "expect_table_row_count_to_be_between", "extra": "label_by: [source]"},
            "only row-wise rules",
        ),
        ({"data": "select 1"}, "schema>.<table>"),
        ({"extra": "batch_by: [source]\nlabel_by: [source]"}, "not both"),
    ],
)
def test_an_invalid_suite_is_refused_naming_its_file_and_the_problem(tmp_path, kwargs, message):
    path = _write(tmp_path, "broken", **kwargs)
    with pytest.raises(SuiteDefinitionError, match=message) as raised:
        load_suite(path)
    assert str(path) in str(raised.value)


def test_a_suite_without_dimension_or_with_an_unknown_severity_is_refused(tmp_path):
    path = _write(tmp_path, "untagged")
    path.write_text(path.read_text().replace("severity: critical", "severity: fatal"), encoding="utf-8")
    with pytest.raises(SuiteDefinitionError, match="severity"):
        load_suite(path)


def test_suites_of_missing_tables_are_skipped_and_a_failing_query_names_its_file(tmp_path, config: CdpConfig):
    delta.write(
        pl.DataFrame({"order_id": ["ecom:1"]}), LakePaths.at(config.data_root).silver("orders"), "overwrite"
    )
    suites = tmp_path / "suites"
    _write(suites, "absent", data="select event_id as order_id from silver.events")  # never written
    broken = _write(suites, "typo", data="select order_id from silver.orders where nonsense_column > 0")
    raw = {**config.raw, "quality": {"suites_dir": str(suites)}}
    custom = CdpConfig(path=config.path, raw=raw, data_root=config.data_root)
    with pytest.raises(SuiteDefinitionError, match="nonsense_column") as raised:
        run_gate(custom, ["silver"], "r1")
    assert str(broken) in str(raised.value)
    broken.unlink()
    report = run_gate(custom, ["silver"], "r2")
    assert report.summary()["skipped_suites"] == {"absent": "not found: silver.events"}


def _custom_suites(config: CdpConfig, suites: Path) -> CdpConfig:
    raw = {**config.raw, "quality": {"suites_dir": str(suites)}}
    return CdpConfig(path=config.path, raw=raw, data_root=config.data_root)


TWO_RULES = """
name: orders_rules
layer: silver
entity: orders
data: select order_id, total_amount from silver.orders
expectations:
  - type: expect_column_values_to_not_be_null
    kwargs: {column: order_id}
    dimension: completeness
    severity: warning
  - type: RULE
    kwargs: KWARGS
    dimension: accuracy
    severity: critical
"""


@pytest.mark.parametrize(
    "rule, kwargs, message",
    [
        # GX itself only logs an unknown type and drops the rule: the suite ran a rule short and
        # the later results were read as their predecessors' (a critical rule "passed")
        ("expect_column_values_to_be_betwen", "{column: total_amount, min_value: 0}", "betwen not found"),
        ("expect_column_values_to_be_between", "{colum: total_amount, min_value: 0}", "colum"),
    ],
)
def test_a_rule_gx_cannot_build_stops_the_gate_before_judging_naming_file_line_and_rule(
    tmp_path, config: CdpConfig, rule, kwargs, message
):
    suites = tmp_path / "suites"
    path = suites / "silver" / "orders_rules.yml"
    path.parent.mkdir(parents=True)
    path.write_text(TWO_RULES.replace("RULE", rule).replace("KWARGS", kwargs), encoding="utf-8")
    # no lake at all: the suite is refused before any table is read, whatever rows today brings
    with pytest.raises(SuiteDefinitionError, match=message) as raised:
        run_gate(_custom_suites(config, suites), ["silver"], "r1")
    assert f"{path}: expectations[1] (line 11)" in str(raised.value)
    assert not (LakePaths.at(config.data_root).lake / "quality" / "dq_results").exists()


def test_a_rule_naming_a_column_the_query_does_not_return_is_a_suite_error_not_a_data_failure(
    tmp_path, config: CdpConfig
):
    delta.write(
        pl.DataFrame({"order_id": ["ecom:1"], "total_amount": [5.0]}),
        LakePaths.at(config.data_root).silver("orders"),
        "overwrite",
    )
    suites = tmp_path / "suites"
    path = suites / "silver" / "orders_rules.yml"
    path.parent.mkdir(parents=True)
    text = TWO_RULES.replace("RULE", "expect_column_values_to_be_between")
    path.write_text(text.replace("KWARGS", "{column: total_amout, min_value: 0}"), encoding="utf-8")
    with pytest.raises(SuiteDefinitionError, match="total_amout") as raised:
        run_gate(_custom_suites(config, suites), ["silver"], "r1")
    assert f"{path}: expectations[1] (line 11)" in str(raised.value)
    assert "returns: order_id, total_amount" in str(raised.value)


def test_the_data_docs_keep_each_suites_latest_runs_not_only_the_latest_runs_of_any_layer(tmp_path):
    """keep_runs: 1, then a silver gate and a bronze-only `cdp quality`: silver's pages stay."""
    from tests.quality.lake import CHECKED_AT, clean_lake

    lake = clean_lake(tmp_path / "data")
    raw = {**lake.config.raw, "quality": {**lake.config.raw.get("quality", {}), "docs": {"keep_runs": 1}}}
    config = CdpConfig(path=lake.config.path, raw=raw, data_root=lake.config.data_root)
    for run_id, layers in (("b20261101T000000", ["bronze", "silver"]), ("b20261102T000000", ["bronze"])):
        run_gate(config, layers, run_id, checked_at=CHECKED_AT)
    pages = lake.paths.docs / "quality" / "validations"
    runs = {suite.name: sorted(run.name for run in suite.iterdir()) for suite in pages.iterdir()}
    assert runs["silver_orders"] == ["b20261101T000000"]  # the last run that judged it
    assert runs["bronze_freshness"] == ["b20261102T000000"]  # one kept per suite
    stored = lake.paths.lake / "quality" / "_gx_validations"
    assert sorted(run.name for run in (stored / "bronze_freshness").iterdir()) == ["b20261102T000000"]
