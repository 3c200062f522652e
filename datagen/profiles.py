"""What each system wrote down about a person: a profile per customer record, with identity noise.

Starting from the person's true values at the time the record was created (old phone before a
change, old home before a move, the family phone for some household members), each record gets the
system's habits (name script and style, phone format, which fields it asks for) and the configured
noise: typos and homophones, nicknames, Cantonese spellings, stale or mistyped contacts, email
variants, junk placeholders, incomplete addresses, blank basic fields, national-id typos. Every
injected defect is kept as a flag so the truth can say what was done to which record.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.noise import (
    apply_latin_typo,
    digit_typo,
    email_typo,
    email_variant,
    format_phone,
    homophone_typo,
    pick_uniform,
    pick_weighted,
    typo_inputs,
)
from datagen.people import keep_where, mobile_numbers
from datagen.random_streams import choice_index
from datagen.settings import GeneratorSettings
from datagen.vocabulary import Vocabulary

PERSON_COLUMNS = [
    "person_idx", "culture", "gender", "birth_date", "family_name", "given_name", "family_latin",
    "given_latin", "family_alt_latin", "nickname", "phone_cc", "phone", "old_phone", "phone_changed_at",
    "family_phone", "family_phone_cc", "email_1", "email_2", "email_3", "city", "province", "district",
    "street_line", "unit_line", "postcode", "new_city", "new_province", "new_district", "new_street_line",
    "new_unit_line", "new_postcode", "moved_at", "national_id",
]  # fmt: skip
ADDRESS_PARTS = ["city", "province", "district", "street_line", "unit_line", "postcode"]
FLAG_COLUMNS = [
    "name_style", "name_typo", "nickname_used", "alt_romanisation", "family_phone_used", "wrong_contact",
    "junk_identifier", "email_variant", "incomplete_address", "missing_fields", "national_id_typo",
]  # fmt: skip


def render_profiles(
    records: pl.DataFrame,
    people: pl.DataFrame,
    stores: pl.DataFrame,
    settings: GeneratorSettings,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """records + name_*, phone_text, email, address parts, birth_date, gender, national_id, flags."""
    frame = records.join(people.select(PERSON_COLUMNS), on="person_idx", how="left", maintain_order="left")
    frame = _names(frame, settings, vocabulary, rng)
    frame = _contacts(frame, stores, settings, vocabulary, rng)
    frame = _address(frame, settings, rng)
    frame = _national_id(frame, settings, rng)
    frame = _missing_fields(frame, settings, vocabulary, rng)
    keep = [*records.columns, "culture", "gender", "birth_date", "name_given", "name_family", "name_full",
            "phone_text", "email", *ADDRESS_PARTS, "national_id", *FLAG_COLUMNS]  # fmt: skip
    return frame.select(keep)


# --- names ------------------------------------------------------------------------------------
def _style_draws(
    frame: pl.DataFrame, settings: GeneratorSettings, vocabulary: Vocabulary, rng: np.random.Generator
) -> pl.Series:
    """Each record's name style from its source's habits and the romanisation rate."""
    habits = vocabulary.habits
    n = frame.height
    source = frame["source"].to_numpy()
    zh = (frame["culture"] == "zh").to_numpy()
    out = np.empty(n, dtype=object)
    for src in np.unique(source):
        rows = source == src
        size = int(rows.sum())
        latin = pick_weighted(
            rng, habits["latin_name_styles"].get(src, habits["latin_name_styles"]["default"]), size
        )
        native = pick_weighted(
            rng, habits["native_name_styles"].get(src, habits["native_name_styles"]["default"]), size
        )
        romanised_share = habits["ecom_romanised_share"] if src == "ecom" else settings.noise.romanised_name
        romanised = rng.random(size) < romanised_share
        western = pick_weighted(rng, habits["western_name_styles"].get(src, {"full": 1}), size)
        chosen = np.where(
            zh[rows], np.where(romanised, latin.to_numpy(), native.to_numpy()), western.to_numpy()
        )
        out[rows] = chosen
    return pl.Series(out, dtype=pl.String)


def _names(
    frame: pl.DataFrame, settings: GeneratorSettings, vocabulary: Vocabulary, rng: np.random.Generator
) -> pl.DataFrame:
    noise = settings.noise
    n = frame.height
    frame = frame.with_columns(name_style=_style_draws(frame, settings, vocabulary, rng))
    latin_style = pl.col("name_style").is_in(["pinyin", "pinyin_family_first", "upper", "lower", "joined"])
    native_style = pl.col("name_style").is_in(["characters", "title"])
    zh = pl.col("culture") == "zh"
    use_nick = pl.lit(pl.Series(rng.random(n) < noise.nickname)) & pl.col("nickname").is_not_null()
    use_alt = pl.lit(pl.Series(rng.random(n) < noise.alt_romanisation)) & zh & latin_style
    frame = frame.with_columns(
        nickname_used=use_nick,
        alt_romanisation=use_alt,
        _given=pl.when(zh & native_style)
        .then("given_name")
        .when(zh)
        .then("given_latin")
        .when(use_nick)
        .then("nickname")
        .otherwise("given_name"),
        _family=pl.when(zh & native_style)
        .then("family_name")
        .when(use_alt)
        .then("family_alt_latin")
        .when(zh)
        .then("family_latin")
        .otherwise("family_name"),
    )
    typo = rng.random(n) < noise.name_typo
    on_family = rng.random(n) < vocabulary.share("typo_in_family_name")
    native = frame.select(zh & native_style).to_series().to_numpy()
    before = frame.select("_given", "_family")
    frame = homophone_typo(frame, "_given", typo & native & ~on_family, rng, vocabulary)
    frame = homophone_typo(frame, "_family", typo & native & on_family, rng, vocabulary)
    frame = apply_latin_typo(frame, "_given", typo & ~native & ~on_family, rng)
    frame = apply_latin_typo(frame, "_family", typo & ~native & on_family, rng)
    changed = (frame["_given"] != before["_given"]) | (frame["_family"] != before["_family"])
    frame = frame.with_columns(name_typo=changed.fill_null(False))
    g, f, style = pl.col("_given"), pl.col("_family"), pl.col("name_style")
    honorific_zh = pl.when(pl.col("gender") == "F").then(pl.lit("女士")).otherwise(pl.lit("先生"))
    honorific_en = pl.when(pl.col("gender") == "F").then(pl.lit("Ms ")).otherwise(pl.lit("Mr "))
    full = (
        pl.when(style == "characters")
        .then(pl.concat_str([f, g]))
        .when((style == "title") & zh)
        .then(pl.concat_str([f, honorific_zh]))
        .when(style == "title")
        .then(pl.concat_str([honorific_en, f]))
        .when(style.is_in(["pinyin", "full"]))
        .then(pl.concat_str([g, f], separator=" "))
        .when(style == "pinyin_family_first")
        .then(pl.concat_str([f, g], separator=" "))
        .when(style == "upper")
        .then(pl.concat_str([g, f], separator=" ").str.to_uppercase())
        .when(style == "lower")
        .then(pl.concat_str([f, g], separator=" ").str.to_lowercase())
        .when(style == "joined")
        .then(pl.concat_str([f, g]).str.to_lowercase())
        .when(style == "upper_family_first")
        .then(pl.concat_str([f, g], separator=" ").str.to_uppercase())
        .when(style == "family_comma_given")
        .then(pl.concat_str([f, g], separator=", "))
        .otherwise(pl.concat_str([g, f], separator=" "))
    )
    # Split-name forms (the web shop): pinyin_family_first puts the family name in "first name".
    swapped = style == "pinyin_family_first"
    upper = style == "upper"
    return frame.with_columns(
        name_full=full,
        name_given=pl.when(swapped).then(f).when(upper).then(g.str.to_uppercase()).otherwise(g),
        name_family=pl.when(swapped).then(g).when(upper).then(f.str.to_uppercase()).otherwise(f),
    ).drop("_given", "_family")


# --- contacts ---------------------------------------------------------------------------------
def _contacts(
    frame: pl.DataFrame,
    stores: pl.DataFrame,
    settings: GeneratorSettings,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Phone and email as captured, then stale/mistyped contacts and junk placeholders."""
    noise = settings.noise
    habits = vocabulary.habits
    n = frame.height
    source = frame["source"].to_numpy()
    captured = {"phone": np.ones(n, dtype=bool), "email": np.ones(n, dtype=bool)}
    for src, spec in habits["fields"].items():
        rows = source == src
        for field, share in spec["captured"].items():
            captured[field][rows] = rng.random(int(rows.sum())) < share

    # the phone of the day: the family's, or the old number before a change
    family = frame["family_phone"].is_not_null().to_numpy()
    before_change = (
        frame.select(
            pl.col("phone_changed_at").is_not_null() & (pl.col("created_at") < pl.col("phone_changed_at"))
        )
        .to_series()
        .to_numpy()
    )
    frame = frame.with_columns(
        family_phone_used=pl.Series(family),
        _cc=pl.when(pl.lit(pl.Series(family))).then("family_phone_cc").otherwise("phone_cc"),
        _phone=pl.when(pl.lit(pl.Series(family)))
        .then("family_phone")
        .when(pl.lit(pl.Series(before_change)))
        .then("old_phone")
        .otherwise("phone"),
        _email=_pick_email(frame, vocabulary, rng),
    )
    # wrong contacts: stale (an earlier number or address) or mistyped
    wrong = rng.random(n) < noise.wrong_contact
    has_phone, has_email = captured["phone"], captured["email"]
    wrong = wrong & (has_phone | has_email)
    on_phone = np.where(
        has_phone & has_email, rng.random(n) < vocabulary.share("wrong_contact_on_phone"), has_phone
    )
    stale = rng.random(n) < noise.stale_share_of_wrong
    previous = mobile_numbers(rng, vocabulary, n)
    older = frame["old_phone"].is_not_null().to_numpy() & ~before_change & ~family
    stale_phone = wrong & on_phone & stale
    frame = frame.with_columns(
        _phone=pl.when(pl.lit(pl.Series(stale_phone & older)))
        .then("old_phone")
        .when(pl.lit(pl.Series(stale_phone & ~older)))
        .then(pl.lit(previous))
        .otherwise("_phone"),
        _cc=pl.when(pl.lit(pl.Series(stale_phone))).then(pl.lit("86")).otherwise("_cc"),
    )
    frame = digit_typo(frame, "_phone", wrong & on_phone & ~stale, rng)
    draws = typo_inputs(rng, n)
    stale_suffix = pl.Series(rng.integers(1, 99, n)).cast(pl.String)
    local = pl.col("_email").str.split_exact("@", 1).struct.field("field_0")
    domain = pl.col("_email").str.split_exact("@", 1).struct.field("field_1")
    stale_email = pl.concat_str([local, pl.lit(stale_suffix), pl.lit("@"), domain])
    typo_email = email_typo(
        pl.col("_email"), pl.lit(draws["_op"]), pl.lit(draws["_u"]), pl.lit(draws["_letter"]),
        pl.lit(pl.Series(rng.random(n) < vocabulary.share("email_typo_in_domain"))), vocabulary,
    )  # fmt: skip
    on_email = wrong & ~on_phone
    frame = frame.with_columns(
        _email=pl.when(pl.lit(pl.Series(on_email & stale)))
        .then(stale_email)
        .when(pl.lit(pl.Series(on_email & ~stale)))
        .then(typo_email)
        .otherwise("_email")
    )
    kind = np.where(
        on_phone, np.where(stale, "stale_phone", "typo_phone"), np.where(stale, "stale_email", "typo_email")
    )
    frame = frame.with_columns(wrong_contact=keep_where(pl.Series(kind, dtype=pl.String), wrong))
    frame = _junk(frame, stores, settings, vocabulary, rng, has_phone, has_email)
    styles = np.empty(n, dtype=object)
    for src in np.unique(source):
        rows = source == src
        styles[rows] = pick_weighted(rng, habits["phone_formats"][src], int(rows.sum())).to_numpy()
    junk_phone = pl.col("junk_identifier") == "phone"
    phone_text = (
        pl.when(junk_phone)
        .then("_phone")
        .otherwise(format_phone(pl.col("_cc"), pl.col("_phone"), pl.lit(pl.Series(styles, dtype=pl.String))))
    )
    return frame.with_columns(
        phone_text=pl.when(pl.lit(pl.Series(has_phone))).then(phone_text).otherwise(None),
        email=pl.when(pl.lit(pl.Series(has_email))).then("_email").otherwise(None),
        # a junk placeholder replaces whatever (wrong) value was there
        wrong_contact=pl.when(
            pl.col("junk_identifier").is_null()
            | ~pl.col("wrong_contact").str.ends_with(pl.col("junk_identifier"))
        ).then("wrong_contact"),
    ).drop("_cc", "_phone", "_email")


