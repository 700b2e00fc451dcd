"""Survey lists (排查摸底) into persons: read, validate every row, merge by ID number.

A list from civil affairs, health or the disabled persons' federation is a CSV (UTF-8 with
or without BOM, else GB18030) or an XLSX file whose columns are mapped to person fields by
workflows/policy/import_mappings.yaml. The import runs in two passes:

1. validate every row (ID checksum, dates, grades, hukou, required fields, the acting
   user's area) and collect every problem with its line. Any problem and the import
   writes nothing, unless the caller asked to skip bad rows.
2. write the good rows (kept from pass 1, or read again from a list longer than
   KEEP_ROWS) in batches, one transaction per batch: new persons are inserted,
   persons already known (by ID number, from the database or earlier in the file) are
   merged. Every row leaves a PersonSource with what it said. A field nobody stated
   before is filled in; a field stated before with another value keeps the existing
   value and the row records the disagreement.

The run is keyed by (file hash, source): a finished run is not repeated, and an unfinished
one (a crash, a kill) resumes after the last committed batch, so no row is written twice
(unique (import_run_id, line)). No printing here: progress goes to a callback.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import repeat
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Select,
    String,
    Table,
    any_,
    bindparam,
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from aidflow import failpoints
from aidflow.engine.rules import Actor
from aidflow.errors import (
    ForbiddenError,
    IdNumberError,
    InvalidInputError,
    NotFoundError,
    WorkflowInvalidError,
    did_you_mean,
)
from aidflow.idnumber import id_number_parts, mask
from aidflow.language.yamlfile import read_yaml_file
from aidflow.store.models import ImportRun, Person, PersonSource

FIELDS: tuple[str, ...] = (
    "id_number",
    "name",
    "township",
    "village",
    "hukou",
    "birth_date",
    "disability_grade",
    "disability_type",
    "mental_illness",
    "registered_poor",
    "living_alone",
    "supporter_able",
)
REQUIRED: tuple[str, ...] = ("id_number", "name", "township", "village")
TEXT_FIELDS = ("name", "township", "village")
BOOL_FIELDS = ("mental_illness", "registered_poor", "living_alone", "supporter_able")
DISABILITY_TYPES = ("physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple")
# fields merged into Person (id_number identifies, birth_date is checked against the ID number)
MERGED: tuple[str, ...] = tuple(f for f in FIELDS if f not in ("id_number", "birth_date"))
_TRUE = {"是", "有", "y", "yes", "true", "1", "√"}
_FALSE = {"否", "无", "n", "no", "false", "0", "×"}
_MAX_TEXT = 100
BATCH_SIZE = 1000
# pass 2 writes the rows pass 1 checked, kept in memory (about 1 kB each) up to this many;
# a longer list is read and converted again
KEEP_ROWS = 100_000
LOOKUP_CHUNK = 1000  # ID numbers per existence query where each is a bound value
# Core tables: a plain executemany skips the ORM's per-row bookkeeping
_PERSONS = cast(Table, Person.__table__)
_SOURCES = cast(Table, PersonSource.__table__)
_RUNS = cast(Table, ImportRun.__table__)
_MERGED_SET = frozenset(MERGED)
# a new person's merged fields before the row's own values
_NEW_PERSON: dict[str, Any] = {
    "name": "",
    "hukou": "",
    "disability_grade": None,
    "disability_type": None,
    "mental_illness": False,
    "registered_poor": False,
    "living_alone": None,
    "supporter_able": None,
}
_PERSON_COLUMNS = (*MERGED, "id_number", "birth_date", "sex", "related_users", "created_at")
_SOURCE_COLUMNS = ("person_id", "import_run_id", "source", "line", "data", "imported_at")


# -- the mapping file ------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Mapping:
    name: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ImportPolicy:
    file: str
    mappings: dict[str, Mapping]
    sources: dict[str, str]  # source -> default mapping name
    import_roles: tuple[str, ...]
    show_id_roles: tuple[str, ...]

    def mapping_for(self, source: str, name: str | None) -> Mapping:
        if source not in self.sources:
            hint = did_you_mean(source, self.sources) or f"sources: {', '.join(self.sources)}"
            raise InvalidInputError(
                f"unknown source '{source}' (declared in {self.file})", hint=hint
            )
        wanted = name or self.sources[source]
        if wanted not in self.mappings:
            hint = did_you_mean(wanted, self.mappings) or f"mappings: {', '.join(self.mappings)}"
            raise InvalidInputError(f"no mapping named '{wanted}' in {self.file}", hint=hint)
        return self.mappings[wanted]


def load_import_policy(path: str | Path) -> ImportPolicy:
    """Read import_mappings.yaml strictly; every problem is reported at once."""
    doc = read_yaml_file(path)
    data = doc.data if isinstance(doc.data, dict) else {}
    if doc.data is not None and not isinstance(doc.data, dict):
        doc.problem((), "expected a mapping with keys access, sources and mappings")
    for key in data:
        if key not in ("access", "sources", "mappings"):
            doc.problem(
                (key,),
                f"unknown key '{key}'",
                did_you_mean(key, ("access", "sources", "mappings")),
                key=True,
            )
    access = data.get("access") or {}
    roles: dict[str, tuple[str, ...]] = {}
    for key in ("import", "show_id"):
        value = access.get(key) if isinstance(access, dict) else None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            doc.problem(("access", key), "expected a list of role names")
            value = []
        roles[key] = tuple(value)
    mappings: dict[str, Mapping] = {}
    raw_mappings = data.get("mappings")
    if not isinstance(raw_mappings, dict) or not raw_mappings:
        doc.problem(("mappings",), "expected a mapping of mapping names to their columns")
        raw_mappings = {}
    for mname, spec in raw_mappings.items():
        cols = spec.get("columns") if isinstance(spec, dict) else None
        if not isinstance(cols, dict) or not cols:
            doc.problem(
                ("mappings", mname, "columns"), "expected a mapping of column headers to fields"
            )
            continue
        columns: list[Column] = []
        for header, target in cols.items():
            at: tuple[str, ...] = ("mappings", str(mname), "columns", str(header))
            values: dict[str, Any] = {}
            if isinstance(target, dict):
                values = target.get("values") or {}
                target = target.get("field")
                if not isinstance(values, dict):
                    doc.problem(at + ("values",), "expected a mapping of text -> value")
                    values = {}
            if target not in FIELDS:
                doc.problem(
                    at,
                    f"unknown person field {target!r}",
                    did_you_mean(str(target), FIELDS) or f"fields: {', '.join(FIELDS)}",
                )
                continue
            columns.append(Column(str(header), str(target), {str(k): v for k, v in values.items()}))
        names = [c.field for c in columns]
        for required in REQUIRED:
            if required not in names:
                doc.problem(
                    ("mappings", mname, "columns"),
                    f"no column maps to the required field {required}",
                )
        mappings[str(mname)] = Mapping(str(mname), tuple(columns))
    sources: dict[str, str] = {}
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, dict) or not raw_sources:
        doc.problem(("sources",), "expected a mapping of source -> mapping name")
        raw_sources = {}
    for source, mname in raw_sources.items():
        if mname not in raw_mappings:
            doc.problem(
                ("sources", source),
                f"unknown mapping {mname!r}",
                did_you_mean(str(mname), raw_mappings),
            )
        sources[str(source)] = str(mname)
    if doc.problems:
        raise WorkflowInvalidError(doc.problems)
    return ImportPolicy(str(path), mappings, sources, roles["import"], roles["show_id"])


# -- reading files ---------------------------------------------------------------------


def hash_and_encoding(path: Path) -> tuple[str, str]:
    """sha256 of the file and the text encoding a CSV is read with (one streaming pass)."""
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
    return digest.hexdigest(), "utf-8-sig" if utf8 else "gb18030"


def read_rows(path: Path, encoding: str) -> Iterator[tuple[int, list[Any]]]:
    """(line, cells) for every row of a CSV or the first sheet of an XLSX; line 1 is the header."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        yield from _xlsx_rows(path)
    elif suffix in (".csv", ".txt"):
        with path.open(encoding=encoding, newline="") as f:
            for number, row in enumerate(csv.reader(f), start=1):
                yield number, list(row)
    else:
        raise InvalidInputError(
            f"{path}: unsupported file type '{path.suffix}'",
            hint="save the list as .csv (UTF-8 or GB18030) or .xlsx",
        )


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    import zipfile

    from openpyxl import load_workbook  # type: ignore[import-untyped]
    from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InvalidInputError(
            f"{path}: not a readable XLSX workbook ({exc})",
            hint="open it in a spreadsheet program and save it as .xlsx",
        ) from None
    try:
        ws = wb.worksheets[0]
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
            yield number, list(row)
    finally:
        wb.close()


