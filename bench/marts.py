"""`cdp bench marts`: `dbt build` of every mart and the whole publish stage on a lake of N customers.

Until `cdp generate` + `cdp run` produce a full-size lake, the benchmark writes a synthetic silver
and identity layer of the documented shapes (docs/data_model.md 4-5) with realistic volumes per
customer: 1.5 source records, ~10 orders of ~2.5 lines, 5 web events, 0.3 service tickets, 2
loyalty entries, 0.5 coupons and 0.1 survey responses. `--data-root` benchmarks an existing lake
instead (for example one made by `cdp run`). Per-model times come from dbt's `run_results.json`.
"""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

import click

from bench.measure import (
    Measurement,
    cpu_since,
    markdown_table,
    measure,
    save_results,
    tree_cpu,
    update_results_md,
)

ORDERS_PER_CUSTOMER = 10
LINES_PER_ORDER = 2.5
HISTORY_DAYS = 730
SECTION = "Marts: dbt build and publish (`cdp bench marts`)"
PUBLISH_STEP = "publish (pseudonymised Parquet, cdp.duckdb, role databases, docs)"


@click.command("marts")
@click.option("--customers", type=click.IntRange(min=100), default=1_000_000, show_default=True)
@click.option("--seed", type=int, default=11, show_default=True)
@click.option(
    "--data-root",
    "data_root",
    type=click.Path(file_okay=False),
    default=None,
    help="Benchmark this existing lake instead of a synthetic one.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the synthetic lake goes (default: a temporary directory, removed after).",
)
def marts(customers: int, seed: int, data_root: str | None, workdir: str | None) -> None:
    """dbt build of all marts + publish; per-model times; target: under 5 minutes at 1M customers."""
    if data_root:
        steps, models = _run(Path(data_root), None, seed)
    else:
        with tempfile.TemporaryDirectory(prefix="cdp-bench-marts-", dir=workdir) as scratch:
            steps, models = _run(Path(scratch) / "data", customers, seed)
    params = {"customers": customers if not data_root else "existing"}
    saved = save_results("marts", steps, params)
    slowest = sorted(models.items(), key=lambda item: -item[1])[:12]
    model_table = "\n".join(
        ["| model | seconds |", "|---|---:|", *[f"| {name} | {seconds:,.1f} |" for name, seconds in slowest]]
    )
    source = (
        f"a synthetic lake of {customers:,} customers (seed {seed})" if not data_root else f"`{data_root}`"
    )
    update_results_md(
        SECTION,
        "\n\n".join(
            [
                f"`dbt build` of every model and test, then the publish stage as the DAG runs it (pseudonymised "
                "Parquet, cdp.duckdb, restricted copies, role databases, dbt docs) and once more for an unchanged "
                f"build, on {source}. "
                "Measured on a shared machine (other engineers' jobs running); RSS is the whole process tree.",
                markdown_table(steps),
                "Slowest models (dbt `run_results.json`):",
                model_table,
                f"Raw figures: `{saved.relative_to(saved.parents[2])}`.",
            ]
        ),
    )
    click.echo(markdown_table(steps))
    click.echo(model_table)


