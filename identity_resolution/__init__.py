"""Identity resolution: who is who across every source, with stable customer ids and evidence.

Standardized features (`features`) -> graph hygiene (`hygiene`: blocklists, cardinality limits)
-> candidate pairs blocked in DuckDB (`blocking`) -> comparison vectors in bulk (`comparisons`)
-> Fellegi-Sunter weights trained without labels (`model`) -> link decisions with guards
(`linking`, `overrides`) -> guarded clustering (`clustering`) -> stable ids (`customer_ids`),
evidence (`evidence`), golden records (`golden`) and graph health (`health`). `engine` runs the
chain without I/O; `service` is the entry point for the pipeline and `cdp resolve`; `store`
keeps the identity tables and the saved graph in Delta. The model is data: `settings` validates
the `identity:` section of cdp.yaml.
"""
