"""The silver entities' columns and types: the single definition every builder casts to."""

from __future__ import annotations

import polars as pl

STR = pl.String()
TS = pl.Datetime("us")
DATE = pl.Date()
BOOL = pl.Boolean()
INT = pl.Int64()
AMOUNT = pl.Decimal(18, 2)

LINEAGE: dict[str, pl.DataType] = {"_file": STR, "_batch_id": STR}

CUSTOMER_RECORDS: dict[str, pl.DataType] = {
    "record_id": STR,
    "source": STR,
    "source_record_id": STR,
    "given_name": STR,
    "family_name": STR,
    "full_name": STR,
    "name_pinyin": STR,
    "name_script": STR,
    "date_of_birth": DATE,
    "gender": STR,
    "email": STR,
    "email_valid": BOOL,
    "phone": STR,
    "phone_valid": BOOL,
    "street": STR,
    "city": STR,
    "postcode": STR,
    "region": STR,
    "country": STR,
    "member_id": STR,
    "device_id": STR,
    "social_handle": STR,
    "national_id": STR,
    "consent_email": BOOL,
    "consent_sms": BOOL,
    "consent_wechat": BOOL,
    "consent_profiling": BOOL,
    "consent_updated_at": TS,
    "created_at": TS,
    "updated_at": TS,
    "completeness_score": pl.Float64(),
    "imputed_fields": STR,
    "loyalty_tier": STR,
    **LINEAGE,
}

ORDERS: dict[str, pl.DataType] = {
    "order_id": STR,
    "source": STR,
    "source_order_id": STR,
    "order_number": STR,  # the number the customer sees (a web order's name, #100123), where it differs
    "record_id": STR,
    "channel": STR,
    "store_id": STR,
    "ordered_at": TS,
    "order_date": DATE,
    "status": STR,
    "status_path": STR,
    "status_path_valid": BOOL,
    "currency": STR,
    "total_amount": AMOUNT,
    "item_count": INT,
    "payment_method": STR,
    "imputed_fields": STR,
    **LINEAGE,
}

ORDER_LINES: dict[str, pl.DataType] = {
    "order_id": STR,
    "line_no": INT,
    "sku": STR,
    "product_name": STR,
    "category": STR,
    "quantity": INT,
    "unit_price": AMOUNT,
    "line_amount": AMOUNT,
}

EVENTS: dict[str, pl.DataType] = {
    "event_id": STR,
    "source": STR,
    "record_id": STR,
    "device_id": STR,
    "session_id": STR,
    "event_type": STR,
    "sku": STR,
    "channel": STR,
    "occurred_at": TS,
}

SOCIAL_POSTS: dict[str, pl.DataType] = {
    "post_id": STR,
    "source": STR,
    "record_id": STR,
    "platform": STR,
    "post_type": STR,
    "parent_post_id": STR,
    "text": STR,
    "created_at": TS,
    "likes": INT,
}

TICKETS: dict[str, pl.DataType] = {
    "ticket_id": STR,
    "source": STR,
    "record_id": STR,
    "channel": STR,
    "priority": STR,
    "status": STR,
    "subject": STR,
    "product_serial": STR,
    "created_at": TS,
    "first_response_at": TS,
    "resolved_at": TS,
    "contacts": INT,
    "csat": INT,
}

LOYALTY_LEDGER: dict[str, pl.DataType] = {
    "entry_id": STR,
    "record_id": STR,
    "occurred_at": TS,
    "entry_type": STR,
    "points": INT,
    "order_ref": STR,
    "store_id": STR,
}

COUPONS: dict[str, pl.DataType] = {
    "coupon_id": STR,
    "record_id": STR,
    "campaign": STR,
    "value": AMOUNT,
    "issued_at": TS,
    "expires_at": TS,
    "redeemed_at": TS,
    "order_ref": STR,
}

SURVEY_RESPONSES: dict[str, pl.DataType] = {
    "response_id": STR,
    "record_id": STR,
    "submitted_at": TS,
    "nps": INT,
    "csat": INT,
    "touchpoint": STR,
    "comment": STR,
}

DEDUP_LOG: dict[str, pl.DataType] = {
    "source": STR,
    "entity": STR,
    "duplicate_key": STR,
    "copies_removed": INT,
    "batch_id": STR,
    "kind": STR,  # exact (the same row delivered again) | superseded (an older version of the key)
}

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "customer_records": CUSTOMER_RECORDS,
    "orders": ORDERS,
    "order_lines": ORDER_LINES,
    "events": EVENTS,
    "social_posts": SOCIAL_POSTS,
    "tickets": TICKETS,
    "loyalty_ledger": LOYALTY_LEDGER,
    "coupons": COUPONS,
    "survey_responses": SURVEY_RESPONSES,
    "dedup_log": DEDUP_LOG,
}

# Each event-like entity's own id: prefixed by the source like record_id and order_id.
ENTITY_KEYS: dict[str, str] = {
    "events": "event_id",
    "social_posts": "post_id",
    "tickets": "ticket_id",
    "loyalty_ledger": "entry_id",
    "coupons": "coupon_id",
    "survey_responses": "response_id",
}

# Canonical input columns a mapping may give besides the entity's own columns.
EXTRA_INPUTS: dict[str, set[str]] = {
    "orders": {"source_record_id", "status_history"},
    "order_lines": {"source_order_id"},
}


def conform(frame: pl.LazyFrame, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    """Exactly the schema's columns, in order, typed; columns a source cannot give are null."""
    present = set(frame.collect_schema().names())
    return frame.select(
        [
            (pl.col(name) if name in present else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in schema.items()
        ]
    )
