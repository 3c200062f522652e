"""The simulated people: who they are, how to reach them, and how they shop.

One row per real person, with the *true* values every source system later records imperfectly: names
in characters and pinyin (or a Western name and nickname), phones (and an old phone for those who
changed), one to three emails, a home address (and a new one for movers), a national id, a household
for people who share a home (and often a phone and family name), and the BG/NBD / Gamma-Gamma
parameters that drive their purchases. Written to `truth/people.parquet`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from datagen.calendar import DAY, Calendar
from datagen.random_streams import choice_index, random_hex
from datagen.settings import GeneratorSettings
from datagen.stores import assign_home_store
from datagen.vocabulary import Vocabulary
from datagen.vocabulary import load as load_vocabulary

SEGMENTS = ("store", "online", "omni")
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


@dataclass(frozen=True)
class Chunk:
    """A slice of people simulated together: `count` people starting at global index `first`.

    `future` chunks hold people acquired after the exported window (for `--increment-day`).
    """

    index: int
    first: int
    count: int
    future: bool = False


def simulate_people(
    chunk: Chunk,
    settings: GeneratorSettings,
    calendar: Calendar,
    vocabulary: Vocabulary,
    stores: pl.DataFrame,
    rng: np.random.Generator,
) -> pl.DataFrame:
    n = chunk.count
    pop = settings.population
    person_idx = np.arange(chunk.first, chunk.first + n, dtype=np.int64)
    chinese = rng.random(n) < pop.chinese_share
    female = rng.random(n) < pop.female_share
    age = np.clip(rng.normal(pop.age_mean, pop.age_sd, n), pop.age_min, pop.age_max)
    people = pl.DataFrame(
        {
            "person_idx": person_idx,
            "culture": np.where(chinese, "zh", "western"),
            "gender": np.where(female, "F", "M"),
        }
    )
    head, shares_family_name, age = _households(rng, n, pop.household_share, age, pop.age_min)
    people = people.with_columns(
        household_head=pl.Series(head),
        birth_date=pl.Series(_birth_dates(rng, calendar, age)),
        culture=pl.Series(
            np.where(
                head >= 0, people["culture"].to_numpy()[np.maximum(head, 0)], people["culture"].to_numpy()
            )
        ),
    )
    chinese = (people["culture"] == "zh").to_numpy()
    people = pl.concat(
        [people, _names(rng, vocabulary, chinese, female, head, shares_family_name)], how="horizontal"
    )
    people = pl.concat([people, _phones(rng, vocabulary, settings, calendar, chinese, n)], how="horizontal")
    people = pl.concat([people, _emails(rng, vocabulary, people, settings)], how="horizontal")
    people = pl.concat(
        [people, _addresses(rng, vocabulary, settings, calendar, head, stores, n)], how="horizontal"
    )
    people = people.with_columns(national_id=_national_ids(rng, vocabulary, people, chinese))
    people = _share_family_phone(rng, people, head, pop.household_shared_phone_share)
    people = pl.concat([people, _behaviour(rng, settings, calendar, chunk, n)], how="horizontal")
    return people.with_columns(
        person_id=pl.format("P{}", (pl.col("person_idx") + 1).cast(pl.String).str.zfill(8)),
        household_id=pl.when(pl.col("household_head") >= 0)
        .then(pl.format("H{}", (pl.col("household_head") + chunk.first + 1).cast(pl.String).str.zfill(8)))
        .otherwise(None),
        device_1=pl.format("d-{}", random_hex(rng, n, 16)),
        device_2=pl.when(pl.lit(pl.Series(rng.random(n) < vocabulary.share("second_device"))))
        .then(pl.format("d-{}", random_hex(rng, n, 16)))
        .otherwise(None),
    )


# --- demographics -----------------------------------------------------------------------------
def _households(
    rng: np.random.Generator, n: int, share: float, age: np.ndarray, age_min: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group some people into households of 2-4; returns each member's head (local index, -1: none).

    Members are partners, siblings or adult children of the head: most share the family name
    (Chinese wives usually keep their own), and children are a generation younger.
    """
    flagged = np.flatnonzero(rng.random(n) < share)
    head = np.full(n, -1, dtype=np.int64)
    shares_name = np.zeros(n, dtype=bool)
    if len(flagged) < 2:
        return head, shares_name, age
    sizes = _household_sizes(rng, len(flagged))
    ends = np.cumsum(sizes)
    household = np.searchsorted(ends, np.arange(len(flagged)), side="right")
    first_of = np.concatenate([[0], ends[:-1]])[household]
    valid = np.bincount(household, minlength=len(sizes))[household] >= 2
    members = flagged[valid]
    head[members] = flagged[first_of[valid]]
    is_member = head >= 0
    is_member[head[is_member]] = True
    not_head = is_member & (head != np.arange(n))
    child = not_head & (rng.random(n) < load_vocabulary().share("household_child"))
    head_age = age[np.maximum(head, 0)]
    child_age = head_age - rng.uniform(22, 32, n)
    child = child & (child_age >= age_min)
    partner_age = head_age + rng.uniform(-4, 4, n)
    age = np.where(child, child_age, np.where(not_head, np.maximum(partner_age, age_min), age))
    shares_name[not_head] = rng.random(int(not_head.sum())) < load_vocabulary().share(
        "household_shares_family_name"
    )
    shares_name[child] = True
    return head, shares_name, age


