"""The DuckDB connections every job opens: no progress bar in task logs, memory capped where asked."""

from __future__ import annotations

from pathlib import Path

from warehouse.duckdb_connections import capped_connection, connect


def _setting(con, name: str) -> object:
    return con.execute("select current_setting(?)", [name]).fetchone()[0]


def test_a_job_connection_draws_no_progress_bar_in_memory_or_on_a_file(tmp_path: Path) -> None:
    with connect() as con:
        assert _setting(con, "enable_progress_bar") is False
    with connect(tmp_path / "x.duckdb") as con:
        con.execute("create table t as select 1 as a")
    with connect(tmp_path / "x.duckdb", read_only=True) as con:
        assert _setting(con, "enable_progress_bar") is False
        assert con.execute("select a from t").fetchall() == [(1,)]


def test_a_capped_connection_spills_to_its_own_folder_and_removes_it() -> None:
    with capped_connection("1GB", "test") as con:
        spill = Path(str(_setting(con, "temp_directory")))
        assert spill.name.startswith("cdp-test-")
        assert _setting(con, "enable_progress_bar") is False
        assert _setting(con, "memory_limit") == "953.6 MiB"  # 1 GB as DuckDB reports it
    assert not spill.exists()
