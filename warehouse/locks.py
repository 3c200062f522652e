"""One writer at a time on a data root: an OS file lock every writing stage and command takes.

Airflow's `max_active_runs=1` only keeps two runs of one DAG apart. Nothing else stops the backup
DAG from copying a table half-written by `cdp_daily`, or an operator's `cdp erase` (which purges
Delta history with zero retention) from running under a daily ingest appending to the same table.
Two writers on one Delta table or on `cdp.duckdb` can corrupt or lose data, so every stage that
writes takes this lock:

- **exclusive** for a writer (ingest, standardize, resolve, quality gates, marts build and publish,
  erase, restore, audit history rewrite, role databases, landing retention);
- **shared** for a reader that needs a consistent moment (a backup): backups run side by side,
  never beside a writer;
- nothing for read-only commands (queries, reports, checks).

The lock is `fcntl.flock` on `<data_root>/.cdp.lock`: the kernel releases it when its process ends,
however it ends, so a killed writer leaves no stale lock. Beside it, `<data_root>/.cdp.lock.d/`
holds one small JSON record per holding process (pid, host, what, since) so that a writer that
waits, or gives up after `locks.wait_seconds`, can say who holds the root and since when. The
records are only for that message; the flock alone decides.

It is held per pipeline stage (each Airflow task is its own process), not for a whole DAG run, so a
backup or an erasure can run between two stages. It is re-entrant per process: `cdp run` calling a
stage, a publish rebuilding the role databases, an erasure rebuilding them, all nest without
waiting for themselves.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from warehouse.config import CdpConfig
from warehouse.errors import CdpError

log = logging.getLogger("cdp.locks")

LOCK_FILE = ".cdp.lock"
HOLDERS_DIR = ".cdp.lock.d"
# Names under a data root that belong to the lock, not to the data (a backup leaves them out, a
# restore target holding only them counts as empty).
LOCK_NAMES = frozenset({LOCK_FILE, HOLDERS_DIR})
MAX_POLL_SECONDS = 1.0

Params = ParamSpec("Params")
Result = TypeVar("Result")


class LockSettings(BaseModel):
    """`locks:` in cdp.yaml."""

    model_config = ConfigDict(extra="forbid")

    wait_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How long a writer waits for the data root before failing with DataRootBusy (0: not at all)",
    )


def lock_settings(config: CdpConfig) -> LockSettings:
    return config.section("locks", LockSettings)


class DataRootBusy(CdpError):
    """Another process held the data root for longer than this one would wait.

    Transient: the same stage succeeds once the holder is done, so the DAGs retry it (after their
    retry delay) instead of failing at once as they do for a problem a person must fix.
    """

    retryable = True


@dataclass
class _Held:
    """This process's hold on one lock file: the open file and how deeply it is nested."""

    handle: Any
    shared: bool
    depth: int
    record: Path


# Per process, by lock file: nested acquisitions (on any thread) count up instead of waiting.
_HELD: dict[Path, _Held] = {}
_GUARD = threading.RLock()


@contextmanager
def data_root_lock(
    config: CdpConfig, what: str, *, shared: bool = False, wait_seconds: float | None = None
) -> Iterator[None]:
    """Hold `config.data_root` for `what` (a stage or command, named in a waiting writer's error).

    Waits up to `wait_seconds` (default `locks.wait_seconds` in cdp.yaml), then raises DataRootBusy.
    """
    wait = lock_settings(config).wait_seconds if wait_seconds is None else wait_seconds
    with hold(config.data_root, what, shared=shared, wait_seconds=wait):
        yield


def locked(
    what: str, *, shared: bool = False
) -> Callable[[Callable[Params, Result]], Callable[Params, Result]]:
    """Decorator: the function, whose first argument is the CdpConfig, holds its data root while it runs."""

    def wrap(function: Callable[Params, Result]) -> Callable[Params, Result]:
        @functools.wraps(function)
        def run(*args: Params.args, **kwargs: Params.kwargs) -> Result:
            config = args[0]
            assert isinstance(config, CdpConfig), f"{function.__name__}: first argument is not a CdpConfig"
            with data_root_lock(config, what, shared=shared):
                return function(*args, **kwargs)

        return run

    return wrap


