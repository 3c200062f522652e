"""Batch ids: the key that ties every row written by one pipeline run together.

`bYYYYMMDDTHHMMSS`: the run's start in UTC for `cdp` commands, the logical date for Airflow runs,
so a re-run of the same day reuses its batch id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

BATCH_ID_FORMAT = "b%Y%m%dT%H%M%S"


def new_batch_id(at: datetime | None = None) -> str:
    """The batch id of a run that starts at `at` (default: now, in UTC)."""
    return (at or datetime.now(UTC)).strftime(BATCH_ID_FORMAT)


def batch_moment(batch_id: str) -> datetime | None:
    """The moment (naive UTC) a batch id stands for: the run's start, or its logical date in
    Airflow; None for an id of another shape."""
    try:
        return datetime.strptime(batch_id, BATCH_ID_FORMAT)
    except ValueError:
        return None


def batch_day(batch_id: str) -> date | None:
    """The day a batch id stands for (its logical date), or None for an id of another shape
    (tests and hand-made runs may name a batch anything)."""
    try:
        return datetime.strptime(batch_id, BATCH_ID_FORMAT).date()
    except ValueError:
        return None
