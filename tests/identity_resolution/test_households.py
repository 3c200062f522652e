"""The same name at the same address outweighs a birthday and a national id only in data without
households: the records' own household share decides whether the identity vouch applies."""

from __future__ import annotations

import pytest

from identity_resolution.features import build_features
from identity_resolution.households import applicable_settings, household_share
from identity_resolution.records import validate_records
from identity_resolution.settings import IdentitySettings

from .conftest import customer_of, fast_settings, records, run

# A father and the son named after him, at home with one phone: or one person whose birthday and
# national id were both replaced (FEBRL's duplicates look exactly like this).
FATHER = {
    "record_id": "pos:1",
    "source": "pos",
    "full_name": "王建国",
    "date_of_birth": "1958-03-02",
    "national_id": "310101195803020017",
    "phone": "13822761354",
    "street": "延安西路 100号",
    "city": "上海",
}
NAMED_AFTER_HIM = {
    **FATHER,
    "record_id": "ecom:2",
    "source": "ecom",
    "date_of_birth": "1986-11-20",
    "national_id": "310101198611200035",
}


def _member(record_id: str, full_name: str, born: str, street: str) -> dict[str, str]:
    return {
        "record_id": record_id,
        "source": "loyalty",
        "full_name": full_name,
        "date_of_birth": born,
        "street": street,
        "city": "上海",
    }


# Other families living together: at each street two given names and two birth years.
HOUSEHOLDS = [
    _member("loyalty:10", "李明", "1970-05-01", "淮海中路 8号"),
    _member("loyalty:11", "李小红", "1998-02-14", "淮海中路 8号"),
    _member("loyalty:12", "张伟", "1965-09-09", "南京东路 52号"),
    _member("loyalty:13", "张丽", "1968-12-30", "南京东路 52号"),
]


def _features(rows: list[dict[str, str]]):
    return build_features(validate_records(records(rows)), "CN", IdentitySettings())


def test_the_household_share_counts_pairs_that_differ_in_given_name_and_birth_year():
    # same family and street: the father and his namesake (one name: not a household pair) and
    # two families (other given name, other birth year: household pairs)
    measured = household_share(_features([FATHER, NAMED_AFTER_HIM, *HOUSEHOLDS]), max_block_size=300)
    assert (measured.pairs, measured.household_pairs) == (3, 2)
    assert measured.share == pytest.approx(2 / 3)


def test_a_typo_in_the_given_name_or_a_shared_birth_year_is_not_a_household():
    typo = _member("loyalty:20", "李小虹", "1998-07-01", "淮海中路 8号")  # one syllable apart, born 1998
    measured = household_share(_features([HOUSEHOLDS[1], typo]), max_block_size=300)
    assert (measured.pairs, measured.household_pairs) == (1, 0)


def test_a_shared_default_address_over_the_block_limit_is_left_out():
    measured = household_share(_features(HOUSEHOLDS[:2]), max_block_size=1)
    assert measured.pairs == 0 and measured.share == 0.0


def test_a_vouch_without_a_household_limit_always_applies():
    vouch = {"when": {"name": "exact", "street": "exact"}, "score": 1}
    settings = IdentitySettings.model_validate({"guards": {"identity_vouches": [vouch]}})
    assert applicable_settings(_features([FATHER, *HOUSEHOLDS]), settings) is settings


def test_without_households_the_same_name_at_home_outweighs_birthday_and_id():
    ids = customer_of(run(records([FATHER, NAMED_AFTER_HIM]), fast_settings()))
    assert ids["pos:1"] == ids["ecom:2"]


def test_where_families_live_together_a_son_named_after_his_father_stays_apart():
    ids = customer_of(run(records([FATHER, NAMED_AFTER_HIM, *HOUSEHOLDS]), fast_settings()))
    assert ids["pos:1"] != ids["ecom:2"]
