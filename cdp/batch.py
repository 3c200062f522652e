"""Batch ids: the key that ties every row written by one pipeline run together."""

from __future__ import annotations

from datetime import UTC, datetime


def new_batch_id(at: datetime | None = None) -> str:
    """`bYYYYMMDDTHHMMSS` in UTC; Airflow derives the same shape from the logical date."""
    return "b" + (at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
