"""The two ways in: resolve the lake's silver customer records, or any identity file.

`resolve_lake` is the pipeline stage (incremental against `lake/identity`, `full` rebuilds);
`resolve_file` is `cdp resolve --input --output`: same engine, any table, the output location
checked before resolving and the result written to a temporary file first and renamed into place,
so a failure never leaves a partial output; the saved state (--state) is written only after it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from identity_resolution import engine, store
from identity_resolution.overrides import read_overrides
from identity_resolution.records import IdentityInputError, validate_records
from identity_resolution.settings import IdentitySettings, load_settings, manual_overrides_path
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.errors import CdpError
from warehouse.paths import LakePaths

log = logging.getLogger(__name__)

SILVER_ENTITY = "customer_records"
OUTPUT_COLUMNS = (
    "record_id",
    "customer_id",
    "source",
    "link_rule",
    "match_probability",
    "match_weight",
    "linked_to_record_id",
    "evidence",
)


class IdentityOutputError(CdpError):
    """The resolved records cannot be written where they were asked for."""

    exit_code = 2


def _overrides(config: CdpConfig, settings: IdentitySettings, lake_dir: Path | None) -> pl.DataFrame | None:
    frames = []
    path = manual_overrides_path(config, settings)
    if path is not None:
        frames.append(read_overrides(path))
    if lake_dir is not None:
        saved = store.load_overrides(lake_dir)
        if saved is not None:
            frames.append(saved)
    columns = ["record_id_a", "record_id_b", "action"]
    return pl.concat([f.select(columns) for f in frames]) if frames else None


def run(
    records: pl.DataFrame,
    config: CdpConfig,
    state_dir: Path | None,
    *,
    full: bool,
    run_id: str,
    where: str,
    profile: pl.DataFrame | None = None,
) -> engine.Resolution:
    """Validate, load the saved graph (if any) and resolve; the caller saves the result (`save`)
    once whatever it owes its own reader is written, so a failure before that leaves the state
    as it was."""
    settings = load_settings(config)
    validated = validate_records(records, where)
    previous = store.load_saved_graph(state_dir) if state_dir is not None else None
    resolution = engine.resolve(
        validated,
        settings,
        default_region=config.default_phone_region,
        run_id=run_id,
        resolved_at=datetime.now().replace(microsecond=0),
        previous=previous,
        full=full,
        overrides=_overrides(config, settings, state_dir),
        profile=profile,
    )
    return resolution


def save(state_dir: Path, resolution: engine.Resolution, config: CdpConfig, run_id: str) -> None:
    """The identity tables and the graph the next run continues from."""
    store.save_resolution(state_dir, resolution, load_settings(config).comparisons, run_id)


def resolve_lake(
    config: CdpConfig, batch_id: str, full: bool = False, retain_hours: float | None = None
) -> dict[str, Any]:
    """Pipeline stage: silver customer_records -> lake/identity/*. With `retain_hours`, the
    copies of the identity tables replaced longer ago than that are vacuumed afterwards."""
    paths = LakePaths.at(config.data_root)
    silver = paths.silver(SILVER_ENTITY)
    if not delta.exists(silver):
        log.warning("resolve: %s does not exist yet (nothing ingested); skipped", silver)
        return {
            "stage": "resolve",
            "batch_id": batch_id,
            "status": "skipped",
            "reason": "no silver customer_records",
        }
    records = delta.read(silver)
    identity_dir = paths.identity(store.LINKS).parent
    resolution = run(
        records, config, identity_dir, full=full, run_id=batch_id, where=str(silver), profile=records
    )
    save(identity_dir, resolution, config, batch_id)
    vacuumed = store.vacuum_replaced(identity_dir, retain_hours) if retain_hours is not None else 0
    return {
        "stage": "resolve",
        "batch_id": batch_id,
        "status": "ok",
        **resolution.stats,
        "vacuumed_files": vacuumed,
    }


def read_identity_file(path: Path) -> pl.DataFrame:
    """Parquet (the contract), or CSV for convenience; unreadable files are a clean error."""
    if not path.is_file():
        raise IdentityInputError(f"{path}: input file not found")
    try:
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, infer_schema=False)
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise IdentityInputError(
            f"{path}: cannot read the identity records as {'CSV' if path.suffix.lower() == '.csv' else 'Parquet'}: {exc}"
        ) from exc


def _temporary_file(output: Path, folder: Path) -> str:
    """A new empty file in `folder` named after `output` and hidden (`.out.parquet.x1y2.tmp`)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    return temporary


def check_writable(output: Path) -> None:
    """Fail before resolving, not after: an output that cannot be written would otherwise be found
    out only once the work is done. The nearest existing folder on the way must be a folder that
    takes the temporary file `write_atomically` will write (tried, then removed)."""
    if output.is_dir():
        raise IdentityOutputError(
            f"{output}: the output is a folder; give a file name such as {output / 'out.parquet'}"
        )
    existing = next(folder for folder in [output.parent, *output.parent.parents] if folder.exists())
    if not existing.is_dir():
        raise IdentityOutputError(
            f"{output}: cannot write the output: {existing} is a file, not a folder; choose another --output"
        )
    try:
        Path(_temporary_file(output, existing)).unlink()
    except OSError as exc:
        raise IdentityOutputError(
            f"{output}: cannot write the output in {existing} ({exc.strerror}); choose another --output "
            "or fix the folder's permissions"
        ) from exc


def write_atomically(frame: pl.DataFrame, output: Path) -> None:
    """Write next to the target and rename: readers see the old file or the whole new one."""
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_file(output, output.parent)
    try:
        frame.write_parquet(temporary)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def resolve_file(
    input_path: Path,
    output_path: Path,
    config: CdpConfig,
    *,
    full: bool = False,
    state_dir: Path | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """`cdp resolve --input --output`: one row per input record with its customer_id.

    The output goes before the state: a run whose output cannot be written must not leave a saved
    graph that the next run would continue from as if its output had been delivered.
    """
    check_writable(output_path)
    records = read_identity_file(input_path)
    run_id = run_id or datetime.now().strftime("%Y%m%dT%H%M%S")
    resolution = run(records, config, state_dir, full=full, run_id=run_id, where=str(input_path))
    write_atomically(resolution.links.select(OUTPUT_COLUMNS), output_path)
    if state_dir is not None:
        save(state_dir, resolution, config, run_id)
    return {"input": str(input_path), "output": str(output_path), **resolution.stats}
