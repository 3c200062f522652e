"""One writer at a time on a data root: real processes holding `warehouse.locks`, no mocks.

Waits are fractions of a second (`wait_seconds`), so every test is quick.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from warehouse.config import REPO_ROOT, CdpConfig
from warehouse.locks import LOCK_FILE, DataRootBusy, data_root_lock, hold, holders

# A second process that holds the root until the test closes its stdin (or kills it).
HOLDER = """
import sys
from pathlib import Path
from warehouse.locks import hold
with hold(Path(sys.argv[1]), sys.argv[2], shared=sys.argv[3] == "shared"):
    print("held", flush=True)
    sys.stdin.read()
"""

# A second process that tries once, without waiting: exit 0 if it got the root, 3 if busy.
TRY_ONCE = """
import sys
from pathlib import Path
from warehouse.locks import DataRootBusy, hold
try:
    with hold(Path(sys.argv[1]), "probe", shared=sys.argv[2] == "shared"):
        pass
except DataRootBusy:
    sys.exit(3)
"""


@contextmanager
def holder(root: Path, what: str, mode: str = "exclusive") -> Iterator[subprocess.Popen]:
    """Another process holding `root` (exclusive or shared) for `what` while the block runs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), what, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=10)


def other_process_gets(root: Path, shared: bool = False) -> bool:
    proc = subprocess.run(
        [sys.executable, "-c", TRY_ONCE, str(root), "shared" if shared else "exclusive"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode in (0, 3), proc.stderr
    return proc.returncode == 0


def test_a_second_writer_waits_then_fails_naming_the_holder_and_since_when(tmp_path, caplog):
    root = tmp_path / "data"
    with holder(root, "ingest pos") as proc:
        started = time.monotonic()
        with (
            caplog.at_level(logging.WARNING, "cdp.locks"),
            pytest.raises(DataRootBusy) as refused,
            hold(root, "erase", wait_seconds=0.3),
        ):
            pytest.fail("the root was held by another process")
        waited = time.monotonic() - started
    message = str(refused.value)
    assert waited >= 0.3
    assert message.startswith("erase: the data root")
    assert f"ingest pos (exclusive) by pid {proc.pid} on host {socket.gethostname()} since 20" in message
    assert "locks.wait_seconds" in message
    waiting = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert len(waiting) == 1 and "ingest pos" in waiting[0]  # said once, not once per poll


def test_a_waiting_writer_goes_on_as_soon_as_the_holder_finishes(tmp_path):
    root = tmp_path / "data"
    with holder(root, "publish") as proc:
        threading.Timer(0.3, proc.stdin.close).start()  # type: ignore[union-attr]
        started = time.monotonic()
        with hold(root, "backup", shared=True, wait_seconds=30):
            waited = time.monotonic() - started
    assert 0.2 < waited < 10


def test_a_killed_holder_releases_the_root_and_leaves_no_stale_record(tmp_path):
    root = tmp_path / "data"
    with holder(root, "resolve") as proc:
        proc.kill()
        proc.wait(timeout=10)
        assert [r["what"] for r in holders(root)] == []  # its record is recognised as dead
        with hold(root, "resolve again", wait_seconds=0):
            assert [r["what"] for r in holders(root)] == ["resolve again"]
    assert holders(root) == []


def test_backups_share_the_root_with_each_other_but_never_with_a_writer(tmp_path):
    root = tmp_path / "data"
    with holder(root, "backup (full)", mode="shared"):
        with hold(root, "backup (incremental)", shared=True, wait_seconds=0):
            assert sorted(r["mode"] for r in holders(root)) == ["shared", "shared"]
        with (
            pytest.raises(DataRootBusy, match=r"backup \(full\) \(shared\)"),
            hold(root, "standardize", wait_seconds=0.1),
        ):
            pass
    with (
        holder(root, "standardize"),
        pytest.raises(DataRootBusy, match=r"standardize \(exclusive\)"),
        hold(root, "backup (full)", shared=True, wait_seconds=0.1),
    ):
        pass


def test_nested_holds_in_one_process_do_not_wait_for_themselves(tmp_path):
    root = tmp_path / "data"
    with hold(root, "cdp run", wait_seconds=0):
        with hold(root, "publish", wait_seconds=0), hold(root, "role databases", shared=True, wait_seconds=0):
            assert not other_process_gets(root, shared=True)
        assert not other_process_gets(root)  # the inner exits did not release the outer hold
    assert other_process_gets(root)
    assert (root / LOCK_FILE).is_file()


def test_a_shared_hold_is_never_silently_upgraded(tmp_path):
    root = tmp_path / "data"
    with (
        hold(root, "backup", shared=True, wait_seconds=0),
        pytest.raises(RuntimeError, match="cannot be upgraded"),
        hold(root, "erase", wait_seconds=0),
    ):
        pass
    assert other_process_gets(root)  # the refused upgrade left nothing held


def test_the_wait_comes_from_cdp_yaml(tmp_path):
    config = CdpConfig(path=None, raw={"locks": {"wait_seconds": 0.2}}, data_root=tmp_path / "data")
    with holder(config.data_root, "quality gate silver"):
        started = time.monotonic()
        with (
            pytest.raises(DataRootBusy, match="quality gate silver"),
            data_root_lock(config, "cdp marts build"),
        ):
            pass
    assert 0.2 <= time.monotonic() - started < 5
