"""Pseudonymised publishing: what analysts get is the mart with every direct identifier treated.

`pseudonymise_marts` reads the marts dbt built (build database, schema `marts`) and writes one
Parquet file per mart into `out_dir` with each column treated as the catalogue says (keyed hash,
mask, generalisation, drop), in one DuckDB `SELECT` per mart. The publish step swaps those files in,
so `marts/*.parquet` and `cdp.duckdb` never hold a name, email or phone in clear.

The marts listed in `privacy.publishing.restricted_marts` (the activation lists) are also written
with their full contact details, to `restricted/<mart>.parquet.enc`, encrypted with AES-256-GCM: ids
are still keyed hashes there (so they join with the analysts' marts), contact details are not.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from privacy import audit, pseudonymise
from privacy.catalogue import BUILD_MARTS_SCHEMA
from privacy.encryption import write_encrypted
from privacy.errors import CatalogueError
from privacy.keys import encryption_key, hmac_key
from privacy.layout import PrivacyPaths
from privacy.settings import PrivacySettings, load_settings
from warehouse.config import CdpConfig
from warehouse.publish import WritePlan, staging_connection, write_mart

log = logging.getLogger("cdp.privacy.publishing")


@dataclass
class MartTreatment:
    """How one mart's columns are published."""

    name: str
    select: list[str] = field(default_factory=list)
    treatments: dict[str, str] = field(default_factory=dict)
    unclassified: list[str] = field(default_factory=list)

    @property
    def hashed(self) -> list[str]:
        return [c for c, t in self.treatments.items() if t == "hmac"]

    @property
    def dropped(self) -> list[str]:
        return [c for c, t in self.treatments.items() if t == "drop"] + self.unclassified


def plan_mart(
    name: str, columns: list[tuple[str, str]], settings: PrivacySettings, *, restricted: bool = False
) -> MartTreatment:
    """Select items for one mart; `restricted` keeps everything but the keyed hashes of ids."""
    plan = MartTreatment(name)
    for column, duckdb_type in columns:
        spec = settings.catalogue.spec("marts", name, column)
        if spec is None:
            if settings.publishing.on_unclassified == "fail":
                raise CatalogueError(
                    f"marts/{name}.{column} has no classification in privacy.catalogue: publishing stopped "
                    "(publishing.on_unclassified: fail); classify it, then publish again"
                )
            plan.unclassified.append(column)
            continue
        treatment = spec.published_treatment
        if restricted:
            treatment = "hmac" if treatment == "hmac" else "keep"
        plan.treatments[column] = treatment
        item = pseudonymise.treated_column(column, duckdb_type, treatment, settings, f"marts/{name}.{column}")
        if item is not None:
            plan.select.append(item)
    if not plan.select:
        raise CatalogueError(f"marts/{name}: every column would be dropped; check privacy.catalogue")
    return plan


