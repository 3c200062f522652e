"""Small lakes for the quality gate tests: clean, and broken on purpose, exactly per docs/data_model.md.

Silver and identity come from the shared tiny lake (tests/fixtures/tiny_lake.py) with its one
deliberately re-delivered order removed, so the clean lake passes every critical rule. Bronze and
the load manifest are written here: two sources (pos, ecom), one batch. The defects are small,
named edits on top (`drop_emails`, `drop_orders_on`, `orphan_orders`, ...), so each test says in
one line what is wrong with its data.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from tests.fixtures.tiny_lake import write_tiny_lake
from warehouse import delta
from warehouse.config import REPO_ROOT, CdpConfig, load_config
from warehouse.paths import LakePaths

RUN_ID = "b20260701T020000"
CHECKED_AT = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
LANDED_AT = CHECKED_AT - timedelta(hours=2)
SOURCES = ("pos", "ecom")
DAY_RUN = "b20260701T030000"  # the next day's run, after RUN_ID
NEW_ORDER, NEGATIVE_ORDER = "ecom:DAY-1", "ecom:DAY-2"  # the day's orders (append_day_orders)


@dataclass(frozen=True)
class Lake:
    root: Path
    config: CdpConfig

    @property
    def paths(self) -> LakePaths:
        return LakePaths.at(self.root)

    def silver(self, entity: str) -> pl.DataFrame:
        return delta.read(self.paths.silver(entity))

    def replace_silver(self, entity: str, frame: pl.DataFrame) -> None:
        delta.write(frame, self.paths.silver(entity), "overwrite")

    def quality(self, table: str) -> pl.DataFrame:
        return delta.read(self.paths.lake / "quality" / table)


def lake_config(root: Path, min_share_rows: int | None = 1) -> CdpConfig:
    """The repository's cdp.yaml on `root`, its source registry narrowed to the fixture's sources.

    The tiny lake's sources hold a handful of records each, so its share rules are judged from
    one row on (`quality.min_share_rows`; the repository's default would leave them unjudged;
    None keeps it).
    """
    base = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    raw = dict(base.raw)
    raw["sources"] = {name: base.raw["sources"][name] for name in SOURCES}
    if min_share_rows is not None:
        raw["quality"] = {**(base.raw.get("quality") or {}), "min_share_rows": min_share_rows}
    return CdpConfig(path=base.path, raw=raw, data_root=base.data_root)


def _lineage(frame: pl.DataFrame, source: str, file: str, batch: str = RUN_ID) -> pl.DataFrame:
    return frame.with_columns(
        _source=pl.lit(source),
        _file=pl.lit(file),
        _row_number=pl.int_range(1, frame.height + 1, dtype=pl.Int64),
        _batch_id=pl.lit(batch),
        _ingested_at=pl.lit(LANDED_AT),
        _row_hash=pl.concat_str(pl.all().cast(pl.String), ignore_nulls=True).hash().cast(pl.String),
    )


def write_bronze(lake: Lake) -> None:
    """pos__members and ecom__orders as landed (text columns + lineage) and their manifest rows."""
    members = pl.DataFrame(
        {
            "card_no": ["8800000001", "8800000002", "8800000003"],
            "name": ["王芳", "Li Wei", "ZHANG MING"],
            "birthday": ["1985-03-12", "1980/6/30", "03.11.1992"],
            "registered_at": ["2024-03-01 10:22:05"] * 3,
        }
    )
    orders = pl.DataFrame(
        {
            "id": ["5100000001", "5100000002"],
            "created_at": ["2026-06-30T14:03:11+08:00"] * 2,
            "total_price": ["356.00", "12.00"],
        }
    )
    delta.write(
        _lineage(members, "pos", "pos/stores/S001/members.csv"),
        lake.paths.bronze("pos", "members"),
        "overwrite",
    )
    delta.write(
        _lineage(orders, "ecom", "ecom/orders/orders_2026-06.jsonl"),
        lake.paths.bronze("ecom", "orders"),
        "overwrite",
    )
    write_manifest(lake, [("pos", "members", 3, LANDED_AT), ("ecom", "orders", 2, LANDED_AT)])


def write_manifest(
    lake: Lake, loads: list[tuple[str, str, int, datetime]], batch: str = RUN_ID, mode: str = "append"
) -> None:
    """One `loaded` manifest row per (source, entity, rows landed, finished at)."""
    rows = [
        {
            "source": source,
            "entity": entity,
            "file": f"{source}/{entity}.file",
            "rows_landed": landed,
            "batch_id": batch,
            "status": "loaded",
            "finished_at": finished,
        }
        for source, entity, landed, finished in loads
    ]
    frame = pl.DataFrame(rows, schema_overrides={"finished_at": pl.Datetime("us", "UTC")})
    delta.write(frame, lake.paths.meta("load_manifest"), mode)  # type: ignore[arg-type]


_CLEAN_LAKES: dict[bool, Path] = {}  # with_quality -> the clean lake this process wrote first


def clean_lake(root: Path, with_quality: bool = False) -> Lake:
    """The tiny lake without its re-delivered order, plus bronze; `with_quality` keeps its dq tables.

    Written once per process and copied to `root`: writing its two dozen Delta tables takes seconds,
    a copy milliseconds (Delta logs hold relative paths), and most gate tests start from one.
    """
    template = _CLEAN_LAKES.get(with_quality)
    if template is None:
        template = Path(tempfile.mkdtemp(prefix="cdp-clean-lake-")) / "data"
        _write_clean_lake(template, with_quality)
        _CLEAN_LAKES[with_quality] = template
    shutil.copytree(template, root, symlinks=True, dirs_exist_ok=True)
    return Lake(root=root, config=lake_config(root))


def remove_clean_lakes() -> None:
    """Delete the process's clean-lake templates (the session's end; xdist workers skip atexit)."""
    while _CLEAN_LAKES:
        shutil.rmtree(_CLEAN_LAKES.popitem()[1].parent, ignore_errors=True)


def _write_clean_lake(root: Path, with_quality: bool) -> None:
    lake = Lake(root=root, config=lake_config(root))
    write_tiny_lake(root, with_quality=with_quality)
    for entity, key in (("orders", ["order_id"]), ("order_lines", ["order_id", "line_no"])):
        lake.replace_silver(entity, lake.silver(entity).unique(subset=key, keep="first", maintain_order=True))
    write_bronze(lake)


# --- defects ----------------------------------------------------------------------------------
def drop_emails(lake: Lake, source: str) -> None:
    """Every e-mail of one source missing (a lost column mapping)."""
    records = lake.silver("customer_records")
    blank = pl.when(pl.col("source") == source).then(None)
    lake.replace_silver(
        "customer_records",
        records.with_columns(
            email=blank.otherwise(pl.col("email")), email_valid=blank.otherwise(pl.col("email_valid"))
        ),
    )


def miscode_gender(lake: Lake, source: str) -> str:
    """One record of the source with a gender code standardization never emits; returns its id."""
    records = lake.silver("customer_records")
    record_id = records.filter(pl.col("source") == source)["record_id"][0]
    lake.replace_silver(
        "customer_records",
        records.with_columns(
            gender=pl.when(pl.col("record_id") == record_id).then(pl.lit("X")).otherwise(pl.col("gender"))
        ),
    )
    return record_id


def daily_orders(lake: Lake, source: str) -> None:
    """An anonymous order on every day of the source's history that has none (a busy shop)."""
    orders = lake.silver("orders")
    mine = orders.filter(pl.col("source") == source)
    days = pl.date_range(mine["order_date"].min(), mine["order_date"].max(), "1d", eager=True)  # type: ignore[arg-type]
    quiet = days.filter(~days.is_in(mine["order_date"].implode()))
    template = mine.head(1)
    extra = pl.concat(
        [
            template.with_columns(
                order_id=pl.lit(f"{source}:D{day:%Y%m%d}"),
                source_order_id=pl.lit(f"D{day:%Y%m%d}"),
                record_id=pl.lit(None, dtype=pl.String),
                order_date=pl.lit(day),
                ordered_at=pl.lit(datetime(day.year, day.month, day.day, 12)),
            )
            for day in quiet
        ]
    )
    lake.replace_silver("orders", pl.concat([orders, extra]))


