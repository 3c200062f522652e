"""Great Expectations for one gate run: an offline ephemeral context, checkpoints, data docs.

Imported only when a gate runs (GX takes seconds to import). The context is ephemeral (suites come
from our YAML files, never from a GX project folder) with two things on disk:

- the validation results store, so the data docs index lists the silver and the gold gate of a
  run (they run in different processes) and the last `docs.keep_runs` runs for comparison;
- the data docs site, `data/docs/quality/index.html`.

Usage statistics are off (config and environment) and GX never looks for a newer version, so a
gate needs no network.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from quality.frames import UNLABELLED
from quality.scope import FULL
from quality.suite_spec import SuiteDefinitionError, SuiteSpec, rule_location

SITE_NAME = "quality"
# Above this many bytes GX skips fingerprinting a frame (an md5 over every value). The fingerprint
# only names the batch in GX's own metadata, which our run id and batch label already do, and on a
# million rows it costs as much as several expectations, so every frame skips it.
_NO_FINGERPRINT = 0

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


# Optional packages GX probes when it is imported and a gate never uses (we validate pandas frames
# only): while GX imports they read as not installed, so GX's compatibility layer skips them. Each
# costs seconds (pyspark; sqlalchemy ~1 s); one this process imported already is left alone.
HIDDEN_DURING_IMPORT = ("pyspark", "sqlalchemy")
# Packages GX requires but uses only inside a few expectations a gate may never run (KL divergence
# and KS tests, their altair charts): GX binds them at import, they load on first attribute use.
# scipy.stats and altair are ~9 s of GX's import on this machine (`python -X importtime`).
DEFERRED_DURING_IMPORT = ("scipy.stats", "altair")


class _DeferredFinder(importlib.abc.MetaPathFinder):
    """Finds the named modules as usual but hands them out lazily (`importlib.util.LazyLoader`)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextmanager
