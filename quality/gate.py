"""A quality gate: run one or more layers' suites, record everything, stop the run on a critical failure.

Order matters for "nothing half-written": results, metrics, the repair list and the data docs are
written first, so a failed gate is fully explained in `dq_results` and the docs; only then does a
critical failure raise `QualityGateError`, which fails the Airflow task (or `cdp run`) before the
publish stage, so the previously published marts stay what readers see.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from quality import derived, metrics
from quality.catalog import CHANGED_SCHEMA, Catalog, DerivedBuilder
from quality.frames import batch_label, partitions, to_pandas
from quality.outcomes import Outcome, labelled_outcomes, outcome
from quality.repair import completeness_by_source, repair_list
from quality.scope import CHANGED, FULL, load_scope, save_scope
from quality.settings import QualitySettings, load_settings, suites_dir
from quality.store import (
    results_frame,
    write_fill_profile,
    write_metrics,
    write_repair_list,
    write_results,
)
from quality.suite_spec import LAYERS, SuiteDefinitionError, SuiteSpec, load_suites, rule_location
from warehouse import delta
from warehouse.batches import batch_moment
from warehouse.config import CdpConfig
from warehouse.errors import CdpError
from warehouse.paths import LakePaths

if TYPE_CHECKING:
    from quality.gx_session import GxSession

log = logging.getLogger("cdp.quality")

RESULTS_DIR_NAME = "_gx_validations"  # under lake/quality/: GX's validation results for the docs
MAX_LISTED = 20  # failures and warnings spelled out in a message or summary; the rest are counted


# Which suites each pipeline gate runs: after resolve, the bronze and silver suites; after the dbt
# build, the gold suites (on the build database, before the publish).
GATE_LAYERS: dict[str, list[str]] = {"bronze": ["bronze"], "silver": ["bronze", "silver"], "gold": ["gold"]}

# The mart dbt builds from lake/quality (docs/data_model.md section 6). dbt builds it before the
# gold gate runs, so a gate that judges gold rebuilds it afterwards (`refresh_scorecard`).
SCORECARD_MART = "dq_scorecard"


def gate_layers(gate: str) -> list[str]:
    if gate not in GATE_LAYERS:
        raise CdpError(f"unknown quality gate '{gate}'; choose from {', '.join(GATE_LAYERS)}")
    return GATE_LAYERS[gate]


class QualityGateError(CdpError):
    """At least one critical expectation failed; the message lists each with a sample of rows.

    `report` is the full gate report (every outcome and timing), for callers that want more.
    """

    def __init__(self, message: str, report: GateReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class SuiteRun:
    suite: str
    layer: str
    rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    scope: str = FULL  # `changed` when its row-level rules read only the changed rows (rules marked
    # `scope: full`, such as referential integrity, judge whole tables all the same: Outcome.scope)


@dataclass
class GateReport:
    run_id: str
    layers: list[str]
    checked_at: datetime
    scope: str = FULL  # or `changed`: row-level rules judged the rows added since the last passing gate
    outcomes: list[Outcome] = field(default_factory=list)
    suites: list[SuiteRun] = field(default_factory=list)
    metrics: pl.DataFrame = field(default_factory=pl.DataFrame)
    repair_records: int | None = None
    docs_index: Path | None = None
    scorecard: dict[str, Any] | None = None  # the dbt rebuild of dq_scorecard after a gold gate
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def suite_scopes(self) -> dict[str, str]:
        return {s.suite: s.scope for s in self.suites}

    @property
    def critical_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    @property
    def score(self) -> float | None:
        checked = sum(o.checked for o in self.outcomes)
        return round(sum(o.passed for o in self.outcomes) / checked, 4) if checked else None

    @property
    def status(self) -> str:
        return "failed" if self.critical_failures else ("warnings" if self.warnings else "passed")

    def failure_message(self) -> str:
        failures = self.critical_failures
        lines = [
            f"quality gate ({', '.join(self.layers)}) failed for run {self.run_id}: "
            f"{len(failures)} critical expectation(s) failed; nothing was published.",
            *(f"  - {o.describe()}" for o in failures[:MAX_LISTED]),
        ]
        if len(failures) > MAX_LISTED:
            lines.append(f"  ... and {len(failures) - MAX_LISTED} more (lake/quality/dq_results)")
        lines.append(
            "Next: correct the sampled rows at their source and re-deliver the file(s) (or fix the rule "
            "in its suite if the rule is wrong), then re-run the day: the gate judges these rows again "
            "until they pass. Every result of this run, warnings too: lake/quality/dq_results where "
            f"run_id = '{self.run_id}'."
        )
        if self.docs_index:
            lines.append(f"Data docs: {self.docs_index}")
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "scope": self.scope,
            "changed_scope_suites": sorted(s.suite for s in self.suites if s.scope == CHANGED),
            "status": self.status,
            "score": self.score,
            "expectations": len(self.outcomes),
            "failed_critical": len(self.critical_failures),
            "failed_warnings": len(self.warnings),
            "critical": [o.describe() for o in self.critical_failures[:MAX_LISTED]],
            "warnings": [o.describe() for o in self.warnings[:MAX_LISTED]],
            "skipped_suites": {s.suite: s.skipped for s in self.suites if s.skipped},
            "suite_seconds": {s.suite: round(s.seconds, 2) for s in self.suites if not s.skipped},
            "repair_list": self.repair_records,
            "quality_docs": str(self.docs_index) if self.docs_index else None,
            "scorecard_refreshed": self.scorecard is not None,
            "seconds": round(self.seconds, 2),
            "timings": self.timings,
        }


# --- parameters ---------------------------------------------------------------------------
def gate_parameters(
    config: CdpConfig, settings: QualitySettings, run_id: str, checked_at: datetime
) -> dict[str, Any]:
    """Values suites may use as `$PARAMETER` (GX) and `getvariable()` (DuckDB).

    `logical_local`: the moment the run stands for (its batch id: the logical date in Airflow, the
    start of a `cdp run`) in local time, which data dates are judged against, so a re-run or a
    backfill of an old day judges that day's data as of that day; the clock when the run id is
    of another shape.
    """
    zone = ZoneInfo(config.timezone)
    local_now = checked_at.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    logical = batch_moment(run_id)
    logical_local = (
        logical.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None) if logical else local_now
    )
    return {
        "run_id": run_id,
        "checked_at": checked_at,
        "now_local": local_now.replace(microsecond=0),
        "logical_local": logical_local.replace(microsecond=0),
        "sample_rows": settings.sample_rows,
        "completeness_threshold": settings.completeness.threshold,
        "volume_max_robust_z": settings.volume.max_robust_z,
        "min_share_rows": settings.min_share_rows,
        "legal_status_paths": standardize_rule(config, "legal_status_paths"),
    }


def standardize_rule(config: CdpConfig, key: str) -> list[str]:
    """A list from the `standardize:` section (ingest owns it; read raw, so both stages agree)."""
    return [str(v) for v in (config.section("standardize") or {}).get(key) or []]


def _gx_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """GX wants JSON-like values: timestamps as ISO text (it parses them back for date columns)."""
    return {
        k: v.replace(microsecond=0).isoformat() if isinstance(v, datetime) else v
        for k, v in parameters.items()
    }


def completeness_fields(config: CdpConfig, settings: QualitySettings) -> list[str]:
    """The fields ingest scores (`standardize.completeness_fields`), so both stages agree."""
    return standardize_rule(config, "completeness_fields") or settings.completeness.fields


# --- the gate -----------------------------------------------------------------------------
@contextmanager
def _timed(report: GateReport, phase: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        report.timings[phase] = round(time.perf_counter() - started, 2)


def run_gate(
    config: CdpConfig,
    layers: list[str],
    run_id: str,
    *,
    checked_at: datetime | None = None,
    full: bool = False,
) -> GateReport:
    """Run the suites of `layers` on the lake (and, for gold, the build database); see module doc.

    Row-level rules judge what changed since the last passing gate over the same layers
    (`quality.scope`, `quality.incremental`), or everything when `full` or on the first run.
    """
    unknown = [layer for layer in layers if layer not in LAYERS]
    if unknown:
        raise CdpError(f"unknown quality layer(s) {', '.join(unknown)}; choose from {', '.join(LAYERS)}")
    started = time.perf_counter()
    settings = load_settings(config)
    suites = load_suites(suites_dir(settings), layers)
    paths = LakePaths.at(config.data_root)
    checked_at = (checked_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    parameters = gate_parameters(config, settings, run_id, checked_at)
    scope = load_scope(paths, list(layers), run_id, incremental=settings.incremental and not full)
    report = GateReport(run_id=run_id, layers=list(layers), checked_at=checked_at, scope=scope.name)
    with _timed(report, "setup"):
        from quality.gx_session import GxSession  # GX is slow to import: only when a gate runs

        session = GxSession(
            paths.lake / "quality" / RESULTS_DIR_NAME, paths.docs / "quality", settings.sample_rows
        )
        session.prepare(suites)  # a rule GX cannot build stops the gate before anything is judged
    profiled: list[pl.DataFrame] = []  # fill counts taken from bronze, stored with the results
    builders = _derived_builders(config, settings, run_id, profiled.append)
    with Catalog(paths, parameters, builders, scope) as catalog:
        with _timed(report, "suites"):
            report.suites = [_run_suite(suite, catalog, session, parameters, report) for suite in suites]
        with _timed(report, "metrics"):
            report.metrics = metrics.measure(catalog, layers)
            wants_repair = "silver" in layers and catalog.ensure("derived.repair_list")
            repair = catalog.frame("select * from derived.repair_list") if wants_repair else None
        refresh = settings.refresh_scorecard and "gold" in layers and SCORECARD_MART in catalog.marts()
    with _timed(report, "write"):
        write_results(paths, results_frame(report.outcomes, run_id, checked_at), run_id, layers)
        write_metrics(paths, report.metrics, run_id, checked_at, layers)
        for profile in profiled:  # this run's and unprofiled earlier runs' fill counts: the history
            write_fill_profile(paths, profile, run_id, checked_at)
        if repair is not None:
            write_repair_list(paths, repair, run_id)
            report.repair_records = repair.height
        if not report.critical_failures:  # a failed gate judges the same rows again next run
            save_scope(paths, scope, run_id, checked_at)
    if refresh:
        with _timed(report, "scorecard"):
            report.scorecard = refresh_scorecard(config)
    with _timed(report, "docs"):
        report.docs_index = session.build_docs(settings.docs.keep_runs)
    report.seconds = time.perf_counter() - started
    log.info(
        "quality gate %s: %s in %.1fs %s", ",".join(layers), report.status, report.seconds, report.timings
    )
    if report.critical_failures:
        raise QualityGateError(report.failure_message(), report)
    return report


def refresh_scorecard(config: CdpConfig) -> dict[str, Any]:
    """Rebuild `dq_scorecard` (model and tests) in dbt's build database from lake/quality.

    dbt builds every mart before the gold gate judges them, so the scorecard it built holds this
    run's bronze and silver results but not its gold ones. The gold gate calls this after writing
    them (its catalog closed: dbt writes the build database), so what `publish` copies is the
    whole run. One definition of the scorecard (the dbt model), tested as in the full build.
    """
    from warehouse import dbt

    return dbt.build(config, select=SCORECARD_MART).summary()


def _derived_builders(
    config: CdpConfig, settings: QualitySettings, run_id: str, profiled: Callable[[pl.DataFrame], None]
) -> dict[str, DerivedBuilder]:
    """The `derived.*` tables suites may read, each built on first use (quality.derived).

    `profiled` receives the fill counts `fill_rates` took from bronze, for the gate to store.
    """
    sources = config.section("sources") or {}
    fields = completeness_fields(config, settings)
    return {
        "freshness": lambda c: derived.build_freshness(c, sources, settings),
        "data_freshness": lambda c: derived.build_data_freshness(c, sources, settings),
        "volumes": lambda c: derived.build_volumes(c, settings),
        "bronze_profile": lambda c: derived.build_bronze_profile(c, sources, settings),
        "fill_rates": lambda c: derived.build_fill_rates(c, settings, profiled),
        "repair_list": lambda c: _repair_frame(c, fields, settings, run_id),
        "completeness": lambda c: _completeness_frame(c, settings),
    }


def _run_suite(
    suite: SuiteSpec, catalog: Catalog, session: GxSession, parameters: dict[str, Any], report: GateReport
) -> SuiteRun:
    """Fetch the suite's frame, validate each batch with GX, collect one outcome per rule and batch."""
    run = SuiteRun(suite=suite.name, layer=suite.layer)
    if not catalog.scope.full and any(t.startswith(f"{CHANGED_SCHEMA}.") for t in suite.tables):
        run.scope = CHANGED
    started = time.perf_counter()
    missing = catalog.missing(suite.tables)
    if missing:
        run.skipped = f"not found: {', '.join(missing)}"
        log.info("suite %s skipped: %s", suite.name, run.skipped)
        return run
    try:
        table = catalog.query(suite.data)
    except duckdb.Error as exc:  # DuckDB's message names the line, column or table
        raise SuiteDefinitionError(f"{suite.path}: the `data` query failed: {exc}") from exc
    _check_named_columns(suite, table.column_names)
    # A changed-scope suite with nothing changed has nothing to judge, batched by source or not.
    nothing_changed = run.scope == CHANGED and table.num_rows == 0
    batches = [] if nothing_changed else partitions(table, suite.batch_by)
    if not batches:
        run.skipped = "no rows"
    gx_parameters = _gx_parameters(parameters)
    for labels, part in batches:
        frame = to_pandas(part)
        result = session.validate(
            suite, batch_label(labels), frame, gx_parameters, report.run_id, report.checked_at, run.scope
        )
        for rule_result in result.results:
            rule = suite.expectations[session.rule_index(suite, rule_result.expectation_config.id)]
            if suite.label_by:
                judged = labelled_outcomes(suite, rule, rule_result, frame, session.sample_rows)
            else:
                judged = [outcome(suite, rule, labels, rule_result, frame)]
            scope = rule.scope or run.scope  # a whole-table rule is `full` in a daily gate too
            report.outcomes += [replace(o, scope=scope) for o in judged]
    run.rows, run.batches = table.num_rows, len(batches)
    run.seconds = time.perf_counter() - started
    return run


