"""`cdp bench generate`: time and peak memory of `cdp generate` (and of one increment day).

Target: 1,000,000 people (~10M till tickets and web orders) well under 15 minutes with peak RSS
under ~6 GB on 2 cores. Peak RSS covers the chunk worker processes too. The RESULTS.md section
keeps the latest run per size and `--label`, so running 100k and then 1M shows both, and a run
of older code (`PYTHONPATH=<checkout of the old datagen> cdp bench generate --label before-<sha>`)
stays beside the current one.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import click

from bench.measure import (
    Measurement,
    markdown_table,
    measure,
    save_results,
    saved_results,
    update_results_md,
)
from cdp.context import CliContext, pass_cli


@click.command("generate")
@click.option("--customers", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--scratch",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory (default: a temp dir).",
)
@click.option("--keep", is_flag=True, help="Keep the generated data set (default: delete it afterwards).")
@click.option(
    "--label",
    default="",
    help="Name of the code measured (e.g. 'before: commit abc123'); RESULTS.md keeps the latest run "
    "per size and label, so a before/after comparison stays side by side.",
)
@pass_cli
def generate(cli: CliContext, customers: int, seed: int, scratch: str | None, keep: bool, label: str) -> None:
    """Generate N people, then add one increment day; report seconds, rows/s and peak RSS."""
    from datagen import generate_dataset, generate_increment
    from datagen.settings import load_settings

    out = Path(scratch or tempfile.mkdtemp(prefix="cdp-bench-generate-"))
    settings = load_settings(cli.config, customers=customers, seed=seed)
    steps: list[Measurement] = []
    cpu, load = _cpu_seconds(), os.getloadavg()[0]
    with measure("generate") as step:
        summary = generate_dataset(out_dir=out, customers=customers, seed=seed, config=cli.config)
    step.rows = _orders(out)
    step.extra = {
        **summary,
        "disk_mb": round(_size(out / "landing") / 2**20),
        "orders": step.rows,
        "cpu_seconds": round(_cpu_seconds() - cpu, 1),
        "load_average": round((load + os.getloadavg()[0]) / 2, 1),
    }
    steps.append(step)
    if settings.increment_horizon_days:
        cpu = _cpu_seconds()
        with measure("increment day") as step:
            result = generate_increment(out, settings.end_date + timedelta(days=1))
        step.rows = result.get("new_customer_records")
        step.extra = {**result, "cpu_seconds": round(_cpu_seconds() - cpu, 1)}
        steps.append(step)
    path = save_results("generate", steps, {"customers": customers, **({"label": label} if label else {})})
    click.echo(markdown_table(steps))
    click.echo(f"raw figures: {path}")
    update_results_md("generate", _section())
    if not keep:
        shutil.rmtree(out, ignore_errors=True)


def _orders(root: Path) -> int:
    """Distinct till tickets (copies exported twice count once) plus web orders, as exported."""
    import polars as pl

    web = sum(1 for path in (root / "landing/ecom/orders").glob("orders_*.jsonl") for _ in path.open("rb"))
    files = sorted((root / "landing/pos").rglob("tickets_*.csv"))
    tickets = pl.concat(
        [pl.scan_csv(f, infer_schema=False, encoding="utf8-lossy").select("ticket_no") for f in files]
    )
    return web + int(tickets.select(pl.col("ticket_no").drop_nulls().n_unique()).collect().item())


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the chunk workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _section() -> str:
    """A table of the latest run per size, from bench/results/generate_*.json."""
    latest: dict[tuple[int, str], dict] = {}
    runs = sorted(saved_results("generate_customers*.json"), key=lambda found: found[0].stem[-15:])
    for _, run in runs:
        latest[int(run["params"]["customers"]), run["params"].get("label", "")] = run
    lines = [
        "`cdp bench generate --customers N`: the whole `cdp generate` (simulate in chunks, number, export,",
        "truth) and one `--increment-day`. Shared machine: other engineers' tests ran at the same time",
        "(load average 2 = both cores busy), so wall times are pessimistic; CPU seconds (this process and",
        "its chunk workers) measure the cost. Peak RSS includes the chunk worker processes. A run without",
        "a label measured the code of its date; `before-<sha>` runs measured the generator of that commit.",
        "",
        "Since 04401f1: the spool is uncompressed Arrow IPC split by month (was Parquet), web orders and",
        "events are laid out by index arithmetic instead of joins and sorts, nested JSON columns are",
        "built from offsets, workbooks are written as XML built column-wise, and chunks hold 50,000",
        "people (were 100,000), so 100k people run as two parallel chunk workers of ~0.9 GB each.",
        "With Polars on one thread (less noise from the shared machine), 30,000 people took 23.9 CPU s",
        "before and 19.8 CPU s after. Peak RSS counts the pages of spool files Polars maps while reading.",
        "The 1,000,000 row predates these changes (and its 1,001,077 people include 1,077 newcomers",
        "who leaked from the increment horizon, a bug since fixed).",
        "",
        "| people | step | seconds | CPU s | load avg | orders (tickets + web) | orders/s | peak RSS (MB) | landing (MB) | files |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    # per size: runs of older code first, then the current code
    for (customers, label), run in sorted(
        latest.items(), key=lambda item: (item[0][0], not item[0][1], item[0][1])
    ):
        for step in run["steps"]:
            extra = step.get("extra") or {}
            rps = (
                f"{step['rows_per_second']:,.0f}"
                if step.get("rows_per_second") and step["name"] == "generate"
                else ""
            )
            rows = f"{step['rows']:,}" if step.get("rows") is not None else ""
            lines.append(
                f"| {customers:,} | {step['name']} | {step['seconds']:,.1f} | {extra.get('cpu_seconds', '')} "
                f"| {extra.get('load_average', '')} | {rows if step['name'] == 'generate' else ''} "
                f"| {rps} | {step['peak_rss_mb']:,.0f} | {extra.get('disk_mb', '')} | {extra.get('files', '')} |"
            )
        code = f" ({label})" if label else ""
        lines.append(
            f"| | measured {run['measured_at']} on {run['machine']['cpus']} CPUs{code} | | | | | | | | |"
        )
    return "\n".join(lines)
