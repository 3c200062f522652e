"""The truth agrees with the exports: who is who, which events were exported twice, which rows are bad."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.datagen.helpers import read_csv, read_csvs, read_jsonl, read_members, read_surveys


def _exported_keys(root: Path) -> dict[str, pl.Series]:
    profiles = read_jsonl(root, "social/profiles.jsonl")
    return {
        "pos": read_csvs(root, "pos/*/*/members.csv")["card_no"],
        "ecom": read_jsonl(root, "ecom/customers.jsonl")["id"].cast(pl.String),
        "social": profiles.select(pl.format("{}:{}", "platform", "handle")).to_series(),
        "service": read_csvs(root, "service/tickets_*.csv")["requester_id"].drop_nulls().unique(),
        "loyalty": read_members(root)["member_id"],
        "survey": read_surveys(root)["response_id"],
    }


def test_every_exported_customer_record_is_in_the_truth_exactly_once_and_vice_versa(dataset: Path):
    identity = pl.read_parquet(dataset / "truth/identity.parquet")
    assert identity.columns == ["source", "source_record_id", "person_id"]
    assert not identity.select(pl.struct("source", "source_record_id").is_duplicated().any()).item()
    for source, exported in _exported_keys(dataset).items():
        assert exported.n_unique() == exported.len(), f"{source}: a customer record is exported twice"
        truth = identity.filter(pl.col("source") == source)["source_record_id"]
        assert set(exported.to_list()) == set(truth.to_list()), source


def test_every_person_in_the_identity_truth_is_a_simulated_person(dataset: Path):
    identity = pl.read_parquet(dataset / "truth/identity.parquet")
    people = pl.read_parquet(dataset / "truth/people.parquet")
    assert set(identity["person_id"].unique().to_list()) == set(people["person_id"].to_list())
    noise = pl.read_parquet(dataset / "truth/record_noise.parquet")
    assert noise.select("source", "source_record_id", "person_id").equals(identity)


def test_duplicate_ticket_truth_matches_the_tickets_exported_twice(dataset: Path):
    lines = read_csvs(dataset, "pos/*/*/tickets_*.csv").filter(pl.col("ticket_no").is_not_null())
    exported = (
        lines.group_by("ticket_no", "line_no").len().group_by("ticket_no").agg(copies=pl.col("len").max())
        .filter(pl.col("copies") > 1)
    )  # fmt: skip
    truth = pl.read_parquet(dataset / "truth/duplicate_events.parquet").filter(pl.col("entity") == "tickets")
    joined = exported.join(truth, left_on="ticket_no", right_on="record_key", how="full", coalesce=True)
    assert joined.height > 0
    assert joined.filter(pl.col("copies") != pl.col("copies_right")).height == 0
    assert joined.filter(pl.col("copies").is_null() | pl.col("copies_right").is_null()).height == 0


def test_duplicate_event_truth_matches_events_delivered_twice(dataset: Path):
    events = read_jsonl(dataset, "ecom/events/events_*.jsonl").filter(pl.col("event_id").is_not_null())
    exported = events.group_by("event_id").len().filter(pl.col("len") > 1)
    truth = pl.read_parquet(dataset / "truth/duplicate_events.parquet").filter(pl.col("entity") == "events")
    assert exported.height > 0
    assert set(exported["event_id"].to_list()) == set(truth["record_key"].to_list())


@pytest.mark.parametrize("kind", ["unparseable_date", "bad_number", "missing_key"])
def test_injected_defects_are_where_the_truth_says(dataset: Path, kind: str):
    errors = pl.read_parquet(dataset / "truth/injected_errors.parquet").filter(
        (pl.col("kind") == kind) & pl.col("file").str.ends_with(".csv")
    )
    assert errors.height > 0
    for file, group in errors.group_by("file"):
        frame = read_csv(dataset / str(file[0]))
        for row in group.iter_rows(named=True):
            value = frame[row["column"]][row["row_number"] - 1]
            assert value != row["original"]
            if kind == "missing_key":
                assert value is None
            elif kind == "bad_number":
                assert "O" in value
    share = pl.read_parquet(dataset / "truth/injected_errors.parquet").height
    assert share > 0


def test_a_broken_birthday_costs_the_field_not_the_row_in_the_truth(dataset: Path):
    """Ingestion nulls an unreadable birthday (cdp.yaml `null_if_invalid`) and lands the member: the
    truth says so, and every other defect still costs its row."""
    errors = pl.read_parquet(dataset / "truth/injected_errors.parquet")
    birthdays = pl.col("column").is_in(["birthday", "birth_date"])
    assert errors.filter(birthdays).height > 0
    assert set(errors.filter(birthdays)["outcome"]) == {"field_nulled"}
    assert set(errors.filter(~birthdays)["outcome"]) == {"row_quarantined"}