def _gx_import_guard() -> Iterator[None]:
    """Import GX without what it does not need now, and so that pyspark can never end the process.

    While GX imports, the packages of `HIDDEN_DURING_IMPORT` read as not installed (GX's own
    compatibility layer then skips them) and those of `DEFERRED_DURING_IMPORT` load on first use;
    both are lifted afterwards, so the rest of the process can still use Spark or SQLAlchemy.

    If pyspark was imported before, a second problem remains: its
    `sql.connect.utils.check_dependencies` takes a `__main__` with neither `__spec__` nor
    `__file__` for a doctest run and calls `sys.exit(0)` when Spark Connect's optional dependencies
    are missing. That is the case in `python -c ...`, embedded interpreters and pytest-xdist
    workers: the gate would end the process with status 0, a silent "pass". So an anonymous
    `__main__` gets a `__file__` for the duration of the import.
    """
    hidden = [name for name in HIDDEN_DURING_IMPORT if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    deferred = _DeferredFinder(tuple(n for n in DEFERRED_DURING_IMPORT if n not in sys.modules))
    sys.meta_path.insert(0, deferred)
    main = sys.modules.get("__main__")
    anonymous = main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__")
    if anonymous:
        main.__file__ = "<cdp>"  # type: ignore[union-attr]
    try:
        yield
    finally:
        if anonymous:
            del main.__file__  # type: ignore[union-attr]
        sys.meta_path.remove(deferred)
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def load_gx() -> Any:
    """`great_expectations` with its expectations registered, imported through `_gx_import_guard`."""
    with _gx_import_guard():
        import great_expectations as gx
        import great_expectations.expectations.registry  # registers the expectation types
    _quiet_gx()
    return gx


def _quiet_gx() -> None:
    import logging

    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = _NO_FINGERPRINT
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


class GxSession:
    """Runs suites on pandas frames and keeps what the data docs need."""

    def __init__(self, results_dir: Path, docs_dir: Path, sample_rows: int) -> None:
        gx = load_gx()
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
        )

        self._gx = gx
        self.results_dir = results_dir
        self.docs_dir = docs_dir
        self.sample_rows = sample_rows
        defaults = InMemoryStoreBackendDefaults()
        defaults.stores[defaults.validation_results_store_name]["store_backend"] = {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(results_dir),
        }
        project = DataContextConfig(
            store_backend_defaults=defaults,
            analytics_enabled=False,
            progress_bars={"globally": False, "metric_calculations": False},
            data_docs_sites={
                SITE_NAME: {
                    "class_name": "SiteBuilder",
                    "show_how_to_buttons": False,
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(docs_dir),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "site_section_builders": {"profiling": "0"},  # no profilers: skip the scan
                }
            },
        )
        self.context = gx.get_context(mode="ephemeral", project_config=project)
        self._datasources: dict[str, Any] = {}
        self._suites: dict[str, Any] = {}
        self._positions: dict[str, dict[str, int]] = {}
        self._identifiers: list[Any] = []

    def prepare(self, specs: list[SuiteSpec]) -> None:
        """Build every suite before any runs: a rule GX cannot build fails the gate at once.

        Also on a day when its suite has no rows to judge, so a typo is never a latent failure.
        """
        for spec in specs:
            self._suite(spec)

    def _suite(self, spec: SuiteSpec) -> Any:
        """The GX suite for a spec, added once; remembers which GX expectation is which rule."""
        if spec.name not in self._suites:
            from great_expectations.core import ExpectationSuite

            suite = ExpectationSuite(
                name=spec.name,
                expectations=_expectations(spec),
                meta={"layer": spec.layer, "entity": spec.entity, "description": spec.description},
            )
            suite = self.context.suites.add(suite)
            self._suites[spec.name] = suite
            self._positions[spec.name] = {str(e.id): i for i, e in enumerate(suite.expectations)}
        return self._suites[spec.name]

    def rule_index(self, spec: SuiteSpec, expectation_id: str | None) -> int:
        """Which of the spec's expectations a GX result belongs to (GX reorders results)."""
        return self._positions[spec.name][str(expectation_id)]

    def _datasource(self, spec: SuiteSpec) -> Any:
        """One pandas datasource per suite: GX re-serialises a datasource on every asset added."""
        if spec.name not in self._datasources:
            self._datasources[spec.name] = self.context.data_sources.add_pandas(spec.name)
        return self._datasources[spec.name]

    def validate(
        self,
        spec: SuiteSpec,
        label: str,
        frame: pd.DataFrame,
        parameters: dict[str, Any],
        run_name: str,
        run_time: datetime,
        scope: str = FULL,
    ) -> Any:
        """Run the suite's checkpoint on one batch; returns GX's ExpectationSuiteValidationResult.

        A labelled suite asks for the complete list of unexpected rows (its frames are small) so
        failures can be attributed to each row's source. A suite that judged only the rows added
        since the last passing gate says so in its asset name (the data docs' index lists it).
        """
        from great_expectations.core.run_identifier import RunIdentifier

        gx = self._gx
        suite = self._suite(spec)
        name = spec.name if label == UNLABELLED else f"{spec.name}.{label}"
        if scope != FULL:
            name = f"{name} ({scope} rows)"
        result_format: dict[str, Any] = {"result_format": "COMPLETE" if spec.label_by else "SUMMARY"}
        result_format["partial_unexpected_count"] = self.sample_rows
        batch = self._datasource(spec).add_dataframe_asset(name).add_batch_definition_whole_dataframe("batch")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[],
                result_format=result_format,
            )
        )
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters,
            run_id=RunIdentifier(run_name=run_name, run_time=run_time),
        )
        self._identifiers.extend(result.run_results.keys())
        return next(iter(result.run_results.values()))

    def build_docs(self, keep_runs: int) -> Path:
        """Render this run's results (older runs' pages stay), prune old runs, return index.html."""
        _prune_runs(self.results_dir, self.docs_dir / "validations", keep_runs)
        self.context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=self._identifiers)
        return self.docs_dir / "index.html"


def _prune_runs(results_dir: Path, pages_dir: Path, keep_runs: int) -> None:
    """Keep, per suite, the newest `keep_runs` runs that judged it (batch ids sort by time).

    Both the store and the site are laid out `<suite>/<run name>/...`. Counted per suite, not over
    all runs: a few `cdp quality --layer bronze` runs, or daily runs in which a changed-rows suite
    had nothing to judge, must not prune the last pipeline run's silver and gold pages away.
    """
    for suite in _dirs(results_dir):
        keep = set(sorted(run.name for run in _dirs(suite))[-keep_runs:])
        for run in _dirs(suite):
            if run.name not in keep:
                shutil.rmtree(run)
    for suite in _dirs(pages_dir):  # a page whose stored result is gone goes too
        stored = {run.name for run in _dirs(results_dir / suite.name)}
        for run in _dirs(suite):
            if run.name not in stored:
                shutil.rmtree(run)


def _dirs(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []


def _expectations(spec: SuiteSpec) -> list[Any]:
    """GX expectation objects of the spec's rules, in order; names the rule GX refuses.

    Handing GX configurations instead would let it drop a rule of an unknown type with a log line
    (`expect_..._betwen`): the suite would run one rule short and every later result would be
    read as its predecessor's (a critical rule reported as passing, under another rule's name).
    """
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    built = []
    for index, rule in enumerate(spec.expectations):
        try:
            built.append(ExpectationConfiguration(**rule.gx_config()).to_domain_obj())
        except Exception as exc:  # GX raises its own errors or pydantic's for bad kwargs
            reason = " ".join(str(exc).split())
            raise SuiteDefinitionError(
                f"{spec.path}: {rule_location(spec, index)}: Great Expectations cannot build "
                f"{rule.type} with kwargs {rule.kwargs}: {reason}"
            ) from exc
    return built
