"""A minimal Excel workbook writer: worksheet XML built column by column with Polars, then zipped.

Survey exports can hold hundreds of thousands of cells; a general-purpose writer spends several
Python calls per cell, which made the survey workbooks one of the slowest exports. A workbook is a
zip of a few fixed XML parts plus one XML document per sheet, and each sheet row is plain text, so
every row is built by one vectorised string concatenation. Strings are written inline (no shared
strings table), numbers as numbers, nulls as absent cells. The zip entries carry a fixed date and
the document properties a fixed creation time, so the same frames always give the same bytes.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl

CREATED = "2000-01-01T00:00:00Z"  # the workbook says it was created then, so reruns give the same bytes
AUTHOR = "survey-tool"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def write_workbook(sheets: dict[str, pl.DataFrame], path: Path) -> None:
    """Write one worksheet per frame (header row, then the rows) to `path`."""
    names = list(sheets)
    parts = {
        "[Content_Types].xml": _content_types(len(names)),
        "_rels/.rels": _ROOT_RELS,
        "docProps/app.xml": _APP,
        "docProps/core.xml": _CORE,
        "xl/workbook.xml": _workbook(names),
        "xl/_rels/workbook.xml.rels": _workbook_rels(len(names)),
        "xl/styles.xml": _STYLES,
    }
    for i, frame in enumerate(sheets.values(), start=1):
        parts[f"xl/worksheets/sheet{i}.xml"] = _worksheet(frame)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, text in parts.items():
            entry = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, text.encode("utf-8"))


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _escape(text: pl.Expr) -> pl.Expr:
    return (
        text.str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )


def _cell(ref: pl.Expr, value: pl.Expr, numeric: bool) -> pl.Expr:
    """One cell's XML, or "" for a null value (an absent cell)."""
    if numeric:
        parts = [pl.lit('<c r="'), ref, pl.lit('"><v>'), value.cast(pl.String), pl.lit("</v></c>")]
    else:
        parts = [
            pl.lit('<c r="'),
            ref,
            pl.lit('" t="inlineStr"><is><t xml:space="preserve">'),
            _escape(value.cast(pl.String)),
            pl.lit("</t></is></c>"),
        ]
    # an empty text is an empty cell, as Excel itself saves it
    empty = value.is_null() if numeric else value.is_null() | (value.cast(pl.String) == "")
    return pl.when(empty).then(pl.lit("")).otherwise(pl.concat_str(parts))


def _worksheet(frame: pl.DataFrame) -> str:
    columns = frame.columns
    letters = [column_letter(j) for j in range(len(columns))]
    header = "".join(
        f'<c r="{letter}1" t="inlineStr"><is><t xml:space="preserve">{_escape_text(name)}</t></is></c>'
        for letter, name in zip(letters, columns, strict=True)
    )
    body = ""
    if frame.height:
        row = (pl.int_range(pl.len()) + 2).cast(pl.String)
        cells = [
            _cell(pl.concat_str([pl.lit(letter), row]), pl.col(name), frame.schema[name].is_numeric())
            for letter, name in zip(letters, columns, strict=True)
        ]
        line = pl.concat_str([pl.lit('<row r="'), row, pl.lit('">'), *cells, pl.lit("</row>")])
        body = frame.select(line.str.join("")).item()
    last = f"{letters[-1] if letters else 'A'}{frame.height + 1}"
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:{last}"/><sheetData><row r="1">{header}</row>{body}</sheetData></worksheet>'
    )


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_NS = "http://schemas.openxmlformats.org"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _content_types(sheets: int) -> str:
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, sheets + 1)
    )
    return (
        f'{_XML}<Types xmlns="{_NS}/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/docProps/app.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f"{overrides}</Types>"
    )


def _workbook(names: list[str]) -> str:
    sheets = "".join(
        f'<sheet name="{_escape_text(name)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, name in enumerate(names, start=1)
    )
    return (
        f'{_XML}<workbook xmlns="{_NS}/spreadsheetml/2006/main" '
        f'xmlns:r="{_NS}/officeDocument/2006/relationships"><sheets>{sheets}</sheets></workbook>'
    )


def _workbook_rels(sheets: int) -> str:
    relations = "".join(
        f'<Relationship Id="rId{i}" Type="{_NS}/officeDocument/2006/relationships/worksheet" '
        f'Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, sheets + 1)
    )
    styles = (
        f'<Relationship Id="rId{sheets + 1}" Type="{_NS}/officeDocument/2006/relationships/styles" '
        'Target="styles.xml"/>'
    )
    return (
        f'{_XML}<Relationships xmlns="{_NS}/package/2006/relationships">{relations}{styles}</Relationships>'
    )


_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_NS}/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_NS}/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_NS}/package/2006/relationships/metadata/core-properties" '
    'Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_NS}/officeDocument/2006/relationships/extended-properties" '
    'Target="docProps/app.xml"/></Relationships>'
)
_APP = (
    f'{_XML}<Properties xmlns="{_NS}/officeDocument/2006/extended-properties">'
    "<Application>Microsoft Excel</Application></Properties>"
)
_CORE = (
    f'{_XML}<cp:coreProperties xmlns:cp="{_NS}/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    f"<dc:creator>{AUTHOR}</dc:creator>"
    f'<dcterms:created xsi:type="dcterms:W3CDTF">{CREATED}</dcterms:created>'
    "</cp:coreProperties>"
)
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_NS}/spreadsheetml/2006/main">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
