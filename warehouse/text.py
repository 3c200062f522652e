"""Text folding shared by ingestion (silver) and identity resolution (comparison features)."""

from __future__ import annotations

import polars as pl


def compatible(expr: pl.Expr) -> pl.Expr:
    """NFKC of the values that are not plain ASCII (full-width `１３９` -> `139`, `＠` -> `@`).

    Chinese input methods type digits and `@` in full width. ASCII is its own NFKC form, and
    Polars evaluates `then` on the selected rows only, so a column of ASCII values costs a length
    comparison instead of a normalisation per value (measured on 1.78M e-mails: 0.09 s against 0.55 s).
    """
    return (
        pl.when(expr.str.len_bytes() != expr.str.len_chars()).then(expr.str.normalize("NFKC")).otherwise(expr)
    )