def _pick_email(frame: pl.DataFrame, vocabulary: Vocabulary, rng: np.random.Generator) -> pl.Expr:
    """One of the person's addresses (the first most often), sometimes written differently."""
    n = frame.height
    habits = vocabulary.habits
    slot = choice_index(rng, np.array(habits["email_slot_weights"], dtype=float), n)
    chosen = (
        pl.when(pl.lit(pl.Series(slot == 2)) & pl.col("email_3").is_not_null())
        .then("email_3")
        .when(pl.lit(pl.Series(slot >= 1)) & pl.col("email_2").is_not_null())
        .then("email_2")
        .otherwise("email_1")
    )
    return chosen


def _junk(
    frame: pl.DataFrame,
    stores: pl.DataFrame,
    settings: GeneratorSettings,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
    has_phone: np.ndarray,
    has_email: np.ndarray,
) -> pl.DataFrame:
    """Placeholders typed for customers who would not give a contact: shared by strangers.

    Till cashiers type the store's own landline or a dummy mobile; web staff create accounts with
    test@test.com; emails get variants applied first so a junk value is always exact.
    """
    n = frame.height
    junk = vocabulary.habits["junk"]
    source = frame["source"].to_numpy()
    is_junk = rng.random(n) < settings.noise.junk_identifier
    phone_junk = is_junk & has_phone & np.isin(source, ["pos", "loyalty", "service"])
    email_junk = is_junk & has_email & ~phone_junk & np.isin(source, ["ecom", "survey", "service"])
    variant = rng.random(n) < settings.noise.email_variant
    drawn = pick_weighted(rng, vocabulary.habits["email_variants"], n)
    domain = pl.col("_email").str.split_exact("@", 1).struct.field("field_1")
    supports = (
        pl.when(pl.lit(drawn) == "dots")
        .then(domain.is_in(vocabulary.habits["dot_insensitive_domains"]))
        .when(pl.lit(drawn) == "plus")
        .then(domain.is_in(vocabulary.habits["plus_tag_domains"]))
        .otherwise(True)
    )
    kinds = frame.select(pl.when(supports).then(pl.lit(drawn)).otherwise(pl.lit("case"))).to_series()
    tags = pick_uniform(rng, vocabulary.habits["plus_tags"], n)
    frame = frame.with_columns(
        _variant=email_variant(
            pl.col("_email"), pl.lit(kinds), pl.lit(tags), pl.lit(pl.Series(rng.random(n))), vocabulary
        )
    )
    frame = frame.with_columns(
        email_variant=pl.lit(pl.Series(variant)) & (pl.col("_variant") != pl.col("_email")),
        _email=pl.when(pl.lit(pl.Series(variant))).then("_variant").otherwise("_email"),
    ).drop("_variant")
    store_phone = frame.join(
        stores.select("store_idx", "default_phone"), on="store_idx", how="left", maintain_order="left"
    )["default_phone"]
    dummy = pick_uniform(rng, junk["phones"], n)
    dummy_email = pick_uniform(rng, junk["emails"], n)
    use_store = (rng.random(n) < vocabulary.share("junk_store_landline")) & (source == "pos")
    return frame.with_columns(
        _phone=pl.when(pl.lit(pl.Series(phone_junk & use_store)))
        .then(pl.lit(store_phone))
        .when(pl.lit(pl.Series(phone_junk)))
        .then(pl.lit(dummy))
        .otherwise("_phone"),
        _email=pl.when(pl.lit(pl.Series(email_junk))).then(pl.lit(dummy_email)).otherwise("_email"),
        junk_identifier=keep_where(
            pl.Series(np.where(phone_junk, "phone", "email"), dtype=pl.String), phone_junk | email_junk
        ),
    )


