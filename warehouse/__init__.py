"""The bottom layer: configuration, lake paths, Delta/DuckDB I/O and publishing.

Everything above (ingest, identity resolution, quality, dags, CLI) builds on this package and
never the other way round.
"""
