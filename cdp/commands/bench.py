"""`cdp bench ...`: the benchmarks that check speed and memory targets (never timed tests)."""

from __future__ import annotations

import importlib

import click

# (module in bench/, click command attribute): each benchmark registers itself here.
BENCHMARKS: list[tuple[str, str]] = [
    ("bench.ingest", "ingest"),
    ("bench.clv", "clv"),
    ("bench.generate", "generate"),
    ("bench.resolve", "resolve"),
    ("bench.marts", "marts"),
    ("bench.privacy", "privacy"),
    ("bench.quality", "quality"),
    ("bench.pipeline", "pipeline"),
    ("bench.spark", "spark"),
]


@click.group()
def bench() -> None:
    """Measure wall time, rows/second and peak memory; results go to bench/results and bench/RESULTS.md."""


for _module, _attr in BENCHMARKS:
    bench.add_command(getattr(importlib.import_module(_module), _attr))
