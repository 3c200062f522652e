"""The identity model as data: the validated `identity:` section of `cdp.yaml`.

Everything that decides who is who (comparisons, blocking rules, thresholds, deterministic keys,
guards, blocklists, cardinality limits, survivorship) is declared here, Splink style, so a retailer
can tune the model without touching code. Every field has a default that works on unseen input.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warehouse.config import CdpConfig

SECTION = "identity"

# Feature columns (built by `features.py`) that comparisons, blocking rules and keys may name.
FEATURE_COLUMNS = (
    "name_key",
    "given_key",
    "family_key",
    "name_initials",
    "name_is_display",
    "dob",
    "gender",
    "email",
    "email_head",
    "phone",
    "phone_head",
    "phone_tail",
    "phone_ends",
    "street_key",
    "city_key",
    "postcode",
    "region_key",
    "country",
    "member_id",
    "device_id",
    "social_handle",
    "national_id",
    "national_id_head",
    "national_id_tail",
    "national_id_ends",
)
ONE_INSIDE_OTHER = "one_inside_other"
GIVEN_NAME_AGREES = "given_name_agrees"
ONE_EXTENDS_OTHER = "one_extends_other"
IDENTIFIER_COLUMNS = ("email", "phone", "member_id", "device_id", "social_handle", "national_id")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StringLevel(_Strict):
    """One similarity band: pairs whose similarity is at least `min_similarity` (0..1)."""

    min_similarity: float = Field(ge=0, le=1)


class Comparison(_Strict):
    """How two records are compared on one feature, from the best level to the worst.

    `kind`:
    - `exact`: agree / disagree.
    - `string`: exact, then one level per `similarity_levels` entry (descending) using `scorer`.
    - `date`: exact, then a typo (one digit changed or two neighbouring digits swapped in
      YYYYMMDD, or day and month swapped), then one of year/month/day differs, then disagree.
    - `identifier`: exact, then (with `typo_edits` below `max_edits`) at most `typo_edits`
      edits, then at most `max_edits` edits (a typed id with typos; a swap of two neighbouring
      characters counts as one edit), then (with `extended_min_length`) one value extends the
      other, then disagree.
    The last level is always "else". Nulls on either side are neutral (weight 0).
    """

    name: str
    column: str
    kind: Literal["exact", "string", "date", "identifier"] = "exact"
    # token_sort_compact: the better of token sort and of the strings without spaces (addresses)
    scorer: Literal["jaro_winkler", "token_sort", "levenshtein", "token_sort_compact"] = "jaro_winkler"
    similarity_levels: list[float] = Field(default_factory=list)
    max_edits: int = Field(default=1, ge=0)
    # Identifiers only: a level `one_extends_other` when one value, up to its "@" (an email's
    # local part), is the start of the other's and has at least this many characters: an
    # address typed with digits cut off or appended ("liumei903859@" / "liumei90385911@"),
    # which is the same person far more often than an edit distance of 2-3 is. 0 = no level.
    extended_min_length: int = Field(default=0, ge=0)
    # Strings: a level "edits<=N" right after the first similarity band, for values at most
    # N edits apart (a swap of neighbours is one): short names with a typo ("tei" for "wei")
    # score low on Jaro-Winkler. Identifiers: a level "edits<=N" before "edits<=max_edits" when
    # N is smaller: one mistyped or swapped digit of a national id is the same id typed badly,
    # while two edits may be a relative's (a twin's id differs in its sequence digits only).
    # 0 = no such level.
    typo_edits: int = Field(default=0, ge=0)
    # Compare only the tokens the two values do not share (names: "fang wang" vs "lei wang"
    # compares "fang" with "lei"); one value inside the other ("Ms Wang" typed for "Wang Fang")
    # gets its own level, `one_inside_other`, just before "else".
    differing_tokens_only: bool = False
    # Names only: when both records carry a separate given name and the given names agree (also
    # when given and family name were swapped), a dissimilar family name alone is no contradiction
    # (a married name, a typo); the pair scores its own level, `given_name_agrees`, instead of
    # "else" (right after the first band and the typo level: the same given name is closer
    # evidence than two given names that are merely alike, "xia" and "xinyan", in one family).
    given_name_decides: bool = False
    # Names only: a record from a `display_name_sources` source carries a display name (a
    # nickname such as "night_owl" or 小雪), so disagreeing with it says nothing: such a pair
    # scores "missing" instead of "else" (agreement still counts).
    display_names_neutral: bool = False
    # Exact agreement on a rare value is stronger evidence than on a common one (Wang Fang).
    term_frequency: bool = False
    # Who-you-are evidence, one score per level (best first, "else" last): positive = the same
    # person, negative = another person, missing values score 0. A pair with a negative level
    # whose scores add up below `guards.min_identity_score` is two people (a mother and her son,
    # namesakes): no rule but a manual force-link joins them. Graded, so a typo'd duplicate (a
    # similar name, a birthday with a swapped digit) is not mistaken for a relative, and a
    # replaced given name with the same birthday is left to the match weight.
    identity_scores: list[float] | None = None

    @field_validator("column")
    @classmethod
    def _known_column(cls, value: str) -> str:
        if value not in FEATURE_COLUMNS:
            raise ValueError(f"unknown feature column {value!r}; choose one of {', '.join(FEATURE_COLUMNS)}")
        return value

    @field_validator("similarity_levels")
    @classmethod
    def _descending(cls, value: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in value) or value != sorted(value, reverse=True):
            raise ValueError("similarity_levels must be strictly between 0 and 1 and descending")
        return value

    @model_validator(mode="after")
    def _scores_per_level(self) -> Comparison:
        if self.identity_scores is not None and len(self.identity_scores) != len(self.level_labels()):
            raise ValueError(
                f"comparison {self.name!r}: identity_scores needs one score per level "
                f"({', '.join(self.level_labels())}), got {len(self.identity_scores)}"
            )
        return self

    def level_labels(self) -> list[str]:
        """Human labels of the levels, best first; the gamma code is the index into this list."""
        if self.kind == "string":
            middle = [f"{self.scorer}>={s:g}" for s in self.similarity_levels]
            if self.typo_edits:
                middle.insert(min(1, len(middle)), f"edits<={self.typo_edits}")
            if self.given_name_decides and self.similarity_levels:
                middle.insert(min(2 if self.typo_edits else 1, len(middle)), GIVEN_NAME_AGREES)
            if self.differing_tokens_only:
                middle.append(ONE_INSIDE_OTHER)
        elif self.kind == "date":
            middle = ["typo", "one_part_differs"]
        elif self.kind == "identifier":
            middle = [f"edits<={self.max_edits}"] if self.max_edits else []
            if 0 < self.typo_edits < self.max_edits:
                middle.insert(0, f"edits<={self.typo_edits}")
            if self.extended_min_length:
                middle.append(ONE_EXTENDS_OTHER)
        else:
            middle = []
        return ["exact", *middle, "else"]


class Blocklist(_Strict):
    """Junk identifier values that must never link anyone (they are treated as missing).

    Keys are feature columns or `*` (every identifier); values are compared after
    standardization (lower-case emails, E.164 phones, ids without case or dashes). Regexes use
    full-match semantics and Rust `regex` syntax (no look-around or back-references).
    """

    exact: dict[str, list[str]] = Field(default_factory=dict)
    regex: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for column, patterns in value.items():
            for pattern in patterns:
                try:
                    pl.Series([""]).str.contains(f"^(?:{pattern})$")
                except pl.exceptions.PolarsError as exc:
                    raise ValueError(
                        f"blocklist regex for {column!r} does not compile: {pattern!r}: {exc}"
                    ) from exc
        return value


class CardinalityLimit(_Strict):
    """One identifier value may belong to at most `max` distinct `per` values.

    `per: person` counts distinct people by a coarse signature (the initials of their name, which
    survive typos, scripts and word order), so a store's default phone typed for hundreds of
    customers is cut while a family's shared phone is not.
    """

    identifier: str
    per: str = "person"
    max: int = Field(ge=1)


class IdentityVouch(_Strict):
    """Evidence that only counts in combination: when every named comparison sits at the given
    level or a better one, the pair's identity score gains `score`.

    Evidence can hold in combination where each part alone does not: the same name alone
    (namesakes) or the same address alone (a household) is often two people, the same name at
    the same address less often. Where that is rare (FEBRL, whose duplicates can have their
    birthday and national id replaced by junk), a vouch keeps those contradictions from splitting
    them while a mother and her son (another given name) gain nothing from their shared address.
    Where sons are named after their fathers, it merges them: so a vouch can be limited to data
    without households (`max_household_share`, see identity_resolution.households).
    """

    # comparison name -> the weakest level label that still counts (levels are ordered best first)
    when: dict[str, str] = Field(min_length=1)
    score: float
    # The vouch applies to a run only when at most this share of the record pairs at one street
    # under one family name differ in given name and birth year (two household members).
    # None: always.
    max_household_share: float | None = Field(default=None, ge=0, le=1)


class Guards(_Strict):
    max_cluster_size: int = Field(default=50, ge=2)
    # A pair with a contradicting level (a negative identity score) and a total identity score
    # below this is two people. 0: a contradiction stands unless as much personal evidence
    # vouches for the pair (the same birthday outweighs a replaced given name; a different
    # birthday outweighs the same common name).
    min_identity_score: float = 0.0
    # Two records that are not linked to each other but would share a customer through others
    # (A-B, B-C: A and C) must not contradict below this: -2 keeps apart who differ in given name
    # *and* birthday (-3: parent and child, siblings, spouses) while a duplicate whose birthday and
    # national id were both mistyped can still join through the records it matches.
    chain_min_identity_score: float = -2.0
    # A deterministic key value shared by several people (a household phone) still links two of
    # its records on its own when their identity score reaches this (the same given name).
    shared_value_min_identity_score: float = 1.0
    # A pair whose match weight (log2 odds, prior included) reaches this links despite a single
    # contradicting field (never two). None = never: a household's shared phone, address and
    # email can add up to any weight, so by default only personal evidence lifts a contradiction.
    conflict_override_weight: float | None = None
    # Components up to this size get every member pair checked for conflicts (not only the
    # candidate pairs), so a chain A-B-C cannot join A and C that contradict each other.
    full_conflict_check_max_size: int = Field(default=400, ge=2)
    # Combinations of agreeing levels that add to the identity score (see IdentityVouch). By
    # default the same name at the same address (+2), which outweighs a birthday and a national id
    # that are both replaced (FEBRL's duplicates: FEBRL3/4 F1 0.9982/0.9987 -> 0.9993/0.9992), but
    # only in data without households: where families live together it also joins a same-named
    # relative at home (generated 1M people: precision 0.9904 -> 0.9892, bench/RESULTS.md
    # "Round 8"; their household share is 26-31%, FEBRL's at most 1.2%).
    identity_vouches: list[IdentityVouch] = Field(
        default_factory=lambda: [
            IdentityVouch(
                when={"name": GIVEN_NAME_AGREES, "street": "token_sort_compact>=0.9"},
                score=2,
                max_household_share=0.05,
            )
        ]
    )


class ModelSettings(_Strict):
    """Fellegi-Sunter estimation without labels: u from random pairs, m by EM, the prior from the
    deterministic links (or EM)."""

    # Random pairs behind u: `u_sample_pairs_per_record` per record, at least `u_sample_min_pairs`
    # and at most `u_sample_pairs`. A small set (FEBRL: 5,000 records, ~10,000 candidate pairs)
    # spent ~80% of its run on 500,000 random pairs, while 200,000 give the same F1 there; from
    # 100,000 records on the sample is the full 500,000 (the model of large runs is unchanged).
    u_sample_pairs: int = Field(default=500_000, ge=1000)
    u_sample_min_pairs: int = Field(default=200_000, ge=1000)
    u_sample_pairs_per_record: float = Field(default=5.0, gt=0)
    em_sample_pairs: int = Field(default=2_000_000, ge=1000)
    # EM training sessions: each on the candidate pairs equal on one rule, without the comparisons
    # on that rule's columns (Splink's approach); a session with fewer pairs is skipped. A session
    # on [dob, city_key] (every comparison covered by the others) never converged at 1M people: cut
    # at 40 iterations it gave match shares of 0.21 / 0.24 from one day to the next, and weights
    # that re-keyed old records nightly; run to convergence it moved to 0.96 and cost precision.
    em_blocking_rules: list[list[str]] = Field(
        default_factory=lambda: [["name_key", "dob"], ["phone"], ["email"]]
    )
    em_min_session_pairs: int = Field(default=50, ge=1)
    # EM runs to its fixed point (every session converges in < 30 iterations on the generated
    # 1M people): a model cut off mid-way moves with any change of the data.
    em_max_iterations: int = Field(default=200, ge=1)
    em_tolerance: float = Field(default=1e-7, gt=0)
    initial_match_share: float = Field(default=0.2, gt=0, lt=1)
    # The prior: the share of matches among *all* record pairs. "deterministic" (Splink's
    # estimate_probability_two_random_records_match): the candidate pairs equal on a deterministic
    # key, divided by `deterministic_recall`, over all pairs (never above EM's); as the true
    # share, it falls with the number of records. "em": EM's match share among candidate pairs,
    # scaled to all pairs; it counts agreement on the blocked-on columns as evidence, so it
    # over-states the share more the more records there are (~1.2x at 100k people, ~9x at 1M:
    # bench/RESULTS.md, Round 7).
    prior: Literal["deterministic", "em"] = "deterministic"
    # Pairs equal on a deterministic key per matching pair (all matching pairs, blocked or not):
    # 0.47 on the generated data at 100k people (a household's shared phone adds a few pairs that
    # are not matches; many matching pairs share no identifier). A property of the data: measure
    # it on a labelled sample.
    deterministic_recall: float = Field(default=0.47, gt=0, le=1)
    # Bounds that stop a level that never occurs from getting an infinite weight.
    min_probability: float = Field(default=1e-6, gt=0, lt=0.01)
    seed: int = 42


def default_comparisons() -> list[Comparison]:
    """The default model: one comparison per kind of evidence, conflicts on who-you-are fields."""
    return [
        Comparison(
            name="name",
            column="name_key",
            kind="string",
            scorer="jaro_winkler",
            similarity_levels=[0.92, 0.8],
            typo_edits=1,
            differing_tokens_only=True,
            given_name_decides=True,
            display_names_neutral=True,
            term_frequency=True,
            identity_scores=[1, 1, 0, 0, 0, 0, -1],
        ),
        Comparison(name="date_of_birth", column="dob", kind="date", identity_scores=[2, 1, 0, -2]),
        Comparison(name="gender", column="gender", identity_scores=[0, -1]),
        Comparison(name="email", column="email", kind="identifier", max_edits=1, extended_min_length=8),
        Comparison(name="phone", column="phone", kind="identifier", max_edits=1),
        Comparison(name="member_id", column="member_id", kind="identifier", max_edits=0),
        Comparison(name="device_id", column="device_id"),
        Comparison(
            name="national_id",
            column="national_id",
            kind="identifier",
            max_edits=2,
            typo_edits=1,
            identity_scores=[3, 3, 1, -1],
        ),
        Comparison(
            name="street",
            column="street_key",
            kind="string",
            scorer="token_sort_compact",
            similarity_levels=[0.9, 0.7],
        ),
        Comparison(
            name="city",
            column="city_key",
            kind="string",
            scorer="jaro_winkler",
            similarity_levels=[0.9],
            term_frequency=True,
        ),
        Comparison(name="postcode", column="postcode", kind="identifier", max_edits=1, term_frequency=True),
    ]


def default_blocking_rules() -> list[list[str]]:
    """Every shared identifier, plus name/date/place combinations that survive one typo."""
    return [
        ["email"],
        ["email_head"],
        ["phone"],
        ["phone_head"],
        ["phone_tail"],
        ["phone_ends"],
        ["member_id"],
        ["national_id"],
        ["national_id_head"],
        ["national_id_tail"],
        ["national_id_ends"],
        ["device_id"],
        ["name_key", "dob"],
        ["name_key", "postcode"],
        ["name_key", "city_key"],
        ["name_initials", "dob"],
        ["dob", "postcode"],
        ["dob", "city_key"],
        ["family_key", "street_key"],
    ]


def default_cardinality_limits() -> list[CardinalityLimit]:
    return [
        CardinalityLimit(identifier="phone", per="person", max=6),
        CardinalityLimit(identifier="email", per="person", max=4),
        CardinalityLimit(identifier="device_id", per="person", max=6),
        CardinalityLimit(identifier="social_handle", per="person", max=3),
        CardinalityLimit(identifier="member_id", per="person", max=3),
        CardinalityLimit(identifier="national_id", per="person", max=5),
        CardinalityLimit(identifier="email", per="member_id", max=3),
    ]


def default_blocklist() -> Blocklist:
    junk = ["anonymous", "unknown", "none", "null", "na", "n/a", "test", "0", "-", "x"]
    return Blocklist(
        exact={
            "*": junk,
            "email": ["test@test.com", "a@a.com", "no@email.com", "noemail@noemail.com"],
            # the number printed in Chinese documentation and forms as the example
            "phone": ["+8613800138000"],
        },
        regex={
            "email": [
                r"(test|noreply|no-reply|none|null|anonymous|unknown|nobody|noemail)@.*",
                r".*@(example|test|invalid)\.(com|org|net|cn)",
            ],
            "phone": [
                r"\+?[0-9]*(0000000|1111111|2222222|3333333|4444444|5555555|6666666|7777777|8888888|9999999|1234567)[0-9]*"
            ],
            "national_id": [r"0+", r"x+", r"1234567[0-9]*"],
            "member_id": [r"0+"],
        },
    )


Rule = Literal[
    "most_recent_valid",
    "most_frequent",
    "most_trusted_source",
    "longest_complete_address",
    "most_recent_consent",
]


class Survivorship(_Strict):
    """Which record's value becomes the golden value, per attribute."""

    source_trust: list[str] = Field(
        default_factory=lambda: ["loyalty", "ecom", "pos", "service", "survey", "social"]
    )
    default_rule: Rule = "most_frequent"
    rules: dict[str, Rule] = Field(default_factory=dict)
    address_columns: list[str] = Field(
        default_factory=lambda: ["street", "city", "postcode", "region", "country"]
    )


