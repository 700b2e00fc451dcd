"""Tables from files: the one reader of the CSV and XLSX lists offices hand to aidflow.

Survey lists (`person import`) and the bank's answer (`payments reconcile`) are read here,
with one set of rules:

- file types: `.csv` and `.txt` are CSV; `.xlsx` and `.xlsm` are workbooks (openpyxl), and so
  is `.xls`, the Excel 97-2003 format older office machines still save (xlrd); the first
  sheet is read unless one is named;
- a CSV's encoding is named by the caller or detected: UTF-8 (with or without a BOM) if
  the whole file decodes as UTF-8, else GB18030 (which includes GBK and GB2312, what
  spreadsheet programs on Chinese Windows save);
- blank rows (every cell empty or white space) are skipped wherever they are; the first
  row that is not blank is the header;
- every row comes with its line: for a CSV the line of the file where the row starts (a
  quoted cell may span lines), for a workbook the row number;
- cells are given as read: text from a CSV, typed values (numbers, dates, booleans, None)
  from a workbook. `cell_text` turns a cell into the text a person sees (stripped; a whole
  number stored as a float without its `.0`). Full-width characters are kept as written:
  each field's own check decides what it accepts.

Problems with the file itself (missing, an unknown type, not decodable, not a workbook)
are InvalidInputError or NotFoundError naming the file; what a row means is the caller's.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import zipfile
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aidflow.errors import InvalidInputError, NotFoundError, did_you_mean
from aidflow.i18n import N_, _
from aidflow.language.textlimits import CELL_LIMIT

CSV_SUFFIXES = (".csv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
XLS_SUFFIXES = (".xls",)
DETECTED = ("utf-8-sig", "gb18030")  # tried in this order
_FILE_HINT = N_("save the list as .csv (UTF-8 or GB18030), .xlsx or .xls")

Line = tuple[int, list[Any]]  # (line number, cells)


@dataclass(frozen=True)
class Scan:
    """What one pass over a file's bytes tells: its sha256 and the encoding of its text."""

    sha256: str
    encoding: str  # "utf-8-sig" or "gb18030"


def check_file(path: Path) -> None:
    """Refuse a path that is no file or not of a type this module reads."""
    if not path.is_file():
        raise NotFoundError(_("{path}: no such file", path=path), hint=_("check the path"))
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + XLSX_SUFFIXES + XLS_SUFFIXES:
        raise InvalidInputError(
            _("{path}: unsupported file type '{suffix}'", path=path, suffix=path.suffix),
            hint=_(_FILE_HINT),
        )


def scan(path: Path) -> Scan:
    """The file's sha256 and the encoding a CSV is read with, in one streaming pass."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return Scan(digest.hexdigest(), DETECTED[0] if utf8 else DETECTED[1])


def sheet_names(path: Path) -> list[str]:
    """The sheets of a workbook, in order; [] for a CSV."""
    if path.suffix.lower() in XLS_SUFFIXES:
        return list(_xls_book(path).sheet_names())
    if path.suffix.lower() not in XLSX_SUFFIXES:
        return []
    with _workbook(path) as wb:
        return list(wb.sheetnames)


def read_rows(
    path: Path, encoding: str | None = None, *, sheet: str | None = None
) -> Generator[Line]:
    """(line, cells) of every row that is not blank; the header is among the first.

    `encoding` names a CSV's encoding (None: detected, see the module docstring); a named
    UTF-8 also accepts a BOM. `sheet` names a workbook's sheet (None: the first).
    """
    check_file(path)
    if path.suffix.lower() in XLSX_SUFFIXES:
        rows = _xlsx_rows(path, sheet)
    elif path.suffix.lower() in XLS_SUFFIXES:
        rows = _xls_rows(path, sheet)
    else:
        if encoding is None:
            encoding = scan(path).encoding
        else:
            try:
                known = codecs.lookup(encoding).name
            except LookupError:
                raise InvalidInputError(
                    _(
                        "{path}: encoding {encoding!r} is not one this system knows",
                        path=path,
                        encoding=encoding,
                    ),
                    hint=_("name it like gb18030, gbk or utf-8"),
                ) from None
            if known == "utf-8":
                encoding = "utf-8-sig"
        rows = _csv_rows(path, encoding)
    for line, cells in rows:
        if not is_blank(cells):
            yield line, cells


def cell_text(cell: Any) -> str:
    """The text a person sees in a cell: stripped, '' for an empty cell, 7 for 7.0."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return str(cell).strip()


def is_blank(cells: Sequence[Any]) -> bool:
    """Whether every cell of a row is empty or white space."""
    try:
        return not "".join(cells).strip()  # a CSV row (all text): one strip for the row
    except TypeError:
        return not any(cell_text(c) for c in cells)


