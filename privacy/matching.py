"""Finding one person's rows in any table, from the catalogue alone.

A person (a `Subject`) is a set of identifier values per kind: customer ids, record ids, order ids,
emails, phones, member ids, ... Which columns of a table hold which kind comes from the catalogue
(`identifies`); bronze rows, which carry the sources' own column names, are tied to a record by the
source registry's `source_record_id` mapping (a column or a `{template}`), so nothing here lists
tables by hand. Values are compared after normalisation (emails trimmed and lower-cased, phones by
their last `erasure.phone_match_digits` digits), so `+86 138 0013 8000` in a till export and
`+8613800138000` in silver are the same phone.

The same matching serves erasure (plain values) and the suppression list (keyed hashes of values).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from privacy.pseudonymise import literal, quote
from privacy.settings import CatalogueSettings
from warehouse.config import CdpConfig

# Kinds compared as plain (trimmed) strings; email and phone have their own normalisation.
PLAIN_KINDS: tuple[str, ...] = (
    "record_id",
    "customer_id",
    "order_id",
    "member_id",
    "device_id",
    "social_handle",
    "national_id",
)
CONTACT_KINDS: tuple[str, ...] = ("email", "phone", "member_id", "device_id", "social_handle", "national_id")
DELETE_KINDS = {*PLAIN_KINDS, "email", "phone", "identifier", "raw_row"}
PHONE_PUNCTUATION = r"[\s\-().+/]"
TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def normalise_email(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.strip_chars().str.to_lowercase()


def phone_key(expr: pl.Expr, digits: int) -> pl.Expr:
    """The last `digits` digits; shorter numbers never match (too ambiguous)."""
    only = expr.cast(pl.String).str.replace_all(r"[^0-9]", "")
    return pl.when(only.str.len_chars() >= min(digits, 7)).then(only.str.slice(-digits))


def phone_key_value(value: str, digits: int) -> str | None:
    only = re.sub(r"[^0-9]", "", value)
    return only[-digits:] if len(only) >= min(digits, 7) else None


def normalise(kind: str, expr: pl.Expr, phone_digits: int) -> pl.Expr:
    if kind == "email":
        return normalise_email(expr)
    if kind == "phone":
        return phone_key(expr, phone_digits)
    return expr.cast(pl.String).str.strip_chars()


def normalise_value(kind: str, value: str, phone_digits: int) -> str | None:
    if kind == "email":
        return value.strip().lower() or None
    if kind == "phone":
        return phone_key_value(value, phone_digits)
    return value.strip() or None


@dataclass
class Subject:
    """One person as identifier values per kind (normalised), plus the raw forms seen in the data."""

    values: dict[str, set[str]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    raw_forms: set[str] = field(default_factory=set)  # emails / phones as written, for the sweep

    def of(self, kind: str) -> set[str]:
        return self.values.get(kind, set())

    def add(self, kind: str, values: Iterable[Any], phone_digits: int) -> None:
        bucket = self.values.setdefault(kind, set())
        for value in values:
            if value is None:
                continue
            normal = normalise_value(kind, str(value), phone_digits)
            if normal:
                bucket.add(normal)

    def is_empty(self) -> bool:
        return not any(self.values.values())


@dataclass(frozen=True)
class Term:
    """One way a table's row can belong to the person."""

    kind: str  # a Kind, or "record_key" for bronze rows keyed by the source registry
    columns: tuple[str, ...]
    template: str | None = None  # record_key only: "{platform}:{handle}"


def table_terms(
    catalogue: CatalogueSettings,
    layer: str,
    table: str,
    columns: Iterable[str],
    record_keys: dict[str, str] | None = None,
) -> list[Term]:
    """The identifying columns of one table, from the catalogue (and the bronze record key)."""
    columns = list(columns)
    terms: list[Term] = []
    for column in columns:
        spec = catalogue.spec(layer, table, column)
        if spec is not None and spec.identifies is not None:
            terms.append(Term(spec.identifies, (column,)))
    template = (record_keys or {}).get(table) if layer == "bronze" else None
    if template is not None:
        fields = tuple(TEMPLATE_FIELD.findall(template))
        if fields and all(f in columns for f in fields) and "_source" in columns:
            terms.append(Term("record_key", ("_source", *fields), template))
    return terms


