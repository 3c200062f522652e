"""The source registry (`sources:`), the loader's tunables (`ingest:`) and the silver rules (`standardize:`).

Everything a data engineer changes to onboard a source lives in `cdp.yaml`; these pydantic models
validate it up front so that a typo fails with the file, the source and the key instead of halfway
through a load. Adding a CSV source is YAML only: the readers and the silver builders are generic.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from warehouse.config import CdpConfig

Format = Literal["csv", "jsonl", "xlsx", "parquet", "sqlite", "postgres"]
ColumnType = Literal["string", "date", "timestamp", "integer", "decimal", "boolean"]
Schedule = Literal["hourly", "daily", "weekly", "monthly", "quarterly"]
# The longest regular gap between two deliveries of each schedule, in hours.
SCHEDULE_HOURS: dict[str, float] = {
    "hourly": 1,
    "daily": 24,
    "weekly": 168,
    "monthly": 744,
    "quarterly": 2208,
}
SilverEntity = Literal[
    "customer_records",
    "orders",
    "order_lines",
    "events",
    "social_posts",
    "tickets",
    "loyalty_ledger",
    "coupons",
    "survey_responses",
]

# A CSV field reads as missing only when empty: `N/A` in a date column is quarantined as an
# unparseable date rather than landed as a silent null (`sources.<name>.null_values` widens it).
DEFAULT_NULL_VALUES = [""]
DEFAULT_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y"]
DEFAULT_TIMESTAMP_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f",  # also how a Parquet timestamp with a fraction of a second lands
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnRef(_Strict):
    """Where one canonical silver column comes from.

    Exactly one of: a source `column`; a `json` path (`column.key.key`) into a column holding JSON
    text; a `template` such as `"{platform}:{handle}"`; a constant `value`.
    """

    column: str | None = None
    json_path: str | None = Field(default=None, alias="json")
    template: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ColumnRef:
        given = [k for k in ("column", "json_path", "template", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of column, json, template, value")
        return self

    def source_columns(self) -> list[str]:
        """The source columns this reference reads (what must exist in every file)."""
        if self.column:
            return [self.column]
        if self.json_path:
            return [self.json_path.split(".", 1)[0]]
        if self.template:
            import string

            return [name for _, name, _, _ in string.Formatter().parse(self.template) if name]
        return []


def _as_ref(value: Any) -> Any:
    return {"column": value} if isinstance(value, str) else value


# The key silver reads from each step of an order's `status_history` (a JSON array of objects): the
# column mapped to orders.status_history is declared `nested` with it (EntityConfig._check_nested).
STATUS_HISTORY_KEYS = ["status"]


class LinesConfig(_Strict):
    """Order lines nested in an order row as a JSON array (the web shop's `line_items`)."""

    column: str
    fields: dict[str, str] = Field(description="canonical order_lines column -> key inside each array item")


class SilverMapping(_Strict):
    """How one bronze entity feeds one silver entity: canonical column -> source reference."""

    columns: dict[str, ColumnRef]
    lines: LinesConfig | None = None
    latest_by: str | None = Field(
        default=None, description="keep only the latest row per key by this canonical column"
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _strings_are_columns(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _as_ref(v) for k, v in value.items()}
        return value


class EntityConfig(_Strict):
    """One exported table of a source: where its files are, how to read them, how they map to silver."""

    path: str | list[str] = Field(description="glob(s) under landing/, e.g. pos/*/*/members.csv")
    format: Format
    delimiter: str = ","
    encoding: str = "utf-8"
    null_values: list[str] | None = Field(
        default=None,
        description="CSV: field texts that read as missing (None: the source's `null_values`)",
    )
    encoding_overrides: dict[str, str] = Field(
        default_factory=dict, description="glob under landing/ -> encoding, e.g. pos/legacy/** -> gbk"
    )
    sheet: str | None = None
    table: str | None = None
    connection: str | None = Field(default=None, description="postgres: connection string or ${ENV_VAR}")
    primary_key: list[str] = Field(default_factory=list)
    types: dict[str, ColumnType] = Field(default_factory=dict)
    date_formats: list[str] | None = None
    timestamp_formats: list[str] | None = None
    decimal_comma: bool = Field(
        default=False,
        description="numbers in `types` columns are written with a decimal comma and dots grouping thousands "
        "(1.299,00 / 140,15, as much of Europe writes them); 1,299.00 then does not parse",
    )
    required: list[str] = Field(default_factory=list)
    optional: list[str] = Field(default_factory=list)
    not_null: list[str] = Field(
        default_factory=list,
        description="columns every row must fill (a till ticket's sale time): an empty one quarantines the row",
    )
    null_if_invalid: list[str] = Field(
        default_factory=list,
        description="typed optional profile attributes (a birthday) whose unparseable or implausible value is "
        "nulled and recorded in quarantine (reason invalid_value_nulled) while the row lands; never keys, "
        "not_null columns, amounts or event times",
    )
    nested: dict[str, dict[str, ColumnType]] = Field(
        default_factory=dict,
        description="columns holding a JSON array of objects (a web order's line_items), kept as JSON text in "
        "bronze and decoded in silver: column -> {key: type} of the keys silver reads from each object; "
        "checked on landing with silver's decoding and parsers (a row failing it is rejected)",
    )
    nested_not_null: dict[str, list[str]] = Field(
        default_factory=dict,
        description="nested column -> keys every item must fill (a line's quantity and price): an item whose "
        "key is missing, null or empty rejects its row as missing_value, the item and key named",
    )
    order_grain: Literal["order", "line"] = "order"
    silver: dict[SilverEntity, SilverMapping] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _format_options(self) -> EntityConfig:
        if self.format == "xlsx" and not self.sheet:
            raise ValueError("format xlsx needs `sheet` (the worksheet to read)")
        if self.format in ("sqlite", "postgres") and not self.table:
            raise ValueError(f"format {self.format} needs `table`")
        if self.format == "postgres" and not self.connection:
            raise ValueError("format postgres needs `connection`")
        if len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {self.delimiter!r}")
        if self.decimal_comma and self.format != "csv":
            # Excel, Parquet and database numbers are numbers, not text: they reach the checks as 140.15.
            raise ValueError(
                f"decimal_comma is for CSV exports (numbers as text); format {self.format} holds numbers"
            )
        for name in [self.encoding, *self.encoding_overrides.values()]:
            _check_encoding(name)
        self._check_null_if_invalid()
        self._check_nested()
        return self

    def _check_nested(self) -> None:
        """A column silver decodes as a JSON array of objects (order lines, a status history) is
        declared under `nested` with every key silver reads: ingest then checks it with silver's own
        decoding, so a value silver cannot read (an array of text, a quantity of 'two') is rejected
        on landing with its file, row and item named, never nulled or crashing in silver. A key every
        item must fill (`nested_not_null`: a line's quantity and price) is one declared there."""
        for column, keys in self.nested.items():
            if not keys:
                raise ValueError(f"nested column {column!r} declares no key: name the keys silver reads")
            if column in self.types or column in self.primary_key:
                raise ValueError(
                    f"nested column {column!r} is also under `types` or the primary key: a column holds "
                    "either one value or a JSON array"
                )
        for column, keys in self.nested_not_null.items():
            undeclared = [k for k in keys if k not in self.nested.get(column, {})]
            if undeclared:
                raise ValueError(
                    f"nested_not_null names {', '.join(f'{column}.{k}' for k in undeclared)}: declare the "
                    f"key(s) under `nested: {{{column}: ...}}` with their types first"
                )
        for silver, mapping in self.silver.items():
            arrays: dict[str, list[str]] = {}
            if mapping.lines:
                arrays[mapping.lines.column] = list(mapping.lines.fields.values())
            history = mapping.columns.get("status_history") if silver == "orders" else None
            if history is not None and history.column:
                arrays[history.column] = STATUS_HISTORY_KEYS
            for column, keys in arrays.items():
                missing = [k for k in keys if k not in self.nested.get(column, {})]
                if missing:
                    raise ValueError(
                        f"silver {silver} decodes column {column!r} as a JSON array of objects: declare it "
                        f"under `nested` with the key(s) {', '.join(repr(k) for k in missing)} and their types "
                        f"(e.g. nested: {{{column}: {{{', '.join(f'{k}: string' for k in keys)}}}}})"
                    )

    def _check_null_if_invalid(self) -> None:
        """Only a typed, optional attribute may cost its value instead of its row: a key or a column
        every row must fill decides whether the row means anything, so its bad value rejects the row."""
        for column in self.null_if_invalid:
            if self.types.get(column, "string") == "string":
                raise ValueError(
                    f"null_if_invalid column {column!r} has no type under `types` (date, timestamp, ...): "
                    "only a typed value can be invalid"
                )
            if column in self.primary_key or column in self.not_null:
                raise ValueError(
                    f"null_if_invalid column {column!r} is a primary key or not_null column: "
                    "a row without it is rejected, not landed"
                )

    @property
    def globs(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    def encoding_for(self, relative_path: str) -> str:
        """The last matching override wins, so a specific glob can follow a broad one."""
        chosen = self.encoding
        for pattern, encoding in self.encoding_overrides.items():
            if fnmatch.fnmatch(relative_path, pattern):
                chosen = encoding
        return chosen

    def required_columns(self) -> list[str]:
        """Columns every file must carry: keys, typed columns, mapped columns, unless declared optional."""
        needed: list[str] = [*self.primary_key, *self.types, *self.nested, *self.required, *self.not_null]
        for mapping in self.silver.values():
            for ref in mapping.columns.values():
                needed += ref.source_columns()
            if mapping.lines:
                needed.append(mapping.lines.column)
        seen: dict[str, None] = {}
        for column in needed:
            if column not in self.optional:
                seen.setdefault(column, None)
        return list(seen)

    def fingerprint(self, date_bounds: dict[str, Any] | None = None) -> str:
        """Hash of the reading rules: a file is re-read when they change, even with the same bytes.

        `date_bounds`: the plausible date bounds of its columns when they differ from the defaults.
        """
        reading = self.model_dump(
            include={
                "format",
                "delimiter",
                "encoding",
                "encoding_overrides",
                "sheet",
                "table",
                "primary_key",
                "types",
                "date_formats",
                "timestamp_formats",
                "decimal_comma",
                "not_null",
                "null_values",
                "null_if_invalid",
                "nested",
                "nested_not_null",
            },
        )
        # Keys absent from older fingerprints are left out at their defaults: adding them re-reads nothing.
        for key in ("decimal_comma", "not_null", "null_if_invalid", "nested", "nested_not_null"):
            if not reading[key]:
                del reading[key]
        if reading["null_values"] in (None, DEFAULT_NULL_VALUES):
            del reading["null_values"]
        if date_bounds:
            reading["date_bounds"] = date_bounds
        return hashlib.sha256(json.dumps(reading, sort_keys=True).encode()).hexdigest()[:16]


def _check_encoding(name: str) -> None:
    import codecs

    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise ValueError(f"unknown encoding {name!r}") from exc


class Freshness(_Strict):
    """Hours since the newest landed file before the quality gate warns or fails."""

    warn_hours: float = 26
    fail_hours: float = 50


class SourceConfig(_Strict):
    description: str = ""
    schedule: Schedule = "daily"
    freshness: Freshness = Field(default_factory=Freshness)
    null_values: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NULL_VALUES),
        description="CSV field texts that read as missing, for every entity that sets none (default: only empty)",
    )
    entities: dict[str, EntityConfig]

    @model_validator(mode="after")
    def _freshness_fits_schedule(self) -> SourceConfig:
        """A freshness SLA shorter than the gap between regular deliveries warns (or stops the
        publish) between every two of them: a source delivering weekly with the daily default
        would be 'stale' six days a week."""
        gap = SCHEDULE_HOURS[self.schedule]
        if "freshness" not in self.model_fields_set:
            if gap > SCHEDULE_HOURS["daily"]:
                raise ValueError(
                    f"schedule {self.schedule} needs its own freshness (the default warns after "
                    f"{self.freshness.warn_hours:g} h, a {self.schedule} source arrives up to {gap:g} h apart): "
                    f"set freshness: {{warn_hours: ..., fail_hours: ...}} above {gap:g}"
                )
        elif self.freshness.warn_hours < gap:
            raise ValueError(
                f"freshness.warn_hours {self.freshness.warn_hours:g} is shorter than the {self.schedule} "
                f"schedule's gap between deliveries ({gap:g} h): every regular gap would warn; raise it "
                "(and fail_hours) or fix the schedule"
            )
        if self.freshness.fail_hours < self.freshness.warn_hours:
            raise ValueError(
                f"freshness.fail_hours {self.freshness.fail_hours:g} is below warn_hours "
                f"{self.freshness.warn_hours:g}"
            )
        return self

    @model_validator(mode="after")
    def _entities_inherit(self) -> SourceConfig:
        for entity in self.entities.values():
            if entity.null_values is None:
                entity.null_values = list(self.null_values)
        return self


class SourcesConfig(RootModel[dict[str, SourceConfig]]):
    """`sources:` in cdp.yaml: source name -> its entities."""

    def names(self) -> list[str]:
        return list(self.root)

    def get(self, name: str) -> SourceConfig:
        from ingest.errors import UnknownSourceError

        if name not in self.root:
            raise UnknownSourceError(f"unknown source {name!r}; configured: {', '.join(self.root) or 'none'}")
        return self.root[name]


class Compaction(_Strict):
    """`ingest.compaction`: daily appends leave small files; a table with too many is compacted."""

    max_files: int = Field(
        default=64,
        ge=2,
        description="compact a bronze/silver/quarantine/meta table above this many data files",
    )
    target_bytes: int = Field(default=128 << 20, gt=0, description="size of a compacted data file")
    retain_hours: float = Field(
        default=168,
        ge=0,
        description="files replaced by a compaction are deleted (vacuum) only after this long: readers holding "
        "an older file list keep working",
    )


class DateBounds(_Strict):
    """The plausible range of one date/timestamp column; a value outside it is quarantined on landing."""

    earliest: date | None = Field(
        default=date(1990, 1, 1), description="no value before this day (null: none)"
    )
    days_ahead: int | None = Field(
        default=2,
        ge=0,
        description="no value after the day the row is ingested plus this many days (null: no upper bound)",
    )

    def on(self, today: date) -> tuple[date | None, date | None]:
        """(earliest, latest) day for rows ingested on `today` (None: unbounded on that side)."""
        return self.earliest, None if self.days_ahead is None else today + timedelta(days=self.days_ahead)


def _default_bounded_columns() -> dict[str, DateBounds]:
    return {
        "date_of_birth": DateBounds(earliest=date(1900, 1, 1), days_ahead=0),
        "expires_at": DateBounds(days_ahead=None),  # a coupon's expiry is legitimately in the future
    }


class PlausibleDates(_Strict):
    """`ingest.plausible_dates`: bounds of the typed date/timestamp columns, by the silver column they feed.

    A 9999-12-31 birthday or a ticket created in 2999 parses, lands and then wins every "latest"
    rule forever; checked on landing like a value that does not parse, it is quarantined instead
    (reason implausible_date / implausible_timestamp), so a full and a daily silver build see the
    same bronze. The upper bound follows the day each row is ingested, not the day silver is built.
    In a `null_if_invalid` column (a birthday) the value alone is: nulled and recorded, its row lands.
    """

    default: DateBounds = Field(
        default_factory=DateBounds, description="every typed date/timestamp column not named in `columns`"
    )
    columns: dict[str, DateBounds] = Field(
        default_factory=_default_bounded_columns,
        description="silver column -> its bounds; a source column feeding several takes the narrowest",
    )

    def for_entity(self, entity: EntityConfig) -> dict[str, DateBounds]:
        """Each typed date/timestamp column of `entity` -> its bounds, through the silver columns it feeds."""
        bounds: dict[str, DateBounds] = {}
        for column, column_type in entity.types.items():
            if column_type not in ("date", "timestamp"):
                continue
            fed = [
                name
                for mapping in entity.silver.values()
                for name, ref in mapping.columns.items()
                if ref.column == column and name in self.columns
            ]
            bounds[column] = _narrowest([self.columns[name] for name in fed]) if fed else self.default
        return bounds


def _narrowest(bounds: list[DateBounds]) -> DateBounds:
    earliest = [b.earliest for b in bounds if b.earliest is not None]
    ahead = [b.days_ahead for b in bounds if b.days_ahead is not None]
    return DateBounds(earliest=max(earliest, default=None), days_ahead=min(ahead, default=None))


class IngestSettings(_Strict):
    """`ingest:` in cdp.yaml: how the loader batches work (not what it loads)."""

    commit_rows: int = Field(
        default=1_000_000, gt=0, description="rows buffered per Delta commit; many files share a commit"
    )
    csv_block_bytes: int = Field(default=16 << 20, gt=0, description="CSV read block: the streaming unit")
    group_rows: int = Field(
        default=500_000,
        gt=0,
        description="rows of consecutive files checked together in one vectorised pass (bounds memory)",
    )
    workers: int = Field(
        default=2,
        ge=1,
        description="processes per stage: reading + checking one entity's files, building silver targets (1: none)",
    )
    unit_bytes: int = Field(
        default=64 << 20,
        gt=0,
        description="landing bytes per run of files handed to one worker (whole files, in landing order)",
    )
    retyped_share: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="share of unparseable values above which a typed column counts as retyped (fails the source)",
    )
    retyped_min_values: int = Field(default=20, ge=1, description="values needed before judging a retype")
    row_group_rows: int = Field(
        default=131_072,
        gt=0,
        description="rows per Parquet row group of bronze and silver (a reader decodes one whole: bounds memory)",
    )
    compaction: Compaction = Field(default_factory=lambda: Compaction())
    trust_file_stat: bool = Field(
        default=True,
        description="a file with the size and modification time of its last load is unchanged (not re-hashed)",
    )
    appends: bool = Field(
        default=True,
        description="a CSV/JSON-lines file whose earlier bytes are unchanged is read from where the last load ended",
    )
    plausible_dates: PlausibleDates = Field(default_factory=lambda: PlausibleDates())


