"""`orders` and `order_lines` from order-grain sources (an order row with nested lines) and
line-grain sources (one row per ticket line, orders summed up from their lines)."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from ingest.config import STATUS_HISTORY_KEYS, ColumnRef, SilverMapping
from ingest.parsing import decode_items, parse_decimal, parse_integer
from ingest.silver import text
from ingest.silver.dedup import keep_latest, log_rows, remove_exact
from ingest.silver.mapping import column_kind
from ingest.silver.parts import Part, Piece, Plan, Rules, prefixed
from ingest.silver.schema import ORDER_LINES, ORDERS, conform

ORDER_INPUT = {**ORDERS, "updated_at": pl.Datetime("us")}
LINE_INPUT = {**ORDER_LINES, "source_order_id": pl.String()}


def order_plan(part: Part, line_part: Part | None) -> Plan:
    """The part's canonical rows (order and line columns together), the key of a self-contained
    piece, the types to parse."""
    if part.entity.order_grain == "line":
        if line_part is None:
            raise ValueError(
                f"{part.source}.{part.entity_name}: order_grain line needs an order_lines mapping"
            )
        # One mapping over one scan, so order and line columns of a row always stay together.
        both = part.mapping.model_copy(
            update={"columns": {**line_part.mapping.columns, **part.mapping.columns}}
        )
        return Plan(replace(part, mapping=both), "source_order_id", {**LINE_INPUT, **ORDER_INPUT})
    lines_config = part.mapping.lines
    if lines_config:
        columns = {**part.mapping.columns, "_lines": ColumnRef(column=lines_config.column)}
        part = replace(part, mapping=part.mapping.model_copy(update={"columns": columns}))
    return Plan(part, "source_order_id", ORDER_INPUT)


def build_orders(frame: pl.DataFrame, part: Part, rules: Rules) -> Piece:
    """One piece of one order-feeding bronze table -> orders, order lines, dedup log rows, counts."""
    frame = frame.with_columns(order_id=prefixed("source_order_id"))
    if part.entity.order_grain == "line":
        orders, lines, log, removed = _from_line_grain(frame, rules)
    else:
        orders, lines, log, removed = _from_order_grain(frame, part, rules)
    stats = {
        "rows_in": frame.height,
        "rows": orders.height,
        "lines": lines.height,
        "exact_copies_removed": removed[0],
        "superseded_removed": removed[1],
        "status_path_invalid": int((~orders["status_path_valid"]).sum()),
    }
    return Piece(
        {"orders": orders, "order_lines": lines}, log_rows(log, part.source, "orders", rules.batch_id), stats
    )


def _from_line_grain(rows: pl.DataFrame, rules: Rules):
    """POS tickets: rows are lines; repeated exports removed per line, orders summed from lines."""
    kept, exact = remove_exact(rows, "order_id", "source_order_id")
    lines = _finish_lines(kept)
    totals = lines.group_by("order_id").agg(
        pl.col("line_amount").sum().alias("_lines_total"), pl.col("quantity").sum().alias("_items")
    )
    first = kept.sort("_row_number").unique("order_id", keep="first", maintain_order=False)
    orders = first.join(totals, on="order_id", how="left").with_columns(
        total_amount=pl.coalesce("_lines_total", "total_amount")
        if "total_amount" in first.columns
        else pl.col("_lines_total"),
        item_count=pl.col("_items"),
    )
    return _finish_orders(orders, rules), lines, exact, (rows.height - kept.height, 0)


def _from_order_grain(frame: pl.DataFrame, part: Part, rules: Rules):
    """Web shop orders: one row per order, lines in a JSON array; a newer export of an order wins."""
    kept, exact = remove_exact(frame, "order_id", "source_order_id")
    after_exact = kept.height
    kept, superseded = keep_latest(kept, "order_id", "source_order_id", "updated_at")
    lines_config = part.mapping.lines
    if lines_config:
        lines = _explode_lines(kept, lines_config.fields)
        totals = lines.group_by("order_id").agg(pl.col("quantity").sum().alias("_items"))
        kept = kept.join(totals, on="order_id", how="left").with_columns(item_count=pl.col("_items"))
    else:
        lines = pl.DataFrame(schema=ORDER_LINES)
    removed = (frame.height - after_exact, after_exact - kept.height)
    return _finish_orders(kept, rules), lines, pl.concat([exact, superseded]), removed


def json_arrays(mapping: SilverMapping) -> dict[str, dict[str, str]]:
    """Source column -> {key: the type silver parses it into} of each JSON array of objects this
    mapping decodes (its order lines, its status history): what `nested` declares for ingest, which
    checks them with the same decoding and parsers (tests/ingest/test_nested.py checks the registry)."""
    arrays: dict[str, dict[str, str]] = {}
    if mapping.lines:
        arrays[mapping.lines.column] = {
            key: column_kind(ORDER_LINES.get(name, pl.String())) for name, key in mapping.lines.fields.items()
        }
    history = mapping.columns.get("status_history")
    if history is not None and history.column:
        arrays[history.column] = dict.fromkeys(STATUS_HISTORY_KEYS, "string")
    return arrays


def _explode_lines(orders: pl.DataFrame, fields: dict[str, str]) -> pl.DataFrame:
    # An item's position (from 1, null items counted, as ingest's messages count them) numbers the
    # lines of a source that gives no line id, and the items of one that leaves it out: order_lines
    # is keyed on (order_id, line_no), so a null line_no would be a line no one can address.
    exploded = (
        orders.select("order_id", decode_items(pl.col("_lines"), fields.values()).alias("_lines"))
        .explode("_lines")
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("order_id").alias("_position"))
        .filter(pl.col("_lines").is_not_null())
        .unnest("_lines")
    )
    renamed = exploded.select(
        "order_id", "_position", *[pl.col(key).alias(name) for name, key in fields.items()]
    )
    typed = renamed.with_columns(
        [parse_integer(pl.col(c)).alias(c) for c in ("line_no", "quantity") if c in renamed.columns]
        + [parse_decimal(pl.col(c)).alias(c) for c in ("unit_price", "line_amount") if c in renamed.columns]
    )
    given = pl.col("line_no") if "line_no" in typed.columns else pl.lit(None, dtype=pl.Int64)
    typed = typed.with_columns(line_no=pl.coalesce(given, pl.col("_position"))).drop("_position")
    return _finish_lines(typed)


def _finish_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """Line amount = quantity x unit price where the source does not give it (derived, not imputed)."""
    if "line_amount" not in lines.columns:
        lines = lines.with_columns(line_amount=pl.lit(None, dtype=pl.Decimal(18, 2)))
    derived = (pl.col("quantity").cast(pl.Decimal(18, 2)) * pl.col("unit_price")).cast(pl.Decimal(18, 2))
    lines = lines.with_columns(line_amount=pl.coalesce("line_amount", derived))
    return conform(lines.lazy(), ORDER_LINES).collect()


def _finish_orders(orders: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    settings = rules.settings
    for column in ("status", "status_history", "currency", "channel"):
        if column not in orders.columns:
            orders = orders.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    status = text.map_vocabulary(
        "status", settings.order_status, pl.col("status").str.strip_chars().str.to_lowercase()
    )
    orders = orders.with_columns(status=status, record_id=prefixed("source_record_id"))
    history = decode_items(pl.col("status_history"), STATUS_HISTORY_KEYS)
    path = history.list.eval(pl.element().struct.field("status").str.to_lowercase()).list.join(">")
    orders = orders.with_columns(
        status_path=pl.coalesce(pl.when(path.str.len_chars() > 0).then(path), "status")
    )
    legal = [p.lower() for p in settings.legal_status_paths]
    currency = pl.col("currency").str.strip_chars().str.to_uppercase()
    orders = orders.with_columns(
        status_path_valid=pl.col("status_path").is_in(legal).fill_null(False),
        currency=pl.coalesce(pl.when(currency.str.len_chars() > 0).then(currency), pl.lit(rules.currency)),
        imputed_fields=pl.when(currency.is_null() | (currency.str.len_chars() == 0)).then(pl.lit("currency")),
        order_date=pl.col("ordered_at").dt.date(),
    )
    return conform(orders.lazy(), ORDERS).collect()
