"""SQL as the audit log keeps it: the statement's shape, never the values it names.

A query quotes what it looks for (`where email = 'li.na@qq.com'`, `where phone = 13800000000`),
and the audit log is read by roles that may not see a single customer (system_admin). So every
string and numeric literal becomes `?` and every comment `/* ? */` (free text, which may quote
anything); keywords, identifiers and operators stay, so the log still says which tables, columns
and conditions a query used. DuckDB's own tokenizer finds the literals, so a literal is whatever
the engine would read as one, even in a statement it cannot parse (an unterminated string runs to
the end and is redacted whole).

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
_LITERAL = {duckdb.token_type.string_const: "string", duckdb.token_type.numeric_const: "number"}
_EXCERPT = re.compile(r"^LINE \d+:.*(?:\n[ \t]*\^+[ \t]*)?$", re.MULTILINE)


@dataclass(frozen=True)
class Literal:
    """A literal or comment of a statement: its UTF-8 byte span and its text as written."""

    start: int
    end: int
    kind: str  # string | number | comment
    text: str


def literals(sql: str) -> list[Literal]:
    """The statement's string and numeric literals and comments, in order.

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
        if name is None:
            continue
        end = _token_end(data, tokens, i)
        if name == "number" and i + 1 < len(tokens) and tokens[i + 1] == (end, duckdb.token_type.identifier):
            skip = i + 1
            end = _token_end(data, tokens, skip)
        found.append(Literal(start, end, name, data[start:end].decode("utf-8", errors="replace")))
    return found


def _token_end(data: bytes, tokens: list[tuple[int, Any]], i: int) -> int:
    following = tokens[i + 1][0] if i + 1 < len(tokens) else len(data)
    return tokens[i][0] + len(data[tokens[i][0] : following].rstrip())


def redact_sql(sql: str) -> str:
    """The statement with every literal replaced by `?` and every comment by `/* ? */`."""
    data = sql.encode("utf-8")
    parts: list[bytes] = []
    cursor = 0
    for found in literals(sql):
        placeholder = COMMENT_PLACEHOLDER if found.kind == "comment" else PLACEHOLDER
        parts += [data[cursor : found.start], placeholder.encode("utf-8")]
        cursor = found.end
    parts.append(data[cursor:])
    return b"".join(parts).decode("utf-8", errors="replace")


def mask_literals(text: str, sql: str) -> str:
    """`text` (an error about `sql`) without its `LINE n:` excerpt and without `sql`'s literal values."""
    masked = _EXCERPT.sub("", text).strip()
    forms = sorted({form for found in literals(sql) for form in _forms(found) if form}, key=len, reverse=True)
    for form in forms:
        masked = _whole(form).sub(PLACEHOLDER, masked)
    return masked


def _forms(found: Literal) -> Iterator[str]:
    """How an error message may quote the literal: as written, and a string's or comment's content."""
    yield found.text
    if found.kind == "string":
        yield _string_content(found.text)
    elif found.kind == "comment":
        yield found.text.removeprefix("--").removeprefix("/*").removesuffix("*/").strip()


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
