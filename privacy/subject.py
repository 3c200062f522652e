"""Who exactly is to be erased: from one customer id, email or phone to every identifier of the person.

The identity graph decides who the person is: the records linked to the customer (and to every
customer id it was merged from or split into), or, when asked by email or phone, the records that
carry it and everything linked to them. The person's identifier values are then gathered from those
records (silver) and their orders, so that every layer can be searched for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from privacy.errors import ErasureError
from privacy.matching import Subject, normalise, normalise_value
from warehouse import delta
from warehouse.paths import LakePaths

By = Literal["customer_id", "email", "phone"]

VALUE_COLUMNS = {
    "email": "email",
    "phone": "phone",
    "member_id": "member_id",
    "device_id": "device_id",
    "social_handle": "social_handle",
    "national_id": "national_id",
}
NAME_COLUMNS = ["full_name", "given_name", "family_name", "name_pinyin"]
# Identifiers that make two records one person's (devices are shared in families: not these).
SHARED_KINDS = ("email", "phone", "member_id", "national_id")


@dataclass(frozen=True)
class Request:
    """An erasure request as the data subject made it."""

    by: By
    value: str

    def normalised(self, phone_digits: int) -> str | None:
        return normalise_value(
            self.by if self.by != "customer_id" else "customer_id", self.value, phone_digits
        )

    def describe(self) -> str:
        return f"{self.by} {self.value}"


def _scan(path, columns: list[str]) -> pl.LazyFrame | None:
    if not delta.exists(path):
        return None
    frame = delta.scan(path)
    present = [c for c in columns if c in frame.collect_schema().names()]
    return frame.select(present)


def resolve(paths: LakePaths, request: Request, phone_digits: int, max_customers: int = 10) -> Subject:
    """The subject with every identifier the lake holds for them (empty if the lake knows nothing).

    The person's records are closed over shared contacts: a record carrying one of the person's
    emails, phones, member ids or national ids is the person's too, and so is every record linked
    to its customer. Each erased row then belongs to a record of the closure, so no customer is
    left half-erased. A closure reaching more than `max_customers` customers is refused.
    """
    subject = Subject()
    wanted = request.normalised(phone_digits)
    if wanted is None:
        return subject
    subject.add(request.by, [request.value], phone_digits)
    records = _scan(paths.silver("customer_records"), ["record_id", *VALUE_COLUMNS.values(), *NAME_COLUMNS])
    links = _scan(paths.identity("identity_links"), ["record_id", "customer_id"])
    history = _scan(
        paths.identity("customer_id_history"), ["customer_id", "related_customer_id", "record_id"]
    )
    record_ids: set[str] = set()
    customer_ids: set[str] = {wanted} if request.by == "customer_id" else set()
    while True:
        before = (len(record_ids), len(customer_ids))
        record_ids |= _records_sharing(records, subject, phone_digits)
        customer_ids |= _customers_of(links, record_ids)
        customer_ids |= _related_ids(history, customer_ids)
        record_ids |= _records_of(links, history, customer_ids)
        if len(customer_ids) > max_customers:
            raise ErasureError(
                f"the request {request.describe()!r} reaches {len(customer_ids)} customers through shared "
                f"emails, phones or member ids (limit erasure.max_customers = {max_customers}); check the "
                "shared identifiers with --dry-run, then erase by --customer-id or raise the limit"
            )
        _gather(records, record_ids, subject, phone_digits)
        if (len(record_ids), len(customer_ids)) == before:
            break
    subject.add("customer_id", customer_ids, phone_digits)
    subject.add("record_id", record_ids, phone_digits)
    orders = _scan(paths.silver("orders"), ["order_id", "record_id"])
    if orders is not None and record_ids:
        mine_orders = orders.filter(pl.col("record_id").is_in(sorted(record_ids))).collect()
        subject.add("order_id", mine_orders["order_id"].to_list(), phone_digits)
    return subject


def _records_sharing(records: pl.LazyFrame | None, subject: Subject, phone_digits: int) -> set[str]:
    if records is None:
        return set()
    columns = records.collect_schema().names()
    tests = [
        normalise(kind, pl.col(VALUE_COLUMNS[kind]), phone_digits).is_in(sorted(subject.of(kind)))
        for kind in SHARED_KINDS
        if subject.of(kind) and VALUE_COLUMNS[kind] in columns
    ]
    if not tests:
        return set()
    return set(records.filter(pl.any_horizontal(tests)).select("record_id").collect()["record_id"].to_list())


def _customers_of(links: pl.LazyFrame | None, record_ids: set[str]) -> set[str]:
    if links is None or not record_ids:
        return set()
    linked = links.filter(pl.col("record_id").is_in(sorted(record_ids))).collect()
    return set(linked["customer_id"].drop_nulls().to_list())


def _records_of(links: pl.LazyFrame | None, history: pl.LazyFrame | None, customer_ids: set[str]) -> set[str]:
    found: set[str] = set()
    for table in (links, history):
        if table is not None and customer_ids:
            rows = (
                table.filter(pl.col("customer_id").is_in(sorted(customer_ids))).select("record_id").collect()
            )
            found |= set(rows["record_id"].drop_nulls().to_list())
    return found


def _gather(records: pl.LazyFrame | None, record_ids: set[str], subject: Subject, phone_digits: int) -> None:
    """Every identifier value and name the person's records carry."""
    if records is None or not record_ids:
        return
    mine = records.filter(pl.col("record_id").is_in(sorted(record_ids))).collect()
    for kind, column in VALUE_COLUMNS.items():
        if column in mine.columns:
            subject.add(kind, mine[column].to_list(), phone_digits)
            if kind in ("email", "phone"):
                subject.raw_forms |= {str(v) for v in mine[column].drop_nulls().to_list()}
    for column in NAME_COLUMNS:
        if column in mine.columns:
            subject.names |= {str(v) for v in mine[column].drop_nulls().to_list() if str(v).strip()}


def _related_ids(history: pl.LazyFrame | None, customer_ids: set[str]) -> set[str]:
    """Customer ids this person had before merges and splits (both directions), transitively."""
    if history is None or not customer_ids:
        return set()
    pairs = (
        history.filter(pl.col("related_customer_id").is_not_null())
        .select("customer_id", "related_customer_id")
        .collect()
    )
    known = set(customer_ids)
    while True:
        found = set(
            pairs.filter(pl.col("customer_id").is_in(sorted(known)))["related_customer_id"].to_list()
        ) | set(pairs.filter(pl.col("related_customer_id").is_in(sorted(known)))["customer_id"].to_list())
        if found <= known:
            return known - customer_ids
        known |= found
