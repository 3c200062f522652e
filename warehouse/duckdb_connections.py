"""DuckDB connections as our jobs open them: quiet, and memory-capped where a job can outgrow the machine.

DuckDB draws a progress bar on standard output for any statement running over two seconds, even
when the output is a file: in an Airflow task log or a benchmark log that is hundreds of
carriage-return lines per statement. Every connection the jobs open goes through `connect`, which
turns the bar off (progress is the jobs' own to report, `warehouse.progress`).

Beyond its `memory_limit` DuckDB spills sorts, joins and aggregates to its `temp_directory`; an
in-memory connection has none by default, so each capped connection gets its own temporary
folder, removed when the connection closes (publish's Parquet staging, identity resolution's
blocking).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a connection is opened: the CLI and DAG parsing stay quick
    import duckdb


def connect(
    database: str | Path = ":memory:", *, read_only: bool = False, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect` without the progress bar (a per-connection setting, so set after opening)."""
    import duckdb

    con = duckdb.connect(str(database), read_only=read_only, config=config or {})
    con.execute("set enable_progress_bar = false")
    return con


@contextmanager
def capped_connection(memory_limit: str | None, purpose: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection capped at `memory_limit` (e.g. "4GB"), spilling to a temporary folder named
    after `purpose`; without a limit, DuckDB's defaults."""
    with tempfile.TemporaryDirectory(prefix=f"cdp-{purpose}-") as spill:
        settings = {"memory_limit": memory_limit, "temp_directory": spill} if memory_limit else {}
        con = connect(config=settings)
        try:
            yield con
        finally:
            con.close()
