"""Identity noise at the configured rates, and visible in the exports where the truth says it is."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.datagen.helpers import digits, read_csvs, read_jsonl, read_members

# cdp.yaml defaults (tests/datagen/helpers.small_config keeps the noise section as configured)
MULTI_RECORD, WRONG_CONTACT, MISSING, INCOMPLETE_ADDRESS, NAME_TYPO, DUPLICATE_TICKET = (
    0.45,
    0.30,
    0.25,
    0.15,
    0.08,
    0.18,
)


def _noise(root: Path) -> pl.DataFrame:
    return pl.read_parquet(root / "truth/record_noise.parquet")


def _pos_with_truth(root: Path) -> pl.DataFrame:
    cards = read_csvs(root, "pos/*/*/members.csv")
    noise = _noise(root).filter(pl.col("source") == "pos")
    people = pl.read_parquet(root / "truth/people.parquet").select(
        "person_id", "phone", "old_phone", "family_phone"
    )
    return cards.join(noise, left_on="card_no", right_on="source_record_id").join(people, on="person_id")


def test_about_45_percent_of_people_have_more_than_one_record(dataset: Path):
    per_person = pl.read_parquet(dataset / "truth/identity.parquet").group_by("person_id").len()
    share = (per_person["len"] > 1).mean()
    assert abs(share - MULTI_RECORD) < 0.04, share


def test_about_18_percent_of_till_tickets_are_exported_twice(dataset: Path):
    lines = read_csvs(dataset, "pos/*/*/tickets_????-??.csv").filter(pl.col("ticket_no").is_not_null())
    copies = lines.group_by("ticket_no", "line_no").len().group_by("ticket_no").agg(pl.col("len").max())
    assert abs((copies["len"] > 1).mean() - DUPLICATE_TICKET) < 0.02


def test_noise_rates_are_near_the_configured_rates(dataset: Path):
    noise = _noise(dataset)
    always_reachable = noise.filter(pl.col("source").is_in(["pos", "ecom", "loyalty"]))
    rates = {
        "wrong_contact": (always_reachable["wrong_contact"].is_not_null().mean(), WRONG_CONTACT, 0.05),
        "missing_fields": (noise["missing_fields"].is_not_null().mean(), MISSING, 0.04),
        "incomplete_address": (noise["incomplete_address"].mean(), INCOMPLETE_ADDRESS, 0.04),
        "name_typo": (noise["name_typo"].mean(), NAME_TYPO, 0.03),
    }
    for name, (measured, configured, tolerance) in rates.items():
        assert abs(measured - configured) < tolerance, f"{name}: {measured:.3f} vs {configured}"


def test_wrong_contacts_show_in_the_export_and_right_ones_are_right(dataset: Path):
    cards = (
        _pos_with_truth(dataset)
        .filter(pl.col("mobile").is_not_null() & pl.col("junk_identifier").is_null())
        .with_columns(shown=digits("mobile"))
    )
    # the number shown ends with one of the person's real numbers (country codes and 0086 aside)
    known = [
        pl.col(c).is_not_null() & pl.col("shown").str.ends_with(pl.col(c))
        for c in ("phone", "old_phone", "family_phone")
    ]
    is_known = pl.any_horizontal(known)
    mistyped = cards.filter(pl.col("wrong_contact") == "typo_phone")
    clean = cards.filter(pl.col("wrong_contact").is_null())
    assert mistyped.height > 0 and clean.height > 0
    assert mistyped.select(is_known.mean()).item() == 0
    assert clean.select(is_known.mean()).item() == 1


def test_missing_fields_and_incomplete_addresses_are_blank_in_the_export(dataset: Path):
    cards = _pos_with_truth(dataset)
    no_phone = cards.filter(pl.col("missing_fields").fill_null("").str.contains("phone"))
    assert no_phone.height > 0 and no_phone["mobile"].is_null().all()
    members = read_members(dataset).join(
        _noise(dataset).filter(pl.col("source") == "loyalty"),
        left_on="member_id",
        right_on="source_record_id",
    )
    incomplete = members.filter(pl.col("incomplete_address") & pl.col("missing_fields").is_null())
    assert incomplete.height > 0
    assert incomplete.select(
        (pl.col("postcode").is_null() | ~pl.col("address").str.contains("室")).all()
    ).item()


def test_the_hard_cases_are_there(dataset: Path):
    cards = (
        _pos_with_truth(dataset).filter(pl.col("mobile").is_not_null()).with_columns(shown=digits("mobile"))
    )
    per_phone = (
        cards.with_columns(pl.col("shown").str.slice(-11))
        .group_by("shown")
        .agg(pl.col("person_id").n_unique().alias("people"))
    )
    families = cards.filter(pl.col("family_phone_used") & pl.col("wrong_contact").is_null())
    assert families.height > 0, "no household members share the family phone"
    assert per_phone.filter(pl.col("people") >= 3).height > 0, "no junk phone shared by strangers"
    names = cards.group_by("name").agg(pl.col("person_id").n_unique().alias("people"))
    assert names.filter(pl.col("people") >= 2).height > 0, "no different people with the same name"
    people = pl.read_parquet(dataset / "truth/people.parquet")
    assert people["moved_at"].is_not_null().any() and people["old_phone"].is_not_null().any()


def test_names_and_phones_come_in_many_forms(dataset: Path):
    cards = read_csvs(dataset, "pos/*/*/members.csv")
    name, mobile = cards["name"].drop_nulls(), cards["mobile"].drop_nulls()
    assert name.str.contains(r"\p{Han}").mean() > 0.5, "Chinese names are the majority"
    assert name.str.contains(r"^[A-Z]+ [A-Z]+$").any(), "no upper-case pinyin (FANG WANG)"
    for pattern in (r"^1\d{10}$", r"^\+86 1\d{2} \d{4} \d{4}$", r"^0086-1\d{2}-\d{4}-\d{4}$"):
        assert mobile.str.contains(pattern).any(), pattern
    customers = read_jsonl(dataset, "ecom/customers.jsonl")
    email = customers["email"].drop_nulls()
    assert email.str.contains(r"\+").any() and email.str.contains("[A-Z]").any()
    noise = _noise(dataset).filter((pl.col("source") == "ecom") & pl.col("nickname_used"))
    people = pl.read_parquet(dataset / "truth/people.parquet").select("person_id", "nickname", "given_name")
    nicknamed = (
        customers.with_columns(pl.col("id").cast(pl.String))
        .join(noise, left_on="id", right_on="source_record_id")
        .join(people, on="person_id")
        .filter(pl.col("missing_fields").is_null() & ~pl.col("name_typo"))
    )
    assert nicknamed.height > 0, "no nicknames (Bill for William)"
    assert (nicknamed["first_name"] == nicknamed["nickname"]).all()
    assert (nicknamed["nickname"] != nicknamed["given_name"]).all()