def _household_sizes(rng: np.random.Generator, count: int) -> np.ndarray:
    weights = load_vocabulary().habits["household_sizes"]
    sizes = np.array([int(size) for size in weights], dtype=np.int64)
    return sizes[choice_index(rng, np.array(list(weights.values()), dtype=float), count)]


def _birth_dates(rng: np.random.Generator, calendar: Calendar, age: np.ndarray) -> np.ndarray:
    days = (age * 365.25 + rng.uniform(0, 365, len(age))).astype(np.int64)
    reference = np.datetime64(calendar.end.isoformat(), "D")
    return reference - days.astype("timedelta64[D]")


def _gather(series: pl.Series, idx: np.ndarray) -> pl.Series:
    return series.gather(pl.Series(idx, dtype=pl.UInt32))


def keep_where(values: np.ndarray | pl.Series, keep: np.ndarray) -> pl.Series:
    """`values` where `keep`, null elsewhere."""
    frame = pl.DataFrame({"v": values, "k": keep})
    return frame.select(pl.when("k").then("v").otherwise(None)).to_series()


def _names(
    rng: np.random.Generator,
    vocabulary: Vocabulary,
    chinese: np.ndarray,
    female: np.ndarray,
    head: np.ndarray,
    shares_family_name: np.ndarray,
) -> pl.DataFrame:
    """True names: native script, Latin (pinyin) spelling, alternative romanisation, nickname."""
    n = len(chinese)
    zh_family = vocabulary.surnames_zh
    fam_zh = choice_index(rng, zh_family["weight"].to_numpy(), n)
    given = vocabulary.given_zh
    given_f = np.flatnonzero((given["gender"] == "F").to_numpy())
    given_m = np.flatnonzero((given["gender"] == "M").to_numpy())
    weights = given["weight"].to_numpy()
    given_zh = np.where(
        female,
        given_f[choice_index(rng, weights[given_f], n)],
        given_m[choice_index(rng, weights[given_m], n)],
    )
    western = vocabulary.given_western
    first_f = np.flatnonzero((western["gender"] == "F").to_numpy())
    first_m = np.flatnonzero((western["gender"] == "M").to_numpy())
    w_weights = western["weight"].to_numpy()
    first = np.where(
        female,
        first_f[choice_index(rng, w_weights[first_f], n)],
        first_m[choice_index(rng, w_weights[first_m], n)],
    )
    fam_w = choice_index(rng, vocabulary.surnames_western["weight"].to_numpy(), n)
    inherit = shares_family_name & (head >= 0)
    fam_zh = np.where(inherit, fam_zh[np.maximum(head, 0)], fam_zh)
    fam_w = np.where(inherit, fam_w[np.maximum(head, 0)], fam_w)
    nick_lists = _gather(western["nicknames"], first)
    nick_pick = pl.Series(rng.random(n))
    nickname = (
        pl.DataFrame({"lists": nick_lists, "u": nick_pick})
        .select(
            pl.col("lists").list.get(
                (pl.col("u") * pl.col("lists").list.len()).floor().cast(pl.Int64), null_on_oob=True
            )
        )
        .to_series()
    )
    zh = pl.Series(chinese)
    frame = pl.DataFrame(
        {
            "zh": zh,
            "fz": _gather(zh_family["family_name"], fam_zh),
            "fz_latin": _gather(zh_family["pinyin"], fam_zh),
            "fz_alt": _gather(zh_family["alt_latin"], fam_zh),
            "gz": _gather(given["given_name"], given_zh),
            "gz_latin": _gather(given["pinyin"], given_zh),
            "fw": _gather(vocabulary.surnames_western["family_name"], fam_w),
            "gw": _gather(western["first_name"], first),
            "nick": nickname,
        }
    )
    return frame.select(
        family_name=pl.when("zh").then("fz").otherwise("fw"),
        given_name=pl.when("zh").then("gz").otherwise("gw"),
        family_latin=pl.when("zh").then("fz_latin").otherwise("fw"),
        given_latin=pl.when("zh").then("gz_latin").otherwise("gw"),
        family_alt_latin=pl.when("zh").then("fz_alt").otherwise(None),
        nickname=pl.when("zh").then(None).otherwise("nick"),
    )


