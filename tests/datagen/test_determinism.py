"""Same seed, same bytes: every file of two builds is identical; another seed gives other data."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.datagen.helpers import build, file_hashes


def test_same_seed_gives_the_same_bytes_for_every_file(dataset: Path, dataset_again: Path):
    first, second = file_hashes(dataset), file_hashes(dataset_again)
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, f"files differ between identical runs: {differing[:10]}"
    kinds = {Path(name).suffix for name in first}
    assert {".csv", ".jsonl", ".xlsx", ".sqlite", ".parquet"} <= kinds


def test_another_seed_gives_other_people(tmp_path: Path):
    one = build(tmp_path / "a", people=60, seed=1, increment=False)
    two = build(tmp_path / "b", people=60, seed=2, increment=False)
    names_one = pl.read_parquet(one / "truth/people.parquet")["given_name"].to_list()
    names_two = pl.read_parquet(two / "truth/people.parquet")["given_name"].to_list()
    assert names_one != names_two


def test_parallel_chunks_give_the_same_bytes_as_one_process(tmp_path: Path):
    serial = build(tmp_path / "serial", people=250, increment=False, chunk_size=100, workers=1)
    parallel = build(tmp_path / "parallel", people=250, increment=False, chunk_size=100, workers=2)
    assert file_hashes(serial) == file_hashes(parallel)