# -- validating rows -------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class Row:
    """One good row: the fields it states, normalized, and what its ID number says."""

    __slots__ = ("birth_date", "id_number", "line", "sex", "values")

    def __init__(self, line: int, values: dict[str, Any], birth_date: date, sex: str) -> None:
        self.line = line
        self.values = values  # field -> normalized value, only the fields the row states
        self.id_number: str = values["id_number"]
        self.birth_date = birth_date  # from the ID number
        self.sex = sex


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return str(cell).strip()


_MISSING = object()
# fields whose value follows from the cell's text alone and has few distinct values: a
# text cell's result is remembered per column: a 20 000-row list checks "农业" once, not 20 000 times
_MEMO_FIELDS = frozenset({"hukou", "disability_grade", "disability_type", *BOOL_FIELDS})


class _Validator:
    """Turns cells into a Row, or problems; one instance per file."""

    def __init__(
        self, mapping: Mapping, header: list[Any], today: date, file: str, trusted: bool = False
    ) -> None:
        self.today = today
        # the second pass reads rows the first pass checked: skip recomputing check characters
        self.trusted = trusted
        self.idn: tuple[date, str] | None = None
        # (cell index, column, plain text field, memo of text -> value)
        self.positions: list[tuple[int, Column, bool, dict[str, Any] | None]] = []
        texts = [_text(h) for h in header]
        missing: list[str] = []
        for col in mapping.columns:
            if col.header in texts:
                plain = col.field in TEXT_FIELDS and not col.values
                memo: dict[str, Any] | None = {} if col.field in _MEMO_FIELDS else None
                self.positions.append((texts.index(col.header), col, plain, memo))
            elif col.field in REQUIRED:
                missing.append(f"'{col.header}' ({col.field})")
        if missing:
            found = ", ".join(t for t in texts if t) or "nothing"
            raise InvalidInputError(
                f"{file}: line 1: the header has no column {', '.join(missing)}; found {found}",
                hint=f"rename the column, or edit mapping '{mapping.name}' in "
                "workflows/policy/import_mappings.yaml",
            )

    def row(self, line: int, cells: list[Any]) -> Row | list[RowProblem]:
        problems: list[RowProblem] = []
        values: dict[str, Any] = {}
        self.idn = None
        width = len(cells)
        for index, col, plain, memo in self.positions:
            cell = cells[index] if index < width else None
            if type(cell) is str:  # CSV cells are str: the fast path
                text = cell.strip()
                if text:
                    if plain and len(text) <= _MAX_TEXT:
                        values[col.field] = text
                        continue
                    if memo is not None:
                        known = memo.get(text, _MISSING)
                        if known is not _MISSING:
                            values[col.field] = known
                            continue
            else:
                text = _text(cell)
            if not text and not isinstance(cell, date):
                if col.field in REQUIRED:
                    problems.append(RowProblem(line, f"{col.header} ({col.field}) is empty"))
                continue
            try:
                value = values[col.field] = self.convert(col, cell, text)
            except (InvalidInputError, IdNumberError) as exc:
                problems.append(RowProblem(line, f"{col.header}: {exc.message}"))
                continue
            if memo is not None and type(cell) is str:
                memo[text] = value
        if "birth_date" in values and self.idn is not None and values["birth_date"] != self.idn[0]:
            problems.append(
                RowProblem(
                    line,
                    f"出生日期 {values['birth_date']} does not match the ID "
                    f"number's birth date {self.idn[0]}",
                )
            )
        if problems:
            return problems
        assert self.idn is not None  # id_number is required, so it was parsed
        return Row(line, values, self.idn[0], self.idn[1])

    def convert(self, col: Column, cell: Any, text: str) -> Any:
        name = col.field
        if text in col.values:
            mapped = col.values[text]
            text = _text(mapped)
            cell = mapped
        # most cells reaching here are ID numbers and dates: text and choices mostly stop at the memo
        if name == "id_number":
            if isinstance(cell, float):
                raise InvalidInputError(
                    f"ID number stored as a number ({mask(text)}); digits were lost",
                    hint="format the column as text in the spreadsheet",
                )
            raw = text.replace(" ", "").upper()
            if self.trusted and len(raw) == 18:
                self.idn = (
                    date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14])),
                    "M" if int(raw[16]) % 2 else "F",
                )
                return raw
            number, born, sex, _ = id_number_parts(text, today=self.today)
            self.idn = (born, sex)
            return number
        if name == "birth_date":
            return _parse_date(cell, text)
        if name in TEXT_FIELDS:
            if len(text) > _MAX_TEXT:
                raise InvalidInputError(f"{text[:20]}... is longer than {_MAX_TEXT} characters")
            return text
        if name == "hukou":
            if text not in ("rural", "urban"):
                raise InvalidInputError(
                    f"{text!r} is not a hukou value; expected "
                    f"{self._choices(col, ('rural', 'urban'))}"
                )
            return text
        if name == "disability_grade":
            if text not in ("1", "2", "3", "4"):
                raise InvalidInputError(
                    f"{text!r} is not a disability grade; expected "
                    f"{self._choices(col, ('1', '2', '3', '4'))}"
                )
            return int(text)
        if name == "disability_type":
            if text not in DISABILITY_TYPES:
                raise InvalidInputError(
                    f"{text!r} is not a disability type; expected "
                    f"{self._choices(col, DISABILITY_TYPES)}"
                )
            return text
        if name in BOOL_FIELDS:
            if isinstance(cell, bool):
                return cell
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise InvalidInputError(f"{text!r} is not yes or no; expected 是/否, Y/N or 1/0")
        raise AssertionError(name)  # pragma: no cover - FIELDS and the branches above agree

    @staticmethod
    def _choices(col: Column, plain: Sequence[str]) -> str:
        return ", ".join([*col.values, *plain])


