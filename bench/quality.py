"""`cdp bench quality`: what the quality gates add to a pipeline run, and why they are built this way.

Target: the gates add no more than 20% to the pipeline's run time at 1M people. The benchmark
generates N people (`cdp generate`), runs every stage of `cdp run` on them (ingest, standardize,
resolve, silver gate, dbt build, gold gate, publish), each measured on its own, and reports the
gates' share. `--data-root` measures only the gates on an existing lake (e.g. after `cdp run`).

The design proof: event-scale tables (orders, lines, events) are pre-aggregated by DuckDB into per-
source counts that GX judges, instead of GX validating every row on pandas. The last step times
the same order rules the row-level way (GX on pandas frames of the order rows, per source) so the
two can be compared on the same data; on very large tables it validates the first
`--row-level-rows` rows and scales the time linearly (GX row-level cost is linear in rows).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bench.measure import Measurement, markdown_table, measure, save_results, update_results_md
from warehouse.batches import new_batch_id

SECTION = "Data quality gates (`cdp bench quality`)"
TARGET_OVERHEAD = 0.20
BATCH_ID = "b20261031T020000"
PIPELINE_STAGES = ("ingest", "standardize", "resolve", "build marts (dbt)", "publish")
GATE_STAGES = ("quality gate silver (bronze + silver suites)", "quality gate gold")


@click.command("quality")
@click.option("--customers", type=click.IntRange(min=100), default=1_000_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help="Measure the gates on this existing lake (no generate, no pipeline).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the data root in WORKDIR/data and reuse its generated landing files on the next run "
    "(the lake is always rebuilt). Default: a temporary directory, removed after.",
)
@click.option(
    "--row-level-rows",
    type=click.IntRange(min=0),
    default=2_000_000,
    show_default=True,
    help="Orders validated row by row for the design comparison (0: skip it).",
)
def quality(
    customers: int, seed: int, data_root: str | None, workdir: str | None, row_level_rows: int
) -> None:
    """Pipeline stages vs quality gates at N people; gates' share against the 20% budget."""
    if data_root:
        steps = _gates(Path(data_root))
        if row_level_rows:
            steps.append(_row_level_orders(Path(data_root), row_level_rows))
        _report(steps, {"data_root": "existing"}, f"the existing lake `{data_root}`")
        return
    with tempfile.TemporaryDirectory(prefix="cdp-bench-quality-") as scratch:
        root = Path(workdir or scratch) / "data"
        steps = _pipeline(root, customers, seed)
        if row_level_rows:
            steps.append(_row_level_orders(root, row_level_rows))
    _report(steps, {"customers": customers, "seed": seed}, f"{customers:,} generated people (seed {seed})")


def _config(root: Path):
    from warehouse.config import REPO_ROOT, load_config

    return load_config(REPO_ROOT / "cdp.yaml", data_root=root)


def _pipeline(root: Path, customers: int, seed: int) -> list[Measurement]:
    """Generate (unless the same people are already there), then every stage of `cdp run` on a fresh lake."""
    from cdp import pipeline
    from cdp.sample_data import ensure_sample_data
    from warehouse.paths import LakePaths

    config = _config(root)
    with measure("generate (not part of the run)") as generated:
        generated.extra = {"reused": not ensure_sample_data(config, customers, seed)}
    paths = LakePaths.at(root)
    for folder in (paths.lake, paths.build, paths.marts, paths.docs, paths.runs):
        shutil.rmtree(folder, ignore_errors=True)
    paths.duckdb.unlink(missing_ok=True)
    steps = [generated]
    stages: list[tuple[str, Any]] = [
        ("ingest", lambda: [pipeline.ingest(config, s, BATCH_ID) for s in pipeline.source_names(config)]),
        ("standardize", lambda: pipeline.standardize(config, BATCH_ID)),
        ("resolve", lambda: pipeline.resolve(config, BATCH_ID)),
        (GATE_STAGES[0], lambda: pipeline.quality_gate(config, "silver", BATCH_ID)),
        ("build marts (dbt)", lambda: pipeline.build_marts(config, BATCH_ID)),
        (GATE_STAGES[1], lambda: pipeline.quality_gate(config, "gold", BATCH_ID)),
        ("publish", lambda: pipeline.publish(config, BATCH_ID)),
    ]
    from warehouse.errors import CdpError

    for name, run in stages:
        result: Any = {}
        cpu = time.process_time()
        with measure(name, rows=_orders(root)) as step:
            try:
                result = run()
            except CdpError as exc:  # a failed gate or build is timed too; the next stages still run
                report = getattr(exc, "report", None)
                result = {**(report.summary() if report else {}), "status": "failed", "error": str(exc)[:500]}
        step.extra = (
            _gate_extra(result)
            if name in GATE_STAGES
            else {"status": result.get("status", "ok") if isinstance(result, dict) else "ok"}
        )
        step.extra["cpu_seconds"] = round(time.process_time() - cpu, 1)
        if isinstance(result, dict) and result.get("error"):
            step.extra["error"] = result["error"]
            step.rows = None  # a refusal processed nothing: no rows/s
        steps.append(step)
    return steps