def _check_named_columns(suite: SuiteSpec, columns: list[str]) -> None:
    """Every column the suite names (batch_by, label_by, each rule's) is in the query's result, else
    the suite is wrong, not the data.

    Without this a misspelt rule column is a rule that "could not be evaluated" every day (a
    critical one blocking every publish as if the data were bad), and a misspelt `rows:` column
    counts 0 rows checked: a rule that silently judges nothing.
    """
    absent = [c for c in [*suite.batch_by, *suite.label_by] if c not in columns]
    if absent:
        raise SuiteDefinitionError(
            f"{suite.path}: batch_by/label_by column(s) not in the query's result: {', '.join(absent)}"
        )
    for index, rule in enumerate(suite.expectations):
        absent = [c for c in rule.named_columns if c not in columns]
        if absent:
            raise SuiteDefinitionError(
                f"{suite.path}: {rule_location(suite, index)} ({rule.type}) names column(s) "
                f"{', '.join(absent)} that the `data` query does not return; it returns: {', '.join(columns)}"
            )


def _customer_records(catalog: Catalog, columns: list[str]) -> pl.LazyFrame | None:
    """Lazy scan of silver customer records, only the wanted columns that exist."""
    path = catalog.delta_path("silver", "customer_records")
    if not delta.exists(path):
        return None
    records = delta.scan(path)
    present = records.collect_schema().names()
    return records.select([c for c in dict.fromkeys(columns) if c in present])


def _repair_frame(
    catalog: Catalog, fields: list[str], settings: QualitySettings, run_id: str
) -> pl.DataFrame | None:
    wanted = ["record_id", "source", "completeness_score", *fields, *(f"{f}_valid" for f in fields)]
    records = _customer_records(catalog, wanted)
    if records is None:
        return None
    rule = settings.completeness
    return repair_list(records, fields, rule.threshold, run_id, rule.unknown_values).collect()


def _completeness_frame(catalog: Catalog, settings: QualitySettings) -> pl.DataFrame | None:
    records = _customer_records(catalog, ["record_id", "source", "completeness_score"])
    if records is None:
        return None
    rule = settings.completeness
    return completeness_by_source(
        records,
        rule.threshold,
        rule.min_complete_share,
        rule.min_complete_share_by_source,
        settings.sample_rows,
    )
