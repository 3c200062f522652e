"""Expectation suites as versioned YAML files: loading, validating and handing them to GX.

A suite file says *what data* it judges (a DuckDB query over the lake, `layer.table` names) and
*which rules* apply (Great Expectations expectation configurations, each tagged with the business
dimension it measures and a severity). Keeping the data as SQL lets DuckDB shape a frame of just
the needed columns, or pre-aggregate event-scale tables into per-source metrics, before GX sees
it: that is what keeps the gate fast at 1M customers (see bench/quality.py).

File shape (quality/suites/<layer>/<name>.yml)::

    name: silver_customer_records
    layer: silver
    entity: customer_records
    description: why this suite exists
    data: select record_id, source, email from silver.customer_records
    batch_by: [source]        # optional: one GX batch per value; `source`/`entity` label results
    row_id: [record_id]       # optional: columns that name a failing row in samples
    expectations:
      - type: expect_column_values_to_match_regex     # any GX 1.x expectation type
        kwargs: {column: email, regex: "...", mostly: 0.95}
        dimension: validity                           # completeness | accuracy | ...
        severity: warning                             # critical stops the publish
        notes: why the rule exists (shown in the data docs)
        rows: {checked: orders, failed: duplicate_order_ids}  # metric frames: row counts
        sample: sample_duplicate_order_ids            # metric frames: column of failing keys
        scope: full   # optional: the rule judges whole tables on every gate (referential integrity)

Splitting results by source, two ways:

- `batch_by: [source]` runs one GX batch per source. Needed when a rule judges the batch as a whole
  (`mostly`, uniqueness, proportions, row counts), typically on row-level frames;
- `label_by: [source, entity]` runs the whole (small) frame as one GX batch and attributes each
  failing row to its labels. For frames of pre-aggregated metrics, one row per source: one GX run
  instead of one per source. Only row-wise rules without `mostly` are allowed there.

A rule of a suite that reads `changed.<table>` judges the changed rows in a daily gate; one marked
`scope: full` computes its columns over whole tables in the same query (`silver.<table>`) and is
recorded as `full` (`dq_results.scope`). Referential integrity needs it: a parent removed upstream
orphans children that did not change. A labelled metric frame gives such a suite a row for every
source of the whole table; a changed-rows rule whose `rows.checked` column is null for a source
(no changed rows there) is not judged for it and writes no result.

Kwargs may reference `{"$PARAMETER": name}` (GX suite parameters) filled from cdp.yaml at run
time; the same values are DuckDB variables (`getvariable('name')`) inside `data`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from warehouse.errors import CdpError

Layer = Literal["bronze", "silver", "gold"]
Dimension = Literal["completeness", "accuracy", "consistency", "timeliness", "validity", "uniqueness"]
Severity = Literal["critical", "warning"]
RuleScope = Literal["full"]
LAYERS: tuple[str, ...] = ("bronze", "silver", "gold")
# Expectations judged row by row (GX "map" expectations): the only ones a `label_by` suite may use.
_ROW_WISE = re.compile(
    r"^expect_(column_values|column_pair_values|multicolumn_values|compound_columns|select_column_values)_"
)
# Not-null rules count null rows as checked (and failed); every other row-wise rule skips them.
NULL_RULES = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null")

# Schemas a suite's query can read (quality.catalog registers them); `layer.table` in `data`
# makes the table a requirement of the suite. `changed.<table>` is the part of a lake table the
# gate judges row by row (quality.scope: the rows added since the last passing gate, or all).
SCHEMAS = ("bronze", "silver", "identity", "meta", "quality", "gold", "derived", "changed")
_TABLE_REFERENCE = re.compile(r"\b(" + "|".join(SCHEMAS) + r")\.([A-Za-z_][A-Za-z0-9_]*)\b")
# Comments and string literals name no table the query reads (a comment citing `quality.outcomes`
# would make the suite wait for a table that does not exist, and skip).
_NOT_READ = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)


def _tables_read(sql: str) -> list[tuple[str, str]]:
    return _TABLE_REFERENCE.findall(_NOT_READ.sub(" ", sql))


class SuiteDefinitionError(CdpError):
    """A suite file that cannot be used: names the file and what is wrong with it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RowCounts(_Strict):
    """For frames of pre-aggregated metrics: which columns hold the rows checked and failed."""

    checked: str
    failed: str