class StandardizeSettings(_Strict):
    """`standardize:` in cdp.yaml: the controlled vocabularies and scoring rules of silver."""

    date_formats: list[str] = Field(default_factory=lambda: list(DEFAULT_DATE_FORMATS))
    timestamp_formats: list[str] = Field(default_factory=lambda: list(DEFAULT_TIMESTAMP_FORMATS))
    gender: dict[str, Literal["F", "M", "U"]] = Field(default_factory=dict)
    order_status: dict[str, str] = Field(default_factory=dict)
    legal_status_paths: list[str] = Field(default_factory=list)
    completeness_fields: list[str] = Field(
        default_factory=lambda: ["full_name", "date_of_birth", "gender", "email", "phone", "city"]
    )
    impute_country_from_phone_region: bool = True
    incremental: bool = Field(
        default=True,
        description="rebuild only the keys whose bronze rows changed since the last build (false: all)",
    )
    piece_rows: int = Field(
        default=500_000,
        gt=0,
        description="bronze rows built together in memory; larger tables are split by key into pieces",
    )


def sources_config(config: CdpConfig) -> SourcesConfig:
    return config.section("sources", SourcesConfig)


def ingest_settings(config: CdpConfig) -> IngestSettings:
    return config.section("ingest", IngestSettings)


def standardize_settings(config: CdpConfig) -> StandardizeSettings:
    return config.section("standardize", StandardizeSettings)
