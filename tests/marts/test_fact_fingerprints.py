"""A deploy rebuilds in full only the incremental tables whose lineage it changed.

An incremental fact records in its table comment the fingerprint of its own code, every model
upstream of it, the macros and the business settings. Changing a model downstream of it (a fix
in `dim_customer`) must leave the fact continuing from what it holds, as the daily run does;
changing a model it reads must rebuild it in full. Real dbt runs on a copy of the project and of
the session's built data root.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from tests.marts.conftest import tiny_config
from warehouse import dbt
from warehouse.paths import LakePaths

FACT = "fct_orders"


def _built_state(root: Path) -> tuple[dict, list]:
    """The fact's comment (fingerprint, built_at) and the distinct `_built_at` of its rows."""
    with duckdb.connect(str(LakePaths.at(root).build_duckdb), read_only=True) as con:
        comment = con.execute(
            "select comment from duckdb_tables() where schema_name = 'marts' and table_name = ?", [FACT]
        ).fetchone()[0]
        stamps = [
            r[0] for r in con.execute(f"select distinct _built_at from marts.{FACT} order by 1").fetchall()
        ]
    return json.loads(comment), stamps


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_a_model_changed_downstream_of_a_fact_leaves_it_incremental_one_upstream_rebuilds_it(built, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(built.paths.root, root, symlinks=True)
    config = tiny_config(root)
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))

    def run_fact() -> tuple[dict, list]:
        dbt.invoke(
            config, ["run"], "--select", FACT, "--project-dir", str(project), "--profiles-dir", str(project)
        )
        return _built_state(root)

    start, start_stamps = run_fact()  # the copy's own baseline (same code, this data root)

    _append(project / "models" / "marts" / "dim_customer.sql", "\n-- a fix downstream of the facts\n")
    downstream, downstream_stamps = run_fact()
    assert downstream["fingerprint"] == start["fingerprint"]
    assert downstream["built_at"] > start["built_at"]
    assert downstream_stamps == start_stamps  # continued: nothing changed in the lake, no row rewritten

    _append(project / "models" / "intermediate" / "int_orders__deduplicated.sql", "\n-- a fix upstream\n")
    upstream, upstream_stamps = run_fact()
    assert upstream["fingerprint"] != start["fingerprint"]
    assert [str(s) for s in upstream_stamps] == [upstream["built_at"]]  # every row written by this build
