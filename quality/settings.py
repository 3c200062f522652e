"""The `quality:` section of cdp.yaml: thresholds the gates apply, validated in one place.

The expectation suites (quality/suites/*.yml) hold the rules themselves; the numbers that the
business tunes without touching a suite (the completeness bar for activation, how sensitive the
volume and fill-rate alarms are, how stale a source may get when its registry entry names no SLA)
live here and reach the suites as GX suite parameters (`$PARAMETER`) and DuckDB variables.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from warehouse.config import CdpConfig
from warehouse.marts_settings import DEFAULT_COMPLETENESS_THRESHOLD

SECTION = "quality"

# The shipped suites; `quality.suites_dir` points elsewhere to run a retailer's own.
DEFAULT_SUITES_DIR = Path(__file__).resolve().parent / "suites"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompletenessSettings(_Section):
    """Records below `threshold` are listed for repair and kept off activation lists.

    The one completeness bar of the platform: the marts read it too (`marts_settings.dbt_vars`).
    """

    threshold: float = Field(DEFAULT_COMPLETENESS_THRESHOLD, ge=0, le=1)
    unknown_values: dict[str, list[str]] = Field(
        default_factory=lambda: {"gender": ["U"]},
        description="values that count as missing in repair_list.missing_fields (gender U = unknown)",
    )
    min_complete_share: float = Field(
        0.5, ge=0, le=1, description="share of a source's records expected at or above the threshold"
    )
    min_complete_share_by_source: dict[str, float] = Field(
        default_factory=dict,
        description="per-source expectation where a source is sparse by nature (e.g. survey: 0.0)",
    )
    fields: list[str] = Field(
        default_factory=lambda: ["full_name", "date_of_birth", "gender", "email", "phone", "city"],
        min_length=1,
        description="profile fields reported as missing in repair_list (a field with a "
        "`<field>_valid` flag counts as missing when the flag is false); the standardize "
        "section's `completeness_fields` wins when set, so both stages agree",
    )


class FreshnessDefaults(_Section):
    """SLA for a source whose registry entry (`sources.<name>.freshness`) does not set one."""

    warn_hours: float = Field(26, gt=0)
    fail_hours: float = Field(50, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> FreshnessDefaults:
        if self.fail_hours < self.warn_hours:
            raise ValueError("freshness_defaults.fail_hours must not be below warn_hours")
        return self


class DataFreshnessSla(_Section):
    """How old a source's newest business date may be, in hours before the run's logical moment."""

    warn_hours: float | None = Field(None, gt=0, description="past this: a warning (null: the default's)")
    fail_hours: float | None = Field(None, gt=0, description="past this: critical (null: the default's)")


class DataFreshnessSettings(_Section):
    """Timeliness by the data's own dates, not by when files arrived (`derived.data_freshness`).

    A source re-delivering an old export every day lands a file daily and looks fresh by
    `bronze_freshness`; the newest order, event or ticket it holds says otherwise. Per silver
    table the business timestamp to read (`columns`), judged per source of the table.
    """

    warn_hours: float = Field(48, gt=0, description="newest business date older than this: a warning")
    fail_hours: float | None = Field(
        None,
        gt=0,
        description="older than this: critical, the publish stops (null: never critical; the shipped "
        "sample data ends on generator.end_date, which a demo run today would be judged against)",
    )
    columns: dict[str, str] = Field(
        default_factory=lambda: {
            "orders": "ordered_at",  # pos tickets.sold_at, ecom orders.created_at
            "events": "occurred_at",  # ecom events.ts
            "tickets": "created_at",  # service tickets.created_at
            "loyalty_ledger": "occurred_at",  # loyalty points
            "social_posts": "created_at",  # social posts
        },
        description="silver table -> its business timestamp column (local time, like every silver time)",
    )
    by_source: dict[str, DataFreshnessSla] = Field(
        default_factory=dict, description="per-source warn_hours/fail_hours (a sparse source, a weekly one)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> DataFreshnessSettings:
        for name, sla in {"": self, **self.by_source}.items():
            warn, fail = sla.warn_hours or self.warn_hours, sla.fail_hours or self.fail_hours
            if fail is not None and warn is not None and fail < warn:
                where = f"data_freshness.by_source.{name}" if name else "data_freshness"
                raise ValueError(f"{where}.fail_hours must not be below warn_hours")
        return self

    def sla(self, source: str) -> tuple[float, float | None]:
        """(warn_hours, fail_hours) of one source: its own where set, else the defaults."""
        own = self.by_source.get(source) or DataFreshnessSla()
        return own.warn_hours or self.warn_hours, own.fail_hours or self.fail_hours


class VolumeSettings(_Section):
    """Row-count anomalies: robust z-score of this run's added rows against recent runs.

    Flagged when |robust z| exceeds `max_robust_z` *and* the rows added differ from the recent
    median by at least `min_change` rows: small entities swing by multiples on ordinary days.
    """

    window: int = Field(30, ge=2, description="recent runs the current run is compared with")
    min_history: int = Field(5, ge=2, description="runs needed before a volume is judged at all")
    max_robust_z: float = Field(3.5, gt=0, description="|robust z| above this flags the source")
    min_change: int = Field(
        50, ge=0, description="a change of fewer rows than this from the recent median is never flagged"
    )


class FillRateSettings(_Section):
    """Fill-rate drift: the share of non-empty values per bronze column this run vs recent runs.

    A column an export suddenly leaves mostly blank lands without error and only thins silver;
    this is the rule that notices. Flagged when the share dropped by at least `min_drop` below the
    recent runs' median *and* that drop is unusual for the column (robust z at most -max_robust_z),
    so a column that always swings is not flagged for an ordinary swing.
    """

    window: int = Field(30, ge=2, description="recent runs the current run is compared with")
    min_history: int = Field(5, ge=2, description="runs needed before a column is judged at all")
    min_rows: int = Field(
        100,
        ge=1,
        description="runs that landed fewer rows of an entity are neither judged nor history (noise)",
    )
    min_drop: float = Field(
        0.2, gt=0, le=1, description="fill share this far below the history's median (absolute) ..."
    )
    max_robust_z: float = Field(3.5, gt=0, description="... and with robust z below minus this is flagged")
    max_rows: int = Field(
        1_000_000,
        ge=1,
        description="rows counted per run and entity at most: a bigger run (an initial load, a full "
        "re-delivery) is profiled on its first max_rows rows, so the first gate on a big lake stays "
        "cheap; a daily increment is below it and counted whole",
    )


class DocsSettings(_Section):
    keep_runs: int = Field(10, ge=1, description="runs per suite whose validation results the data docs keep")


class QualitySettings(_Section):
    suites_dir: Path | None = Field(
        default=None, description="folder of suite YAML files (default: the shipped quality/suites)"
    )
    sample_rows: int = Field(5, ge=1, le=100, description="failing rows quoted in errors and details")
    completeness: CompletenessSettings = Field(default_factory=CompletenessSettings)
    freshness_defaults: FreshnessDefaults = Field(default_factory=FreshnessDefaults)
    data_freshness: DataFreshnessSettings = Field(default_factory=DataFreshnessSettings)
    min_share_rows: int = Field(
        20,
        ge=1,
        description="share rules (a source's e-mail share, its malformed e-mail and phone shares) "
        "judge a source only when the gate's scope holds at least this many of its rows: one junk "
        "phone among a day's 3 new records is a third, yet says nothing of a parsing problem",
    )
    volume: VolumeSettings = Field(default_factory=VolumeSettings)
    fill_rate: FillRateSettings = Field(default_factory=FillRateSettings)
    docs: DocsSettings = Field(default_factory=DocsSettings)
    incremental: bool = Field(
        True,
        description="a gate's row-level rules judge only the rows added since the last passing gate "
        "(`changed.*` in suites; table-level checks still cover whole tables); false, or "
        "`cdp quality --full`, judges every row each run",
    )
    refresh_scorecard: bool = Field(
        True,
        description="after a gold gate, rebuild the dq_scorecard mart (dbt) so the published "
        "scorecard carries the run's gold results, not only the previous runs' (costs one dbt "
        "invocation)",
    )

    @model_validator(mode="after")
    def _history_fits_window(self) -> QualitySettings:
        if self.volume.min_history > self.volume.window:
            raise ValueError("volume.min_history must not exceed volume.window")
        if self.fill_rate.min_history > self.fill_rate.window:
            raise ValueError("fill_rate.min_history must not exceed fill_rate.window")
        return self


def load_settings(config: CdpConfig) -> QualitySettings:
    settings: QualitySettings = config.section(SECTION, QualitySettings)
    if settings.suites_dir is not None and not settings.suites_dir.is_absolute():
        settings = settings.model_copy(update={"suites_dir": config.base_dir / settings.suites_dir})
    return settings


def suites_dir(settings: QualitySettings) -> Path:
    return settings.suites_dir or DEFAULT_SUITES_DIR
