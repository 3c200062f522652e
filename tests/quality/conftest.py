"""Fixtures for the quality gate tests: each lake is built and gated once per module.

A gate run costs seconds (Great Expectations validates every suite), so tests that only read what
one run produced share it through a module-scoped `GateRun`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

from quality.gate import GateReport, QualityGateError, run_gate
from quality.outcomes import Outcome
from tests.quality.lake import CHECKED_AT, RUN_ID, Lake, clean_lake, remove_clean_lakes


@pytest.fixture(scope="session", autouse=True)
def clean_lake_templates() -> Iterator[None]:
    """`clean_lake` copies a template it writes once per process; it goes when the session ends."""
    yield
    remove_clean_lakes()


@dataclass
class GateRun:
    """A lake, the gate's report (when it passed) or its error (when a critical rule failed)."""

    lake: Lake
    report: GateReport | None = None
    error: QualityGateError | None = None
    layers: list[str] = field(default_factory=list)

    @property
    def results(self) -> pl.DataFrame:
        return self.lake.quality("dq_results")

    def failed(self, suite: str, column: str, source: str | None = None) -> pl.DataFrame:
        """Failed dq_results rows of one rule (optionally one source)."""
        rows = self.results.filter(
            (pl.col("suite") == suite) & (pl.col("column") == column) & ~pl.col("success")
        )
        return rows.filter(pl.col("source") == source) if source else rows

    def outcomes(self) -> list[Outcome]:
        assert self.report is not None, f"the gate raised: {self.error}"
        return self.report.outcomes


def gate(
    tmp: Path,
    layers: list[str],
    *defects: Callable[[Lake], object],
    build: Callable[[Path], Lake] = clean_lake,
) -> GateRun:
    """Build a clean lake under `tmp`, apply the defects, run the gate once and keep what happened."""
    lake = build(tmp / "data")
    for defect in defects:
        defect(lake)
    run = GateRun(lake=lake, layers=layers)
    try:
        run.report = run_gate(lake.config, layers, RUN_ID, checked_at=CHECKED_AT)
    except QualityGateError as exc:
        run.error = exc
    return run
