"""The last check of an erasure: is any erased value still anywhere under the data root?

Every file is searched byte by byte for the person's emails, phones (every form seen) and national
ids, in UTF-8, GBK and JSON `\\u` escapes, and Parquet files are also searched after decoding (a
compressed page may hide a value from a byte search). A hit makes the erasure "incomplete" and names
the file, never the value. Names are searched too, but only reported as warnings: two people can
share a name, an email or a phone they cannot. A caller may name folders not to search, each with
its reason; the result lists them (`skipped`), so the certificate says what was not looked at.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from privacy.matching import Subject
from privacy.pseudonymise import literal, quote, regex_literal
from warehouse.duckdb_connections import connect

READ_BYTES = 8 << 20


@dataclass
class SweepResult:
    files_searched: int = 0
    residual: dict[str, list[str]] = field(default_factory=dict)  # file -> kinds found
    name_hits: dict[str, int] = field(default_factory=dict)  # file -> how many name mentions
    skipped: dict[str, str] = field(default_factory=dict)  # folder -> why it was not searched

    @property
    def clean(self) -> bool:
        return not self.residual


def strong_values(subject: Subject, min_chars: int) -> dict[str, set[str]]:
    """Values that identify the person alone, by kind."""
    values = {
        "email": {*subject.of("email"), *(f for f in subject.raw_forms if "@" in f)},
        "phone": {*subject.of("phone"), *(f for f in subject.raw_forms if "@" not in f)},
        "national_id": subject.of("national_id"),
    }
    return {kind: {v for v in found if len(v) >= min_chars} for kind, found in values.items()}


def encodings(value: str) -> set[bytes]:
    forms = {value.encode("utf-8")}
    if not value.isascii():
        forms.add(value.encode("ascii", "backslashreplace"))  # JSON written with ensure_ascii
        with contextlib.suppress(UnicodeEncodeError):
            forms.add(value.encode("gbk"))
    return forms


def needles(values: Iterable[str]) -> list[bytes]:
    """Every encoded form, lower-cased (the search lower-cases ASCII in the data too)."""
    return sorted({form.lower() for value in values for form in encodings(value)}, key=len, reverse=True)


def sweep(
    root: Path, subject: Subject, min_chars: int, *, names: bool = True, skip: dict[Path, str] | None = None
) -> SweepResult:
    """Search every file under `root`; `names=False` skips the (warning-only) name search.

    `skip`: folders under `root` left out, with the reason each is not the searched data's.
    """
    skipped = {folder: reason for folder, reason in (skip or {}).items() if folder.is_dir()}
    result = SweepResult(skipped={str(f.relative_to(root)): reason for f, reason in skipped.items()})
    strong = {
        kind: found
        for kind, values in strong_values(subject, min_chars).items()
        if (found := needles(values))
    }
    name_needles = needles(n for n in subject.names if names and len(n.encode("utf-8")) >= min_chars)
    decoded_needles = sorted(
        {v.lower() for values in strong_values(subject, min_chars).values() for v in values}
    )
    con = connect()  # one engine for every Parquet file
    try:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not _inside(p, skipped)):
            result.files_searched += 1
            relative = str(path.relative_to(root))
            kinds, name_count = _search_bytes(path, strong, name_needles)
            decoded = path.suffix == ".parquet" and decoded_needles and not kinds
            if decoded and _search_parquet(con, path, decoded_needles):
                kinds.add("decoded parquet value")
            if kinds:
                result.residual[relative] = sorted(kinds)
            if name_count:
                result.name_hits[relative] = name_count
    finally:
        con.close()
    return result


def _inside(path: Path, folders: Iterable[Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _search_bytes(path: Path, strong: dict[str, list[bytes]], names: list[bytes]) -> tuple[set[str], int]:
    """Kinds of strong values found, and how often a name appears (chunks overlap by a margin)."""
    kinds: set[str] = set()
    name_count = 0
    overlap = max((len(n) for group in [*strong.values(), names] for n in group), default=0)
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(READ_BYTES):
            window = (tail + chunk).lower()
            kinds |= {kind for kind, forms in strong.items() if any(form in window for form in forms)}
            name_count += sum(chunk.lower().count(name) for name in names)
            tail = window[-overlap:] if overlap else b""
    return kinds, name_count


def _search_parquet(con: duckdb.DuckDBPyConnection, path: Path, needles: list[str]) -> bool:
    """Decode the file's string columns and look for the values there."""
    source = f"read_parquet({literal(str(path))})"
    pattern = literal("|".join(regex_literal(n) for n in needles))
    try:
        columns = [
            row[0]
            for row in con.execute(f"describe select * from {source}").fetchall()
            if str(row[1]).upper() == "VARCHAR"
        ]
        if not columns:
            return False
        tests = " or ".join(f"regexp_matches(lower({quote(c)}), {pattern})" for c in columns)
        return bool(con.execute(f"select count(*) from {source} where {tests}").fetchall()[0][0])
    except duckdb.Error:
        return False  # not a readable Parquet file (e.g. written partially); the byte search stands