def drop_orders_on(lake: Lake, day: date, source: str) -> None:
    """No order at all on one day (a missing daily export)."""
    orders = lake.silver("orders")
    lake.replace_silver(
        "orders", orders.filter(~((pl.col("order_date") == day) & (pl.col("source") == source)))
    )


def orphan_orders(lake: Lake, source: str, share: float) -> list[str]:
    """Point a share of one source's orders at customer records that do not exist."""
    orders = lake.silver("orders")
    ids = orders.filter(pl.col("source") == source).get_column("order_id").sort()
    broken = ids.head(max(1, round(len(ids) * share))).to_list()
    lake.replace_silver(
        "orders",
        orders.with_columns(
            record_id=pl.when(pl.col("order_id").is_in(broken))
            .then(pl.lit(f"{source}:GHOST"))
            .otherwise("record_id")
        ),
    )
    return broken


def undate_orders(lake: Lake, source: str, count: int) -> list[str]:
    """The last `count` orders of one source without a date (a null marker read as no date)."""
    orders = lake.silver("orders")
    ids = orders.filter(pl.col("source") == source).get_column("order_id").sort()
    undated = ids.tail(count).to_list()
    lake.replace_silver(
        "orders",
        orders.with_columns(
            ordered_at=pl.when(pl.col("order_id").is_in(undated)).then(None).otherwise("ordered_at"),
            order_date=pl.when(pl.col("order_id").is_in(undated)).then(None).otherwise("order_date"),
        ),
    )
    return undated


