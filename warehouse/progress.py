"""Progress bars for long jobs that stay quiet when nobody is watching.

A bar is drawn only on an interactive terminal; in Airflow logs and CI the same calls log a line per
step instead, so long jobs always show progress without filling logs with control characters.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")
_log = logging.getLogger("cdp.progress")
_enabled = True


def set_enabled(enabled: bool) -> None:
    """The CLI turns bars off with --quiet."""
    global _enabled
    _enabled = enabled


def _interactive() -> bool:
    return _enabled and sys.stderr.isatty()


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar (terminal) or a log line every ~10% (otherwise)."""
    items = list(items) if total is None and not hasattr(items, "__len__") else items
    total = total if total is not None else len(items)  # type: ignore[arg-type]
    if _interactive():
        with _bar() as progress:
            task = progress.add_task(description, total=total)
            for item in items:
                yield item
                progress.advance(task)
        return
    step = max(1, total // 10) if total else 1
    for done, item in enumerate(items, start=1):
        yield item
        if done % step == 0 or done == total:
            _log.info("%s: %d/%d", description, done, total)


@contextmanager
def stage(description: str) -> Iterator[None]:
    """A spinner-free marker for one long step: logs start and end."""
    _log.info("%s ...", description)
    yield
    _log.info("%s done", description)


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    )
