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


# Chinese family names, for splitting a name written in Han characters into family and given name.
# Two-character (compound) family names first: 欧阳娜娜 is 欧阳 + 娜娜, not 欧 + 阳娜娜.
COMPOUND_SURNAMES = [
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "令狐", "尉迟", "长孙", "夏侯", "公孙",
    "轩辕", "端木", "宇文", "司徒", "司空", "申屠", "万俟", "独孤", "南宫", "西门", "呼延", "澹台",
]  # fmt: skip
# The common one-character family names (the 100 most frequent, about 85% of people). Only used to
# recognise a name written given-name first with a space (雨涵 李), so a rare family name missing
# here merely keeps such a name in the order it was written.
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
    "莫孔向汤"
)


def han_family_given(name: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(family, given) of a Chinese name (Han characters, words separated by single spaces).

    Chinese names are written family name first, and that is how they are split: a known
    two-character family name, else the first character. Western forms and tools fill "first
    name" then "last name" and write 雨涵 李 for 李雨涵; the order of such a name is not evidence,
    so when the last word is a known family name and the first is not, that word is the family
    name. Without spaces the order is read as written (雨涵李 stays 雨 + 涵李): which characters
    form the given name cannot be told apart from a rare family name.
    """
    words = name.str.split(" ")
    first, last = words.list.first(), words.list.last()
    known = COMPOUND_SURNAMES + SURNAMES
    given_first = (words.list.len() >= 2) & ~first.is_in(known) & last.is_in(known)
    joined = name.str.replace_all(r"\s", "")
    compound = joined.str.slice(0, 2).is_in(COMPOUND_SURNAMES)
    family = (
        pl.when(given_first)
        .then(last)
        .when(compound)
        .then(joined.str.slice(0, 2))
        .otherwise(joined.str.slice(0, 1))
    )
    given = (
        pl.when(given_first)
        .then(words.list.slice(0, words.list.len() - 1).list.join(""))
        .when(compound)
        .then(joined.str.slice(2))
        .otherwise(joined.str.slice(1))
    )
    return family, pl.when(given.str.len_chars() > 0).then(given)