def bronze_rows_without_key(lake: Lake) -> None:
    """Two landed pos members without a card number."""
    path = lake.paths.bronze("pos", "members")
    members = delta.read(path)
    delta.write(
        members.with_columns(card_no=pl.when(pl.col("_row_number") <= 2).then(None).otherwise("card_no")),
        path,
        "overwrite",
    )


# --- a daily increment --------------------------------------------------------------------------
def append_day_orders(lake: Lake, *, negative: bool = False, reuse_old_id: bool = False) -> str | None:
    """Append the day's ecom orders as a new commit (new data files), as standardize does.

    Returns the old order id reused by the day (a duplicate key across old and new rows) if asked.
    """
    orders = lake.silver("orders")
    template = orders.filter(pl.col("source") == "ecom").sort("order_id").head(1)
    old_id = template.item(0, "order_id")
    ids = [NEW_ORDER, NEGATIVE_ORDER] + ([old_id] if reuse_old_id else [])
    day = pl.concat([template] * len(ids)).with_columns(
        order_id=pl.Series(ids),
        total_amount=pl.Series([10, -5 if negative else 5, 7][: len(ids)]).cast(
            orders.schema["total_amount"]
        ),
        _batch_id=pl.lit(DAY_RUN),
    )
    delta.write(day, lake.paths.silver("orders"), "append")
    return old_id if reuse_old_id else None


# --- what readers see -------------------------------------------------------------------------
def publish_previous(lake: Lake) -> dict[str, str]:
    """A previous run's published marts (marts/*.parquet and cdp.duckdb); returns their checksums."""
    customers = pl.DataFrame({"customer_id": ["C01", "C02"], "segment": ["champions", "at_risk"]})
    lake.paths.marts.mkdir(parents=True, exist_ok=True)
    customers.write_parquet(lake.paths.mart("dim_customer"))
    with duckdb.connect(str(lake.paths.duckdb)) as published:
        published.execute("create or replace table dim_customer as select * from customers")
    return published_checksums(lake.root)