# --- address, ids, blanks ---------------------------------------------------------------------
def _address(frame: pl.DataFrame, settings: GeneratorSettings, rng: np.random.Generator) -> pl.DataFrame:
    """The home of the day (movers: the new one once moved), sometimes incomplete."""
    n = frame.height
    moved = pl.col("moved_at").is_not_null() & (pl.col("created_at") >= pl.col("moved_at"))
    frame = frame.with_columns(
        [
            pl.when(moved).then(pl.col(f"new_{part}")).otherwise(pl.col(part)).alias(part)
            for part in ADDRESS_PARTS
        ]
    )
    incomplete = rng.random(n) < settings.noise.incomplete_address
    how = rng.integers(0, 3, n)
    no_postcode = pl.lit(pl.Series(incomplete & (how == 0)))
    no_unit = pl.lit(pl.Series(incomplete & (how == 1)))
    city_only = pl.lit(pl.Series(incomplete & (how == 2)))
    return frame.with_columns(
        incomplete_address=pl.Series(incomplete),
        postcode=pl.when(no_postcode | city_only).then(None).otherwise("postcode"),
        unit_line=pl.when(no_unit | city_only).then(None).otherwise("unit_line"),
        street_line=pl.when(city_only).then(None).otherwise("street_line"),
        district=pl.when(city_only).then(None).otherwise("district"),
    )


