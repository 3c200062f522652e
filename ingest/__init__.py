"""Ingestion into the lakehouse (landing -> bronze Delta -> silver Delta).

`ingest.loader.load_source` lands one configured source's new and changed files in bronze with
lineage, a load manifest and a quarantine; `ingest.standardize.standardize` rebuilds the typed,
shared silver entities from bronze. The source registry and rules live in `cdp.yaml`
(`sources:`, `ingest:`, `standardize:`), validated by `ingest.config`.
"""