# --- contacts ---------------------------------------------------------------------------------
def mobile_numbers(rng: np.random.Generator, vocabulary: Vocabulary, n: int) -> pl.Series:
    """Chinese mobile numbers: a real operator prefix and eight random digits."""
    prefixes = np.asarray(vocabulary.habits["cn_mobile_prefixes"], dtype=np.int64)
    numbers = prefixes[rng.integers(0, len(prefixes), n)] * 10**8 + rng.integers(0, 10**8, n)
    return pl.Series(numbers).cast(pl.String)


def _foreign_numbers(rng: np.random.Generator, vocabulary: Vocabulary, n: int) -> tuple[pl.Series, pl.Series]:
    plans = vocabulary.habits["foreign_phones"]
    codes = list(plans)
    pick = rng.integers(0, len(codes), n)
    digits = np.array([plans[c][0] for c in codes])[pick]
    lead = np.array([plans[c][1] for c in codes], dtype=object)[pick]
    body = rng.integers(0, 10**12, n)
    frame = pl.DataFrame({"lead": pl.Series(lead, dtype=pl.String), "body": body, "digits": digits})
    national = frame.select(
        pl.concat_str(["lead", pl.col("body").cast(pl.String).str.zfill(12)]).str.slice(0, pl.col("digits"))
    ).to_series()
    return pl.Series(np.array(codes, dtype=object)[pick], dtype=pl.String), national


def _phones(
    rng: np.random.Generator,
    vocabulary: Vocabulary,
    settings: GeneratorSettings,
    calendar: Calendar,
    chinese: np.ndarray,
    n: int,
) -> pl.DataFrame:
    """Country code and national number now, the previous number and when it changed."""
    pop = settings.population
    foreign = ~chinese & (rng.random(n) < pop.foreign_phone_share)
    code, national = _foreign_numbers(rng, vocabulary, n)
    mobile = mobile_numbers(rng, vocabulary, n)
    old = mobile_numbers(rng, vocabulary, n)
    changed = rng.random(n) < pop.phone_change_share
    changed_at = calendar.start_s + (rng.random(n) * calendar.exported_days * DAY).astype(np.int64)
    frame = pl.DataFrame(
        {
            "foreign": foreign,
            "code": code,
            "national": national,
            "mobile": mobile,
            "old": old,
            "changed": changed,
        }
    )
    return frame.select(
        phone_cc=pl.when("foreign").then("code").otherwise(pl.lit("86")),
        phone=pl.when("foreign").then("national").otherwise("mobile"),
        old_phone=pl.when(pl.col("changed") & ~pl.col("foreign")).then("old").otherwise(None),
        phone_changed_at=pl.when(pl.col("changed") & ~pl.col("foreign"))
        .then(pl.Series(changed_at))
        .otherwise(None),
    )


def _share_family_phone(
    rng: np.random.Generator, people: pl.DataFrame, head: np.ndarray, share: float
) -> pl.DataFrame:
    """Household members who give the family's (the head's) phone instead of their own."""
    n = people.height
    uses = (head >= 0) & (head != np.arange(n)) & (rng.random(n) < share)
    phone = people["phone"].to_numpy()
    cc = people["phone_cc"].to_numpy()
    return people.with_columns(
        family_phone=keep_where(phone[np.maximum(head, 0)], uses),
        family_phone_cc=keep_where(cc[np.maximum(head, 0)], uses),
    )


def _emails(
    rng: np.random.Generator, vocabulary: Vocabulary, people: pl.DataFrame, settings: GeneratorSettings
) -> pl.DataFrame:
    """One to three lower-case addresses per person, in the styles people pick for themselves."""
    n = people.height
    probs = np.asarray(settings.population.emails_per_person, dtype=float)
    count = 1 + choice_index(rng, probs, n)
    columns = {}
    for slot in range(3):
        email = _email_addresses(rng, vocabulary, people)
        columns[f"email_{slot + 1}"] = keep_where(email, count > slot)
    return pl.DataFrame(columns)


