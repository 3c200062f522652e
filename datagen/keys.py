"""Final ids, handed out in time order across all chunks, as the source systems would.

Chunks number things provisionally (`chunk << 32 | n`). Real systems issue card numbers, account ids,
member ids, order numbers and till ticket numbers in the order things happen, so ids here are
assigned after all chunks are simulated by sorting on time: neighbouring ids never reveal that two
records belong to the same person. Monthly entities are numbered month by month with a running
offset, so memory holds one month at a time. Maps go to `keys/<entity>[/<YYYY-MM>].parquet`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from datagen.formats import ymd
from datagen.spool import MONTHLY, month_rows, months, scan

# Id layouts: the first issued id of each kind.
CARD_BASE = 8_800_010_000
ACCOUNT_BASE = 700_010_000
ORDER_BASE = 5_100_000_000
ORDER_NAME_BASE = 100_001


def assign_record_keys(spool: Path, keys: Path) -> None:
    """rkey -> record_key (the source's own customer id, as text) for every customer record."""
    records = (
        scan(spool, "records")
        .select("rkey", "source", "created_at", "platform", "handle")
        .collect()
        .sort("source", "created_at", "rkey")
    )
    seq = pl.int_range(pl.len(), dtype=pl.Int64).over("source")
    social = records.filter(pl.col("source") == "social").pipe(_unique_handles)
    surveys = records.filter(pl.col("source") == "survey").pipe(_response_ids)
    keyed = (
        records.filter(~pl.col("source").is_in(["social", "survey"]))
        .with_columns(seq=seq)
        .with_columns(
            record_key=pl.when(pl.col("source") == "pos")
            .then((pl.col("seq") + CARD_BASE).cast(pl.String))
            .when(pl.col("source") == "ecom")
            .then((pl.col("seq") + ACCOUNT_BASE).cast(pl.String))
            .when(pl.col("source") == "loyalty")
            .then(pl.format("L{}", (pl.col("seq") + 10_001).cast(pl.String).str.zfill(8)))
            .otherwise(pl.format("U{}", (pl.col("seq") + 1_001).cast(pl.String).str.zfill(7)))
        )
    )
    out = pl.concat(
        [
            keyed.select("rkey", "source", "record_key"),
            surveys.select("rkey", "source", "record_key"),
            social.select("rkey", "source", "record_key", "handle"),
        ],
        how="diagonal",
    )
    keys.mkdir(parents=True, exist_ok=True)
    out.sort("rkey").write_parquet(keys / "records.parquet")


def _response_ids(surveys: pl.DataFrame) -> pl.DataFrame:
    """R<year>Q<quarter>-<n>: survey tools number responses per quarterly wave."""
    when = pl.from_epoch("created_at", time_unit="s")
    wave = pl.format("R{}Q{}", when.dt.year(), when.dt.quarter())
    return surveys.sort("created_at", "rkey").with_columns(
        record_key=pl.format(
            "{}-{}",
            wave,
            (pl.int_range(pl.len(), dtype=pl.Int64).over(wave) + 1).cast(pl.String).str.zfill(6),
        )
    )


def _unique_handles(social: pl.DataFrame) -> pl.DataFrame:
    """Handles are unique per platform: a later profile that picked a taken handle gets a suffix."""
    frame = social.sort("created_at", "rkey")
    for _ in range(5):
        rank = pl.int_range(pl.len()).over("platform", "handle")
        frame = frame.with_columns(
            handle=pl.when(rank > 0)
            .then(pl.format("{}_{}", "handle", rank.cast(pl.String)))
            .otherwise("handle")
        )
        if not frame.select(pl.struct("platform", "handle").is_duplicated().any()).item():
            break
    return frame.with_columns(record_key=pl.format("{}:{}", "platform", "handle"))


def assign_sequence_keys(spool: Path, keys: Path, entity: str, key: str) -> None:
    """Number `entity` rows 0, 1, ... in time order across months: keys/<entity>/<month>.parquet (key, seq)."""
    offset = 0
    time = MONTHLY[entity]
    for period in months(spool, entity):
        ordered = month_rows(spool, entity, period).select(key, time).collect().unique(key).sort(time, key)
        out = ordered.select(key, seq=pl.int_range(pl.len(), dtype=pl.Int64) + offset)
        offset += out.height
        target = keys / entity / f"{period}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        out.write_parquet(target)


def assign_ticket_numbers(spool: Path, keys: Path, stores: pl.DataFrame) -> None:
    """Till ticket numbers: <store>-<yyyymmdd>-<sequence of the store's day>, per month of sale."""
    for period in months(spool, "pos_lines"):
        tickets = (
            month_rows(spool, "pos_lines", period)
            .filter((pl.col("copy") == 0) & (pl.col("line_no") == 1))
            .select("okey", "store_idx", "sold_at")
            .collect()
            .join(stores.select("store_idx", "store_id"), on="store_idx")
            .with_columns(day=ymd(pl.col("sold_at")))
            .sort("store_id", "sold_at", "okey")
        )
        numbered = tickets.select(
            "okey",
            ticket_no=pl.format(
                "{}-{}-{}",
                "store_id",
                "day",
                (pl.int_range(pl.len()).over("store_id", "day") + 1).cast(pl.String).str.zfill(6),
            ),
        )
        target = keys / "pos_tickets" / f"{period}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        numbered.write_parquet(target)


def load_keys(
    keys: Path, entity: str, periods_wanted: list[str] | None = None, okeys: pl.Series | None = None
) -> pl.DataFrame:
    """The key map of `entity` (optionally only some months, only some provisional keys)."""
    if periods_wanted is None:
        single = keys / f"{entity}.parquet"
        return pl.read_parquet(single if single.exists() else keys / entity / "*.parquet")
    files = [keys / entity / f"{p}.parquet" for p in periods_wanted]
    files = [f for f in files if f.exists()]
    if not files:
        return pl.DataFrame()
    frame = pl.scan_parquet(files)
    if okeys is not None:
        frame = frame.filter(pl.col("okey").is_in(okeys.implode()))
    return frame.collect()