def _gates(root: Path) -> list[Measurement]:
    """Only the gates, on an existing lake (results go under its lake/quality and docs/quality)."""
    from quality.gate import QualityGateError, run_gate

    config, steps = _config(root), []
    run_id = new_batch_id()
    for name, layers in ((GATE_STAGES[0], ["bronze", "silver"]), (GATE_STAGES[1], ["gold"])):
        cpu = time.process_time()
        with measure(name, rows=_orders(root)) as step:
            try:
                summary = run_gate(config, layers, run_id).summary()
            except QualityGateError as exc:  # timed all the same
                summary = {**exc.report.summary(), "error": str(exc)[:500]} if exc.report else {}
        step.extra = {**_gate_extra(summary), "cpu_seconds": round(time.process_time() - cpu, 1)}
        steps.append(step)
    return steps


def seed_gate_state(root: Path, layers: list[str], run_id: str) -> dict[str, int]:
    """Record in lake/quality/gate_state what a passing gate over `layers` would have read at `run_id`.

    For measuring a daily gate on a lake kept from a run made before gates kept state: each lake
    table's newest Delta version committed before that run's gate started (its `dq_results`
    checked_at). The next gate then judges row by row only what later runs added.
    """
    from deltalake import DeltaTable

    from quality.scope import GateScope, gate_key, save_scope
    from warehouse import delta
    from warehouse.paths import LakePaths

    paths = LakePaths.at(root)
    results = delta.read(paths.lake / "quality" / "dq_results", columns=["run_id", "layer", "checked_at"])
    started = results.filter((results["run_id"] == run_id) & results["layer"].is_in(layers))[
        "checked_at"
    ].min()
    if started is None:
        raise click.ClickException(f"no dq_results of run {run_id} for {', '.join(layers)} in {root}")
    cutoff_ms = started.replace(tzinfo=UTC).timestamp() * 1000
    versions: dict[str, int] = {}
    for schema in ("bronze", "silver", "identity"):
        folder = paths.lake / schema
        for table in sorted(p for p in folder.iterdir() if delta.exists(p)) if folder.is_dir() else []:
            committed = [
                h["version"] for h in DeltaTable(str(table)).history() if h["timestamp"] <= cutoff_ms
            ]
            if committed:
                versions[f"{schema}.{table.name}"] = max(committed)
    save_scope(paths, GateScope(gate=gate_key(layers), full=False, read=versions), run_id, started)
    return versions


def _gate_extra(summary: dict[str, Any]) -> dict[str, Any]:
    """Status and per-suite seconds: where a gate's time goes."""
    keys = ("status", "score", "expectations", "seconds", "timings", "suite_seconds", "error")
    return {k: summary[k] for k in keys if k in summary}


def _orders(root: Path) -> int | None:
    from warehouse import delta
    from warehouse.paths import LakePaths

    path = LakePaths.at(root).silver("orders")
    return delta.row_count(path) if delta.exists(path) else None


