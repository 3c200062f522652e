"""The pipeline's stages as plain functions: the one API that both the Airflow DAG and `cdp run` call.

Each stage takes the configuration (and, where it matters, the run's logical date and batch id),
does its work through the packages below and returns a small JSON-serialisable summary that Airflow
keeps as XCom and `cdp run` prints. Stages are idempotent: running one twice for the same inputs
gives the same lake.

Order: ingest (per source) -> standardize -> resolve -> quality gate -> dbt marts -> publish.

Every stage holds the data root's lock while it runs (`warehouse.locks`: exclusive, per stage, so
a backup or an operator's erasure can run between two stages but never inside one); a stage that
finds the root busy longer than `locks.wait_seconds` raises DataRootBusy, which the DAG retries.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warehouse import delta, inventory
from warehouse.config import CdpConfig, ConfigError
from warehouse.errors import CdpError
from warehouse.locks import DataRootBusy, data_root_lock
from warehouse.paths import LakePaths

if TYPE_CHECKING:  # the loader (polars, duckdb) loads inside the stage, not with this module
    import polars as pl

    from ingest.loader import FileChoices

log = logging.getLogger("cdp.pipeline")

Summary = dict[str, Any]

STAGES = ("ingest", "standardize", "resolve", "quality_gate", "build_marts", "publish")


def source_names(config: CdpConfig) -> list[str]:
    """Names of the configured sources, in configuration order (one ingest task each)."""
    from ingest.config import sources_config

    return sources_config(config).names()


def ingest(config: CdpConfig, source: str, batch_id: str, choices: FileChoices | None = None) -> Summary:
    """Land one source's new and changed files in bronze; bad rows go to quarantine.

    Erased people stay erased: the suppression list is handed to the loader as a row filter, so a
    re-delivered old export lands without them (ingest itself knows nothing of privacy).
    `choices`: what the person running ingest decided about particular files (`cdp ingest
    --accept-empty`, `--reread`); the DAG never passes any.
    """
    from ingest.loader import FileChoices, load_source

    with data_root_lock(config, f"ingest {source}"):
        row_filter = _suppression(config)
        loaded = load_source(config, source, batch_id, row_filter, choices or FileChoices())
    return {"stage": "ingest", **loaded}


def _suppression(config: CdpConfig) -> Any:
    """The loader's row filter from `privacy.suppression`, or None while nobody has been erased.

    The list is loaded once per ingest call; `row_mask` is what `drop_suppressed` filters by (the
    loader needs the mask to count what it drops per file), `raw_mask` judges quarantine rows.
    """
    from ingest.loader import RowFilter
    from privacy.suppression import Suppressor

    suppressor = Suppressor(config)
    if suppressor.empty:
        return None
    return RowFilter(landed=suppressor.row_mask, rejected=suppressor.raw_mask)


def standardize(config: CdpConfig, batch_id: str) -> Summary:
    """Bronze -> silver: typed, standardized, deduplicated entities."""
    from ingest.standardize import standardize as build_silver

    with data_root_lock(config, "standardize"):
        return build_silver(config, batch_id)


def resolve(config: CdpConfig, batch_id: str) -> Summary:
    """Silver customer records -> stable customer ids, links with evidence, golden records.

    The identity tables are rewritten on every run; their replaced copies are vacuumed after the
    lake's retention for replaced files (`ingest.compaction.retain_hours`)."""
    from identity_resolution.service import resolve_lake
    from ingest.config import ingest_settings

    for warning in untrusted_sources(config):
        log.warning("%s", warning)
    with data_root_lock(config, "resolve"):
        return resolve_lake(config, batch_id, retain_hours=ingest_settings(config).compaction.retain_hours)


def untrusted_sources(config: CdpConfig) -> list[str]:
    """A configured source missing from identity.survivorship.source_trust ranks below every listed
    one wherever a golden attribute's rule is most_trusted_source (date of birth, national id,
    member id): said once per run, since a newly added source lands there without anyone choosing it."""
    from identity_resolution.settings import load_settings

    trusted = set(load_settings(config).survivorship.source_trust)
    missing = [name for name in source_names(config) if name not in trusted]
    if not missing:
        return []
    return [
        f"sources not in identity.survivorship.source_trust: {', '.join(missing)}; their values rank below "
        "every listed source's where a golden attribute's rule is most_trusted_source (add them to the list "
        "in the order you trust them)"
    ]


def quality_gate(config: CdpConfig, layer: str, batch_id: str) -> Summary:
    """Run the layer's expectation suites; a critical failure raises and stops the publish.

    `silver` (after resolve) also runs the bronze suites; `gold` judges dbt's build database.
    A daily run's row-level rules judge only the rows added since the last passing gate
    (`quality.incremental`; the summary's `scope` says which); table-level checks cover whole tables.
    """
    from quality.gate import gate_layers, run_gate

    with data_root_lock(config, f"quality gate {layer}"):
        report = run_gate(config, gate_layers(layer), batch_id)
    return {"stage": "quality_gate", "layer": layer, "batch_id": batch_id, **report.summary()}


