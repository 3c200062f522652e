"""Small frames the suites judge that no single lake table holds (`derived.*` in suite queries).

- `freshness`: per configured source, hours since its newest landed file vs its SLA (and, for a
  source that never landed one, hours since the pipeline first loaded anything);
- `data_freshness`: per source and silver table, the age of the newest business date it holds
  (order, event, ticket time) at the run's logical moment vs `quality.data_freshness`;
- `volumes`: per source entity, rows added by this run against the recent runs (robust z-score; a
  file re-delivered whole adds its rows minus those it replaces);
- `fill_rates`: per bronze column, the share of non-empty values this run landed against the
  recent runs (the history kept in `lake/quality/fill_profile`, one small row per run and column);
- `bronze_profile`: per bronze table, the structure of its columns and this run's rows.

Each is a pure function of plain inputs (frames, settings, a clock) so tests can pin them, plus
a builder that gathers those inputs through the catalog (`quality.gate` registers the builders),
one module per kind: `timeliness`, `volumes`, `fill_rates`, `structure`; `lake` reads the load
manifest for them and `robust` is the median/MAD spread the drift rules share. A builder
returns None when its inputs do not exist yet, which skips the suites that read it.
"""

from __future__ import annotations

from quality.derived.fill_rates import (
    FILL_PROFILE_SCHEMA,
    bronze_fill_counts,
    build_fill_rates,
    fill_batches,
    fill_drift,
)
from quality.derived.lake import current_batch, landed_per_batch
from quality.derived.structure import build_bronze_profile, expected_bronze_columns
from quality.derived.timeliness import (
    DATED_SCHEMA,
    build_data_freshness,
    build_freshness,
    data_freshness,
    data_freshness_slas,
    freshness,
    freshness_slas,
)
from quality.derived.volumes import build_volumes, volumes

__all__ = [
    "DATED_SCHEMA",
    "FILL_PROFILE_SCHEMA",
    "bronze_fill_counts",
    "build_bronze_profile",
    "build_data_freshness",
    "build_fill_rates",
    "build_freshness",
    "build_volumes",
    "current_batch",
    "data_freshness",
    "data_freshness_slas",
    "expected_bronze_columns",
    "fill_batches",
    "fill_drift",
    "freshness",
    "freshness_slas",
    "landed_per_batch",
    "volumes",
]