def _row_level_orders(root: Path, max_rows: int) -> Measurement:
    """The orders rules as row-level GX expectations on pandas frames (per source): the road not taken."""
    import duckdb

    from quality.frames import partitions, to_pandas
    from quality.gx_session import GxSession
    from quality.suite_spec import SuiteSpec
    from warehouse import delta
    from warehouse.paths import LakePaths

    paths = LakePaths.at(root)
    config = _config(root)
    legal = (config.section("standardize") or {}).get("legal_status_paths") or []
    spec = SuiteSpec.model_validate(
        {
            "name": "bench_orders_row_level",
            "layer": "silver",
            "entity": "orders",
            "data": "select * from silver.orders",
            "batch_by": ["source"],
            "row_id": ["order_id"],
            "expectations": [
                _rule("expect_column_values_to_not_be_null", {"column": "order_id"}),
                _rule("expect_column_values_to_be_unique", {"column": "order_id"}),
                _rule(
                    "expect_column_values_to_be_in_set",
                    {"column": "customer_known", "value_set": [True], "mostly": 0.99},
                ),
                _rule(
                    "expect_column_values_to_be_in_set",
                    {
                        "column": "status",
                        "value_set": ["created", "shipped", "settled", "cancelled", "completed"],
                    },
                ),
                _rule("expect_column_values_to_be_in_set", {"column": "status_path", "value_set": legal}),
                _rule("expect_column_values_to_be_between", {"column": "total_amount", "min_value": 0}),
                _rule(
                    "expect_column_values_to_be_between",
                    {"column": "ordered_at", "max_value": "2030-01-01T00:00:00"},
                ),
            ],
        }
    )
    total = delta.row_count(paths.silver("orders"))
    con = duckdb.connect()
    con.register("orders", delta.dataset(paths.silver("orders")))
    con.register("records", delta.dataset(paths.silver("customer_records")))
    with tempfile.TemporaryDirectory(prefix="cdp-bench-gx-") as scratch:
        session = GxSession(Path(scratch) / "results", Path(scratch) / "docs", sample_rows=5)
        with measure("row-level GX on orders (design comparison)") as step:
            table = con.sql(
                f"""
                select o.order_id, o.source, o.status, o.status_path, o.total_amount, o.ordered_at,
                       case when o.record_id is null then null else c.record_id is not null end as customer_known
                from (select * from orders limit {int(max_rows)}) o
                left join (select distinct record_id from records) c on c.record_id = o.record_id
                """
            ).to_arrow_table()
            started = time.perf_counter()
            for labels, part in partitions(table, ["source"]):
                session.validate(
                    spec, ".".join(labels.values()), to_pandas(part), {}, "bench", datetime.now(UTC)
                )
            validated = time.perf_counter() - started
    step.rows = table.num_rows
    scale = total / table.num_rows if table.num_rows else 1.0
    step.extra = {
        "orders_in_lake": total,
        "validated_rows": table.num_rows,
        "gx_seconds": round(validated, 1),
        "estimated_seconds_all_orders": round(step.seconds * scale, 1),
    }
    return step


def _rule(kind: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "dimension": "validity", "severity": "critical"}


def _report(steps: list[Measurement], params: dict[str, Any], what: str) -> None:
    saved = save_results("quality", steps, params)
    by_name = {s.name: s for s in steps}
    gates = sum(by_name[n].seconds for n in GATE_STAGES if n in by_name)
    pipeline_seconds = sum(by_name[n].seconds for n in PIPELINE_STAGES if n in by_name)
    lines = [
        f"{what}; `cdp bench quality {'--data-root ...' if 'data_root' in params else '--customers ' + str(params['customers'])}`. "
        "Measured on a shared 2-core machine (other engineers' jobs running); RSS is the whole process.",
        markdown_table(steps),
    ]
    if pipeline_seconds:
        share = gates / pipeline_seconds
        verdict = "within" if share <= TARGET_OVERHEAD else "over"
        lines.append(
            f"Gates, wall clock: {gates:,.1f} s on top of {pipeline_seconds:,.1f} s of pipeline stages = "
            f"**{share:.1%}** ({verdict} the {TARGET_OVERHEAD:.0%} budget)."
        )
        cpu = {s.name: (s.extra or {}).get("cpu_seconds") for s in steps}
        gates_cpu = sum(cpu[n] or 0 for n in GATE_STAGES if n in cpu)
        pipeline_cpu = sum(cpu[n] or 0 for n in PIPELINE_STAGES if n in cpu)
        if pipeline_cpu:
            # CPU seconds of this process (all its threads) do not grow with other jobs' load the
            # way wall time does on a shared machine: the steadier measure of what the gates cost.
            lines.append(
                f"Gates, CPU: {gates_cpu:,.1f} s on top of {pipeline_cpu:,.1f} s = "
                f"**{gates_cpu / pipeline_cpu:.1%}**; per step: "
                + ", ".join(f"{n} {c:,.1f}" for n, c in cpu.items() if c is not None)
                + "."
            )
    comparison = by_name.get("row-level GX on orders (design comparison)")
    silver_gate = by_name.get(GATE_STAGES[0])
    if comparison and silver_gate:
        aggregated = ((silver_gate.extra or {}).get("suite_seconds") or {}).get("silver_orders")
        lines.append(
            f"Design: the orders suite (DuckDB aggregates per source, GX judges the counts) took {aggregated} s "
            f"for all {comparison.extra['orders_in_lake']:,} orders; the same rules row by row in GX took "
            f"{comparison.seconds:,.1f} s for {comparison.rows:,} orders "
            f"(~{comparison.extra['estimated_seconds_all_orders']:,.0f} s for all)."
        )
    lines.append(f"Raw figures: `{saved.relative_to(saved.parents[1])}`.")
    update_results_md(SECTION, "\n\n".join(lines))
    click.echo(markdown_table(steps))
    click.echo("\n".join(lines[2:]))
