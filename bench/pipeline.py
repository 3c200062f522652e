"""`cdp bench pipeline`: the whole `cdp_daily` pipeline on generated data, stage by stage.

The stages are the functions of `cdp.pipeline` (the ones the Airflow DAG's tasks call), run in this
process one after the other, each measured on its own: wall time, CPU seconds, rows per second and
the peak RSS of the whole process tree (`bench.measure`). The real DAG (`cdp.airflow_runner`) adds
a scheduler, a task process per task and Cosmos' dbt subprocess on top of the same functions; the
end-to-end test covers that path, this benchmark measures the work itself.

A run needs a generated data set (`landing/` + `truth/`). Generating one is slow at 1M people, so
`--data DIR` keeps it: the first run generates N people into DIR, later runs reuse it. Each run
copies DIR's landing/ and truth/ into a scratch data root, because an increment appends to the
customer files and the kept data set must stay the base one.

With `--incremental` a day of new files (`cdp generate --increment-day`, ~0.5% new records) is added
after the full run and the pipeline runs again on it: the daily run. Its total is compared with
the full run's (target: under 10%).

Results: `bench/results/pipeline_*.json`, the `## End-to-end pipeline` section of
`bench/RESULTS.md` (one column per size run so far, from the latest result of each) and
`bench/pipeline_cost.png`, cost against size.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click

from bench.measure import (
    BENCH_DIR,
    Measurement,
    cpu_since,
    measure,
    save_results,
    saved_results,
    tree_cpu,
    update_results_md,
)

SECTION = "End-to-end pipeline (`cdp bench pipeline`)"
CHART = BENCH_DIR / "pipeline_cost.png"
DEFAULT_INCREMENT_DAY = date(2026, 11, 1)  # the first day after generator.end_date
FULL_TARGET_SECONDS = 25 * 60  # issue 9: 1M people end to end
INCREMENTAL_TARGET_SHARE = 0.10  # issue 9: the daily run under 10% of the full run

GENERATOR_MANIFEST = "truth/generator_manifest.json"  # written last by datagen


@click.command("pipeline")
@click.option("--customers", type=click.IntRange(min=100), default=10_000, show_default=True)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="A generated data set (landing/ + truth/) to reuse; generated here first when empty.",
)
@click.option(
    "--incremental/--full-only", default=True, show_default=True, help="Also run one daily increment."
)
@click.option(
    "--increment-day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=DEFAULT_INCREMENT_DAY.isoformat(),
    show_default=True,
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the run's data root goes (default: a temporary directory, removed after).",
)
@click.option("--keep", is_flag=True, help="Keep the run's data root (with --workdir) for inspection.")
def pipeline(
    customers: int,
    data_dir: str | None,
    incremental: bool,
    increment_day: Any,
    workdir: str | None,
    keep: bool,
) -> None:
    """Every cdp_daily stage on N generated people (and one daily increment); per-stage cost."""
    _ensure_privacy_keys()
    if workdir:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="cdp-bench-pipeline-", dir=workdir))
    try:
        dataset = Path(data_dir) if data_dir else scratch / "dataset"
        generated = _ensure_dataset(dataset, customers)
        people = _people(dataset)
        root = scratch / "run"
        _copy_dataset(dataset, root)
        full = run_pipeline(root, "full", "b20261031T000000")
        _record(people, "full", [generated, *full] if generated else full)
        if incremental:
            with measure("generate increment (not part of the run)") as step:
                _generate_increment(root, increment_day.date())
            daily = run_pipeline(root, "incremental", "b20261101T000000")
            _record(people, "incremental", [step, *daily])
    finally:
        if keep:
            click.echo(f"data root kept: {scratch / 'run'}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    click.echo(render_results())


def _record(people: int, mode: str, steps: list[Measurement]) -> None:
    """Save one run's figures as soon as it ends (a later failure keeps them), then refresh the report."""
    saved = save_results("pipeline", steps, {"customers": people, "mode": mode})
    click.echo(f"{mode}: {saved}")
    render_results()
    write_chart()