def _parse_date(cell: Any, text: str) -> date:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if len(text) == 10 and text[4] == "-" == text[7]:
        try:
            return date.fromisoformat(text)  # YYYY-MM-DD, the usual spelling, parsed in C
        except ValueError:
            pass  # the general path below decides, with its message
    digits = text.replace("/", "-").replace(".", "-")
    try:
        if len(digits) == 8 and digits.isdigit():
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        y, m, d = digits.split("-")
        return date(int(y), int(m), int(d))
    except ValueError:
        raise InvalidInputError(f"{text!r} is not a date", hint="write it as YYYY-MM-DD") from None


# -- the import ------------------------------------------------------------------------


@dataclass(frozen=True)
class Disagreement:
    line: int
    id_number: str
    field: str
    kept: Any
    said: Any
    kept_from: str  # "civil_affairs line 3" or "the existing record"

    def __str__(self) -> str:
        return (
            f"line {self.line}: {mask(self.id_number)} {self.field}: kept {self.kept!r} "
            f"({self.kept_from}); this list says {self.said!r}"
        )


@dataclass
class ImportResult:
    run_id: int
    file: str
    source: str
    rows_total: int
    imported: int = 0  # rows written by this call
    created: int = 0  # new persons
    merged: int = 0  # rows merged into a known person
    skipped: list[RowProblem] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    already_done: bool = False
    resumed_after: int = 0  # the last line a previous, interrupted call committed