def published_checksums(root: Path) -> dict[str, str]:
    """Checksums of everything readers see: marts/*.parquet and cdp.duckdb."""
    files = [*sorted((root / "marts").glob("*.parquet")), root / "cdp.duckdb"]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.exists()}


# --- gold -------------------------------------------------------------------------------------
def write_build_database(
    lake: Lake,
    *,
    duplicate_customer: bool = False,
    negative_clv: bool = False,
    unknown_customer_order: str | None = None,
) -> None:
    """The marts the gold suites read, in dbt's build database (schema `marts`), from the lake.

    fct_orders takes its customer from the identity links like dbt's (int_orders__deduplicated):
    an order whose record no link maps has a null customer_id and keeps its record_id.

    `unknown_customer_order`: that order of fct_orders points to a customer dim_customer lacks.
    """
    paths = lake.paths
    paths.build.mkdir(parents=True, exist_ok=True)
    paths.build_duckdb.unlink(missing_ok=True)
    links = delta.read(paths.identity("identity_links")).to_arrow()  # noqa: F841 (DuckDB reads it by name)
    orders = lake.silver("orders").to_arrow()  # noqa: F841
    with duckdb.connect(str(paths.build_duckdb)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.identity_links as select * from links")
        con.execute(
            """
            create table marts.fct_orders as
            select o.order_id, l.customer_id, o.record_id, o.source, o.total_amount
            from orders o left join links l on l.record_id = o.record_id
            """
        )
        if unknown_customer_order:
            con.execute(
                "update marts.fct_orders set customer_id = 'GHOST' where order_id = ?",
                [unknown_customer_order],
            )
        con.execute(
            """
            create table marts.dim_customer as
            select customer_id,
                   (select count(*) from marts.fct_orders f where f.customer_id = c.customer_id) as purchase_orders,
                   true as is_contactable,
                   -- every customer known on the as-of date (as gold_segments counts them)
                   cast(null as timestamp) as customer_since,
                   cast(null as date) as first_purchase_date,
                   date '2026-06-30' as as_of_date
            from (select distinct customer_id from links) c
            """
        )
        if duplicate_customer:
            con.execute("insert into marts.dim_customer select * from marts.dim_customer limit 1")
        con.execute(
            "create table marts.customer_lifecycle as select customer_id, 'active' as lifecycle_state "
            "from (select distinct customer_id from links)"
        )
        con.execute(
            "create table marts.customer_rfm as select customer_id, 'champions' as rfm_segment "
            "from (select distinct customer_id from links) c where exists "
            "(select 1 from marts.fct_orders f where f.customer_id = c.customer_id)"
        )
        value = "-10.0" if negative_clv else "100.0"
        con.execute(
            f"""
            create table marts.customer_clv as
            select customer_id, 100.0 as historical_value, {value} as predicted_value_12m,
                   1.5 as predicted_purchases_12m, 0.8 as probability_alive, 0.2 as churn_risk_score
            from marts.customer_rfm
            """
        )
        con.execute(
            "create table marts.activation_lists as select customer_id, 'win_back' as list_name, "
            "'email' as contact_channel from (select distinct customer_id from marts.dim_customer order by 1 limit 3)"
        )


def generated_web_shop(root: Path, customers: int = 200, seed: int = 7) -> CdpConfig:
    """A root with only the web shop configured, its generated exports landed and standardized:
    the generator's noisy data through the real loader, for the gates to judge."""
    import datagen
    from ingest.loader import load_source
    from ingest.standardize import standardize
    from tests.datagen.helpers import small_config

    base = small_config(root)
    config = CdpConfig(
        path=base.path,
        raw={**base.raw, "sources": {"ecom": base.raw["sources"]["ecom"]}},
        data_root=base.data_root,
    )
    datagen.generate_dataset(out_dir=root, customers=customers, seed=seed, config=config)
    load_source(config, "ecom", RUN_ID)
    standardize(config, RUN_ID)
    return config
