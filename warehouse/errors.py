"""The error type every package raises for problems a user can fix.

The CLI prints these as one clean message (no traceback) and exits non-zero; anything else is a bug
and keeps its traceback.
"""


class CdpError(Exception):
    """A user-facing failure: say what was wrong, where (file, row, field) and what to do."""

    exit_code = 1
