"""The error type every package raises for problems a user can fix.

The CLI prints these as one clean message (no traceback) and exits non-zero; anything else is a bug
and keeps its traceback.
"""


class CdpError(Exception):
    """A user-facing failure: say what was wrong, where (file, row, field) and what to do."""

    exit_code = 1
    # True for a failure that passes by itself (another process held the data root): the DAGs
    # retry it instead of failing at once (`cdp.airflow_tasks.fail_fast`).
    retryable = False