def build_marts(config: CdpConfig, batch_id: str) -> Summary:
    """`dbt build` of every mart into the build database (never the published one)."""
    from warehouse.publish import build_marts as dbt_build_marts

    with data_root_lock(config, "build marts"):
        built = dbt_build_marts(config, batch_id)
    return {"stage": "build_marts", "batch_id": batch_id, "status": "ok", **built}


def publish(config: CdpConfig, batch_id: str, with_docs: bool = True) -> Summary:
    """Swap the freshly built marts in atomically: Parquet under marts/ and tables in cdp.duckdb.

    Marts whose rows and treatment did not change since the last publish are kept as published
    (Parquet, cdp.duckdb and the role databases' tables alike); the rest are rewritten. Every
    publish goes through here (the DAG, `cdp run`, `cdp marts publish`): the marts dbt builds carry
    names, emails and phones in clear, which only the pseudonymisation below keeps out of marts/.
    """
    from privacy.publishing import missing_restricted, pseudonymise_marts, treatment_fingerprint
    from privacy.roles import publish_roles
    from warehouse.publish import publish as publish_marts

    def pseudonymised(
        build_db: Path, out_dir: Path, marts: list[str], parts: dict[str, Any]
    ) -> dict[str, Any]:
        """Analyst-facing marts carry no direct identifiers; full contacts only in restricted/."""
        return pseudonymise_marts(config, build_db, out_dir, marts=marts, batch_id=batch_id, parts=parts)

    with data_root_lock(config, "publish"):
        result = publish_marts(
            config,
            batch_id,
            stage_marts=pseudonymised,
            treatment=treatment_fingerprint(config),
            rewrite=missing_restricted(config),
            with_docs=with_docs,
        ).summary()
        roles = publish_roles(config, batch_id=batch_id, reuse=True)
    return {
        "stage": "publish",
        "batch_id": batch_id,
        "status": "ok",
        **result,
        "role_databases": sorted(roles),
    }


class RunIncomplete(CdpError):
    """Files of this run failed to land: the marts were published without their rows."""


def summarize(config: CdpConfig, batch_id: str) -> Summary:
    """What a person wants to see after a run: rows per layer, customers, quality, output paths,
    and the landing files of this batch that failed to load (`failed_files`)."""
    with data_root_lock(config, "summary"):  # writes runs/ and the audit log
        return _summarize(config, batch_id)


def _summarize(config: CdpConfig, batch_id: str) -> Summary:
    paths = LakePaths.at(config.data_root)
    counts = inventory.layer_counts(paths)
    summary: Summary = {
        "stage": "summary",
        "batch_id": batch_id,
        "failed_files": _failed_files(paths, batch_id),
        "layers": {layer: sum(tables.values()) for layer, tables in counts.items()},
        "tables": counts,
        "customers": _customers_resolved(paths),
        "quality": _quality_score(paths),
        "quality_docs": _quality_docs(paths),
        "data_root": str(paths.root),
        "marts": str(paths.marts),
        "mart_names": list(paths.published_marts()),
        "duckdb": str(paths.duckdb),
    }
    _write_run_summary(paths, batch_id, summary)
    _audit_run(config, batch_id, summary)
    return summary


def finish_run(config: CdpConfig, batch_id: str) -> Summary:
    """The DAG's last task: the run's summary, then a failure if a file of this run did not land.

    A failing source does not stop the others (its ingest task fails, standardize runs anyway and
    the marts are published from the rest), so without this the DAG run would end `success` and
    nobody would be told that a source's new data is missing.
    """
    summary = summarize(config, batch_id)
    failed = summary["failed_files"]
    if failed:
        lines = "\n".join(f"  - {f['source']}/{f['entity']}: {f['file']}: {f['message']}" for f in failed)
        sources = sorted({f["source"] for f in failed})
        raise RunIncomplete(
            f"run {batch_id} published the marts without {len(failed)} landing file(s) that failed "
            f"to load:\n{lines}\nFix or replace the file(s) under {LakePaths.at(config.data_root).landing}, "
            "then re-run "
            f"the day: clear the failed ingest task(s) of {', '.join(sources)} with their downstream "
            f"tasks (or `cdp run --source {' --source '.join(sources)}`)."
        )
    return summary


def _failed_files(paths: LakePaths, batch_id: str) -> list[dict[str, str]]:
    """This batch's files whose latest load failed, less those since removed from landing/ (given up;
    a database table, `dsn#table`, always counts)."""
    from ingest.tables import failing_files

    failed = failing_files(paths.meta("load_manifest"), batch_id)
    return [
        row
        for row in failed.iter_rows(named=True)
        if "://" in row["file"] or (paths.landing / row["file"]).exists()
    ]


def _audit_run(config: CdpConfig, batch_id: str, summary: Summary) -> None:
    """Every pipeline run is in the append-only audit log (issue 8), with what it produced."""
    from privacy import audit

    audit.record(
        config,
        "pipeline_run",
        target=batch_id,
        detail={"layers": summary.get("layers"), "customers": summary.get("customers")},
        batch_id=batch_id,
    )