def _run(root: Path, customers: int | None, seed: int) -> tuple[list[Measurement], dict[str, float]]:
    from bench.pipeline import _ensure_privacy_keys
    from cdp.pipeline import publish
    from warehouse.config import REPO_ROOT, load_config
    from warehouse.dbt import target_dir
    from warehouse.publish import build_marts, finish_build

    steps: list[Measurement] = []
    if customers is not None:
        with measure("write synthetic lake") as step:
            step.rows = write_synthetic_lake(root, customers, seed)
        steps.append(step)
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    orders = _orders(root)
    cpu = tree_cpu()
    with measure("dbt build (all marts and tests)", rows=orders) as step:
        summary = build_marts(config, "bench")
    step.extra = {**summary, "cpu_seconds": round(cpu_since(cpu), 1)}
    steps.append(step)
    results = json.loads((target_dir(config) / "run_results.json").read_text())
    models = {
        r["unique_id"].split(".")[-1]: float(r["execution_time"])
        for r in results["results"]
        if r["unique_id"].startswith("model.")
    }
    _ensure_privacy_keys()
    # The publish stage as the DAG's task runs it: pseudonymised Parquet, cdp.duckdb, restricted
    # copies, role databases and docs; then once more for an unchanged build (a daily run's best case).
    for name, batch in ((PUBLISH_STEP, "bench"), (f"{PUBLISH_STEP}, unchanged build", "bench-again")):
        if batch != "bench":
            finish_build(config, batch)
        cpu = tree_cpu()
        with measure(name, rows=orders) as step:
            published = publish(config, batch)
        step.extra = {
            "mart_rows": published["mart_rows"],
            "unchanged_marts": published["unchanged_marts"],
            "cpu_seconds": round(cpu_since(cpu), 1),
        }
        steps.append(step)
    return steps, models


def _orders(root: Path) -> int:
    from warehouse import delta
    from warehouse.paths import LakePaths

    return delta.row_count(LakePaths.at(root).silver("orders"))


