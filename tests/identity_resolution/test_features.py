"""Standardized comparison features: the same person written differently gets the same keys."""

from __future__ import annotations

from datetime import date

import polars as pl

from identity_resolution.features import build_features
from identity_resolution.records import validate_records


def features(rows: list[dict], region: str = "CN") -> pl.DataFrame:
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return build_features(validate_records(frame), region, today=date(2026, 1, 1))


def test_a_chinese_name_and_its_pinyin_in_either_order_share_a_name_key():
    keys = features(
        [
            {"record_id": "1", "source": "pos", "full_name": "王晓芳"},
            {"record_id": "2", "source": "pos", "full_name": "Wang Xiaofang"},
            {"record_id": "3", "source": "pos", "full_name": "XIAOFANG  WANG"},
            {"record_id": "4", "source": "ecom", "given_name": "晓芳", "family_name": "王"},
        ]
    )
    assert keys["name_key"].unique().to_list() == ["wang xiaofang"]
    assert keys.filter(pl.col("record_id").is_in(["1", "4"]))["given_key"].to_list() == [
        "xiaofang",
        "xiaofang",
    ]


def test_the_order_a_chinese_name_is_written_in_does_not_change_its_keys():
    # given name first with a space (a Western form's "first name" + "last name"), family name
    # first with or without a space, a compound family name in either order or in split fields
    keys = features(
        [
            {"record_id": "1", "source": "marketing", "full_name": "雨涵 李"},
            {"record_id": "2", "source": "pos", "full_name": "李 雨涵"},
            {"record_id": "3", "source": "ecom", "full_name": "李雨涵"},
            {"record_id": "4", "source": "marketing", "full_name": "娜娜 欧阳"},
            {"record_id": "5", "source": "pos", "full_name": "欧阳娜娜"},
            {"record_id": "6", "source": "ecom", "given_name": "娜娜", "family_name": "欧阳"},
        ]
    )
    rows = keys.select("name_key", "given_key", "family_key").rows()
    assert rows == [("li yuhan", "yuhan", "li")] * 3 + [("nana ouyang", "nana", "ouyang")] * 3


def test_accents_full_width_letters_and_emoji_are_folded_away():
    keys = features([{"record_id": "1", "source": "web", "full_name": "Ｊｏｓé  Dóe 😀"}])
    assert keys["name_key"].to_list() == ["doe jose"]


def test_phones_in_every_local_format_become_one_e164_number():
    phones = features(
        [
            {"record_id": str(i), "source": "pos", "phone": phone}
            for i, phone in enumerate(
                ["13822761354", "+86 138 2276 1354", "0086-138-2276-1354", "8613822761354"]
            )
        ]
    )["phone"]
    assert phones.unique().to_list() == ["+8613822761354"]


def test_national_numbers_take_the_configured_default_region():
    phones = features([{"record_id": "1", "source": "crm", "phone": "020 7946 0018"}], region="GB")["phone"]
    assert phones.to_list() == ["+442079460018"]


def test_emails_lose_case_plus_tags_and_gmail_dots_and_invalid_ones_are_missing():
    emails = features(
        [
            {"record_id": "1", "source": "ecom", "email": "Jane.Doe+shop@Gmail.com"},
            {"record_id": "2", "source": "ecom", "email": "jane.doe@example.cn"},
            {"record_id": "3", "source": "ecom", "email": "not an email"},
        ]
    )["email"]
    assert emails.to_list() == ["janedoe@gmail.com", "jane.doe@example.cn", None]


def test_dates_of_birth_in_the_wild_formats_parse_and_implausible_ones_are_missing():
    dobs = features(
        [
            {"record_id": str(i), "source": "pos", "date_of_birth": value}
            for i, value in enumerate(
                ["1985-03-12", "1985/3/12", "12.03.1985", "19850312", "2999-01-01", "soon"]
            )
        ]
    )["dob"]
    assert dobs.to_list() == [date(1985, 3, 12)] * 4 + [None, None]


def test_full_width_phones_emails_dates_postcodes_and_ids_match_their_ascii_forms():
    # what a Chinese input method types in full-width mode, beside the same values in ASCII
    typed = [
        ("139 2468 1357", "John@gmail.com", "1990-01-01", "100020", "M-1234"),
        (
            "１３９２４６８１３５７",
            "Ｊｏｈｎ@gmail.com",
            "１９９０－０１－０１",
            "１０００２０",
            "Ｍ－１２３４",
        ),
        (
            "＋８６　１３９－２４６８－１３５７",
            "ｊｏｈｎ＠ｇｍａｉｌ．ｃｏｍ",
            "１９９０/０１/０１",
            "１００ ０２０",
            "ｍ１２３４",
        ),
        ("13９２４６８１３５７", "john@gmail.com", "1990-01-01", "100020", "m1234"),  # mixed mid-number
    ]
    keys = features(
        [
            {
                "record_id": str(i),
                "source": "pos",
                "phone": phone,
                "email": email,
                "date_of_birth": dob,
                "postcode": postcode,
                "member_id": member,
            }
            for i, (phone, email, dob, postcode, member) in enumerate(typed)
        ]
    )
    assert keys.select("phone", "email", "dob", "postcode", "member_id").unique().rows() == [
        ("+8613924681357", "john@gmail.com", date(1990, 1, 1), "100020", "m1234")
    ]
    assert keys["phone_tail"].unique().to_list() == ["24681357"]


def test_an_email_with_digits_cut_off_or_appended_meets_its_match_and_scores_its_own_level():
    from identity_resolution.comparisons import comparison_levels
    from identity_resolution.settings import IdentitySettings

    keys = features(
        [
            {"record_id": "1", "source": "ecom", "email": "LiuMei903859@163.com"},
            {"record_id": "2", "source": "survey", "email": "liumei90385911@163.com"},
            {"record_id": "3", "source": "pos", "email": "liumei@163.com"},
        ]
    )
    # Blocking key: the first 8 characters of the local part; too short a local part has none.
    assert keys["email_head"].to_list() == ["liumei90", "liumei90", None]
    email = next(c for c in IdentitySettings().comparisons if c.name == "email")
    left = pl.Series(["liumei903859@163.com", "liumei903859@163.com", "liumei@163.com", "zhangwei1@qq.com"])
    right = pl.Series(
        ["liumei90385911@163.com", "liumei903858@163.com", "liumei888@163.com", "zhangwei2@qq.com"]
    )
    labels = email.level_labels()
    levels = [labels[code] for code in comparison_levels(email, left, right)]
    # extended (>= 8 characters), a typo, "liumei" too short to extend anything, another number
    assert levels == ["one_extends_other", "edits<=1", "else", "edits<=1"]
