"""Who is who: deterministic keys with guards, families, namesakes, hygiene and manual overrides."""

from __future__ import annotations

import json
import logging

import polars as pl

from identity_resolution.overrides import read_overrides
from ingest.silver.customers import standardize_names

from .conftest import customer_of, fast_settings, records, run

MOTHER = {
    "record_id": "pos:1",
    "source": "pos",
    "full_name": "王芳",
    "phone": "13822761354",
    "date_of_birth": "1962-04-02",
    "street": "延安西路 100号",
    "city": "上海",
}
SON = {
    "record_id": "ecom:7",
    "source": "ecom",
    "given_name": "Lei",
    "family_name": "Wang",
    "phone": "+86 138 2276 1354",
    "date_of_birth": "1990-09-30",
    "street": "延安西路 100号",
    "city": "上海",
}


def test_the_same_person_across_sources_and_scripts_is_one_customer():
    result = run(
        records(
            [
                {"record_id": "pos:1", "source": "pos", "full_name": "王晓芳", "phone": "13822761354"},
                {
                    "record_id": "ecom:2",
                    "source": "ecom",
                    "given_name": "Xiaofang",
                    "family_name": "Wang",
                    "phone": "+86 138 2276 1354",
                    "email": "XF.Wang+shop@163.com",
                },
                {
                    "record_id": "loyalty:3",
                    "source": "loyalty",
                    "full_name": "WANG XIAOFANG",
                    "email": "xf.wang@163.com",
                    "member_id": "L-0001",
                },
            ]
        )
    )
    assert len(set(customer_of(result).values())) == 1
    evidence = json.loads(result.links.filter(pl.col("record_id") == "ecom:2")["evidence"][0])
    assert evidence["rule"].startswith("deterministic:")
    assert evidence["comparisons"]["name"]["level"] == "exact"


def test_a_chinese_name_written_given_name_first_links_on_the_same_email():
    # QA: a marketing tool's export (雨涵 李) did not merge with the web shop's 李雨涵
    result = run(
        records(
            [
                {
                    "record_id": "marketing:MC-12",
                    "source": "marketing",
                    "full_name": "雨涵 李",
                    "email": "yuhan.li@163.com",
                },
                {
                    "record_id": "ecom:700010112",
                    "source": "ecom",
                    "full_name": "李雨涵",
                    "email": "yuhan.li@163.com",
                },
            ]
        )
    )
    assert len(set(customer_of(result).values())) == 1
    evidence = json.loads(result.links.filter(pl.col("record_id") == "marketing:MC-12")["evidence"][0])
    assert evidence["comparisons"]["name"]["level"] == "exact"


def test_a_chinese_name_written_given_name_first_links_after_silver_split_it():
    # the pipeline's path: silver splits the full name into family and given name first
    rows = [
        {
            "record_id": "marketing:MC-12",
            "source": "marketing",
            "full_name": "雨涵 李",
            "email": "yuhan.li@163.com",
        },
        {"record_id": "ecom:700010112", "source": "ecom", "full_name": "李雨涵", "email": "yuhan.li@163.com"},
    ]
    silver = standardize_names(records(rows)).drop("name_script", "name_pinyin")
    assert len(set(customer_of(run(silver)).values())) == 1


def test_a_chinese_name_in_pinyin_and_in_characters_given_name_first_is_one_customer():
    phone = "13822761354"
    rows = [
        {"record_id": "loyalty:1", "source": "loyalty", "full_name": "Yuhan Li", "phone": phone},
        {"record_id": "marketing:2", "source": "marketing", "full_name": "雨涵 李", "phone": phone},
        {"record_id": "pos:3", "source": "pos", "full_name": "李雨涵", "phone": phone},
    ]
    assert len(set(customer_of(run(records(rows))).values())) == 1


def test_siblings_on_a_family_phone_stay_two_people_in_either_name_order():
    phone = "13822761354"
    rows = [
        {
            "record_id": "pos:1",
            "source": "pos",
            "full_name": "李雨涵",
            "phone": phone,
            "date_of_birth": "2012-05-01",
        },
        {
            "record_id": "marketing:2",
            "source": "marketing",
            "full_name": "雨轩 李",
            "phone": phone,
            "date_of_birth": "2015-09-17",
        },
        {
            "record_id": "ecom:3",
            "source": "ecom",
            "full_name": "李雨轩",
            "phone": phone,
            "date_of_birth": "2015-09-17",
        },
    ]
    ids = customer_of(run(records(rows)))
    assert ids["marketing:2"] == ids["ecom:3"] != ids["pos:1"]


