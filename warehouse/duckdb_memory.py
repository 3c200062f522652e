"""An in-memory DuckDB connection whose memory is capped, for the jobs that can outgrow the machine.

Beyond its `memory_limit` DuckDB spills sorts, joins and aggregates to its `temp_directory`; an
in-memory connection has none by default, so each connection gets its own temporary folder,
removed when the connection closes (publish's Parquet staging, identity resolution's blocking).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


@contextmanager
def capped_connection(memory_limit: str | None, purpose: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection capped at `memory_limit` (e.g. "4GB"), spilling to a temporary folder named
    after `purpose`; without a limit, DuckDB's defaults."""
    with tempfile.TemporaryDirectory(prefix=f"cdp-{purpose}-") as spill:
        settings = {"memory_limit": memory_limit, "temp_directory": spill} if memory_limit else {}
        con = duckdb.connect(config=settings)
        try:
            yield con
        finally:
            con.close()
