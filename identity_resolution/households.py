"""Does the data hold households? The answer decides whether the same name at the same address
may outweigh a birthday and a national id that disagree.

Two records with one name at one address, born years apart, are one person whose birthday was
mistyped or replaced, or a parent and the child named after them. Which is likelier depends on the
population, and the records themselves say which population they come from: where families live
together, record pairs sharing a family name and a street include many whose given names and
birth years both differ (parents, children, spouses). In a register without households (FEBRL)
nearly every such pair is one person's duplicate, and the few that differ in both are corruption.

So an identity vouch may name the largest household share it tolerates
(`IdentityVouch.max_household_share`): it applies to a run only when the records' share is at
most that. The share is computed over every record on every run, so a daily run and a full
rebuild of the same records take the same decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from identity_resolution.settings import IdentitySettings

log = logging.getLogger(__name__)

# Given names below this Jaro-Winkler similarity are two names, not one name mistyped.
OTHER_GIVEN_NAME_BELOW = 0.8


@dataclass(frozen=True)
class HouseholdShare:
    """Record pairs at one street under one family name (both with a given name and a birthday),
    and how many of them look like two members of a household."""

    pairs: int
    household_pairs: int

    @property
    def share(self) -> float:
        return self.household_pairs / self.pairs if self.pairs else 0.0


def household_share(features: pl.DataFrame, max_block_size: int) -> HouseholdShare:
    """Among record pairs with the same family name and street, the share whose given names
    differ (Jaro-Winkler below 0.8) and whose birth years differ. Groups larger than
    `max_block_size` (a shared default address) are left out, as blocking leaves them out."""
    known = (
        features.lazy()
        .select("family_key", "street_key", "given_key", pl.col("dob").dt.year().alias("birth_year"))
        .drop_nulls()
        .filter(pl.len().over("family_key", "street_key").is_between(2, max_block_size))
        .with_row_index("row")
    )
    pairs = (
        known.join(known, on=["family_key", "street_key"], suffix="_other")
        .filter(pl.col("row") < pl.col("row_other"))
        .select(
            "given_key",
            "given_key_other",
            (pl.col("birth_year") != pl.col("birth_year_other")).alias("years"),
        )
        .collect()
    )
    if pairs.is_empty():
        return HouseholdShare(pairs=0, household_pairs=0)
    similarity = process.cpdist(
        pairs["given_key"].to_list(),
        pairs["given_key_other"].to_list(),
        scorer=JaroWinkler.normalized_similarity,
        dtype=np.float32,
    )
    other_name = similarity < OTHER_GIVEN_NAME_BELOW
    return HouseholdShare(
        pairs=len(pairs), household_pairs=int((other_name & pairs["years"].to_numpy()).sum())
    )


def applicable_settings(features: pl.DataFrame, settings: IdentitySettings) -> IdentitySettings:
    """`settings` with the identity vouches that this data's household share allows: a vouch
    with `max_household_share` is dropped for a run whose share is above it."""
    gated = [vouch for vouch in settings.guards.identity_vouches if vouch.max_household_share is not None]
    if not gated:
        return settings
    measured = household_share(features, settings.max_block_size)
    kept = [
        vouch
        for vouch in settings.guards.identity_vouches
        if vouch.max_household_share is None or measured.share <= vouch.max_household_share
    ]
    log.info(
        "household share %.4f (%d of %d same family + street pairs): %d of %d identity vouches apply",
        measured.share,
        measured.household_pairs,
        measured.pairs,
        len(kept),
        len(settings.guards.identity_vouches),
    )
    if len(kept) == len(settings.guards.identity_vouches):
        return settings
    return settings.model_copy(
        update={"guards": settings.guards.model_copy(update={"identity_vouches": kept})}
    )