class ImportRefusedError(InvalidInputError):
    """A list has bad rows and the caller did not ask to skip them: nothing was imported."""

    def __init__(self, file: str, problems: list[RowProblem]) -> None:
        self.problems = problems
        noun = "row" if len({p.line for p in problems}) == 1 else "rows"
        lines = [f"{file}: {len({p.line for p in problems})} bad {noun}, nothing imported:"]
        lines += [f"  {p}" for p in problems]
        super().__init__(
            "\n".join(lines),
            hint="fix the rows and import again, or pass --skip-bad to import the good rows only",
        )


Progress = Callable[[int], None]
BatchHook = Callable[[int], None]


class Importer:
    """One import of one file by one user. `run()` validates, then writes in batches."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        policy: ImportPolicy,
        actor: Actor,
        path: Path,
        source: str,
        *,
        mapping: str | None = None,
        skip_bad: bool = False,
        now: datetime,
        today: date,
        batch_size: int = BATCH_SIZE,
        keep_rows: int = KEEP_ROWS,
    ) -> None:
        if not set(actor.roles) & set(policy.import_roles):
            raise ForbiddenError(
                f"importing lists needs one of the roles {', '.join(policy.import_roles)}; "
                f"{actor.name} has {', '.join(actor.roles) or 'none'}"
            )
        if not path.is_file():
            raise NotFoundError(f"no file {path}", hint="check the path")
        self.sessions = session_factory
        self.mapping = policy.mapping_for(source, mapping)
        self.actor = actor
        self.path = path
        self.source = source
        self.skip_bad = skip_bad
        self.now = now
        self.today = today
        self.batch_size = max(1, batch_size)
        self.keep_rows = keep_rows
        self._stmts: _Statements | None = None
        self.stamp = (0, 0)  # size and mtime when the run hashed the file

    def _rows(self, encoding: str, trusted: bool = False) -> Iterator[Row | list[RowProblem]]:
        rows = read_rows(self.path, encoding)
        header: list[Any] | None = None
        for _line, cells in rows:
            if not _blank(cells):
                header = cells
                break
        if header is None:
            raise InvalidInputError(
                f"{self.path}: the file has no header row",
                hint="the first row must name the columns",
            )
        validator = _Validator(self.mapping, header, self.today, str(self.path), trusted)
        for line, cells in rows:
            if not _blank(cells):
                yield validator.row(line, cells)

    def validate(self, encoding: str) -> tuple[int, list[RowProblem], list[Row] | None]:
        """Pass 1: (good rows, problems, the good rows themselves if at most keep_rows), checking
        the database for area and new persons."""
        problems: list[RowProblem] = []
        good = 0
        pending: list[Row] = []
        known: set[str] = set()
        kept: list[Row] | None = []

        def check(batch: list[Row]) -> None:
            nonlocal good, kept
            with self.sessions() as s:
                conn = s.connection()
                stmts = self._statements(conn)
                found = {
                    r.id_number: r
                    for r in stmts.lookup(conn, stmts.areas, {row.id_number for row in batch})
                }
            for row in batch:
                bad = self._area_problem(row, found.get(row.id_number))
                if (
                    bad is None
                    and "hukou" not in row.values
                    and row.id_number not in found
                    and row.id_number not in known
                ):
                    bad = RowProblem(
                        row.line,
                        f"{mask(row.id_number)} is not registered yet and the row "
                        "gives no hukou (户籍性质); a new person needs it",
                    )
                if bad is None:
                    good += 1
                    known.add(row.id_number)
                    if kept is not None:
                        kept.append(row)
                else:
                    problems.append(bad)
            if kept is not None and len(kept) > self.keep_rows:
                kept = None  # pass 2 reads the file again

        for item in self._rows(encoding):
            if isinstance(item, list):
                problems.extend(item)
                continue
            pending.append(item)
            if len(pending) >= LOOKUP_CHUNK:
                check(pending)
                pending = []
        if pending:
            check(pending)
        problems.sort(key=lambda p: p.line)
        return good, problems, kept

    def _statements(self, conn: Connection) -> _Statements:
        if self._stmts is None:
            self._stmts = _Statements(conn.dialect)
        return self._stmts

    def _stamp(self) -> tuple[int, int]:
        st = self.path.stat()
        return st.st_size, st.st_mtime_ns

    def _area_problem(self, row: Row, existing: Any) -> RowProblem | None:
        township, village = row.values["township"], row.values["village"]
        if self.actor.covers(township, village):
            if existing is None or self.actor.covers(existing.township, existing.village):
                return None
            township, village = existing.township, existing.village
        return RowProblem(
            row.line,
            f"{township}/{village} is outside {self.actor.name}'s area ({self.actor.area})",
        )

    def run(
        self,
        progress: Progress | None = None,
        on_batch: BatchHook | None = None,
        on_total: Progress | None = None,
    ) -> ImportResult:
        """Validate, then write; `progress(n)` after each batch, `on_batch(k)` before its commit."""
        self.stamp = self._stamp()
        file_hash, encoding = hash_and_encoding(self.path)
        with self.sessions() as s:
            run = s.scalar(
                select(ImportRun)
                .where(ImportRun.file_hash == file_hash, ImportRun.source == self.source)
                .order_by(ImportRun.id.desc())
                .limit(1)
            )
        if run is not None and run.status == "done":
            return ImportResult(run.id, run.file, self.source, run.rows_total, already_done=True)
        good, problems, kept = self.validate(encoding)
        if problems and not self.skip_bad:
            raise ImportRefusedError(str(self.path), problems)
        bad_lines = {p.line for p in problems}
        if on_total is not None:
            on_total(good)
        with self.sessions() as s, s.begin():
            if run is None:
                run = ImportRun(
                    file=str(self.path),
                    file_hash=file_hash,
                    source=self.source,
                    started_at=self.now,
                    started_by=self.actor.name,
                    rows_total=good + len(bad_lines),
                    rows_imported=0,
                    rows_skipped=len(bad_lines),
                    status="running",
                )
                s.add(run)
                s.flush()
                done_to = 0
            else:
                done_to = (
                    s.scalar(
                        select(func.max(PersonSource.line)).where(
                            PersonSource.import_run_id == run.id
                        )
                    )
                    or 0
                )
            run_id = run.id
        result = ImportResult(
            run_id,
            str(self.path),
            self.source,
            good + len(bad_lines),
            skipped=problems,
            resumed_after=done_to,
        )
        batch: list[Row] = []
        number = 0
        for item in kept if kept is not None else self._rows(encoding, trusted=True):
            if isinstance(item, list) or item.line in bad_lines:
                continue
            if item.line <= done_to:
                if progress:
                    progress(1)
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                number += 1
                self._write(run_id, batch, result, number, on_batch)
                if progress:
                    progress(len(batch))
                batch = []
        number += 1
        self._write(run_id, batch, result, number, on_batch, last=True)
        if progress and batch:
            progress(len(batch))
        return result

    def _write(
        self,
        run_id: int,
        batch: list[Row],
        result: ImportResult,
        number: int,
        on_batch: BatchHook | None,
        last: bool = False,
    ) -> None:
        """One batch in one transaction: persons created or merged, sources recorded."""
        if self._stamp() != self.stamp:
            raise InvalidInputError(
                f"{self.path} changed while it was being imported; nothing more was written",
                hint="import the new file again; rows already written are kept",
            )
        with self.sessions() as s, s.begin():
            conn = s.connection()
            if batch:
                self._merge(conn, run_id, batch, result)
                conn.execute(
                    update(_RUNS)
                    .where(_RUNS.c.id == run_id)
                    .values(rows_imported=_RUNS.c.rows_imported + len(batch))
                )
            if last:
                conn.execute(
                    update(_RUNS)
                    .where(_RUNS.c.id == run_id)
                    .values(status="done", finished_at=self.now)
                )
            failpoints.reach("import.merge")  # a batch written, not committed
            if on_batch is not None:
                on_batch(number)
        failpoints.reach("import.batch")  # a batch committed

    def _merge(self, conn: Connection, run_id: int, batch: list[Row], result: ImportResult) -> None:
        stmts = self._statements(conn)
        current: dict[str, dict[str, Any]] = {}
        person_ids: dict[str, int] = {}
        for r in stmts.lookup(conn, stmts.current, {row.id_number for row in batch}):
            person_ids[r.id_number] = r.id
            current[r.id_number] = {f: getattr(r, f) for f in MERGED}
        # who stated each field first: earlier rows of any source; persons entered by hand
        # (no source rows) count every recorded value as stated
        stated: dict[str, dict[str, str]] = {n: {} for n in current}
        by_pid = {pid: n for n, pid in person_ids.items()}
        pids = list(by_pid)
        for i in range(
            0, len(pids), LOOKUP_CHUNK
        ):  # a person's rows all come in one chunk, in order
            for pid, src, line, data in conn.execute(
                select(_SOURCES.c.person_id, _SOURCES.c.source, _SOURCES.c.line, _SOURCES.c.data)
                .where(_SOURCES.c.person_id.in_(pids[i : i + LOOKUP_CHUNK]))
                .order_by(_SOURCES.c.id)
            ):
                for f in data.get("row") or {}:
                    stated[by_pid[pid]].setdefault(f, f"{src} line {line}")
        for n, values in current.items():
            if not stated[n]:
                stated[n] = {f: "the existing record" for f, v in values.items() if v is not None}
        new: dict[str, dict[str, Any]] = {}
        first: dict[str, Row] = {}  # the row that created a person in this batch
        fills: dict[str, dict[str, Any]] = {}
        sources: list[tuple[Row, dict[str, Any]]] = []
        source, now = self.source, self.now
        for row in batch:
            n = row.id_number
            values = row.values
            if "birth_date" in values:
                values = dict(values, birth_date=values["birth_date"].isoformat())
            record: dict[str, Any] = {"row": values}
            if n not in current:
                # row.values holds id_number and the merged fields; the birth date is the ID number's
                person = {**_NEW_PERSON, **row.values, "birth_date": row.birth_date, "sex": row.sex}
                new[n] = current[n] = person
                first[n] = row
                result.created += 1
            else:
                if n not in stated:  # created by an earlier row of this batch
                    stated[n] = {
                        f: f"{source} line {first[n].line}"
                        for f in first[n].values
                        if f in _MERGED_SET
                    }
                disagreements: dict[str, Any] = {}
                for f, v in row.values.items():
                    if f not in _MERGED_SET:
                        continue
                    have = current[n][f]
                    if f not in stated[n]:
                        stated[n][f] = f"{source} line {row.line}"
                        if have != v:
                            current[n][f] = v
                            if n not in new:
                                fills.setdefault(n, {})[f] = v
                    elif have != v:
                        disagreements[f] = {"kept": have, "said": v, "kept_from": stated[n][f]}
                        result.disagreements.append(
                            Disagreement(row.line, n, f, have, v, stated[n][f])
                        )
                if disagreements:
                    record["disagreements"] = disagreements
                result.merged += 1
            sources.append((row, record))
        if new:
            stmts.persons(conn, list(new.values()), {"related_users": [], "created_at": now})
            person_ids.update({r.id_number: r.id for r in stmts.lookup(conn, stmts.ids, new)})
        for n, values in fills.items():
            conn.execute(update(_PERSONS).where(_PERSONS.c.id == person_ids[n]).values(**values))
        stmts.sources(
            conn,
            [
                {"person_id": person_ids[row.id_number], "line": row.line, "data": record}
                for row, record in sources
            ],
            {"import_run_id": run_id, "source": source, "imported_at": now},
        )
        result.imported += len(batch)


def _blank(cells: list[Any]) -> bool:
    try:
        return not "".join(cells).strip()  # a CSV row (all text): one strip instead of one per cell
    except TypeError:
        return not any(_text(c) for c in cells)


class _BulkInsert:
    """INSERT of many rows through the driver, each value converted by its column's own
    SQLAlchemy type (so stored exactly as Core would store it), values shared by every row
    converted once. Core's executemany converts each value of each row and builds a parameter
    dict per row: with the run's timestamp and JSON defaults that was half the insert's time.
    On PostgreSQL (psycopg) the rows go by COPY, which spends about half the client time of
    psycopg's executemany and less server time (one statement, not one per row)."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        self.sql = str(compiled)
        names = list(compiled.positiontup or [])  # positional paramstyle (SQLite's qmark)
        assert sorted(names or compiled.binds) == sorted(columns), (names, columns)
        self.positional = bool(names)
        self.columns = names or list(columns)
        self.processors = {
            c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns
        }
        self.copy: str | None = None
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            quote = dialect.identifier_preparer
            self.copy = (
                f"COPY {quote.format_table(table)} "
                f"({', '.join(quote.quote(table.c[c].name) for c in self.columns)}) FROM STDIN"
            )

    def __call__(
        self, conn: Connection, rows: Sequence[dict[str, Any]], shared: dict[str, Any]
    ) -> None:
        """Insert `rows` (dicts of the other columns) with the `shared` values in every row."""
        if not rows:
            return
        columns: list[Iterable[Any]] = []  # converted column by column, then zipped into rows
        for c in self.columns:
            proc = self.processors[c]
            if c in shared:
                columns.append(repeat(proc(shared[c]) if proc else shared[c], len(rows)))
            elif proc is None:
                columns.append([row[c] for row in rows])
            else:
                columns.append([proc(row[c]) for row in rows])
        if self.copy is not None:
            dbapi_error = conn.dialect.loaded_dbapi.Error
            driver: Any = (
                conn.connection.driver_connection
            )  # the psycopg connection, in this transaction
            try:
                with driver.cursor() as cursor, cursor.copy(self.copy) as copy:
                    for values in zip(*columns):
                        copy.write_row(values)
            except dbapi_error as exc:  # as SQLAlchemy wraps them, so callers see the same errors
                raise DBAPIError.instance(
                    self.copy, None, exc, dbapi_error, dialect=conn.dialect
                ) from exc
        elif self.positional:
            conn.exec_driver_sql(self.sql, list(zip(*columns)))
        else:
            conn.exec_driver_sql(
                self.sql, [dict(zip(self.columns, values)) for values in zip(*columns)]
            )


