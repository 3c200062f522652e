"""GX validation results -> one `Outcome` per rule and source: the rows of `dq_results`.

`checked`/`passed` count rows so that scores add up across suites:

- a row-level frame: GX's evaluated rows (nulls skipped, except by not-null rules) and unexpected rows;
- a frame of pre-aggregated metrics: the rule names the columns holding the rows checked and
  failed (`rows:`), so 3 bad orders out of 1,000 score 0.997, not "one failing source row";
- a table-level rule (a proportion, a row count): the batch counts as one check.

Batch mode (`batch_by`) reads one result per batch; label mode (`label_by`) splits one result over
the frame's labelled rows using GX's complete list of unexpected rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from quality.frames import UNLABELLED
from quality.suite_spec import NULL_RULES, ExpectationSpec, SuiteSpec


@dataclass(frozen=True)
class Outcome:
    suite: str
    layer: str
    entity: str
    source: str
    dimension: str
    expectation: str
    column: str | None
    severity: str
    checked: int
    passed: int
    success: bool
    details: dict[str, Any] = field(default_factory=dict)
    scope: str = "full"  # `changed` when the rule judged only the rows added since the last passing gate

    @property
    def score(self) -> float:
        return self.passed / self.checked if self.checked else float(self.success)

    @property
    def failed_rows(self) -> int:
        return self.checked - self.passed

    def describe(self) -> str:
        """One line for an error message or a warning in the run summary."""
        where = f" on column {self.column}" if self.column else ""
        if "error" in self.details:
            what = f"could not be evaluated: {self.details['error']}"
        elif "observed_value" in self.details and not self.details.get("sample"):
            what = f"observed {self.details['observed_value']!r}"
        else:
            what = f"{self.failed_rows:,} of {self.checked:,} rows failed"
        sample = self.details.get("sample")
        tail = f"; sample: {json.dumps(sample, ensure_ascii=False, default=str)}" if sample else ""
        return (
            f"suite {self.suite}, expectation {self.expectation}{where} [source {self.source}]: {what}{tail}"
        )

    def as_row(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "source": self.source,
            "entity": self.entity,
            "dimension": self.dimension,
            "expectation": self.expectation,
            "column": self.column,
            "severity": self.severity,
            "checked": self.checked,
            "passed": self.passed,
            "success": self.success,
            "score": round(self.score, 6),
            "details": json.dumps(self.details, ensure_ascii=False, default=str),
            "scope": self.scope,
        }


def plain(value: Any) -> Any:
    """JSON-safe Python values from numpy/pandas/Arrow scalars (NaN and NA become None).

    Whole floats become ints: metric columns turn float when a join leaves a null.
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None if math.isnan(value) else str(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, str | int | bool):
        return value
    return str(value)


