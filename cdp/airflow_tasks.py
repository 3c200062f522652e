"""How the DAGs' tasks fail: at once for a problem a person must fix, retried for anything else.

A `CdpError` (a file that cannot be loaded, a critical quality failure, a configuration mistake)
fails the same way on a retry, so retrying it only holds the run for the retry delay (5 minutes
in `cdp_daily`) before the same failure. Such errors become Airflow's `AirflowFailException`,
which fails the task without using its retries; other exceptions (a killed worker, a lost mount,
a bug) keep the task's retries. So does a `CdpError` marked `retryable`: a data root busy with
another writer (`warehouse.locks.DataRootBusy`) is free again later, so its task is retried after
the retry delay instead of failing the run. Light imports only: DAG files import this at parse time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from warehouse.errors import CdpError

Result = TypeVar("Result")


def fail_fast(function: Callable[..., Result]) -> Callable[..., Result]:
    """`function` with our user-facing errors (less the retryable ones) turned into a failure Airflow
    does not retry."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Result:
        try:
            return function(*args, **kwargs)
        except CdpError as exc:
            if exc.retryable:  # transient (the data root was busy): Airflow retries it
                raise
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{exc}\n(not retried: a retry would fail the same way)") from exc

    run.fails_fast = True  # type: ignore[attr-defined]
    return run
