"""Silver: standardized, typed entities shared by every source (docs/data_model.md section 4).

Transforms here are pure (frames in, frames out); `ingest.standardize` does the reading and writing.
"""