def _exception_message(info: Any) -> str | None:
    """GX reports a failed metric either flat or keyed by the metric that raised."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    nested = [v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
    return str(nested[0].get("exception_message")) if nested else None


def _rows_at(frame: pd.DataFrame, positions: list[int], columns: list[str]) -> list[dict[str, Any]]:
    present = [c for c in dict.fromkeys(columns) if c in frame.columns]
    if not positions or not present:
        return []
    picked = frame.iloc[positions][present]
    return [{k: plain(v) for k, v in row.items()} for row in picked.to_dict(orient="records")]


def _sample_columns(suite: SuiteSpec, rule: ExpectationSpec) -> list[str]:
    return [*suite.row_id, *rule.domain_columns, *([rule.sample] if rule.sample else [])]


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=np.int64)
    return pd.to_numeric(frame[column], errors="coerce").fillna(0).to_numpy().astype(np.int64)


def _stat_details(stats: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if "observed_value" in stats:
        details["observed_value"] = plain(stats["observed_value"])
    if stats.get("unexpected_count"):
        details["unexpected_count"] = int(stats["unexpected_count"])
        details["unexpected_percent"] = round(float(stats.get("unexpected_percent") or 0), 4)
    return details


def _make(
    suite: SuiteSpec,
    rule: ExpectationSpec,
    labels: dict[str, str],
    checked: int,
    passed: int,
    success: bool,
    details: dict,
) -> Outcome:
    return Outcome(
        suite=suite.name,
        layer=suite.layer,
        entity=labels.get("entity", suite.entity),
        source=labels.get("source", UNLABELLED),
        dimension=rule.dimension,
        expectation=rule.type,
        column=rule.column,
        severity=rule.severity,
        checked=checked,
        passed=passed,
        success=success,
        details=details,
    )


def outcome(
    suite: SuiteSpec, rule: ExpectationSpec, labels: dict[str, str], result: Any, frame: pd.DataFrame
) -> Outcome:
    """Batch mode: one GX ExpectationValidationResult for the whole batch `frame`."""
    stats: dict[str, Any] = dict(result.result or {})
    error = _exception_message(result.exception_info)
    if error is not None:
        return _make(suite, rule, labels, 0, 0, False, {"error": error})
    success = bool(result.success)
    if rule.rows is not None:
        checked = int(_numbers(frame, rule.rows.checked).sum())
        passed = checked - int(_numbers(frame, rule.rows.failed).sum())
    elif "element_count" in stats:
        checked = int(stats["element_count"]) - int(stats.get("missing_count") or 0)
        passed = checked - int(stats.get("unexpected_count") or 0)
    else:
        checked, passed = 1, int(success)
    details = _stat_details(stats)
    if not success:
        positions = [
            int(p) for p in stats.get("partial_unexpected_index_list") or [] if isinstance(p, int | float)
        ]
        if not positions and rule.rows is not None:
            positions = np.flatnonzero(_numbers(frame, rule.rows.failed) > 0).tolist()
        details["sample"] = _rows_at(frame, positions, _sample_columns(suite, rule))
    return _make(suite, rule, labels, checked, passed, success, details)


def labelled_outcomes(
    suite: SuiteSpec, rule: ExpectationSpec, result: Any, frame: pd.DataFrame, sample_rows: int
) -> list[Outcome]:
    """Label mode: split one row-wise result over the `label_by` values of the frame's rows.

    A label whose `rows.checked` is null was not judged by the rule (a changed-rows rule in a
    frame that also holds whole-table rules, for a source without changed rows): no outcome.
    """
    if frame.empty:
        return []
    keys = frame[suite.label_by].astype("string").fillna("unknown")
    groups = keys.groupby(suite.label_by, sort=False, dropna=False).indices
    error = _exception_message(result.exception_info)
    stats: dict[str, Any] = dict(result.result or {})
    unexpected = np.zeros(len(frame), dtype=bool)
    unexpected[[int(i) for i in stats.get("unexpected_index_list") or []]] = True
    judged = np.ones(len(frame), dtype=bool)
    if rule.rows is not None:
        checked_rows = _numbers(frame, rule.rows.checked)
        failed_rows = _numbers(frame, rule.rows.failed)
        if rule.rows.checked in frame.columns:
            judged = frame[rule.rows.checked].notna().to_numpy()
    else:
        domain = rule.domain_columns
        evaluated = (
            np.ones(len(frame), dtype=bool)
            if rule.type in NULL_RULES or not domain
            else frame[domain].notna().all(axis=1).to_numpy()
        )
        checked_rows = evaluated.astype(np.int64)
        failed_rows = (unexpected & evaluated).astype(np.int64)
    outcomes = []
    for key, positions in groups.items():  # one per label (a handful of sources), not per row
        values = key if isinstance(key, tuple) else (key,)
        labels = dict(zip(suite.label_by, (str(v) for v in values), strict=True))
        if error is None and not judged[positions].any():
            continue
        if error is not None:
            outcomes.append(_make(suite, rule, labels, 0, 0, False, {"error": error}))
            continue
        failing = positions[unexpected[positions]]
        checked = int(checked_rows[positions].sum())
        details: dict[str, Any] = {}
        if len(failing):
            details["sample"] = _rows_at(frame, failing[:sample_rows].tolist(), _sample_columns(suite, rule))
        outcomes.append(
            _make(
                suite,
                rule,
                labels,
                checked,
                checked - int(failed_rows[positions].sum()),
                not len(failing),
                details,
            )
        )
    return outcomes