@contextmanager
def hold(root: Path, what: str, *, shared: bool = False, wait_seconds: float = 0.0) -> Iterator[None]:
    """`data_root_lock` for a plain folder: the lock file is `<root>/.cdp.lock` (root created if missing)."""
    path = lock_path(root)
    with _GUARD:
        held = _HELD.get(path)
        if held is not None:
            if held.shared and not shared:
                raise RuntimeError(
                    f"{what}: this process holds {root} shared and asked for it exclusive; a shared "
                    "lock cannot be upgraded without letting another writer in between"
                )
            held.depth += 1
    if held is not None:
        try:
            yield
        finally:
            with _GUARD:
                held.depth -= 1
        return
    acquired = _acquire(root, path, what, shared, wait_seconds)
    with _GUARD:
        _HELD[path] = acquired
    try:
        yield
    finally:
        with _GUARD:
            del _HELD[path]
        _release(acquired)


def lock_path(root: Path) -> Path:
    return Path(root).resolve() / LOCK_FILE


def holders(root: Path) -> list[dict[str, Any]]:
    """The holder records of processes that may hold `root`'s lock (records of dead ones dropped)."""
    folder = Path(root).resolve() / HOLDERS_DIR
    found = []
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            info = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being written or removed right now
        if _process_gone(info):
            with suppress(OSError):
                record.unlink()
            continue
        found.append(info)
    return found


def describe_holders(root: Path) -> str:
    """`ingest pos (exclusive) by pid 4242 on host etl-1 since 2026-11-28T02:00:03Z`, one per holder."""
    records = holders(root)
    if not records:
        return "another process (no holder record: it may be starting or finishing)"
    return "; ".join(
        f"{r.get('what')} ({r.get('mode')}) by pid {r.get('pid')} on host {r.get('host')} since "
        f"{r.get('started_at')} ({r.get('program')})"
        for r in records
    )


def _acquire(root: Path, path: Path, what: str, shared: bool, wait_seconds: float) -> _Held:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+b")  # noqa: SIM115 - kept open while held; closed by _release
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    deadline = time.monotonic() + wait_seconds
    pause, told = 0.02, False
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DataRootBusy(_busy_message(root, what, shared, wait_seconds)) from None
                if not told:
                    log.warning(
                        "%s: waiting up to %.0f s for the data root %s, held by %s",
                        what,
                        wait_seconds,
                        root,
                        describe_holders(root),
                    )
                    told = True
                time.sleep(min(pause, left))
                pause = min(pause * 2, MAX_POLL_SECONDS)
    except BaseException:
        handle.close()
        raise
    if not shared:  # nobody else holds it: records left by killed holders are stale
        _clear_records(root)
    return _Held(handle, shared, 1, _write_record(root, what, shared))


def _release(held: _Held) -> None:
    with suppress(OSError):
        held.record.unlink()
    held.handle.close()  # closing the last descriptor releases the flock


def _busy_message(root: Path, what: str, shared: bool, wait_seconds: float) -> str:
    wanted = "shared (read)" if shared else "exclusive (write)"
    return (
        f"{what}: the data root {root} is busy: held by {describe_holders(root)}. Waited "
        f"{wait_seconds:g} s for a {wanted} lock ({lock_path(root)}; `locks.wait_seconds` in cdp.yaml, "
        "`cdp --lock-wait SECONDS`). Run it again when that finishes; a holder that dies releases "
        "the lock at once."
    )


def _write_record(root: Path, what: str, shared: bool) -> Path:
    folder = Path(root).resolve() / HOLDERS_DIR
    folder.mkdir(exist_ok=True)
    host, pid = socket.gethostname(), os.getpid()
    record = folder / f"{host}-{pid}.json"
    info = {
        "pid": pid,
        "host": host,
        "what": what,
        "mode": "shared" if shared else "exclusive",
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # the program only: its arguments may carry what an erasure is about to erase
        "program": Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python",
    }
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps(info), encoding="utf-8")
    os.replace(partial, record)
    return record


def _clear_records(root: Path) -> None:
    folder = Path(root).resolve() / HOLDERS_DIR
    for record in folder.glob("*.json") if folder.is_dir() else []:
        with suppress(OSError):
            record.unlink()


def _process_gone(info: dict[str, Any]) -> bool:
    """A record of a process on this host that no longer runs (another host's cannot be checked)."""
    if info.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(info.get("pid", 0)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False