def write_synthetic_lake(root: Path, customers: int, seed: int) -> int:
    """Silver + identity tables of the documented shapes; returns the number of orders written."""
    import numpy as np
    import polars as pl

    from warehouse import delta
    from warehouse.paths import LakePaths

    paths = LakePaths.at(root)
    rng = np.random.default_rng(seed)
    start = pl.date(2024, 11, 1)
    customer_ids = pl.Series("customer_id", [f"C{i:08d}" for i in range(customers)])

    # customers and records: 1.5 records each (every other customer has a second, web record)
    consent = rng.random(customers)
    golden = pl.DataFrame({"customer_id": customer_ids}).with_columns(
        pl.col("customer_id").alias("full_name"),
        pl.lit(None, dtype=pl.String).alias("given_name"),
        pl.lit(None, dtype=pl.String).alias("family_name"),
        pl.lit(None, dtype=pl.String).alias("name_pinyin"),
        (pl.lit(np.datetime64("1960-01-01")) + pl.duration(days=pl.Series(rng.integers(0, 15000, customers))))
        .cast(pl.Date)
        .alias("date_of_birth"),
        pl.lit("F").alias("gender"),
        (pl.col("customer_id") + "@example.com").alias("email"),
        pl.lit("+8613800000000").alias("phone"),
        pl.lit("上海").alias("city"),
        pl.lit("上海").alias("region"),
        pl.lit("CN").alias("country"),
        pl.lit(None, dtype=pl.String).alias("member_id"),
        pl.Series("consent_email", consent < 0.7),
        pl.Series("consent_sms", consent < 0.4),
        pl.lit(None, dtype=pl.Boolean).alias("consent_wechat"),
        pl.lit(None, dtype=pl.Boolean).alias("consent_profiling"),
    )
    primary = pl.DataFrame({"customer_id": customer_ids}).with_columns(
        ("pos:P" + pl.col("customer_id")).alias("record_id"), pl.lit("pos").alias("source")
    )
    secondary = primary.filter(pl.int_range(pl.len()) % 2 == 0).with_columns(
        ("ecom:E" + pl.col("customer_id")).alias("record_id"), pl.lit("ecom").alias("source")
    )
    links = pl.concat([primary, secondary]).with_columns(
        pl.col("record_id").str.split(":").list.get(1).alias("source_record_id"),
        pl.lit("singleton").alias("link_rule"),
        pl.lit(1.0).alias("match_probability"),
        pl.lit(None, dtype=pl.Float64).alias("match_weight"),
        pl.lit(None, dtype=pl.String).alias("linked_to_record_id"),
        pl.lit("{}").alias("evidence"),
        pl.lit("bench").alias("run_id"),
        pl.lit(None, dtype=pl.Datetime("us")).alias("resolved_at"),
    )
    records = links.select(
        "record_id",
        "source",
        "source_record_id",
        ("d-" + pl.col("record_id")).alias("device_id"),
        pl.lit(None, dtype=pl.String).alias("member_id"),
        pl.Series("completeness_score", rng.uniform(0.3, 1.0, links.height)),
        (
            start.cast(pl.Datetime("us")) + pl.duration(days=pl.Series(rng.integers(0, 300, links.height)))
        ).alias("created_at"),
        pl.lit(None, dtype=pl.Datetime("us")).alias("updated_at"),
    )

    # orders: ~10 per customer on random days, one record each
    n_orders = int(customers * ORDERS_PER_CUSTOMER)
    owner = rng.integers(0, customers, n_orders)
    days = rng.integers(0, HISTORY_DAYS, n_orders)
    status = rng.choice(["completed", "settled", "shipped", "cancelled"], n_orders, p=[0.5, 0.35, 0.1, 0.05])
    orders = (
        pl.DataFrame(
            {
                "order_id": pl.int_range(n_orders, eager=True).cast(pl.String),
                "customer_index": owner,
                "day": days,
                "status": status,
                "total_amount": np.round(rng.gamma(2.0, 150.0, n_orders), 2),
            }
        )
        .with_columns(
            ("pos:T" + pl.col("order_id")).alias("order_id"),
            pl.lit("pos").alias("source"),
            pl.col("order_id").alias("source_order_id"),
            ("pos:PC" + pl.col("customer_index").cast(pl.String).str.zfill(8)).alias("record_id"),
            pl.lit("store").alias("channel"),
            pl.lit("S001").alias("store_id"),
            (start + pl.duration(days=pl.col("day"))).alias("order_date"),
            pl.col("status").alias("status_path"),
            pl.lit(True).alias("status_path_valid"),
            pl.lit("CNY").alias("currency"),
            pl.col("total_amount").cast(pl.Decimal(18, 2)),
            pl.lit(2, dtype=pl.Int64).alias("item_count"),
            pl.lit("alipay").alias("payment_method"),
            pl.lit("bench").alias("_file"),
            pl.lit("bench").alias("_batch_id"),
        )
        .with_columns(pl.col("order_date").cast(pl.Datetime("us")).alias("ordered_at"))
        .drop("customer_index", "day")
    )

    per_order = rng.poisson(LINES_PER_ORDER - 1, n_orders) + 1
    n_lines = int(per_order.sum())
    line_order = np.repeat(np.arange(n_orders), per_order)
    category = rng.integers(0, 20, n_lines)
    lines = (
        pl.DataFrame({"order_index": line_order, "category_index": category})
        .with_columns(
            ("pos:T" + pl.col("order_index").cast(pl.String)).alias("order_id"),
            (pl.int_range(pl.len()).over("order_index") + 1).cast(pl.Int64).alias("line_no"),
            (
                "SKU-"
                + pl.col("category_index").cast(pl.String)
                + "-"
                + pl.Series(rng.integers(0, 50, n_lines)).cast(pl.String)
            ).alias("sku"),
            pl.lit("item").alias("product_name"),
            ("category_" + pl.col("category_index").cast(pl.String)).alias("category"),
            pl.lit(1, dtype=pl.Int64).alias("quantity"),
            pl.lit(100).cast(pl.Decimal(18, 2)).alias("unit_price"),
            pl.lit(100).cast(pl.Decimal(18, 2)).alias("line_amount"),
        )
        .drop("order_index", "category_index")
    )

    def per_customer(rate: float) -> np.ndarray:
        return rng.integers(0, customers, int(customers * rate))

    def ids(prefix: str, n: int) -> pl.Series:
        return prefix + pl.int_range(n, eager=True).cast(pl.String)

    def record_of(index: np.ndarray) -> pl.Series:
        return "pos:PC" + pl.Series(index).cast(pl.String).str.zfill(8)

    def timestamps(n: int) -> pl.Series:
        seconds = rng.integers(0, HISTORY_DAYS * 86400, n) * 1_000_000
        return pl.Series(np.datetime64("2024-11-01T00:00:00", "us") + seconds.astype("timedelta64[us]"))

    ev = per_customer(5)
    events = pl.DataFrame(
        {
            "event_id": ids("ev", len(ev)),
            "source": "ecom",
            "record_id": record_of(ev),
            "device_id": None,
            "session_id": "s",
            "event_type": "page_view",
            "sku": None,
            "channel": "web",
            "occurred_at": timestamps(len(ev)),
        },
        schema_overrides={"device_id": pl.String, "sku": pl.String},
    )
    tk = per_customer(0.3)
    created = timestamps(len(tk))
    tickets = pl.DataFrame(
        {
            "ticket_id": ids("K", len(tk)),
            "source": "service",
            "record_id": record_of(tk),
            "channel": rng.choice(["phone", "email", "chat", "wechat"], len(tk)),
            "priority": "normal",
            "status": "confirmed",
            "subject": "help",
            "product_serial": None,
            "created_at": created,
            "first_response_at": created + timedelta(hours=5),
            "resolved_at": created + timedelta(hours=30),
            "contacts": rng.integers(1, 4, len(tk)),
            "csat": rng.integers(1, 6, len(tk)),
        },
        schema_overrides={"product_serial": pl.String},
    )
    lg = per_customer(2)
    ledger = pl.DataFrame(
        {
            "entry_id": ids("P", len(lg)),
            "record_id": record_of(lg),
            "occurred_at": timestamps(len(lg)),
            "entry_type": rng.choice(["earn", "redeem"], len(lg), p=[0.8, 0.2]),
            "order_ref": None,
            "store_id": None,
        },
        schema_overrides={"order_ref": pl.String, "store_id": pl.String},
    ).with_columns(
        pl.when(pl.col("entry_type") == "earn").then(200).otherwise(-100).cast(pl.Int64).alias("points")
    )
    cp = per_customer(0.5)
    issued = timestamps(len(cp))
    coupons = pl.DataFrame(
        {
            "coupon_id": ids("CP", len(cp)),
            "record_id": record_of(cp),
            "campaign": rng.choice(["spring", "summer", "autumn"], len(cp)),
            "value": pl.Series([20.0] * len(cp)).cast(pl.Decimal(18, 2)),
            "issued_at": issued,
            "expires_at": issued + timedelta(days=60),
            "redeemed_at": None,
            "order_ref": None,
        },
        schema_overrides={"redeemed_at": pl.Datetime("us"), "order_ref": pl.String},
    )
    sv = per_customer(0.1)
    surveys = pl.DataFrame(
        {
            "response_id": ids("S", len(sv)),
            "record_id": record_of(sv),
            "submitted_at": timestamps(len(sv)),
            "nps": rng.integers(0, 11, len(sv)),
            "csat": rng.integers(1, 6, len(sv)),
            "touchpoint": "store",
            "comment": None,
        },
        schema_overrides={"comment": pl.String},
    )
    posts = pl.DataFrame(
        {
            "post_id": ["p0"],
            "source": ["social"],
            "record_id": ["pos:PC00000000"],
            "platform": ["weibo"],
            "post_type": ["post"],
            "parent_post_id": [None],
            "text": ["hi"],
            "created_at": timestamps(1),
            "likes": [1],
        },
        schema_overrides={"parent_post_id": pl.String},
    )

    for entity, frame in {
        "customer_records": records,
        "orders": orders,
        "order_lines": lines,
        "events": events,
        "tickets": tickets,
        "loyalty_ledger": ledger,
        "coupons": coupons,
        "survey_responses": surveys,
        "social_posts": posts,
    }.items():
        delta.write(frame, paths.silver(entity), "overwrite")
    delta.write(links, paths.identity("identity_links"), "overwrite")
    delta.write(golden, paths.identity("golden_customer"), "overwrite")
    return n_orders