class ExpectationSpec(_Strict):
    type: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    dimension: Dimension
    severity: Severity
    notes: str | None = None
    rows: RowCounts | None = None
    sample: str | None = None
    # `full`: judged over whole tables on every gate, whatever the gate's scope (see module doc)
    scope: RuleScope | None = None

    @property
    def row_wise(self) -> bool:
        return bool(_ROW_WISE.match(self.type))

    @property
    def domain_columns(self) -> list[str]:
        kwargs = self.kwargs
        if "column" in kwargs:
            return [str(kwargs["column"])]
        if "column_A" in kwargs:
            return [str(kwargs["column_A"]), str(kwargs["column_B"])]
        return [str(c) for c in kwargs.get("column_list") or []]

    @property
    def named_columns(self) -> list[str]:
        """Every column of the data the rule names: its domain, row counts and sample."""
        counts = [self.rows.checked, self.rows.failed] if self.rows else []
        return list(dict.fromkeys([*self.domain_columns, *counts, *([self.sample] if self.sample else [])]))

    @property
    def column(self) -> str | None:
        """The column(s) the rule is about, as dq_results names them."""
        return ",".join(self.domain_columns) or None

    def gx_config(self) -> dict[str, Any]:
        """The GX 1.x expectation configuration: our tags travel in `meta`, severity natively."""
        meta: dict[str, Any] = {"dimension": self.dimension}
        if self.rows:
            meta["rows"] = self.rows.model_dump()
        if self.sample:
            meta["sample"] = self.sample
        if self.scope:
            meta["scope"] = self.scope  # the data docs show that the rule judged whole tables
        config: dict[str, Any] = {
            "type": self.type,
            "kwargs": self.kwargs,
            "meta": meta,
            "severity": self.severity,
        }
        if self.notes:
            config["notes"] = self.notes
        return config


class SuiteSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    layer: Layer
    entity: str
    description: str = ""
    data: str
    batch_by: list[str] = Field(default_factory=list)
    label_by: list[str] = Field(default_factory=list)
    row_id: list[str] = Field(default_factory=list)
    expectations: list[ExpectationSpec] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("batch_by", "label_by", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("data")
    @classmethod
    def _reads_the_lake(cls, value: str) -> str:
        if not _tables_read(value):
            raise ValueError(
                f"`data` must read at least one table as <schema>.<table> ({', '.join(SCHEMAS)})"
            )
        return value

    @model_validator(mode="after")
    def _labelling_fits_rules(self) -> SuiteSpec:
        if self.batch_by and self.label_by:
            raise ValueError("give batch_by or label_by, not both")
        if self.label_by:
            for rule in self.expectations:
                if not rule.row_wise or "mostly" in rule.kwargs:
                    raise ValueError(
                        f"{rule.type}: a label_by suite attributes failing rows to sources, so only "
                        "row-wise rules without `mostly` fit; use batch_by for this rule"
                    )
        return self

    @property
    def tables(self) -> list[str]:
        """`schema.table` names the query reads, in order of first mention."""
        found = [f"{schema}.{table}" for schema, table in _tables_read(self.data)]
        return list(dict.fromkeys(found))


def rule_location(suite: SuiteSpec, index: int) -> str:
    """`expectations[i] (line n)`: where a rule is written, for errors about it."""
    where = f"expectations[{index}]"
    line = _rule_line(suite.path, index) if suite.path else None
    return f"{where} (line {line})" if line else where


def _rule_line(path: Path, index: int) -> int | None:
    """The 1-based line of the `index`-th item under `expectations:` (None if unreadable)."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if key.value == "expectations" and isinstance(value, yaml.SequenceNode) and index < len(value.value):
            return value.value[index].start_mark.line + 1
    return None


def load_suite(path: Path) -> SuiteSpec:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteDefinitionError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SuiteDefinitionError(f"{path}: expected a mapping with name, layer, data and expectations")
    try:
        suite = SuiteSpec.model_validate(raw)
    except ValidationError as exc:
        raise SuiteDefinitionError(f"{path}: invalid suite:\n{exc}") from exc
    if suite.layer != path.parent.name:
        raise SuiteDefinitionError(f"{path}: layer '{suite.layer}' but the file is under {path.parent.name}/")
    return suite.model_copy(update={"path": path})


def load_suites(directory: Path, layers: list[str] | tuple[str, ...] = LAYERS) -> list[SuiteSpec]:
    """Every suite of the given layers, in layer then file-name order; names must be unique."""
    if not directory.is_dir():
        raise SuiteDefinitionError(f"suites folder not found: {directory}")
    suites = [load_suite(path) for layer in layers for path in sorted((directory / layer).glob("*.yml"))]
    seen: dict[str, Path | None] = {}
    for suite in suites:
        if suite.name in seen:
            raise SuiteDefinitionError(
                f"{suite.path}: suite name '{suite.name}' is also used by {seen[suite.name]}"
            )
        seen[suite.name] = suite.path
    return suites