def _email_addresses(rng: np.random.Generator, vocabulary: Vocabulary, people: pl.DataFrame) -> pl.Series:
    n = people.height
    habits = vocabulary.habits["email_domains"]
    zh_domains, zh_weights = list(habits["zh"]), list(habits["zh"].values())
    w_domains, w_weights = list(habits["western"]), list(habits["western"].values())
    zh_pick = np.array(zh_domains, dtype=object)[choice_index(rng, np.array(zh_weights), n)]
    w_pick = np.array(w_domains, dtype=object)[choice_index(rng, np.array(w_weights), n)]
    year = people["birth_date"].dt.year()
    frame = people.select(
        zh=pl.col("culture") == "zh",
        family=pl.col("family_latin").str.to_lowercase().str.replace_all(r"[^a-z]", ""),
        given=pl.col("given_latin").str.to_lowercase().str.replace_all(r"[^a-z]", ""),
        yy=(year % 100).cast(pl.String).str.zfill(2),
        yyyy=year.cast(pl.String),
    ).with_columns(
        domain=pl.Series(np.where(people["culture"].to_numpy() == "zh", zh_pick, w_pick), dtype=pl.String),
        style=pl.Series(rng.integers(0, 6, n)),
        digits=pl.Series(rng.integers(1, 99_999, n)).cast(pl.String),
        short=pl.Series(rng.integers(1, 9_999, n)).cast(pl.String),
        qq=pl.Series(rng.integers(10_000, 3_999_999_999, n)).cast(pl.String),
    )
    f_initial = pl.col("family").str.slice(0, 1)
    g_initial = pl.col("given").str.slice(0, 1)
    local = (
        pl.when((pl.col("domain") == "qq.com") & pl.col("zh"))
        .then("qq")
        .when(pl.col("style") == 0)
        .then(pl.concat_str(["given", pl.lit("."), "family", "short"]))
        .when(pl.col("style") == 1)
        .then(pl.concat_str(["family", "given", "yy", "short"]))
        .when(pl.col("style") == 2)
        .then(pl.concat_str([g_initial, "family", "digits"]))
        .when(pl.col("style") == 3)
        .then(pl.concat_str(["family", pl.lit("_"), "given", "digits"]))
        .when(pl.col("style") == 4)
        .then(pl.concat_str([f_initial, g_initial, "yyyy", "digits"]))
        .otherwise(pl.concat_str(["given", "family", "digits"]))
    )
    return frame.select(pl.concat_str([local, pl.lit("@"), "domain"])).to_series()


# --- addresses and ids ------------------------------------------------------------------------
def _address_parts(
    rng: np.random.Generator, vocabulary: Vocabulary, n: int, city: np.ndarray | None = None
) -> pl.DataFrame:
    places = vocabulary.places
    if city is None:
        city = choice_index(rng, places["weight"].to_numpy(), n)
    districts = _gather(places["districts"], city)
    district_pick = pl.Series(rng.random(n))
    street = _gather(vocabulary.streets, rng.integers(0, len(vocabulary.streets), n))
    frame = pl.DataFrame(
        {
            "city_idx": city.astype(np.int64),
            "districts": districts,
            "u": district_pick,
            "street": street,
            "no": np.minimum(rng.geometric(0.01, n), 999),
            "building": rng.integers(1, 31, n),
            "unit": rng.integers(1, 7, n),
            "room": rng.integers(1, 34, n) * 100 + rng.integers(1, 5, n),
            "city": _gather(places["city"], city),
            "province": _gather(places["province"], city),
            "prefix": _gather(places["postcode_prefix"], city),
        }
    ).with_columns(d_idx=(pl.col("u") * pl.col("districts").list.len()).floor().cast(pl.Int64))
    return frame.select(
        "city_idx",
        "city",
        "province",
        district=pl.col("districts").list.get(pl.col("d_idx")),
        street_line=pl.format("{}{}号", "street", "no"),
        unit_line=pl.format("{}栋{}单元{}室", "building", "unit", "room"),
        postcode=pl.format("{}{}0", "prefix", (pl.col("d_idx") + 1).cast(pl.String).str.zfill(2)),
    )