def _national_id(frame: pl.DataFrame, settings: GeneratorSettings, rng: np.random.Generator) -> pl.DataFrame:
    """Often not asked for; sometimes mistyped when it is."""
    n = frame.height
    present = rng.random(n) < settings.noise.national_id_present
    typo = present & (rng.random(n) < settings.noise.national_id_typo)
    frame = digit_typo(frame, "national_id", typo, rng)
    return frame.with_columns(
        national_id=pl.when(pl.lit(pl.Series(present))).then("national_id").otherwise(None),
        national_id_typo=pl.Series(typo),
    )


def _missing_fields(
    frame: pl.DataFrame, settings: GeneratorSettings, vocabulary: Vocabulary, rng: np.random.Generator
) -> pl.DataFrame:
    """Blank one or two of the source's basic fields on a share of records."""
    n = frame.height
    fields_by_source = {src: spec["basic"] for src, spec in vocabulary.habits["fields"].items()}
    missing = rng.random(n) < settings.noise.missing_fields
    how_many = 1 + (rng.random(n) < vocabulary.share("missing_two_fields"))
    u = rng.random((n, 2))
    source = frame["source"].to_numpy()
    chosen = np.full(n, "", dtype=object)
    for src, fields in fields_by_source.items():
        rows = source == src
        k = len(fields)
        first = np.floor(u[rows, 0] * k).astype(int)
        second = (first + 1 + np.floor(u[rows, 1] * (k - 1)).astype(int)) % k
        names = np.array(fields, dtype=object)
        two = how_many[rows] == 2
        chosen[rows] = np.where(two & (k > 1), names[first] + "," + names[second], names[first])
    frame = frame.with_columns(missing_fields=keep_where(pl.Series(chosen, dtype=pl.String), missing))
    listed = pl.col("missing_fields").fill_null("").str.split(",")
    blank = {
        field: listed.list.contains(field)
        for field in ("name", "phone", "email", "birth_date", "gender", "address")
    }
    return frame.with_columns(
        name_full=pl.when(blank["name"]).then(None).otherwise("name_full"),
        name_given=pl.when(blank["name"]).then(None).otherwise("name_given"),
        name_family=pl.when(blank["name"]).then(None).otherwise("name_family"),
        phone_text=pl.when(blank["phone"]).then(None).otherwise("phone_text"),
        email=pl.when(blank["email"]).then(None).otherwise("email"),
        birth_date=pl.when(blank["birth_date"]).then(None).otherwise("birth_date"),
        gender=pl.when(blank["gender"]).then(None).otherwise("gender"),
        **{
            part: pl.when(blank["address"]).then(None).otherwise(part)
            for part in ADDRESS_PARTS
            if part != "city"
        },
    )