def _csv_rows(path: Path, encoding: str) -> Iterator[Line]:
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        start = 1
        try:
            for cells in reader:
                yield start, cells
                start = reader.line_num + 1
        except UnicodeDecodeError as exc:
            # the text is decoded a block at a time, ahead of the rows read: the line is
            # found by decoding the file's lines one by one
            named = _("UTF-8 or GB18030") if encoding == DETECTED[1] else encoding
            line = _undecodable_line(path, encoding)
            where = f"{path}:{line}" if line else str(path)
            raise InvalidInputError(
                _(
                    "{where}: bytes that are not {named} text ({reason}); nothing was read",
                    where=where,
                    named=named,
                    reason=exc.reason,
                ),
                hint=_("save the file as UTF-8 or GB18030 CSV, or name its encoding (--encoding)"),
            ) from None
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):  # csv's limit is CELL_LIMIT too
                raise _cell_too_long(path, reader.line_num) from None
            raise InvalidInputError(
                _(
                    "{path}:{line}: not valid CSV ({error})",
                    path=path,
                    line=reader.line_num,
                    error=exc,
                )
            ) from None


def _cell_too_long(path: Path, line: int) -> InvalidInputError:
    return InvalidInputError(
        _(
            "{path}:{line}: a cell holds more than {kb} KB of text",
            path=path,
            line=line,
            kb=CELL_LIMIT // 1024,
        ),
        hint=_("a list's cells hold names, numbers and dates; remove the long text"),
    )


def _undecodable_line(path: Path, encoding: str) -> int | None:
    """The first line of the file that does not decode. A newline byte is never part of a
    character in UTF-8, GB18030 or GBK, so the file splits into lines before decoding."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None


@contextmanager
def _workbook(path: Path) -> Iterator[Any]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    # opened here, not by name: openpyxl would judge the name's extension, and an upload's
    # copy may have no name (aidflow.operations.uploads)
    with path.open("rb") as fh:
        try:
            wb = load_workbook(fh, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise InvalidInputError(
                _("{path}: not a readable XLSX workbook ({error})", path=path, error=exc),
                hint=_("open it in a spreadsheet program and save it as .xlsx"),
            ) from None
        try:
            yield wb
        finally:
            wb.close()


def _no_sheet(path: Path, sheet: str, names: Sequence[str]) -> InvalidInputError:
    return InvalidInputError(
        _(
            "{path}: the workbook has no sheet {sheet!r}; it has {names}",
            path=path,
            sheet=sheet,
            names=", ".join(repr(n) for n in names),
        ),
        hint=did_you_mean(sheet, names) or _("name one of them with --sheet"),
    )


def _xls_book(path: Path) -> Any:
    import xlrd

    try:  # read from the bytes, not by name (an upload's copy may have no name)
        return xlrd.open_workbook(file_contents=path.read_bytes(), on_demand=True)
    except (xlrd.XLRDError, OSError, ValueError, AssertionError, IndexError) as exc:
        raise InvalidInputError(
            _("{path}: not a readable XLS workbook ({error})", path=path, error=exc),
            hint=_("open it in a spreadsheet program and save it as .xlsx"),
        ) from None


def _xls_rows(path: Path, sheet: str | None) -> Iterator[Line]:
    """The rows of an .xls sheet with typed cells, as openpyxl gives them for .xlsx: dates
    as datetimes (by the workbook's own date system), numbers as floats, booleans, text, and
    None for an empty cell or an error value."""
    import xlrd

    book = _xls_book(path)
    names = book.sheet_names()
    if sheet is not None and sheet not in names:
        raise _no_sheet(path, sheet, names)
    ws = book.sheet_by_name(sheet) if sheet is not None else book.sheet_by_index(0)
    for r in range(ws.nrows):
        cells: list[Any] = []
        for cell in ws.row(r):
            kind, value = cell.ctype, cell.value
            if kind == xlrd.XL_CELL_DATE:
                value = xlrd.xldate_as_datetime(value, book.datemode)
            elif kind == xlrd.XL_CELL_BOOLEAN:
                value = bool(value)
            elif kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
                value = None
            elif kind == xlrd.XL_CELL_TEXT and len(value) > CELL_LIMIT:
                raise _cell_too_long(path, r + 1)
            cells.append(value)
        yield r + 1, cells


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[Line]:
    with _workbook(path) as wb:
        if sheet is not None and sheet not in wb.sheetnames:
            raise _no_sheet(path, sheet, wb.sheetnames)
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        for number, cells in enumerate(ws.iter_rows(values_only=True), start=1):
            if any(type(c) is str and len(c) > CELL_LIMIT for c in cells):
                raise _cell_too_long(path, number)
            yield number, list(cells)