def _customers_resolved(paths: LakePaths) -> int | None:
    """Distinct customer ids after identity resolution (None before the first resolve)."""
    golden = paths.identity("golden_customer")
    return delta.row_count(golden) if delta.exists(golden) else None


def _quality_score(paths: LakePaths) -> dict[str, Any] | None:
    """The latest run's quality score: share of checked rows that passed, per scope (see quality_score)."""
    results = paths.lake / "quality" / "dq_results"
    if not delta.exists(results):
        return None
    import polars as pl

    frame = delta.scan(results)
    latest = frame.select(pl.col("run_id").max()).collect().item()
    if latest is None:  # the table exists but no gate has judged anything yet: no score, not 0.0
        return None
    has_scope = "scope" in frame.collect_schema().names()
    columns = ["passed", "checked", "success", *(["scope"] if has_scope else [])]
    return {
        "run_id": latest,
        **quality_score(frame.filter(pl.col("run_id") == latest).select(columns).collect()),
    }


SCOPE_WORDS = {"full": "whole tables", "changed": "changed rows only"}


def quality_score(results: pl.DataFrame) -> dict[str, Any]:
    """A run's score per scope, and the pooled `score` said for what it is.

    A daily gate judges the event-scale tables' rows added since the last passing gate
    (`dq_results.scope` = `changed`) and everything else whole (`full`): two populations, a day's
    3,124 new orders next to 972,887 customer records. Pooled, one hides the other, so
    `by_scope` scores each apart and `covers` names what `score` (kept for readers of older
    summaries) pools. Results written before `scope` existed count as `full`.
    """
    import polars as pl

    scope = pl.col("scope").fill_null("full") if "scope" in results.columns else pl.lit("full")
    per_scope = (
        results.with_columns(scope.alias("scope"))
        .group_by("scope")
        .agg(pl.col("passed").sum(), pl.col("checked").sum(), pl.len().alias("expectations"))
        .sort("scope", descending=True)  # full before changed
    )
    by_scope = {
        row["scope"]: {
            "covers": SCOPE_WORDS.get(row["scope"], row["scope"]),
            "score": round(row["passed"] / row["checked"], 4) if row["checked"] else None,
            "checked_rows": int(row["checked"]),
            "passed_rows": int(row["passed"]),
            "expectations": int(row["expectations"]),
        }
        for row in per_scope.iter_rows(named=True)
    }
    checked = int(per_scope["checked"].sum()) or 1
    covers = " + ".join(SCOPE_WORDS.get(name, name) for name in by_scope)
    return {
        "score": round(float(per_scope["passed"].sum()) / checked, 4),
        "covers": covers + (" (pooled; see by_scope)" if len(by_scope) > 1 else ""),
        "by_scope": by_scope,
        "failed_expectations": int((~results["success"]).sum()),
    }


def _quality_docs(paths: LakePaths) -> str | None:
    """The Great Expectations data docs the quality gates build (None before the first gate)."""
    index = paths.docs / "quality" / "index.html"
    return str(index) if index.is_file() else None


def _write_run_summary(paths: LakePaths, batch_id: str, summary: Summary) -> None:
    """Keep every run's summary (runs/<batch>.json) and the latest one for `cdp demo` to print."""
    paths.runs.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=2, default=str, ensure_ascii=False)
    (paths.runs / f"{batch_id}.json").write_text(text, encoding="utf-8")
    (paths.runs / "latest.json").write_text(text, encoding="utf-8")


def run_all(
    config: CdpConfig,
    batch_id: str,
    sources: list[str] | None = None,
    until: str | None = None,
) -> Summary:
    """Every stage in order, in this process; a failing source is recorded and the rest go on."""
    stages: list[Summary] = []
    failed: list[str] = []
    for source in sources or source_names(config):
        try:
            stages.append(ingest(config, source, batch_id))
        except (ConfigError, DataRootBusy):
            raise  # wrong for every source (cdp.yaml; another writer): say so once, not six times
        except Exception as exc:  # one broken source must not stop the others
            log.error("ingest %s failed: %s", source, exc)
            failed.append(source)
            stages.append({"stage": "ingest", "source": source, "status": "failed", "error": str(exc)})
    steps = [
        ("standardize", lambda: standardize(config, batch_id)),
        ("resolve", lambda: resolve(config, batch_id)),
        ("quality_gate", lambda: quality_gate(config, "silver", batch_id)),
        ("build_marts", lambda: build_marts(config, batch_id)),
        ("quality_gate", lambda: quality_gate(config, "gold", batch_id)),
        ("publish", lambda: publish(config, batch_id)),
    ]
    if until != "ingest":
        for name, step in steps:
            stages.append(step())
            if until == name and not (name == "quality_gate" and stages[-1].get("layer") == "silver"):
                break
    result = summarize(config, batch_id)
    result["stages"] = stages
    result["failed_sources"] = failed
    return result
