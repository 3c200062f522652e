"""Where privacy's own outputs live under the data root, next to `warehouse.paths.LakePaths`.

| path | what |
|---|---|
| `lake/audit/audit_log/` | append-only Delta audit log |
| `lake/privacy/suppression/` | keyed hashes of erased people's identifiers (Delta) |
| `restricted/<mart>.parquet.enc` | full-identifier marts, AES-256-GCM encrypted |
| `roles/<role>.duckdb` | one database per role with only what the role may read |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

RESTRICTED_SUFFIX = ".parquet.enc"


@dataclass(frozen=True)
class PrivacyPaths:
    lake: LakePaths

    @classmethod
    def of(cls, config: CdpConfig) -> PrivacyPaths:
        return cls(LakePaths.at(config.data_root))

    @property
    def root(self) -> Path:
        return self.lake.root

    @property
    def audit_log(self) -> Path:
        return self.lake.lake / "audit" / "audit_log"

    @property
    def suppression(self) -> Path:
        return self.lake.lake / "privacy" / "suppression"

    @property
    def restricted(self) -> Path:
        return self.root / "restricted"

    def restricted_mart(self, name: str) -> Path:
        return self.restricted / f"{name}{RESTRICTED_SUFFIX}"

    @property
    def roles(self) -> Path:
        return self.root / "roles"

    def role_db(self, role: str) -> Path:
        return self.roles / f"{role}.duckdb"
