"""SQL as the audit log keeps it: the statement's shape, never the values it names.

A query quotes what it looks for (`where email = 'li.na@qq.com'`, `where phone = 13800000000`),
and the audit log is read by roles that may not see a single customer (system_admin). So every
string and numeric literal becomes `?` and every comment `/* ? */` (free text, which may quote
anything); keywords, identifiers and operators stay, so the log still says which tables, columns
and conditions a query used. DuckDB's own tokenizer finds the literals, so a literal is whatever
the engine would read as one, even in a statement it cannot parse (an unterminated string runs to
the end and is redacted whole).

DuckDB reads a value written in double quotes (`where email = "li.na@qq.com"`) as a column name.
Given the names the query may legitimately use (`names`: the role's tables and columns), a quoted
identifier that is none of them is redacted too (`"?"`); without `names` quoted identifiers stay.

An error about a query quotes it too ("Could not convert string 'li.na@qq.com' ...", and a
`LINE 1: ...` excerpt that may cut a literal in half): `mask_literals` drops the excerpt (the
redacted statement is logged beside it) and masks the literal values left in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

PLACEHOLDER = "?"
COMMENT_PLACEHOLDER = "/* ? */"
QUOTED_PLACEHOLDER = '"?"'
_LITERAL = {duckdb.token_type.string_const: "string", duckdb.token_type.numeric_const: "number"}
_PLACEHOLDERS = {"comment": COMMENT_PLACEHOLDER, "quoted": QUOTED_PLACEHOLDER}
_EXCERPT = re.compile(r"^LINE \d+:.*(?:\n[ \t]*\^+[ \t]*)?$", re.MULTILINE)


@dataclass(frozen=True)
class Literal:
    """A literal or comment of a statement: its UTF-8 byte span and its text as written."""

    start: int
    end: int
    kind: str  # string | number | comment | quoted (a double-quoted identifier naming nothing known)
    text: str


def literals(sql: str, names: frozenset[str] | None = None) -> list[Literal]:
    """The statement's string and numeric literals and comments, in order; with `names` (lower
    case), also its double-quoted identifiers that are none of them.

    DuckDB reports where each token starts (a UTF-8 byte offset); a token ends where the next one
    starts, less the whitespace between. A number glued to an identifier (`0x1F` is read as `0`
    then `x1F`) is one literal. A statement the tokenizer rejects is one literal, redacted whole.
    """
    data = sql.encode("utf-8")
    try:
        tokens = duckdb.tokenize(sql)
    except (duckdb.Error, RuntimeError):  # fail closed: a statement DuckDB cannot read is redacted whole
        return [Literal(0, len(data), "string", sql)]
    found: list[Literal] = []
    skip = -1
    for i, (start, kind) in enumerate(tokens):
        if i == skip:
            continue
        name = _LITERAL.get(kind, "comment" if kind == duckdb.token_type.comment else None)
        end = _token_end(data, tokens, i)
        if name is None and names is not None and kind == duckdb.token_type.identifier:
            text = data[start:end].decode("utf-8", errors="replace")
            if text.startswith('"') and _unquoted(text).lower() not in names:
                name = "quoted"
        if name is None:
            continue
        if name == "number" and i + 1 < len(tokens) and tokens[i + 1] == (end, duckdb.token_type.identifier):
            skip = i + 1
            end = _token_end(data, tokens, skip)
        found.append(Literal(start, end, name, data[start:end].decode("utf-8", errors="replace")))
    return found


def _token_end(data: bytes, tokens: list[tuple[int, Any]], i: int) -> int:
    following = tokens[i + 1][0] if i + 1 < len(tokens) else len(data)
    return tokens[i][0] + len(data[tokens[i][0] : following].rstrip())


def redact_sql(sql: str, names: frozenset[str] | None = None) -> str:
    """The statement with every literal replaced by `?`, every comment by `/* ? */` and, given the
    `names` it may use, every double-quoted identifier naming none of them by `"?"`."""
    data = sql.encode("utf-8")
    parts: list[bytes] = []
    cursor = 0
    for found in literals(sql, names):
        placeholder = _PLACEHOLDERS.get(found.kind, PLACEHOLDER)
        parts += [data[cursor : found.start], placeholder.encode("utf-8")]
        cursor = found.end
    parts.append(data[cursor:])
    return b"".join(parts).decode("utf-8", errors="replace")


def mask_literals(text: str, sql: str, names: frozenset[str] | None = None) -> str:
    """`text` (an error about `sql`) without its `LINE n:` excerpt and without `sql`'s literal values."""
    masked = _EXCERPT.sub("", text).strip()
    found_all = literals(sql, names)
    forms = sorted({form for found in found_all for form in _forms(found) if form}, key=len, reverse=True)
    for form in forms:
        masked = _whole(form).sub(PLACEHOLDER, masked)
    return masked


def _forms(found: Literal) -> Iterator[str]:
    """How an error message may quote the literal: as written, and a string's or comment's content."""
    yield found.text
    if found.kind == "string":
        yield _string_content(found.text)
    elif found.kind == "quoted":
        yield _unquoted(found.text)
    elif found.kind == "comment":
        yield found.text.removeprefix("--").removeprefix("/*").removesuffix("*/").strip()


def _unquoted(text: str) -> str:
    """A double-quoted identifier's name ("" inside stands for one quote)."""
    return text.removeprefix('"').removesuffix('"').replace('""', '"')


def _string_content(text: str) -> str:
    """'it''s' -> it's, E'a\\'b' -> a'b, $tag$x$tag$ -> x (an unterminated string: what follows the quote)."""
    if text.startswith("$"):
        tag = text[: text.index("$", 1) + 1] if "$" in text[1:] else "$"
        return text.removeprefix(tag).removesuffix(tag)
    body = text.lstrip("EeXxBbUu&").removeprefix("'")
    body = body.removesuffix("'") if len(body) and text.endswith("'") else body
    return body.replace("''", "'").replace("\\'", "'")


def _whole(form: str) -> re.Pattern[str]:
    """`form` not inside a longer word (the literal 1 must not eat the 1 of INT32)."""
    head = r"(?<!\w)" if re.match(r"\w", form) else ""
    tail = r"(?!\w)" if re.search(r"\w$", form) else ""
    return re.compile(head + re.escape(form) + tail)
