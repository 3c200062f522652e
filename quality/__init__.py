"""Data quality gates: Great Expectations suites at every layer, a scorecard's raw facts, data docs.

`quality.gate.run_gate(config, layers, run_id)` is the one entry point (the pipeline's quality
stages and `cdp quality` call it). Suites are YAML files in `quality/suites/<layer>/`: a DuckDB
query over the lake (`quality.catalog`) and GX expectations tagged with a dimension and a severity
(`quality.suite_spec`). GX validates the frames offline (`quality.gx_session`); the outcomes
(`quality.outcomes`) go to `lake/quality/dq_results`, run metrics (`quality.metrics`) to
`dq_metrics`, incomplete records (`quality.repair`) to `repair_list` (`quality.store`), and the
data docs to `docs/quality/`. A critical failure raises `QualityGateError` after all of that is
written, so the run stops before publishing and the failure is fully explained.
"""