# --- running the stages ------------------------------------------------------------------------
def run_pipeline(root: Path, mode: str, batch_id: str) -> list[Measurement]:
    """Every stage of `cdp.pipeline.run_all`, in its order, each measured; the total last."""
    from cdp import pipeline
    from warehouse.config import REPO_ROOT, load_config

    config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    stages: list[tuple[str, Callable[[], Any]]] = [
        (f"ingest {source}", _bind(pipeline.ingest, config, source, batch_id))
        for source in pipeline.source_names(config)
    ]
    stages += [
        ("standardize", lambda: pipeline.standardize(config, batch_id)),
        ("resolve", lambda: pipeline.resolve(config, batch_id)),
        ("quality gate silver", lambda: pipeline.quality_gate(config, "silver", batch_id)),
        ("build marts (dbt build)", lambda: pipeline.build_marts(config, batch_id)),
        ("quality gate gold", lambda: pipeline.quality_gate(config, "gold", batch_id)),
        ("publish", lambda: pipeline.publish(config, batch_id)),
        ("summary", lambda: pipeline.summarize(config, batch_id)),
    ]
    steps: list[Measurement] = []
    cpu_start = tree_cpu()
    with measure(f"total ({mode} run)") as total:
        for name, stage in stages:
            cpu = tree_cpu()
            error = None
            with measure(name) as step:
                try:
                    summary = stage()
                except Exception as exc:  # a benchmark measures every stage; the failure is recorded
                    summary, error = {}, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            step.extra = {
                "cpu_seconds": round(cpu_since(cpu), 1),
                "mode": mode,
                "status": "failed" if error else "ok",
                "load_average_1m": round(os.getloadavg()[0], 1),
                **({"error": error} if error else {}),
            }
            step.rows = None if error else _stage_rows(name, summary, root)
            if name.startswith("build marts"):
                step.extra["slowest_models"] = _slowest_models(config)
            steps.append(step)
            click.echo(f"  {mode} {name}: {step.seconds:,.1f} s, {step.peak_rss_mb:,.0f} MB {error or ''}")
    total.extra = {"cpu_seconds": round(cpu_since(cpu_start), 1), "mode": mode}
    total.rows = _orders(root)
    steps.append(total)
    return steps


def _slowest_models(config: Any, top: int = 8) -> dict[str, float]:
    """dbt's own per-model seconds from `run_results.json` of the build just run."""
    from warehouse.dbt import target_dir

    path = target_dir(config) / "run_results.json"
    if not path.exists():
        return {}
    results = json.loads(path.read_text(encoding="utf-8"))["results"]
    models = sorted(
        ((r["unique_id"].split(".")[-1], round(float(r["execution_time"]), 1)) for r in results),
        key=lambda item: -item[1],
    )
    return dict(models[:top])


