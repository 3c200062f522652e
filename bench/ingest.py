"""`cdp bench ingest`: landing -> bronze -> silver throughput and peak memory.

Two measurements: (1) the generator's data set (`--data DIR` holding landing/, or `--customers N`
to generate it first), ingest per source then standardize, rows/second per stage; (2) with
`--big-file-gb G`, one synthetic POS tickets CSV of G GB ingested alone, whose peak RSS shows that a
file is streamed in blocks, never read whole.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click
import polars as pl

from bench.measure import Measurement, markdown_table, measure, save_results, update_results_md
from cdp.context import CliContext, pass_cli


@click.command("ingest")
@click.option(
    "--data", "data_dir", type=click.Path(file_okay=False), default=None, help="Data root with landing/."
)
@click.option("--customers", type=int, default=None, help="Generate this many people first (needs datagen).")
@click.option("--big-file-gb", type=float, default=0.0, help="Also ingest one synthetic CSV of this size.")
@click.option("--scratch", type=click.Path(file_okay=False), default=None, help="Where lakes are written.")
@pass_cli
def ingest(
    cli: CliContext, data_dir: str | None, customers: int | None, big_file_gb: float, scratch: str | None
) -> None:
    """Ingest + standardize a data set and report rows/s and peak memory per stage."""
    from cdp import pipeline

    work = Path(scratch or tempfile.mkdtemp(prefix="cdp-bench-ingest-"))
    steps: list[Measurement] = []
    params: dict[str, object] = {}
    if data_dir or customers:
        root = work / "dataset"
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        if customers:
            from datagen import generate_dataset

            with measure("generate") as m:
                generate_dataset(out_dir=root, customers=customers, seed=42, config=cli.config)
            params["customers"] = customers
        else:
            (root / "landing").symlink_to(Path(data_dir, "landing").resolve())
            params["data"] = Path(data_dir).name
        config = cli.config.with_data_root(root)
        total_rows = 0
        for source in pipeline.source_names(config):
            with measure(f"ingest {source}") as m:
                summary = pipeline.ingest(config, source, "bench")
            m.rows = summary["rows_read"]
            total_rows += m.rows
            steps.append(m)
        with measure("standardize (all silver)") as m:
            summary = pipeline.standardize(config, "bench")
        m.rows = total_rows
        m.extra = {k: v.get("rows") for k, v in summary["entities"].items()}
        steps.append(m)
        with measure("re-run ingest (all skipped)") as m:
            for source in pipeline.source_names(config):
                pipeline.ingest(config, source, "bench2")
        steps.append(m)
    if big_file_gb:
        steps.append(_big_file(cli, work, big_file_gb))
        params["big_file_gb"] = big_file_gb
    if not steps:
        raise click.UsageError("give --data, --customers or --big-file-gb")
    save_results("ingest", steps, params)
    table = markdown_table(steps)
    update_results_md(
        "ingest",
        f"Parameters: {params}. Shared machine (other engineers' tests ran at the same time).\n\n{table}",
    )
    click.echo(table)


def _big_file(cli: CliContext, work: Path, gigabytes: float) -> Measurement:
    """Write one large tickets CSV by repeating a block (vectorised), then ingest only that."""
    root = work / "big"
    if root.exists():
        shutil.rmtree(root)
    path = root / "landing" / "pos" / "stores" / "S999" / "tickets_2025-01.csv"
    path.parent.mkdir(parents=True)
    block_rows = 200_000
    block = pl.DataFrame({"i": range(block_rows)}).select(
        ticket_no=pl.format("S999-20250101-{}", pl.col("i") // 3),
        store_id=pl.lit("S999"),
        card_no=pl.format("88{}", (pl.col("i") % 90_000 + 10_000_000).cast(pl.String)),
        sold_at=pl.lit("2025-01-01 10:00:00"),
        line_no=(pl.col("i") % 3 + 1).cast(pl.String),
        sku=pl.format("SKU-{}", pl.col("i") % 5000),
        item_name=pl.lit("保温杯 500ml"),
        category=pl.lit("home"),
        qty=pl.lit("2"),
        unit_price=pl.lit("1,299.00"),
        line_amount=pl.lit("2,598.00"),
        payment_method=pl.lit("wechat_pay"),
    )
    target = int(gigabytes * 2**30)
    with path.open("wb") as handle:
        offset = 0
        while handle.tell() < target:
            chunk = block.with_columns(
                ticket_no=pl.format(
                    "S999-20250101-{}", (pl.int_range(block_rows) // 3 + offset).cast(pl.String)
                )
            )
            chunk.write_csv(handle, include_header=offset == 0)
            offset += block_rows
    size_gb = path.stat().st_size / 2**30
    config = cli.config.with_data_root(root)
    from ingest.config import sources_config
    from ingest.loader import load_entity

    entity = sources_config(config).get("pos").entities["tickets"]
    with measure(f"ingest one {size_gb:.1f} GB CSV (streamed)") as m:
        summary, _ = load_entity(config, "pos", "tickets", entity, "bench")
    m.rows = summary["rows_read"]
    m.extra = {"file_gb": round(size_gb, 2), "commits": summary["commits"]}
    return m