def _addresses(
    rng: np.random.Generator,
    vocabulary: Vocabulary,
    settings: GeneratorSettings,
    calendar: Calendar,
    head: np.ndarray,
    stores: pl.DataFrame,
    n: int,
) -> pl.DataFrame:
    """Home now and, for movers, the new home (same city mostly) and when they moved.

    Households live together and move together.
    """
    home = _address_parts(rng, vocabulary, n)
    same_city = rng.random(n) < vocabulary.share("move_within_city")
    new_city = np.where(
        same_city, home["city_idx"].to_numpy(), choice_index(rng, vocabulary.places["weight"].to_numpy(), n)
    )
    new_home = _address_parts(rng, vocabulary, n, new_city)
    moves = rng.random(n) < settings.population.mover_share
    moved_at = calendar.start_s + (rng.random(n) * calendar.exported_days * DAY).astype(np.int64)
    follow = np.where(head >= 0, head, np.arange(n))
    home = home[follow]
    new_home = new_home[follow]
    moves, moved_at = moves[follow], moved_at[follow]
    cities = vocabulary.places.height
    home_store = assign_home_store(rng, stores, home["city_idx"].to_numpy(), cities)
    new_store = assign_home_store(rng, stores, new_home["city_idx"].to_numpy(), cities)
    new_cols = new_home.select(pl.all().name.prefix("new_"))
    frame = pl.concat([home, new_cols], how="horizontal").with_columns(
        moved_at=keep_where(moved_at, moves),
        home_store=pl.Series(home_store),
        new_home_store=pl.Series(np.where(moves, new_store, home_store)),
    )
    return frame.with_columns(
        [
            pl.when(pl.col("moved_at").is_not_null()).then(pl.col(c)).otherwise(None).alias(c)
            for c in new_cols.columns
        ]
    )


def _national_ids(
    rng: np.random.Generator, vocabulary: Vocabulary, people: pl.DataFrame, chinese: np.ndarray
) -> pl.Series:
    """18-digit resident ids (region, birth date, sequence odd for men, ISO 7064 check digit);
    passport numbers for Western people."""
    n = people.height
    seq = rng.integers(0, 500, n) * 2 + (people["gender"] == "M").to_numpy().astype(np.int64)
    body = people.select(
        pl.concat_str(
            [
                _gather(vocabulary.places["region_code"], people["city_idx"].to_numpy()),
                pl.col("birth_date").dt.strftime("%Y%m%d"),
                pl.Series(seq).cast(pl.String).str.zfill(3),
            ]
        )
    ).to_series()
    digits = np.frombuffer(body.str.join("").item().encode(), dtype=np.uint8).reshape(n, 17) - 48
    check = pl.Series(_ID_CHECK[(digits * _ID_WEIGHTS).sum(axis=1) % 11].view("S1")).cast(pl.String)
    passport = pl.Series(rng.integers(10_000_000, 99_999_999, n)).cast(pl.String)
    return (
        pl.DataFrame({"body": body, "check": check, "zh": chinese, "passport": passport})
        .select(pl.when("zh").then(pl.concat_str(["body", "check"])).otherwise(pl.format("E{}", "passport")))
        .to_series()
    )


# --- behaviour --------------------------------------------------------------------------------
def _behaviour(
    rng: np.random.Generator, settings: GeneratorSettings, calendar: Calendar, chunk: Chunk, n: int
) -> pl.DataFrame:
    """Channel, BG/NBD rate and dropout, Gamma-Gamma spend, acquisition and satisfaction."""
    b = settings.behaviour
    ch = settings.channels
    segment = np.array(SEGMENTS)[choice_index(rng, np.array([ch.store_only, ch.online_only, ch.omni]), n)]
    multi = rng.random(n) < settings.noise.multi_record_share
    rate = rng.gamma(b.rate_r, 1 / b.rate_alpha, n)
    dropout = rng.beta(b.dropout_a, b.dropout_b, n)
    nu = rng.gamma(b.spend_q, 1 / b.spend_gamma, n)
    if chunk.future:
        preexisting = np.zeros(n, dtype=bool)
        first, last = calendar.exported_days, calendar.days
    else:
        preexisting = rng.random(n) < b.preexisting_share
        first, last = 0, calendar.exported_days
    # the inverse of the seasonal clock is float arithmetic: keep days inside [first, last)
    new_day = np.clip(calendar.seasonal_days(rng, n, first, last), first, np.nextafter(last, first))
    past_day = -rng.uniform(30, 6 * 365, n)
    day = np.where(preexisting, past_day, new_day)
    acquired = calendar.start_s + np.floor(day * DAY).astype(np.int64)
    return pl.DataFrame(
        {
            "segment": segment,
            "multi_record": multi,
            "rate_per_day": rate,
            "dropout_p": dropout,
            "spend_mean": b.spend_p / nu,
            "store_share": np.where(
                segment == "omni", rng.beta(2, 2, n), np.where(segment == "store", 1.0, 0.0)
            ),
            "preexisting": preexisting,
            "alive_at_start": np.where(preexisting, rng.random(n) < b.preexisting_alive_share, True),
            "never_buys": rng.random(n) < b.never_purchase_share,
            "acquisition_day": day,
            "acquired_at": acquired,
            "satisfaction": rng.normal(0, 1, n),
        }
    )