def bronze_record_keys(config: CdpConfig) -> dict[str, str]:
    """`source__entity` -> template of its source record id, read from the source registry."""
    keys: dict[str, str] = {}
    for source, source_config in (config.section("sources") or {}).items():
        for entity, entity_config in (source_config.get("entities") or {}).items():
            for mapping in (entity_config.get("silver") or {}).values():
                spec = (mapping or {}).get("columns", {}).get("source_record_id")
                if isinstance(spec, str):
                    keys[f"{source}__{entity}"] = "{" + spec + "}"
                elif isinstance(spec, dict) and "template" in spec:
                    keys[f"{source}__{entity}"] = spec["template"]
                if f"{source}__{entity}" in keys:
                    break
    return keys


# Silver customer columns whose source column holds an identifier the suppression list drops by.
IDENTIFIER_KINDS = ("email", "phone", "national_id")


def bronze_identifier_columns(config: CdpConfig) -> dict[str, dict[str, str]]:
    """`source__entity` -> {source column: kind} of the columns its silver mappings read as an email,
    phone or national id, from the source registry. A new source's `E-Mail` or `mail` column is so
    known as an email by the mapping that says so, whatever the catalogue calls it."""
    found: dict[str, dict[str, str]] = {}
    for source, source_config in (config.section("sources") or {}).items():
        for entity, entity_config in (source_config.get("entities") or {}).items():
            for mapping in (entity_config.get("silver") or {}).values():
                columns = (mapping or {}).get("columns", {})
                for kind in IDENTIFIER_KINDS:
                    spec = columns.get(kind)
                    if isinstance(spec, dict):
                        spec = spec.get("column")
                    if isinstance(spec, str):
                        found.setdefault(f"{source}__{entity}", {})[spec] = kind
    return found


def template_expr(template: str) -> pl.Expr:
    """`{platform}:{handle}` as a Polars string expression over the row's columns."""
    parts: list[pl.Expr] = []
    position = 0
    for match in TEMPLATE_FIELD.finditer(template):
        if match.start() > position:
            parts.append(pl.lit(template[position : match.start()]))
        parts.append(pl.col(match.group(1)).cast(pl.String))
        position = match.end()
    if position < len(template):
        parts.append(pl.lit(template[position:]))
    return pl.concat_str(parts)


def term_expr(term: Term, subject: Subject, phone_digits: int) -> pl.Expr | None:
    """True on rows that belong to the subject through this term (None: the term cannot match)."""
    if term.kind == "record_key":
        wanted = subject.of("record_id")
        key = pl.concat_str(
            [pl.col("_source").cast(pl.String), pl.lit(":"), template_expr(term.template or "")]
        )
        return key.is_in(sorted(wanted)) if wanted else None
    column = pl.col(term.columns[0])
    if term.kind in PLAIN_KINDS or term.kind in ("email", "phone"):
        wanted = subject.of(term.kind)
        return normalise(term.kind, column, phone_digits).is_in(sorted(wanted)) if wanted else None
    if term.kind == "identifier":
        tests = [
            normalise(kind, column, phone_digits).is_in(sorted(subject.of(kind)))
            for kind in CONTACT_KINDS
            if subject.of(kind)
        ]
        return pl.any_horizontal(tests) if tests else None
    if term.kind == "raw_row":
        return raw_row_expr(column, subject, phone_digits)
    return None  # names and free text never decide that a row is the person's


def raw_row_expr(column: pl.Expr, subject: Subject, phone_digits: int) -> pl.Expr | None:
    """A rejected row's text mentions the person's email, phone, raw forms or one of their record keys."""
    text = column.cast(pl.String).fill_null("")
    needles = sorted({*subject.of("email"), *(f for f in subject.raw_forms if len(f) >= 4)})
    tests = []
    if needles:
        tests.append(text.str.to_lowercase().str.contains_any([n.lower() for n in needles]))
    phones = sorted(subject.of("phone"))
    if phones:
        tests.append(text.str.replace_all(PHONE_PUNCTUATION, "").str.contains_any(phones))
    keys = sorted({r.split(":", 1)[1] for r in subject.of("record_id") if ":" in r})
    if keys:
        alternatives = "|".join(re.escape(k) for k in keys)
        tests.append(
            text.str.contains(rf"(?:^|[^0-9A-Za-z_]){'(?:' + alternatives + ')'}(?:[^0-9A-Za-z_]|$)")
        )
    return pl.any_horizontal(tests) if tests else None


def match_expr(terms: list[Term], subject: Subject, phone_digits: int) -> pl.Expr | None:
    tests = [
        e
        for t in terms
        if t.kind in DELETE_KINDS | {"record_key"} and (e := term_expr(t, subject, phone_digits)) is not None
    ]
    return pl.any_horizontal(tests) if tests else None


def sql_in(column: str, values: Iterable[str]) -> str:
    return f"{quote(column)} IN ({', '.join(literal(v) for v in sorted(values))})"
