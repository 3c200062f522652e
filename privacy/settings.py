"""The `privacy:` section of cdp.yaml, validated in one place.

Data protection officers change the catalogue, the roles and the retention periods far more often
than anyone changes code, so every one of those decisions is configuration, checked here on load:
a role that names an unknown treatment, a national id that some analyst output would keep, or a
retention shorter than the legal minimum fails with the key that is wrong.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warehouse.config import CdpConfig

SECTION = "privacy"

Classification = Literal["direct", "quasi", "sensitive", "none"]
Treatment = Literal["keep", "hmac", "mask_phone", "mask_email", "mask_name", "generalise", "drop"]
# What a column's values point at, so erasure can find a person's rows in any table:
# plain identifiers are compared after normalisation; `record_ids` is a list of record ids;
# `identifier` is any contact identifier (email, phone, member id, ...); `raw_row` is a rejected
# row's text (searched for the person's identifiers); `text` is free text whose mentions of the
# person are redacted rather than the row deleted.
Kind = Literal[
    "record_id",
    "customer_id",
    "order_id",
    "email",
    "phone",
    "name",
    "member_id",
    "device_id",
    "social_handle",
    "national_id",
    "identifier",
    "record_ids",
    "raw_row",
    "text",
]
# Without an explicit treatment a column is published the safe way for its class.
DEFAULT_TREATMENT: dict[str, Treatment] = {
    "direct": "drop",
    "sensitive": "drop",
    "quasi": "keep",
    "none": "keep",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ColumnSpec(_Section):
    """One column's classification: class, grade, treatment in analyst outputs, what it identifies."""

    classification: Classification = Field(alias="class")
    grade: int = Field(ge=1, le=4)  # 1 public, 2 internal, 3 confidential, 4 restricted
    treatment: Treatment | None = None
    identifies: Kind | None = None

    @property
    def published_treatment(self) -> Treatment:
        return self.treatment or DEFAULT_TREATMENT[self.classification]


class CatalogueSettings(_Section):
    """Column name (or glob) -> spec for every table, plus per-table overrides.

    Lookup order for column C of table L/T: an entry of `tables` whose key matches "L/T" (exact
    key before glob keys) naming C exactly, then by glob; then `columns` exactly, then by glob.
    """

    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    tables: dict[str, dict[str, ColumnSpec]] = Field(default_factory=dict)

    def spec(self, layer: str, table: str, column: str) -> ColumnSpec | None:
        name = f"{layer}/{table}"
        table_keys = sorted(
            (key for key in self.tables if fnmatch.fnmatchcase(name, key)),
            key=lambda key: (key != name, key),
        )
        for mapping in [*(self.tables[key] for key in table_keys), self.columns]:
            found = _lookup(mapping, column)
            if found is not None:
                return found
        return None


def _lookup(mapping: dict[str, ColumnSpec], column: str) -> ColumnSpec | None:
    if column in mapping:
        return mapping[column]
    for pattern in sorted(mapping):
        if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(column, pattern):
            return mapping[pattern]
    return None


class RoleSettings(_Section):
    """What one role may read: marts with their columns ("*" = every published column)."""

    description: str
    marts: dict[str, list[str] | Literal["*"]] = Field(default_factory=dict)
    restricted: list[str] = Field(default_factory=list)  # restricted (full-identifier) marts
    audit_log: bool = False


class KeySettings(_Section):
    """Where the secrets are: an environment variable first, else a key file.

    Key files must live outside the data root and outside the repository (checked on use).
    """

    hmac_env: str = "CDP_HMAC_KEY"
    hmac_file: str = "~/.config/cdp/hmac.key"
    encryption_env: str = "CDP_ENCRYPTION_KEY"
    encryption_file: str = "~/.config/cdp/encryption.key"
    min_hmac_bytes: int = Field(32, ge=16)


class PseudonymSettings(_Section):
    hex_chars: int = Field(32, ge=16, le=64)  # 32 hex = 128 bits of HMAC-SHA256


class MaskSettings(_Section):
    phone_national_digits: int = Field(11, ge=6)  # national number = the last N digits
    phone_keep_first: int = Field(3, ge=0)
    phone_keep_last: int = Field(4, ge=0)
    email_keep_first: int = Field(1, ge=0)
    name_keep_first: int = Field(1, ge=0)
    phone_fill: str = "****"  # 138****8000
    email_fill: str = "***"  # j***@example.com
    name_fill: str = "**"  # 王**


