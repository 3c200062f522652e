"""Measuring wall time and peak memory of a benchmark step, and recording the figures.

Peak memory is the RSS of the whole process tree (this process plus every child, e.g. dbt or
Airflow subprocesses), sampled in a background thread, because `ru_maxrss` alone misses children
that run concurrently.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
RESULTS_MD = BENCH_DIR / "RESULTS.md"


@dataclass
class Measurement:
    name: str
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float | None:
        return self.rows / self.seconds if self.rows and self.seconds else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows_per_second"] = self.rows_per_second
        return data


def _tree_rss_bytes(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


@contextmanager
def measure(name: str, rows: int | None = None, interval: float = 0.1) -> Iterator[Measurement]:
    """Time the block and sample the process tree's RSS; fills the yielded Measurement on exit."""
    result = Measurement(name=name, rows=rows)
    process = psutil.Process(os.getpid())
    peak = _tree_rss_bytes(process)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(interval):
            peak = max(peak, _tree_rss_bytes(process))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
        result.peak_rss_mb = max(peak, _tree_rss_bytes(process)) / 2**20


def tree_cpu() -> dict[int, float]:
    """CPU seconds (user + system) so far of this process (with its reaped children) and each live child.

    Worker pools (`ingest.workers`) live on between steps, so `time.process_time()` misses their
    work and `RUSAGE_CHILDREN` only counts them once they exit: each process is counted on its own.
    """
    process = psutil.Process()
    times = process.cpu_times()
    out = {process.pid: times.user + times.system + times.children_user + times.children_system}
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            out[child.pid] = child_times.user + child_times.system
    return out


def cpu_since(before: dict[int, float]) -> float:
    """CPU seconds the process tree spent since `before = tree_cpu()`.

    Totals, not per process: a child that exits in between is counted once in `before` (on its own)
    and once after (in this process's reaped-children time, its whole life), so only the difference
    of the totals leaves out what it spent before. (Per process, a worker pool reaped during a step
    charged that step with the pool's whole life: the 1M daily standardize read 600-700 CPU s.)
    """
    return sum(tree_cpu().values()) - sum(before.values())


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def save_results(benchmark: str, measurements: list[Measurement], params: dict[str, Any]) -> Path:
    """Write bench/results/<benchmark>_<params>_<timestamp>.json and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    label = "_".join(f"{k}{v}" for k, v in params.items())
    path = RESULTS_DIR / f"{benchmark}_{label}_{stamp}.json"
    # Written aside and renamed: a run killed mid-write (a full disk) must not leave a truncated
    # result that every later report refresh trips on.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(
        json.dumps(
            {
                "benchmark": benchmark,
                "params": params,
                "measured_at": stamp,
                "machine": machine(),
                "steps": [m.as_dict() for m in measurements],
            },
            indent=2,
            default=str,
        )
    )
    os.replace(partial, path)
    return path


def saved_results(pattern: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(file, contents) of every `bench/results/<pattern>`, sorted by name; a file that cannot be
    read (a run killed mid-write before results were written aside) is skipped with a warning
    instead of failing every later report refresh."""
    for path in sorted(RESULTS_DIR.glob(pattern)):
        try:
            yield path, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logging.getLogger("cdp.bench").warning("skipping unreadable bench result %s: %s", path, exc)


def markdown_table(measurements: list[Measurement]) -> str:
    lines = ["| step | seconds | rows | rows/s | peak RSS (MB) |", "|---|---:|---:|---:|---:|"]
    for m in measurements:
        rps = f"{m.rows_per_second:,.0f}" if m.rows_per_second else ""
        rows = f"{m.rows:,}" if m.rows else ""
        lines.append(f"| {m.name} | {m.seconds:,.1f} | {rows} | {rps} | {m.peak_rss_mb:,.0f} |")
    return "\n".join(lines)


def update_results_md(section: str, body: str) -> None:
    """Replace (or append) the `## <section>` block of bench/RESULTS.md, leaving the others alone."""
    text = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else "# Benchmark results\n"
    header = f"## {section}"
    block = f"{header}\n\n{body.strip()}\n"
    if header in text:
        start = text.index(header)
        nxt = text.find("\n## ", start + len(header))
        text = text[:start] + block + ("\n" + text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + block
    RESULTS_MD.write_text(text, encoding="utf-8")