def test_a_phone_typed_in_full_width_digits_links_like_its_ascii_form():
    same = {"source": "pos", "given_name": "伟", "family_name": "王", "date_of_birth": "1990-01-01"}
    result = run(
        records(
            [
                {**same, "record_id": "a1", "source": "ecom", "phone": "139 2468 1357"},
                {**same, "record_id": "a2", "phone": "１３９２４６８１３５７"},
                {**same, "record_id": "a3", "phone": "139-2468-1357"},
            ]
        )
    )
    assert len(set(customer_of(result).values())) == 1


def test_a_mother_and_son_sharing_phone_address_and_family_name_stay_two_people():
    result = run(records([MOTHER, SON]))
    ids = customer_of(result)
    assert ids["pos:1"] != ids["ecom:7"]


def test_a_household_phone_alone_attaches_a_bare_record_to_nobody():
    bare = {"record_id": "survey:9", "source": "survey", "phone": "13822761354"}
    ids = customer_of(run(records([MOTHER, SON, bare])))
    assert len({ids["pos:1"], ids["ecom:7"], ids["survey:9"]}) == 3


def test_a_record_linking_to_mother_and_son_cannot_chain_them_together():
    mother = {**MOTHER, "email": "fang.wang@qq.com"}
    son = {**SON, "device_id": "d-77aa01"}
    bridge = {"record_id": "app:3", "source": "app", "email": "fang.wang@qq.com", "device_id": "d-77aa01"}
    result = run(records([mother, son, bridge]))
    ids = customer_of(result)
    assert ids["pos:1"] != ids["ecom:7"]
    assert ids["app:3"] in {ids["pos:1"], ids["ecom:7"]}
    refused = result.health.filter(pl.col("metric") == "refused_links_conflict")["value"][0]
    assert refused == 1


def test_two_namesakes_without_shared_identifiers_are_two_people():
    namesakes = records(
        [
            {"record_id": "pos:1", "source": "pos", "full_name": "王芳", "city": "上海", "gender": "F"},
            {"record_id": "pos:2", "source": "pos", "full_name": "Wang Fang", "city": "上海", "gender": "F"},
            {
                "record_id": "loyalty:3",
                "source": "loyalty",
                "full_name": "王芳",
                "date_of_birth": "1980-01-01",
                "city": "上海",
            },
            {
                "record_id": "loyalty:4",
                "source": "loyalty",
                "full_name": "王芳",
                "date_of_birth": "1991-07-12",
                "city": "上海",
            },
        ]
    )
    ids = customer_of(run(namesakes))
    assert len(set(ids.values())) == 4


def test_a_store_default_phone_links_nobody_and_is_audited():
    people = [
        ("李娜", "1980-01-0{}"),
        ("张伟", "1975-02-0{}"),
        ("刘洋", "1990-03-0{}"),
        ("陈静", "1988-04-0{}"),
        ("杨磊", "1970-05-0{}"),
        ("赵敏", "1985-06-0{}"),
        ("黄勇", "1992-07-0{}"),
        ("周杰", "1979-08-0{}"),
    ]
    rows = [
        {
            "record_id": f"pos:{i}",
            "source": "pos",
            "full_name": name,
            "phone": "021-6288 8888",
            "date_of_birth": dob.format(i + 1),
        }
        for i, (name, dob) in enumerate(people)
    ]
    result = run(records(rows))
    assert len(set(customer_of(result).values())) == len(people)
    audit = result.audit.filter(pl.col("identifier") == "phone")
    value, reason, distinct, limit = audit.select("value", "reason", "distinct_count", "limit").row(0)
    assert (value, reason) == ("+862162888888", "cardinality")
    assert distinct > limit