def _bind(function: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: function(*args)


def _stage_rows(name: str, summary: Any, root: Path) -> int | None:
    """What the stage processed: rows read for ingest, records for resolve, orders from there on."""
    if name.startswith("ingest"):
        return int(summary.get("rows_read") or 0) or None
    if name == "standardize":
        return _silver_rows(root)
    if name == "resolve":
        from warehouse import delta
        from warehouse.paths import LakePaths

        records = LakePaths.at(root).silver("customer_records")
        return delta.row_count(records) if delta.exists(records) else None
    if name == "publish":
        return sum((summary.get("mart_rows") or {}).values()) or None
    if name == "summary":
        return None
    return _orders(root)


def _silver_rows(root: Path) -> int:
    from warehouse import inventory
    from warehouse.paths import LakePaths

    return sum(inventory.table_counts(LakePaths.at(root), "silver").values())


def _orders(root: Path) -> int | None:
    from warehouse import delta
    from warehouse.paths import LakePaths

    orders = LakePaths.at(root).silver("orders")
    return delta.row_count(orders) if delta.exists(orders) else None


# --- the data set ------------------------------------------------------------------------------
def _ensure_dataset(dataset: Path, customers: int) -> Measurement | None:
    """Generate N people into `dataset` unless it already holds a generated data set.

    The generator writes its manifest last: folders without it are a generation cut short (a
    killed bench), which is refused by name rather than read as a data set."""
    if (dataset / "truth").is_dir() and (dataset / "landing").is_dir():
        if not (dataset / GENERATOR_MANIFEST).is_file():
            raise click.ClickException(
                f"{dataset} holds an unfinished data set (no {GENERATOR_MANIFEST}: its generation was "
                "cut short); remove the folder or point --data at another one"
            )
        have = _people(dataset)
        if have != customers:
            click.echo(f"reusing {dataset} ({have:,} people; --customers {customers:,} ignored)")
        return None
    from datagen import generate_dataset
    from warehouse.config import REPO_ROOT, load_config

    config = load_config(REPO_ROOT / "cdp.yaml", data_root=dataset)
    with measure("generate (not part of the run)") as step:
        generate_dataset(out_dir=dataset, customers=customers, seed=42, config=config)
    return step


def _people(dataset: Path) -> int:
    manifest = json.loads((dataset / GENERATOR_MANIFEST).read_text(encoding="utf-8"))
    return int(manifest["settings"]["customers"])


def _copy_dataset(dataset: Path, root: Path) -> None:
    """landing/ and truth/ into a fresh data root (the increment must not touch the kept set).

    Landing files are hard-linked where the file system allows (a 1M set is ~10 GB): the
    increment's writers give a linked file a copy of its own before appending to it
    (`datagen.writers`). The truth tables are rewritten in place by an increment, so they are copied.
    """
    root.mkdir(parents=True)
    shutil.copytree(dataset / "landing", root / "landing", copy_function=_link_or_copy)
    shutil.copytree(dataset / "truth", root / "truth")


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not supported
        shutil.copy2(source, target)


def _generate_increment(root: Path, day: date) -> None:
    from datagen import generate_increment

    generate_increment(root, day)


def _ensure_privacy_keys() -> None:
    """Publishing pseudonymises with keyed hashes; a benchmark run gets throwaway keys if none are set."""
    for name in ("CDP_HMAC_KEY", "CDP_ENCRYPTION_KEY"):
        os.environ.setdefault(name, base64.b64encode(os.urandom(32)).decode("ascii"))


# --- reporting ---------------------------------------------------------------------------------
def latest_results() -> dict[tuple[int, str], dict[str, Any]]:
    """The newest `pipeline_*.json` per (people, mode)."""
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for path, data in saved_results("pipeline_*.json"):
        key = (int(data["params"]["customers"]), str(data["params"]["mode"]))
        data["file"] = path.name
        if key not in latest or data["measured_at"] >= latest[key]["measured_at"]:
            latest[key] = data
    return latest


def _total(data: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in data["steps"] if s["name"].startswith("total"))


def render_results() -> str:
    """The RESULTS.md section: per-stage seconds / rows/s / peak RSS, one column group per run."""
    latest = latest_results()
    if not latest:
        return ""
    keys = sorted(latest, key=lambda k: (k[0], k[1] != "full"))
    names: list[str] = []
    for key in keys:
        for step in latest[key]["steps"]:
            if step["name"] not in names:
                names.append(step["name"])
    names.sort(key=lambda n: (n.startswith("total"), "not part" in n and not n.startswith("total")))
    header = "| stage | " + " | ".join(f"{p:,} {m}: wall s / CPU s / rows/s / MB" for p, m in keys) + " |"
    lines = [header, "|---|" + "---:|" * len(keys)]
    for name in names:
        cells = []
        for key in keys:
            step = next((s for s in latest[key]["steps"] if s["name"] == name), None)
            if step is None:
                cells.append("")
                continue
            rps = f"{step['rows_per_second']:,.0f}" if step.get("rows_per_second") else "-"
            failed = " (failed)" if step.get("extra", {}).get("status") == "failed" else ""
            cpu = step.get("extra", {}).get("cpu_seconds")
            cpu_text = f"{cpu:,.0f}" if cpu is not None else "-"
            cells.append(f"{step['seconds']:,.1f} / {cpu_text} / {rps} / {step['peak_rss_mb']:,.0f}{failed}")
        label = f"**{name}**" if name.startswith("total") else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    verdicts = []
    for people in sorted({p for p, _ in keys}):
        full = latest.get((people, "full"))
        daily = latest.get((people, "incremental"))
        if full is None:
            continue
        seconds = _total(full)["seconds"]
        line = f"- {people:,} people: full run {seconds:,.0f} s, peak {_total(full)['peak_rss_mb']:,.0f} MB"
        if daily is not None:
            share = _total(daily)["seconds"] / seconds
            verdict = "meets" if share < INCREMENTAL_TARGET_SHARE else "misses"
            line += (
                f"; daily increment {_total(daily)['seconds']:,.0f} s = {share:.0%} of the full run "
                f"({verdict} the {INCREMENTAL_TARGET_SHARE:.0%} target)"
            )
        if daily is None:
            line += "; no daily run recorded for this size yet"
        else:
            stages = [
                s for s in daily["steps"] if not s["name"].startswith("total") and "not part" not in s["name"]
            ]
            cpu_of = {s["name"]: float(s.get("extra", {}).get("cpu_seconds") or 0.0) for s in stages}
            cpu_total = sum(cpu_of.values()) or 1.0
            top = sorted(cpu_of.items(), key=lambda item: -item[1])[:3]
            line += "; the daily run's CPU goes to " + ", ".join(
                f"{name} {seconds / cpu_total:.0%}" for name, seconds in top
            )
        verdicts.append(line)
    files = ", ".join(f"`results/{latest[k]['file']}`" for k in keys)
    body = "\n\n".join(
        [
            "Every stage of `cdp_daily` (the functions in `cdp/pipeline.py` that the DAG's tasks call) run "
            "in one process, stage by stage, on `cdp generate` data (seed 42): "
            "`cdp bench pipeline --customers N --data DIR [--full-only]`. The daily run adds "
            "`cdp generate --increment-day 2026-11-01` (~0.5% new records) after the full load and runs "
            "every stage again. Cells: wall seconds / CPU seconds of this process (all its threads: DuckDB, "
            "dbt, Polars) / rows per second (wall) / peak RSS of the process tree (MB). "
            "Rows: rows read (ingest), silver rows (standardize), customer records (resolve), mart rows "
            "(publish), silver orders (other stages). Shared 2-core machine: other engineers' jobs ran "
            "at the same time (load average in the JSON), so wall times are pessimistic; CPU seconds are the "
            "steadier measure of cost. A stage that "
            "fails (for example a critical quality gate) is marked (failed) and, unlike in the DAG, the "
            "next stages still run so that their cost is measured; the error is in the JSON.",
            "\n".join(lines),
            "\n".join(verdicts),
            "![cost against size](pipeline_cost.png)",
            f"Raw figures: {files}.",
        ]
    )
    update_results_md(SECTION, body)
    return "\n".join(lines)


def write_chart(path: Path = CHART) -> Path | None:
    """Stacked per-stage seconds against people (full runs) and the daily run's total."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latest = latest_results()
    sizes = sorted(p for p, m in latest if m == "full")
    if not sizes:
        return None
    groups = ["ingest", "standardize", "resolve", "quality gate", "build marts", "publish", "summary"]
    fig, (stacked, scaled) = plt.subplots(1, 2, figsize=(12, 4.5))
    bottom = [0.0] * len(sizes)
    labels = [f"{p:,}" for p in sizes]
    for group in groups:
        values = [
            sum(
                s["seconds"]
                for s in latest[(p, "full")]["steps"]
                if s["name"].startswith(group) and "not part" not in s["name"]
            )
            for p in sizes
        ]
        stacked.bar(labels, values, bottom=bottom, label=group)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    daily = [
        _total(latest[(p, "incremental")])["seconds"] if (p, "incremental") in latest else 0.0 for p in sizes
    ]
    if any(daily):
        shown = [(label, d) for label, d in zip(labels, daily, strict=True) if d]
        stacked.plot([s[0] for s in shown], [s[1] for s in shown], "k^--", label="daily increment (total)")
    stacked.set_xlabel("people generated")
    stacked.set_ylabel("wall seconds")
    stacked.set_title("cdp_daily per stage (full load)")
    stacked.legend(fontsize=8)
    totals = [_total(latest[(p, "full")])["seconds"] for p in sizes]
    scaled.loglog(sizes, totals, "o-", label="full run")
    if any(daily):
        scaled.loglog(
            [p for p, d in zip(sizes, daily, strict=True) if d], [d for d in daily if d], "^--", label="daily"
        )
    base = totals[0] / sizes[0]
    scaled.loglog(sizes, [base * p for p in sizes], ":", color="grey", label="linear from the smallest")
    scaled.set_xlabel("people generated")
    scaled.set_ylabel("wall seconds")
    scaled.set_title("cost against size (log-log)")
    scaled.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
