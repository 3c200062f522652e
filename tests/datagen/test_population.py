"""How many people: `--customers N` gives exactly N people, and increment days only add to them.

People who arrive after `end_date` are simulated with the base data set (for `--increment-day`);
none of them, nor any of their records, may show up in the base exports or truth.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datagen import generate_increment
from tests.datagen.helpers import INCREMENT_DAY, build, file_hashes

# The repository's 31-day horizon: about 0.3 N newcomers are simulated, so a leak has room to show.
HORIZON = 31


def _person_numbers(root: Path) -> tuple[pl.Series, pl.Series]:
    """Person numbers (P00000042 -> 42) in truth/people.parquet and in truth/identity.parquet."""
    number = pl.col("person_id").str.strip_prefix("P").cast(pl.Int64)
    people = pl.read_parquet(root / "truth/people.parquet").select(number).to_series()
    identity = pl.read_parquet(root / "truth/identity.parquet").select(number.unique()).to_series()
    return people, identity


@pytest.mark.parametrize("people, seed", [(2000, 42), (1300, 7), (700, 3)])
def test_the_truth_holds_exactly_the_requested_number_of_people(tmp_path: Path, people: int, seed: int):
    root = build(tmp_path, people=people, seed=seed, increment=False, increment_horizon_days=HORIZON)
    in_people, in_identity = _person_numbers(root)
    assert sorted(in_people.to_list()) == list(range(1, people + 1))
    assert sorted(in_identity.to_list()) == list(range(1, people + 1))
    # the newcomers wait under truth/future/, all of them after the window
    newcomers = pl.read_parquet(root / "truth/future/people.parquet")
    assert newcomers.height > 0 and newcomers["person_idx"].min() >= people


def _members(root: Path) -> set[tuple]:
    with sqlite3.connect(root / "landing/loyalty/loyalty.sqlite") as connection:
        return set(connection.execute("SELECT * FROM members").fetchall())


def test_increment_days_only_add_new_people_and_records(tmp_path: Path):
    people = 600
    root = build(tmp_path, people=people, seed=5, increment=False)
    landing_before = file_hashes(root / "landing")
    texts_before = {
        name: (root / "landing" / name).read_bytes()
        for name in landing_before
        if not name.endswith(".sqlite")
    }
    members_before = _members(root)
    identity_before = pl.read_parquet(root / "truth/identity.parquet")
    people_before = pl.read_parquet(root / "truth/people.parquet")
    assert people_before.height == people

    for day in (INCREMENT_DAY, INCREMENT_DAY + timedelta(days=1)):
        generate_increment(root, day)

    identity = pl.read_parquet(root / "truth/identity.parquet")
    kept = identity_before.join(identity, on=["source", "source_record_id"], how="left", suffix="_after")
    assert kept.filter(pl.col("person_id") != pl.col("person_id_after")).height == 0
    assert kept["person_id_after"].null_count() == 0, "an increment dropped a customer record"
    added = identity.join(identity_before, on=["source", "source_record_id"], how="anti")
    assert added.height > 0

    people_after = pl.read_parquet(root / "truth/people.parquet")
    assert people_after.filter(pl.col("person_id").is_in(people_before["person_id"].implode())).equals(
        people_before
    )
    newcomers = people_after.join(people_before, on="person_id", how="anti")
    assert newcomers.height > 0 and newcomers["person_idx"].min() >= people
    # a newcomer is in the truth because one of the day's new records is theirs
    assert set(newcomers["person_id"].to_list()) <= set(added["person_id"].to_list())
    assert set(identity["person_id"].to_list()) == set(people_after["person_id"].to_list())

    # exports of the window are untouched or only appended to; day files are new files
    for name, before in texts_before.items():
        after = (root / "landing" / name).read_bytes()
        assert after.startswith(before), f"{name}: an increment rewrote exported rows"
    assert members_before <= _members(root)


def test_a_person_whose_records_all_follow_the_window_gets_their_first_one_inside_it():
    from datagen.records import SOURCES, _first_record_in_window

    end = 1_000
    # person 0: only a web account, opened after the window; person 1: a card inside it
    counts = {source: [0, 0] for source in SOURCES} | {"ecom": [1, 0], "pos": [0, 1]}
    people = pl.DataFrame({f"n_{source}": counts[source] for source in SOURCES})
    created = {(source, k): np.array([5_000 + k, 10 + k]) for source in SOURCES for k in range(2)}
    _first_record_in_window(created, people, acquired=np.array([400, 5]), end_s=end)
    assert created["ecom", 0].tolist() == [400, 10]  # moved to when person 0 became a customer
    assert created["ecom", 1].tolist() == [5_001, 11]  # records they do not have are left alone
    assert created["pos", 0].tolist() == [5_000, 10]  # person 1 already had a record in the window