def test_blocklisted_junk_values_never_link():
    rows = [
        {
            "record_id": "a",
            "source": "web",
            "full_name": "Li Na",
            "email": "test@test.com",
            "phone": "00000000000",
        },
        {
            "record_id": "b",
            "source": "web",
            "full_name": "Zhang Wei",
            "email": "TEST@test.com",
            "phone": "000-0000-0000",
        },
    ]
    result = run(records(rows))
    assert customer_of(result)["a"] != customer_of(result)["b"]
    assert set(result.audit.filter(pl.col("reason") == "blocklist")["identifier"]) == {"email", "phone"}


def test_a_blocklisted_value_never_becomes_a_golden_email_or_phone():
    rows = [
        {
            "record_id": "a",
            "source": "web",
            "full_name": "Li Na",
            "email": " TEST@test.com",
            "member_id": "M1",
        },
        {"record_id": "b", "source": "pos", "full_name": "Li Na", "email": "li.na@qq.com", "member_id": "M1"},
        {
            "record_id": "c",
            "source": "web",
            "full_name": "Zhang Wei",
            "email": "none@none.com",
            "phone": "+8613800138000",
        },
    ]
    golden = run(records(rows)).golden
    emails = dict(zip(golden["email_source"], golden["email"], strict=True))
    assert emails == {"b": "li.na@qq.com", None: None}  # Li Na's real address survives; Zhang Wei has none
    assert golden["phone"].null_count() == golden.height


def test_an_identifier_over_its_per_member_limit_is_cut():
    rows = [
        {"record_id": f"l:{i}", "source": "loyalty", "email": "family@qq.com", "member_id": f"M{i}"}
        for i in range(4)
    ]
    result = run(
        records(rows),
        fast_settings(cardinality_limits=[{"identifier": "email", "per": "member_id", "max": 3}]),
    )
    assert len(set(customer_of(result).values())) == 4
    assert result.audit.filter(pl.col("per") == "member_id")["limit"].to_list() == [3]


def test_manual_overrides_beat_every_rule():
    rows = [
        MOTHER,
        SON,
        {"record_id": "web:1", "source": "web", "full_name": "Jane Doe", "email": "jane@qq.com"},
        {"record_id": "web:2", "source": "web", "full_name": "Jane Doe", "email": "jane@qq.com"},
    ]
    overrides = pl.DataFrame(
        {
            "record_id_a": ["pos:1", "web:1"],
            "record_id_b": ["ecom:7", "web:2"],
            "action": ["link", "cannot_link"],
        }
    )
    result = run(records(rows), overrides=overrides)
    ids = customer_of(result)
    assert ids["pos:1"] == ids["ecom:7"]
    assert ids["web:1"] != ids["web:2"]
    assert result.links.filter(pl.col("record_id") == "pos:1")["link_rule"][0] == "manual"


def test_override_ids_are_kept_exactly_as_written_spaces_included(tmp_path, caplog):
    """`cdp resolve` keeps " 7" and "7" as two records; the steward's file must name them the same way."""
    rows = [
        {"record_id": "7", "source": "web", "full_name": "Zhang Wei", "email": "zw@qq.com"},
        {"record_id": " 7", "source": "pos", "full_name": "Li Na", "phone": "13800000001"},
        {"record_id": "9", "source": "ecom", "full_name": "Wang Fang", "phone": "13900000002"},
    ]
    steward_file = tmp_path / "overrides.csv"
    steward_file.write_text(
        'record_id_a,record_id_b,action\n" 7",9, link\n9,"7 ",cannot_link\n', encoding="utf-8"
    )
    overrides = read_overrides(steward_file)
    with caplog.at_level(logging.WARNING, logger="identity_resolution.overrides"):
        ids = customer_of(run(records(rows), overrides=overrides))
    assert ids[" 7"] == ids["9"]  # the record named, not "7"
    assert ids["7"] != ids["9"]
    assert overrides["action"].to_list() == ["link", "cannot_link"]  # the keyword is trimmed
    assert "1 pair(s) name records not in the input" in caplog.text and "'7 '" in caplog.text


def test_clusters_never_exceed_the_size_limit():
    rows = [
        {"record_id": f"r{i}", "source": "web", "full_name": "Li Na", "device_id": "dev-1"} for i in range(6)
    ]
    result = run(records(rows), fast_settings(guards={"max_cluster_size": 4}, cardinality_limits=[]))
    sizes = result.links.group_by("customer_id").len()["len"]
    assert sizes.max() == 4
