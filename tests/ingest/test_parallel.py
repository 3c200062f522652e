"""Both cores inside a stage: files read and checked in worker processes land exactly as in one,
and silver targets built side by side are the silver built one after another.

The generator's small data set (bad rows, exported-twice tickets, GBK tills, many monthly files) is
loaded twice: once in the loading process (`ingest.workers: 1`) and once with two workers and runs
of a few files each (`ingest.unit_bytes: 40000`, some 70 runs), so every file goes through a
worker and the writers replay the runs. Bronze, quarantine, the manifest's counts, the schema
registry and every silver table must agree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import polars as pl
import psutil
import pytest

from ingest.errors import SourceFailed
from ingest.loader import FileChoices, load_source
from ingest.standardize import standardize
from tests.ingest import landing as exports
from tests.ingest.conftest import Lake
from tests.ingest.test_fast_paths import tuned
from warehouse.config import REPO_ROOT, load_config
from warehouse.paths import LakePaths

datagen = pytest.importorskip("datagen")

SOURCES = ("pos", "ecom", "social", "service", "loyalty", "survey")
LANDING_ORDER = ["_file", "_row_number"]
MANIFEST_COUNTS = [
    "source",
    "entity",
    "file",
    "sha256",
    "status",
    "rows_read",
    "rows_landed",
    "rows_quarantined",
]


@pytest.fixture(scope="module")
def two_loads(tmp_path_factory):
    """The same generated landing loaded by one process and by two workers with one file per run."""
    generated = tmp_path_factory.mktemp("generated")
    datagen.generate_dataset(
        out_dir=generated, customers=150, seed=7, config=load_config(REPO_ROOT / "cdp.yaml")
    )
    loads = []
    for workers in (1, 2):
        root = tmp_path_factory.mktemp(f"workers{workers}") / "data"
        root.mkdir()
        (root / "landing").symlink_to(generated / "landing")
        config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
        config = tuned(config, "ingest", workers=workers, unit_bytes=40_000, commit_rows=5_000)
        for source in SOURCES:
            load_source(config, source, "b1")
        standardize(config, "b1")  # with two workers, silver targets are built side by side
        loads.append(Lake(LakePaths.at(root)))
    return loads


@pytest.mark.parametrize(
    ("source", "entity"),
    [("pos", "members"), ("pos", "tickets"), ("ecom", "orders"), ("ecom", "events"), ("survey", "responses")],
)
def test_bronze_read_by_workers_is_bronze_read_in_one_process(two_loads, source, entity):
    one, two = two_loads
    alone, workers = one.bronze(source, entity), two.bronze(source, entity)
    assert alone.height > 0
    data = [c for c in alone.columns if c != "_ingested_at"]
    assert workers.select(data).sort(LANDING_ORDER).equals(alone.select(data).sort(LANDING_ORDER))


def test_quarantine_manifest_and_schema_registry_agree(two_loads):
    columns = ["source", "entity", "file", "row_number", "raw", "reason", "detail"]
    q1, q2 = (lake.quarantine().select(columns).sort(columns) for lake in two_loads)
    assert q1.height > 0 and q2.equals(q1)
    m1, m2 = (lake.manifest().select(MANIFEST_COUNTS).sort("source", "entity", "file") for lake in two_loads)
    assert m2.equals(m1)
    assert (m2["rows_read"] == m2["rows_landed"] + m2["rows_quarantined"]).all()
    registry = ["source", "entity", "column", "physical_type", "status", "first_seen_file", "last_seen_file"]
    r1, r2 = (
        pl.read_delta(str(lake.paths.meta("schema_registry"))).select(registry).sort(registry)
        for lake in two_loads
    )
    assert r2.equals(r1)


def test_a_file_failing_in_a_worker_fails_alone_and_the_rest_land(config, landing, lake):
    config = tuned(config, "ingest", workers=2, unit_bytes=1)
    exports.pos_members(landing, "S001")
    exports.pos_members(landing, "S002", header="card_no,member_no,name")  # required columns gone
    exports.pos_members(landing, "S003")
    with pytest.raises(SourceFailed, match="S002"):
        load_source(config, "pos", "b1")
    assert sorted(lake.bronze("pos", "members")["_file"].unique().to_list()) == [
        "pos/stores/S001/members.csv",
        "pos/stores/S003/members.csv",
    ]
    statuses = dict(lake.manifest().select("file", "status").iter_rows())
    assert statuses["pos/stores/S002/members.csv"] == "failed"


def test_empty_redeliveries_read_by_workers_keep_their_rows_unless_accepted(config, landing, lake):
    config = tuned(config, "ingest", workers=2, unit_bytes=1)
    paths = [exports.pos_members(landing, store) for store in ("S001", "S002", "S003", "S004")]
    load_source(config, "pos", "b1")
    exports.write_text(paths[0], "")
    exports.write_text(paths[1], exports.MEMBERS_HEADER + "\n")
    exports.write_text(paths[2], exports.MEMBERS_HEADER + "\n")
    accepted = "pos/stores/S003/members.csv"
    with pytest.raises(SourceFailed) as failed:
        load_source(config, "pos", "b2", choices=FileChoices(accept_empty=frozenset({accepted})))
    assert [p.split(": ")[1] for p in failed.value.problems] == [
        "pos/stores/S001/members.csv",
        "pos/stores/S002/members.csv",
    ]
    assert sorted(lake.bronze("pos", "members")["_file"].unique().to_list()) == [
        "pos/stores/S001/members.csv",
        "pos/stores/S002/members.csv",
        "pos/stores/S004/members.csv",
    ]


@pytest.mark.parametrize(
    "entity", ["customer_records", "orders", "order_lines", "events", "loyalty_ledger", "dedup_log"]
)
def test_silver_built_by_workers_is_silver_built_in_one_process(two_loads, entity):
    one, two = two_loads
    alone, workers = one.silver(entity), two.silver(entity)
    assert alone.height > 0
    assert workers.sort(workers.columns).equals(alone.sort(alone.columns))


# A stage's caller (a `cdp` run, an Airflow task) with two workers: one job done, then jobs that
# never end, and the caller waits until it is killed.
PARENT = textwrap.dedent(
    """
    import multiprocessing, sys, threading
    from ingest.parallel import Pool

    def work(job):
        if job == "forever":
            threading.Event().wait()
        return job

    if __name__ == "__main__":
        pool = Pool(2)
        assert list(pool.map_ordered(work, [1, 2, 3])) == [1, 2, 3]
        print(*[p.pid for p in multiprocessing.active_children()], flush=True)
        busy = pool.map_ordered(work, ["forever", "forever"])
        threading.Thread(target=lambda: next(busy), daemon=True).start()
        sys.stdin.read()
    """
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_their_parent_is_killed(tmp_path, how):
    script = tmp_path / "stage.py"
    script.write_text(PARENT, encoding="utf-8")
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert parent.stdout is not None
        workers = [psutil.Process(int(pid)) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(w.ppid() == parent.pid for w in workers)
        parent.send_signal(how)
        parent.wait(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=30)
        assert alive == []
    finally:
        parent.kill()


WORKER_LOGS = textwrap.dedent(
    """
    import logging

    from ingest.parallel import Pool
    from warehouse import logs


    def work(job):
        logging.getLogger("cdp.test").info("worker did job %s", job)
        return job

    if __name__ == "__main__":
        logs.configure()  # INFO, as `cdp run` and the Airflow tasks log
        assert list(Pool(2).map_ordered(work, [1, 2])) == [1, 2]
    """
)


def test_what_workers_log_at_info_reaches_the_log(tmp_path):
    """Standardize reports each silver table it builds from a worker: that line must not be lost."""
    script = tmp_path / "stage.py"
    script.write_text(WORKER_LOGS, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "INFO    cdp.test: worker did job 1" in proc.stderr
    assert "INFO    cdp.test: worker did job 2" in proc.stderr
