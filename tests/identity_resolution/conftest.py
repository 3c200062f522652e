"""Shared helpers for the identity resolution tests: small configs, records and scoring."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import polars as pl
import pytest

from identity_resolution.engine import Resolution, SavedGraph, resolve
from identity_resolution.records import validate_records
from identity_resolution.settings import IdentitySettings
from warehouse.config import CdpConfig

# Small random samples keep every test fast; the estimates are still good on these sizes.
FAST_MODEL = {"u_sample_pairs": 50_000, "em_sample_pairs": 200_000}
RUN_AT = datetime(2026, 1, 15, 3, 0, 0)


def fast_settings(**identity: Any) -> IdentitySettings:
    return IdentitySettings.model_validate({"model": FAST_MODEL, **identity})


def with_identity(config: CdpConfig, **identity: Any) -> CdpConfig:
    """The test config with its `identity:` section changed (fast model plus `identity`)."""
    raw = copy.deepcopy(config.raw)
    section = raw.setdefault("identity", {})
    section.setdefault("model", {}).update(FAST_MODEL)
    section.update(identity)
    return CdpConfig(path=config.path, raw=raw, data_root=config.data_root)


@pytest.fixture
def identity_config(config: CdpConfig) -> CdpConfig:
    return with_identity(config)


def records(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Identity records from dicts; every canonical column absent from a row is null."""
    return pl.DataFrame(rows, infer_schema_length=None)


def run(
    frame: pl.DataFrame,
    settings: IdentitySettings | None = None,
    previous: SavedGraph | None = None,
    *,
    full: bool = False,
    overrides: pl.DataFrame | None = None,
    region: str = "CN",
    run_id: str = "r1",
) -> Resolution:
    return resolve(
        validate_records(frame),
        settings or fast_settings(),
        default_region=region,
        run_id=run_id,
        resolved_at=RUN_AT,
        previous=previous,
        full=full,
        overrides=overrides,
    )


def customer_of(resolution: Resolution) -> dict[str, str]:
    return dict(resolution.links.select("record_id", "customer_id").iter_rows())


def partition(resolution: Resolution) -> set[frozenset[str]]:
    """The clusters as sets of record ids (ids aside): what 'same clusters' means."""
    groups = resolution.links.group_by("customer_id").agg(pl.col("record_id"))
    return {frozenset(ids) for ids in groups["record_id"].to_list()}