class _Statements:
    """Built once per import. Lookups by a set of ID numbers bind them as one parameter `ids`,
    `= ANY(array)` on PostgreSQL and `IN (SELECT value FROM json_each(?))` on SQLite (both use
    the unique index): rendering and parsing a query with 1000 placeholders cost more than
    the lookup itself, on psycopg several times more."""

    def __init__(self, dialect: Dialect) -> None:
        where: ColumnElement[bool]
        self.chunk = 0  # ids are bound as one array or JSON text, any length
        self.bind: Callable[[list[str]], Any] = list
        if dialect.name == "postgresql":
            where = _PERSONS.c.id_number == any_(bindparam("ids", type_=ARRAY(String)))
        elif dialect.name == "sqlite":
            each: Select[Any] = select(column("value")).select_from(
                func.json_each(bindparam("ids"))
            )
            where = _PERSONS.c.id_number.in_(each)
            self.bind = json.dumps
        else:
            where = _PERSONS.c.id_number.in_(bindparam("ids", expanding=True))
            self.chunk = LOOKUP_CHUNK
        c = _PERSONS.c
        # pass 1: where known persons live; pass 2: their merged fields, and the ids of new persons
        self.areas = select(c.id_number, c.township, c.village).where(where)
        self.current = select(c.id, c.id_number, *(c[f] for f in MERGED)).where(where)
        self.ids = select(c.id, c.id_number).where(where)
        self.persons = _BulkInsert(_PERSONS, _PERSON_COLUMNS, dialect)
        self.sources = _BulkInsert(_SOURCES, _SOURCE_COLUMNS, dialect)

    def lookup(
        self, conn: Connection, stmt: Select[Any], id_numbers: Iterable[str]
    ) -> Iterator[Any]:
        """Rows of `stmt` for the ID numbers."""
        numbers = list(id_numbers)
        step = self.chunk or max(1, len(numbers))
        for i in range(0, len(numbers), step):
            yield from conn.execute(stmt, {"ids": self.bind(numbers[i : i + step])})


def policy_path(workflows_dir: Path) -> Path:
    return workflows_dir / "policy" / "import_mappings.yaml"