def pseudonymise_marts(
    config: CdpConfig,
    build_db: Path,
    out_dir: Path,
    *,
    marts: list[str] | None = None,
    restricted_dir: Path | None = None,
    batch_id: str | None = None,
    parts: dict[str, WritePlan] | None = None,
) -> dict[str, Any]:
    """Write `out_dir/<mart>.parquet` (pseudonymised) for every mart in `build_db`, and the restricted copies.

    A mart in `parts` is written as its plan says (`warehouse.publish.write_mart`: the same writer
    as the plain copy): a folder of monthly files, only the months its plan names (the month is
    read from the built column, before any treatment), or its published file carried forward with
    only the rows built since treated now.
    `marts` limits the marts (default: every table of the build's `marts` schema); restricted copies
    go to `restricted_dir` (default `restricted/` under the data root; a publish step may stage them
    and swap them in with the rest). Returns what was treated per mart; unclassified columns are
    withheld (or stop the publish with `publishing.on_unclassified: fail`) and logged.
    """
    settings = load_settings(config)
    key = hmac_key(config, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"marts": {}, "restricted": [], "withheld_unclassified": []}
    with staging_connection() as con:
        con.execute(f"attach {pseudonymise.literal(str(build_db))} as build (read_only)")
        available = _mart_columns(con)
        missing = sorted(set(marts or []) - set(available))
        if missing:
            raise CatalogueError(f"{build_db}: marts not built: {', '.join(missing)}")
        plans = {
            name: plan_mart(name, columns, settings)
            for name, columns in available.items()
            if marts is None or name in marts
        }
        for name, plan in plans.items():
            source = _build_table(name)
            write_mart(
                con,
                ", ".join(plan.select),
                source,
                out_dir,
                name,
                (parts or {}).get(name),
                # pseudonyms for just the rows written now (a carried mart: those built since)
                prepare=lambda rows, hashed=plan.hashed: pseudonymise.register_pseudonyms(
                    con, rows, hashed, key, settings
                ),
            )
            if plan.unclassified:
                log.warning("marts/%s: unclassified columns withheld: %s", name, ", ".join(plan.unclassified))
                summary["withheld_unclassified"] += [f"{name}.{c}" for c in plan.unclassified]
            summary["marts"][name] = {
                "columns": len(plan.select),
                "treated": {c: t for c, t in plan.treatments.items() if t != "keep"},
            }
            if name in settings.publishing.restricted_marts:
                target_dir = restricted_dir or PrivacyPaths.of(config).restricted
                _write_restricted(config, con, name, available[name], source, settings, target_dir)
                summary["restricted"].append(name)
    audit.record(
        config,
        "publish",
        target=",".join(sorted(summary["marts"])),
        detail={
            "out_dir": str(out_dir),
            "restricted": summary["restricted"],
            "withheld": summary["withheld_unclassified"],
        },
        batch_id=batch_id,
    )
    return summary


def _build_table(name: str) -> str:
    return f"build.{BUILD_MARTS_SCHEMA}.{pseudonymise.quote(name)}"


# The parts of the privacy section that decide what a published mart holds.
TREATMENT_SETTINGS = ("catalogue", "pseudonyms", "masking", "generalise", "publishing")


def treatment_fingerprint(config: CdpConfig) -> str:
    """Changes whenever `pseudonymise_marts` would write other files from the same built rows.

    It covers the treatment settings (`TREATMENT_SETTINGS`), the public ids of both keys (a
    rotated key re-publishes everything) and the code of this module and of the treatments.
    Publish keeps a mart whose rows and treatment fingerprint are unchanged as it was published.
    """
    settings = load_settings(config)
    section = config.raw.get("privacy") or {}
    parts = [
        json.dumps({k: section.get(k) for k in TREATMENT_SETTINGS}, sort_keys=True, default=str),
        hmac_key(config, settings).key_id,
        encryption_key(config, settings).key_id,
        *(
            Path(module.__file__).read_text(encoding="utf-8")
            for module in (pseudonymise, sys.modules[__name__])
        ),
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def missing_restricted(config: CdpConfig) -> list[str]:
    """Restricted marts whose encrypted copy is missing: publish writes them even when unchanged."""
    settings = load_settings(config)
    paths = PrivacyPaths.of(config)
    return [name for name in settings.publishing.restricted_marts if not paths.restricted_mart(name).exists()]


def _mart_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = 'build' and table_schema = ? order by table_name, ordinal_position",
        [BUILD_MARTS_SCHEMA],
    ).fetchall()
    marts: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        marts.setdefault(table, []).append((column, data_type))
    return marts


def _write_restricted(
    config: CdpConfig,
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: list[tuple[str, str]],
    source: str,
    settings: PrivacySettings,
    target_dir: Path,
) -> None:
    """The full-identifier copy goes to disk only encrypted: Parquet bytes in memory, then AES-GCM."""
    plan = plan_mart(name, columns, settings, restricted=True)
    table = con.sql(f"select {', '.join(plan.select)} from {source}").to_arrow_table()
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    write_encrypted(
        buffer.getvalue(), PrivacyPaths.of(config).restricted_mart(name), encryption_key(config, settings)
    )