class GeneraliseSettings(_Section):
    date: Literal["year", "month"] = "year"
    timestamp: Literal["year", "month", "day"] = "month"
    text_keep_chars: int = Field(3, ge=0)


class PublishingSettings(_Section):
    restricted_marts: list[str] = Field(default_factory=lambda: ["activation_lists"])
    on_unclassified: Literal["drop", "fail"] = "drop"


class ConsentSettings(_Section):
    """Purposes and the consent column that records each; null consent means no consent."""

    purposes: dict[str, str] = Field(
        default_factory=lambda: {
            "marketing_email": "consent_email",
            "marketing_sms": "consent_sms",
            "marketing_wechat": "consent_wechat",
            "profiling": "consent_profiling",
        }
    )
    channels: dict[str, str] = Field(
        default_factory=lambda: {
            "email": "marketing_email",
            "sms": "marketing_sms",
            "wechat": "marketing_wechat",
        }
    )
    # When a record says nothing about when consent changed, these columns date it instead.
    timestamp_columns: list[str] = Field(
        default_factory=lambda: ["consent_updated_at", "updated_at", "created_at"]
    )


class ErasureSettings(_Section):
    phone_match_digits: int = Field(11, ge=7)  # phones are the same person when these last digits agree
    sweep: bool = True  # after erasing, search every file under the data root for the erased values
    min_sweep_chars: int = Field(4, ge=2)
    max_customers: int = Field(
        10, ge=1
    )  # a request reaching more customers through shared contacts is refused


class RetentionSettings(_Section):
    landing_days: int | None = Field(30, ge=1)  # loaded landing files older than this are deleted
    full_backup_days: int = Field(92, ge=92)  # legal minimum: 3 months
    incremental_backup_days: int = Field(183, ge=183)  # legal minimum: 6 months


class BackupSettings(_Section):
    root: str = "~/.local/share/cdp/backups"
    exclude: list[str] = Field(default_factory=lambda: ["build/*", "roles/*", "*.wal", "*.tmp"])
    encrypt: bool = True
    chunk_bytes: int = Field(4 << 20, ge=4096)
    full_weekday: int = Field(6, ge=0, le=6)  # the daily DAG run takes a full backup on this day (0 = Monday)
    drill_months: list[int] = Field(default_factory=lambda: [1, 4, 7, 10])  # quarterly restore drill ...
    drill_day: int = Field(1, ge=1, le=28)  # ... on this day of those months


class PrivacySettings(_Section):
    keys: KeySettings = Field(default_factory=KeySettings)
    pseudonyms: PseudonymSettings = Field(default_factory=PseudonymSettings)
    masking: MaskSettings = Field(default_factory=MaskSettings)
    generalise: GeneraliseSettings = Field(default_factory=GeneraliseSettings)
    publishing: PublishingSettings = Field(default_factory=PublishingSettings)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    erasure: ErasureSettings = Field(default_factory=ErasureSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    roles: dict[str, RoleSettings] = Field(default_factory=dict)
    catalogue: CatalogueSettings = Field(default_factory=CatalogueSettings)

    @field_validator("roles")
    @classmethod
    def _role_names(cls, roles: dict[str, RoleSettings]) -> dict[str, RoleSettings]:
        for name in roles:
            if not name.replace("_", "").isalnum() or not name.islower():
                raise ValueError(f"role name {name!r}: use lower-case letters, digits and _")
        return roles

    @model_validator(mode="after")
    def _national_id_never_published(self) -> PrivacySettings:
        """National ids are never needed downstream: no analyst output may carry one."""
        for key, columns in [("columns", self.catalogue.columns), *self.catalogue.tables.items()]:
            for column, spec in columns.items():
                if spec.identifies == "national_id" and spec.published_treatment != "drop":
                    raise ValueError(f"catalogue {key}.{column}: a national id must have treatment drop")
        return self

    @model_validator(mode="after")
    def _restricted_marts_exist(self) -> PrivacySettings:
        for role, settings in self.roles.items():
            unknown = set(settings.restricted) - set(self.publishing.restricted_marts)
            if unknown:
                raise ValueError(
                    f"roles.{role}.restricted names {sorted(unknown)}, which are not in "
                    f"publishing.restricted_marts {self.publishing.restricted_marts}"
                )
        return self


def load_settings(config: CdpConfig) -> PrivacySettings:
    return config.section(SECTION, PrivacySettings)


def config_path(config: CdpConfig, value: str) -> Path:
    """A path from the section: `~` expanded, relative paths against the directory of cdp.yaml."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (config.base_dir / path).resolve()
