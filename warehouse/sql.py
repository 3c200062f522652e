"""SQL text our jobs build: one way to quote a name, for DuckDB, SQLite and PostgreSQL alike."""

from __future__ import annotations


def quote_identifier(name: str) -> str:
    """`name` as a double-quoted SQL identifier (an embedded quote doubled): source columns such as
    `E-Mail` or `Order "No"` and user-named tables cannot break or inject into a statement."""
    return '"' + name.replace('"', '""') + '"'
