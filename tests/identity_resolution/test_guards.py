"""The family/namesake guard's finer evidence: the given-name level and identity vouches."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from identity_resolution.comparisons import comparison_vectors, gamma_column
from identity_resolution.features import build_features
from identity_resolution.linking import conflict_expr, identity_score_expr
from identity_resolution.records import validate_records
from identity_resolution.settings import GIVEN_NAME_AGREES, IdentitySettings

from .conftest import records

SAME_NAME_AT_SAME_ADDRESS = {"name": "exact", "street": "exact"}
STREET_SIMILAR = "token_sort_compact>=0.9"


def _level(comparison: str, left: dict[str, str], right: dict[str, str]) -> str:
    """One comparison's level label for one pair of records (default settings)."""
    settings = IdentitySettings()
    frame = records(
        [{"record_id": "a:1", "source": "a", **left}, {"record_id": "a:2", "source": "a", **right}]
    )
    features = build_features(validate_records(frame), "AU", settings)
    compared = next(c for c in settings.comparisons if c.name == comparison)
    gammas = comparison_vectors(features, np.array([0]), np.array([1]), [compared])
    return compared.level_labels()[gammas[gamma_column(compared)][0]]


def _name_level(left: dict[str, str], right: dict[str, str]) -> str:
    return _level("name", left, right)


def test_the_same_given_name_under_another_family_name_has_its_own_level():
    married = _name_level(
        {"given_name": "isabella", "family_name": "shadnley"},
        {"given_name": "isabella", "family_name": "browne"},
    )
    assert married == GIVEN_NAME_AGREES


def test_two_alike_given_names_in_one_family_are_not_the_given_name_level():
    sisters = _name_level(
        {"given_name": "xia", "family_name": "liu"}, {"given_name": "xinyan", "family_name": "liu"}
    )
    assert sisters == "jaro_winkler>=0.8"


def _pairs(settings: IdentitySettings, levels: list[dict[str, str]]) -> pl.DataFrame:
    """Hand-written comparison vectors (level labels per comparison; others missing), with the
    identity score and the guard's verdict."""
    by_name = {c.name: c for c in settings.comparisons}
    rows = [
        {
            gamma_column(c): (c.level_labels().index(pair[c.name]) if c.name in pair else -1)
            for c in settings.comparisons
        }
        for pair in levels
    ]
    frame = pl.DataFrame(rows, schema={gamma_column(c): pl.Int8 for c in by_name.values()})
    return frame.with_columns(identity_score_expr(settings).alias("identity_score")).with_columns(
        conflict_expr(settings).alias("conflict")
    )


DUPLICATE_WITH_REPLACED_BIRTHDAY_AND_ID = {
    **SAME_NAME_AT_SAME_ADDRESS,
    "date_of_birth": "else",
    "national_id": "else",
}
MOTHER_AND_SON_AT_HOME = {"name": "else", "date_of_birth": "else", "street": "exact"}
NAMESAKES_ELSEWHERE = {"name": "exact", "date_of_birth": "else", "street": "else"}


NO_VOUCHES = {"guards": {"identity_vouches": []}}


def test_without_a_vouch_the_same_name_and_address_do_not_outweigh_birthday_and_id():
    verdict = _pairs(IdentitySettings.model_validate(NO_VOUCHES), [DUPLICATE_WITH_REPLACED_BIRTHDAY_AND_ID])
    assert verdict["conflict"].to_list() == [True]


def test_a_vouch_lifts_the_same_name_at_the_same_address_but_not_a_household_or_namesakes():
    # The default vouch; whether a run applies it is the data's household share (test_households).
    settings = IdentitySettings()
    verdict = _pairs(
        settings,
        [
            DUPLICATE_WITH_REPLACED_BIRTHDAY_AND_ID,
            {"name": GIVEN_NAME_AGREES, "street": STREET_SIMILAR, "date_of_birth": "else"},  # a married name
            MOTHER_AND_SON_AT_HOME,
            NAMESAKES_ELSEWHERE,
        ],
    )
    assert verdict["conflict"].to_list() == [False, False, True, True]
    # exact name +1, birthday -2, national id -1, vouch +2
    assert verdict["identity_score"][0] == 0.0


def test_the_guard_compares_whatever_a_vouch_names():
    vouch = {"when": {"name": "exact", "street": "exact"}, "score": 1}
    settings = IdentitySettings.model_validate({"guards": {"identity_vouches": [vouch]}})
    assert "street" in {c.name for c in settings.guard_comparisons()}
    assert "street" not in {c.name for c in IdentitySettings.model_validate(NO_VOUCHES).guard_comparisons()}


@pytest.mark.parametrize(
    "when, message",
    [
        ({"nickname": "exact"}, "unknown comparison 'nickname'"),
        ({"street": "jaro_winkler>=0.9"}, "has no level 'jaro_winkler>=0.9'"),
    ],
)
def test_a_vouch_on_an_unknown_comparison_or_level_is_refused(when, message):
    with pytest.raises(ValidationError, match=message):
        IdentitySettings.model_validate({"guards": {"identity_vouches": [{"when": when, "score": 1}]}})


@pytest.mark.parametrize(
    "other, level",
    [
        ("310101198502140019", "exact"),
        ("310101198502140018", "edits<=1"),  # one digit mistyped
        ("310101198502140091", "edits<=1"),  # two neighbouring digits swapped
        ("310101198502141018", "edits<=2"),
        ("310101201102140027", "else"),  # her son: his birth date inside the id
    ],
)
def test_a_national_id_one_typo_away_has_its_own_level(other, level):
    assert _level("national_id", {"national_id": "310101198502140019"}, {"national_id": other}) == level


def test_a_national_id_one_typo_away_outweighs_another_name_and_birthday_as_the_same_id_does():
    replaced = {"name": "else", "date_of_birth": "else", "street": "exact"}  # no vouch: another name
    verdict = _pairs(
        IdentitySettings(),
        [
            {**replaced, "national_id": "exact"},
            {**replaced, "national_id": "edits<=1"},
            {**replaced, "national_id": "edits<=2"},  # a twin's id: sequence digits apart
            {**replaced, "national_id": "else"},
        ],
    )
    assert verdict["conflict"].to_list() == [False, False, True, True]


def test_an_identifier_typo_level_must_sit_below_its_edit_limit():
    national_id = next(c for c in IdentitySettings().comparisons if c.name == "national_id")
    assert national_id.level_labels() == ["exact", "edits<=1", "edits<=2", "else"]
    same = national_id.model_copy(update={"typo_edits": 2})
    assert same.level_labels() == ["exact", "edits<=2", "else"]
