"""The prior (share of matches among all record pairs) follows the population, not the blocking.

Given candidate pairs' comparison vectors, `model.match_prior` estimates the expected matches from
the pairs a deterministic key links (Splink's estimate from deterministic rules) and spreads them
over every possible pair, so the same duplicates per record in a ten times larger population give
a ten times smaller prior (and a namesake born on the same day counts for less there).
"""

from __future__ import annotations

import polars as pl
import pytest

from identity_resolution.comparisons import NULL_LEVEL, gamma_column
from identity_resolution.model import deterministic_pairs, match_prior
from identity_resolution.settings import IdentitySettings

from .conftest import FAST_MODEL, fast_settings


def candidate_pairs(
    settings: IdentitySettings, shared_phone: int, shared_email: int, phone_and_email: int, other: int
) -> pl.DataFrame:
    """Comparison vectors: pairs equal on the phone only, the email only, both, or neither
    (a name + birthday block), every other comparison missing."""
    total = shared_phone + shared_email + phone_and_email + other
    columns = {gamma_column(c): [NULL_LEVEL] * total for c in settings.comparisons}
    by_name = {c.name: c for c in settings.comparisons}
    phone, email = gamma_column(by_name["phone"]), gamma_column(by_name["email"])
    columns[phone] = [0] * shared_phone + [2] * shared_email + [0] * phone_and_email + [2] * other
    columns[email] = [2] * shared_phone + [0] * shared_email + [0] * phone_and_email + [2] * other
    return pl.DataFrame(columns, schema={name: pl.Int8 for name in columns})


def test_a_pair_equal_on_several_keys_is_one_deterministic_pair():
    settings = fast_settings()
    pairs = candidate_pairs(settings, shared_phone=30, shared_email=20, phone_and_email=10, other=500)
    assert deterministic_pairs(pairs, settings) == 60


def test_the_prior_is_the_deterministic_pairs_over_their_recall_among_all_pairs():
    settings = fast_settings(model={**FAST_MODEL, "deterministic_recall": 0.5})
    pairs = candidate_pairs(settings, shared_phone=300, shared_email=200, phone_and_email=100, other=5000)
    records = 10_000
    prior = match_prior(records, pairs, blocked_share=0.4, settings=settings)
    assert prior == pytest.approx(600 / 0.5 / (records * (records - 1) / 2))


def test_the_same_duplicates_per_record_in_ten_times_the_records_give_a_tenth_of_the_prior():
    settings = fast_settings()
    small = candidate_pairs(settings, shared_phone=3_000, shared_email=0, phone_and_email=0, other=20_000)
    # Ten times the records: ten times the key pairs, but name + birthday blocks grow faster.
    large = candidate_pairs(settings, shared_phone=30_000, shared_email=0, phone_and_email=0, other=2_000_000)
    small_prior = match_prior(10_000, small, blocked_share=0.3, settings=settings)
    large_prior = match_prior(100_000, large, blocked_share=0.3, settings=settings)
    assert large_prior == pytest.approx(small_prior / 10, rel=1e-3)
    # EM's share among candidate pairs would have followed the blocks instead.
    em = fast_settings(model={**FAST_MODEL, "prior": "em"})
    assert match_prior(100_000, large, 0.3, em) > 5 * match_prior(10_000, small, 0.3, em) / 10


def test_on_a_handful_of_records_the_prior_never_exceeds_ems_share():
    settings = fast_settings()
    pairs = candidate_pairs(settings, shared_phone=3, shared_email=0, phone_and_email=0, other=0)
    assert match_prior(3, pairs, blocked_share=0.2, settings=settings) == pytest.approx(0.2 * 3 / 3)


def test_without_any_deterministic_pair_the_prior_is_ems_share():
    settings = fast_settings()
    pairs = candidate_pairs(settings, shared_phone=0, shared_email=0, phone_and_email=0, other=1_000)
    records = 5_000
    assert match_prior(records, pairs, blocked_share=0.25, settings=settings) == pytest.approx(
        0.25 * 1_000 / (records * (records - 1) / 2)
    )