class IdentitySettings(_Strict):
    """The whole identity model; see the `identity:` section of cdp.yaml for the defaults."""

    deterministic_keys: list[str] = Field(
        default_factory=lambda: ["national_id", "member_id", "email", "phone", "device_id"]
    )
    # A deterministic key value seen with more distinct people (name initials) than this is a
    # household's or a shop's, not a person's: it no longer links on its own (the probabilistic
    # model still weighs it, and the guards still apply).
    # (... unless the pair's identity score reaches guards.shared_value_min_identity_score: a
    # household phone still links two records of the same person, never a bare record to a
    # family member.)
    max_people_to_link_alone: int = Field(default=1, ge=1)
    # Sources whose names are display names (social profiles: "night_owl", 小雪), not legal names:
    # they count as evidence when they agree, never as a contradiction.
    display_name_sources: list[str] = Field(default_factory=lambda: ["social"])
    # Name variants folded onto one spelling before comparing: nicknames (Bob -> Robert) and
    # other romanisations of Chinese family names (Wong -> Wang, Cheung -> Zhang). The file is a
    # CSV with columns canonical, variant (null: the built-in table, identity_resolution/
    # reference/name_variants.csv); `name_variants` adds or overrides entries (variant: canonical).
    name_variants_file: str | None = None
    name_variants: dict[str, str] = Field(default_factory=dict)
    # Honorifics typed instead of a given name (service desks: 王女士 = "Ms Wang"), removed from names.
    name_titles: list[str] = Field(
        default_factory=lambda: [
            "先生",
            "女士",
            "小姐",
            "太太",
            "mr",
            "mrs",
            "ms",
            "miss",
            "dr",
            "xiansheng",
            "nvshi",
            "xiaojie",
        ]
    )
    match_threshold: float = Field(default=0.99, gt=0, lt=1)
    max_string_length: int = Field(default=200, ge=16)
    max_block_size: int = Field(default=300, ge=2)
    # A tighter limit for a rule whose blocks stop telling people apart as the data grows: rule
    # (its columns joined by "+", e.g. "name_key+city_key") -> most records per block. The pair
    # count of a rule on a fixed-size key space (an email's first characters, a name in a city)
    # grows with the square of the data; the links in its large blocks are few (see docs).
    max_block_size_by_rule: dict[str, Annotated[int, Field(ge=2)]] = Field(default_factory=dict)
    # Candidate pairs are compared, scored and decided this many at a time, so that memory stays
    # bounded however many pairs the blocking rules produce (no effect on the result).
    pairs_per_chunk: int = Field(default=2_000_000, ge=100)
    # Chunks compared and decided side by side (threads; no effect on the result). About a fifth
    # of comparing holds Python's GIL (strings handed to rapidfuzz), so one chunk at a time keeps
    # 2 cores 60% busy; each extra thread holds one more chunk's strings in memory.
    compare_threads: int = Field(default=2, ge=1)
    # DuckDB's memory for blocking (beyond it, it spills to a temporary folder; None = DuckDB's
    # default, 80% of RAM): bounds the peak of the self-joins and of the union of their pairs.
    blocking_memory_limit: str | None = None
    blocking_rules: list[list[str]] = Field(default_factory=default_blocking_rules)
    comparisons: list[Comparison] = Field(default_factory=default_comparisons)
    guards: Guards = Field(default_factory=Guards)
    blocklist: Blocklist = Field(default_factory=default_blocklist)
    cardinality_limits: list[CardinalityLimit] = Field(default_factory=default_cardinality_limits)
    model: ModelSettings = Field(default_factory=ModelSettings)
    survivorship: Survivorship = Field(default_factory=Survivorship)
    manual_overrides_file: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> IdentitySettings:
        names = [c.name for c in self.comparisons]
        if len(set(names)) != len(names):
            raise ValueError(f"comparison names must be unique: {names}")
        columns = {c.column for c in self.comparisons}
        for key in self.deterministic_keys:
            if key not in IDENTIFIER_COLUMNS:
                raise ValueError(
                    f"deterministic key {key!r} is not an identifier ({', '.join(IDENTIFIER_COLUMNS)})"
                )
            if key not in columns:
                raise ValueError(f"deterministic key {key!r} needs a comparison on column {key!r}")
        for rule in [*self.blocking_rules, *self.model.em_blocking_rules]:
            for column in rule:
                if column not in FEATURE_COLUMNS:
                    raise ValueError(f"blocking rule {rule} names unknown feature column {column!r}")
        named = {rule_name(rule) for rule in self.blocking_rules}
        for name in self.max_block_size_by_rule:
            if name not in named:
                raise ValueError(
                    f"max_block_size_by_rule: {name!r} is not a blocking rule (one of: {', '.join(sorted(named))})"
                )
        for limit in self.cardinality_limits:
            if limit.identifier not in IDENTIFIER_COLUMNS:
                raise ValueError(f"cardinality limit on {limit.identifier!r}: not an identifier column")
        by_name = {c.name: c for c in self.comparisons}
        for vouch in self.guards.identity_vouches:
            for name, label in vouch.when.items():
                if name not in by_name:
                    raise ValueError(
                        f"guards.identity_vouches names unknown comparison {name!r} ({', '.join(names)})"
                    )
                if label not in by_name[name].level_labels():
                    raise ValueError(
                        f"guards.identity_vouches: comparison {name!r} has no level {label!r} "
                        f"({', '.join(by_name[name].level_labels())})"
                    )
        return self

    def vouch_levels(self) -> list[tuple[dict[str, int], float]]:
        """Each identity vouch as {comparison name: weakest gamma code that counts} and its score."""
        by_name = {c.name: c for c in self.comparisons}
        return [
            (
                {name: by_name[name].level_labels().index(label) for name, label in vouch.when.items()},
                vouch.score,
            )
            for vouch in self.guards.identity_vouches
        ]

    def guard_comparisons(self) -> list[Comparison]:
        """The comparisons the family/namesake guard reads: scored per level or named in a vouch."""
        vouched = {name for vouch in self.guards.identity_vouches for name in vouch.when}
        return [c for c in self.comparisons if c.identity_scores is not None or c.name in vouched]

    def block_limits(self) -> list[int]:
        """Most records per block, per blocking rule (in `blocking_rules` order)."""
        return [
            self.max_block_size_by_rule.get(rule_name(rule), self.max_block_size)
            for rule in self.blocking_rules
        ]

    def fingerprint(self) -> str:
        """Hash of everything that changes links: a saved graph built under another model is stale."""
        relevant = self.model_dump(
            exclude={
                "survivorship",
                "manual_overrides_file",
                "pairs_per_chunk",
                "compare_threads",
                "blocking_memory_limit",
            }
        )
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def rule_name(rule: list[str]) -> str:
    """A blocking rule as `max_block_size_by_rule` names it: its columns joined by "+"."""
    return "+".join(rule)


def load_settings(config: CdpConfig) -> IdentitySettings:
    """The validated `identity:` section (defaults for whatever is missing)."""
    return config.section(SECTION, IdentitySettings)


def manual_overrides_path(config: CdpConfig, settings: IdentitySettings) -> Path | None:
    if not settings.manual_overrides_file:
        return None
    path = Path(settings.manual_overrides_file)
    return path if path.is_absolute() else config.base_dir / path
