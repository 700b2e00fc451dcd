"""Survey lists (排查摸底) into persons: read, validate every row, merge by ID number.

A list from civil affairs, health or the disabled persons' federation is a CSV or an XLSX
file (read by aidflow.files.table) whose columns are mapped to person fields by
workflows/policy/import_mappings.yaml (aidflow.policy.mappings). The import runs in two
passes:

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
(unique (import_run_id, line)). Its SQL is in aidflow.store.imports. No printing here:
progress goes to a callback.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from aidflow import failpoints
from aidflow.engine.access import Actor
from aidflow.errors import ForbiddenError, IdNumberError, InvalidInputError
from aidflow.files.table import cell_text, check_file, read_rows, scan, sheet_names
from aidflow.i18n import _, ngettext, pick
from aidflow.idnumber import id_number_parts, mask
from aidflow.language.textlimits import check_text, control_character
from aidflow.policy.mappings import (
    FIELDS,
    REQUIRED,
    Column,
    ImportPolicy,
    Mapping,
    field_label,
    source_label,
)
from aidflow.store import imports as store
from aidflow.store.session import Session

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
CHECK_CHUNK = 1000  # rows whose persons pass 1 looks up at once
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


# -- validating rows -------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return _("line {line}: {message}", line=self.line, message=self.message)


class Row:
    """One good row: the fields it states, normalized, and what its ID number says."""

    __slots__ = ("birth_date", "id_number", "line", "sex", "values")

    def __init__(self, line: int, values: dict[str, Any], birth_date: date, sex: str) -> None:
        self.line = line
        self.values = values  # field -> normalized value, only the fields the row states
        self.id_number: str = values["id_number"]
        self.birth_date = birth_date  # from the ID number
        self.sex = sex


_MISSING = object()
# fields whose value follows from the cell's text alone and has few distinct values: a text
# cell's result is remembered per column, so a list checks each spelling ("农业") once
_MEMO_FIELDS = frozenset({"hukou", "disability_grade", "disability_type", *BOOL_FIELDS})


class _Validator:
    """Turns cells into a Row, or problems; one instance per file."""

    def __init__(
        self,
        mapping: Mapping,
        header: tuple[int, list[Any]],
        today: date,
        file: str,
        trusted: bool = False,
    ) -> None:
        self.today = today
        # the second pass reads rows the first pass checked: skip recomputing check characters
        self.trusted = trusted
        self.idn: tuple[date, str] | None = None
        # (cell index, column, plain text field, memo of text -> value)
        self.positions: list[tuple[int, Column, bool, dict[str, Any] | None]] = []
        header_line, cells = header
        texts = [cell_text(h) for h in cells]
        missing: list[str] = []
        for col in mapping.columns:
            if col.header in texts:
                plain = col.field in TEXT_FIELDS and not col.values
                memo: dict[str, Any] | None = {} if col.field in _MEMO_FIELDS else None
                self.positions.append((texts.index(col.header), col, plain, memo))
            elif col.field in REQUIRED:
                missing.append(
                    _("'{header}' ({field})", header=col.header, field=field_label(col.field))
                )
        if missing:
            found = ", ".join(t for t in texts if t) or _("nothing")
            raise InvalidInputError(
                _(
                    "{file}: line {line}: the header has no column {missing}; found {found}",
                    file=file,
                    line=header_line,
                    missing=", ".join(missing),
                    found=found,
                ),
                hint=_(
                    "rename the column, or edit mapping '{mapping}' in "
                    "workflows/policy/import_mappings.yaml",
                    mapping=mapping.name,
                ),
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
                    if plain and len(text) <= _MAX_TEXT and control_character(text) is None:
                        values[col.field] = text
                        continue
                    if memo is not None:
                        known = memo.get(text, _MISSING)
                        if known is not _MISSING:
                            values[col.field] = known
                            continue
            else:
                text = cell_text(cell)
            if not text and not isinstance(cell, date):
                if col.field in REQUIRED:
                    problems.append(
                        RowProblem(
                            line,
                            _(
                                "{header} ({field}) is empty",
                                header=col.header,
                                field=field_label(col.field),
                            ),
                        )
                    )
                continue
            try:
                value = values[col.field] = self.convert(col, cell, text)
            except (InvalidInputError, IdNumberError) as exc:
                problems.append(
                    RowProblem(
                        line, _("{header}: {message}", header=col.header, message=exc.message)
                    )
                )
                continue
            if memo is not None and type(cell) is str:
                memo[text] = value
        if "birth_date" in values and self.idn is not None and values["birth_date"] != self.idn[0]:
            problems.append(
                RowProblem(
                    line,
                    _(
                        "出生日期 {date} does not match the ID number's birth date {born}",
                        date=values["birth_date"],
                        born=self.idn[0],
                    ),
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
            text = cell_text(mapped)
            cell = mapped
        # most cells reaching here are ID numbers and dates (text and choices stop at the memo)
        if name == "id_number":
            if isinstance(cell, (int, float)) and not isinstance(cell, bool):
                # stored as a number: kept only if every digit survived (the check digit)
                if not _intact_number(cell):
                    raise InvalidInputError(
                        _(
                            "ID number stored as a number ({idn}); digits were lost",
                            idn=mask(text),
                        ),
                        hint=_("format the column as text in the spreadsheet and type it again"),
                    )
                text = str(int(cell))
            raw = text.replace(" ", "").upper()
            if self.trusted and len(raw) == 18:
                self.idn = (
                    date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14])),
                    "M" if int(raw[16]) % 2 else "F",
                )
                return raw
            number, born, sex, _parts = id_number_parts(text, today=self.today)
            self.idn = (born, sex)
            return number
        if name == "birth_date":
            return parse_date(cell, text)
        if name in TEXT_FIELDS:
            if len(text) > _MAX_TEXT:
                raise InvalidInputError(
                    _(
                        "{start}... is longer than {most} characters",
                        start=text[:20],
                        most=_MAX_TEXT,
                    )
                )
            return check_text(text, _("the text"), limit=_MAX_TEXT, multiline=False)
        if name == "hukou":
            if text not in ("rural", "urban"):
                raise InvalidInputError(
                    _(
                        "{text!r} is not a hukou value; expected {choices}",
                        text=text,
                        choices=self._choices(col, ("rural", "urban")),
                    )
                )
            return text
        if name == "disability_grade":
            if text not in ("1", "2", "3", "4"):
                raise InvalidInputError(
                    _(
                        "{text!r} is not a disability grade; expected {choices}",
                        text=text,
                        choices=self._choices(col, ("1", "2", "3", "4")),
                    )
                )
            return int(text)
        if name == "disability_type":
            if text not in DISABILITY_TYPES:
                raise InvalidInputError(
                    _(
                        "{text!r} is not a disability type; expected {choices}",
                        text=text,
                        choices=self._choices(col, DISABILITY_TYPES),
                    )
                )
            return text
        if name in BOOL_FIELDS:
            if isinstance(cell, bool):
                return cell
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise InvalidInputError(
                _("{text!r} is not yes or no; expected 是/否, Y/N or 1/0", text=text)
            )
        raise AssertionError(name)  # pragma: no cover - FIELDS and the branches above agree

    @staticmethod
    def _choices(col: Column, plain: Sequence[str]) -> str:
        return _(", ").join([*col.values, *plain])


HEADER_SEARCH = 10  # rows looked at for the header (title rows above it)


def _intact_number(cell: float) -> bool:
    """Whether an ID number a spreadsheet stored as a number kept every digit. Excel keeps 15
    significant digits and a float holds whole numbers exactly only up to 2**53, so most
    18-digit numbers come back changed; one whose digits still pass the check digit (and
    the other checks of an ID number) is taken as intact."""
    if isinstance(cell, float) and not cell.is_integer():
        return False
    try:
        id_number_parts(str(int(cell)))
    except IdNumberError:
        return False
    return True


_EXCEL_EPOCH = date(1899, 12, 30)  # day 0 of Excel's (and WPS's) serial dates
_CHINESE_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?")


def parse_date(cell: Any, text: str) -> date:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        # a date cell saved without its date format: Excel's serial day number
        if float(cell).is_integer() and 1 <= cell <= 2_958_465:
            return _EXCEL_EPOCH + timedelta(days=int(cell))
        raise InvalidInputError(
            _("{text!r} is not a date", text=text), hint=_("write it as YYYY-MM-DD")
        )
    found = _CHINESE_DATE.fullmatch(text)
    if found is not None:  # 2023年8月1日
        text = "-".join(found.groups())
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
        raise InvalidInputError(
            _("{text!r} is not a date", text=text), hint=_("write it as YYYY-MM-DD")
        ) from None


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
        return _(
            "line {line}: {idn} {field}: kept {kept!r} ({kept_from}); this list says {said!r}",
            line=self.line,
            idn=mask(self.id_number),
            field=field_label(self.field),
            kept=self.kept,
            kept_from=_kept_from(self.kept_from),
            said=self.said,
        )


_STATED = re.compile(r"(\S+) line (\d+)")


def _kept_from(text: str) -> str:
    """Where a kept value came from ("civil_affairs line 3", as recorded), in the reader's
    words."""
    found = _STATED.fullmatch(text)
    if found is not None:
        source = found.group(1)
        return _(
            "{source} line {line}",
            source=pick(source, source_label(source)),
            line=found.group(2),
        )
    return _("the existing record") if text == "the existing record" else text


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
    # ID number -> person id of the rows this call wrote (the case import opens their cases
    # without reading the ids back a second time)
    person_ids: dict[str, int] = field(default_factory=dict, repr=False)


class ImportRefusedError(InvalidInputError):
    """A list has bad rows and the caller did not ask to skip them: nothing was imported."""

    def __init__(self, file: str, problems: list[RowProblem]) -> None:
        self.problems = problems
        bad = len({p.line for p in problems})
        lines = [
            ngettext(
                "{file}: {n} bad row, nothing imported:",
                "{file}: {n} bad rows, nothing imported:",
                bad,
                file=file,
            )
        ]
        lines += [f"  {p}" for p in problems]
        super().__init__(
            "\n".join(lines),
            hint=_(
                "fix the rows and import again, or pass --skip-bad to import the good rows only"
            ),
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
        sheet: str | None = None,
        now: datetime,
        today: date,
        batch_size: int = BATCH_SIZE,
        keep_rows: int = KEEP_ROWS,
    ) -> None:
        if not set(actor.roles) & set(policy.import_roles):
            raise ForbiddenError(
                _(
                    "importing lists needs one of the roles {roles}; {user} has {has}",
                    roles=", ".join(policy.import_roles),
                    user=actor.name,
                    has=", ".join(actor.roles) or _("none"),
                )
            )
        check_file(path)
        self.sessions = session_factory
        self.mapping = policy.mapping_for(source, mapping)
        self.actor = actor
        self.path = path
        self.source = source
        self.skip_bad = skip_bad
        self.sheet = sheet
        self.now = now
        self.today = today
        self.batch_size = max(1, batch_size)
        self.keep_rows = keep_rows
        self._persons: store.PersonRows | None = None
        self.stamp = (0, 0)  # size and mtime when the run hashed the file

    def _rows(self, encoding: str, trusted: bool = False) -> Iterator[Row | list[RowProblem]]:
        names: list[str | None] = (
            [self.sheet] if self.sheet is not None else [*sheet_names(self.path)] or [None]
        )
        first_error: InvalidInputError | None = None
        for name in names:  # a workbook's first sheet whose header names the columns
            rows = read_rows(self.path, encoding, sheet=name)
            try:
                validator = self._header(rows, trusted)
            except InvalidInputError as exc:
                first_error = first_error or exc
                continue
            for line, cells in rows:
                yield validator.row(line, cells)
            return
        assert first_error is not None
        raise first_error

    def _sheet_read(self, encoding: str) -> str | None:
        """The sheet `_rows` reads: the one named, else the first whose header names the
        columns (None for a CSV, or a workbook none of whose sheets has the header)."""
        if self.sheet is not None:
            return self.sheet
        for name in sheet_names(self.path):
            rows = read_rows(self.path, encoding, sheet=name)
            try:
                self._header(rows, False)
            except InvalidInputError:
                continue
            finally:
                rows.close()
            return name
        return None

    def run_key(self, sha256: str, encoding: str) -> str:
        """What makes an import "the same import again": the file's content and, for a
        workbook, the sheet read. The first sheet keeps the file's bare hash (what runs
        recorded before sheets counted); any other sheet hashes the file's hash with the
        sheet's name, so that importing another sheet of the same workbook is a new import."""
        sheet = self._sheet_read(encoding)
        names = sheet_names(self.path) if sheet is not None else []
        if sheet is None or (names and names[0] == sheet):
            return sha256
        return hashlib.sha256(f"{sha256}\nsheet:{sheet}".encode()).hexdigest()

    def _header(self, rows: Iterator[tuple[int, list[Any]]], trusted: bool) -> _Validator:
        """The validator of the header row: the first of the first HEADER_SEARCH rows that
        names the mapping's columns (offices put a title, a date or a unit above it)."""
        first_error: InvalidInputError | None = None
        for _row in range(HEADER_SEARCH):
            row = next(rows, None)
            if row is None:
                break
            try:
                return _Validator(self.mapping, row, self.today, str(self.path), trusted)
            except InvalidInputError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        raise InvalidInputError(
            _("{file}: the file has no header row", file=self.path),
            hint=_("the first row must name the columns"),
        )

    def _person_rows(self, session: Session) -> store.PersonRows:
        if self._persons is None:
            self._persons = store.PersonRows(session, MERGED)
        return self._persons

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
                found = self._person_rows(s).areas(s, {row.id_number for row in batch})
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
                        _(
                            "{idn} is not registered yet and the row gives no hukou (户籍性质); "
                            "a new person needs it",
                            idn=mask(row.id_number),
                        ),
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
            if len(pending) >= CHECK_CHUNK:
                check(pending)
                pending = []
        if pending:
            check(pending)
        problems.sort(key=lambda p: p.line)
        return good, problems, kept

    def _stamp(self) -> tuple[int, int]:
        st = self.path.stat()
        return st.st_size, st.st_mtime_ns

    def _area_problem(self, row: Row, existing: tuple[str, str] | None) -> RowProblem | None:
        """A row may name, and merge into, only persons inside the actor's area."""
        township, village = row.values["township"], row.values["village"]
        if self.actor.covers(township, village):
            if existing is None or self.actor.covers(*existing):
                return None
            township, village = existing
        return RowProblem(
            row.line,
            _(
                "{township}/{village} is outside {user}'s area ({area})",
                township=township,
                village=village,
                user=self.actor.name,
                area=self.actor.area,
            ),
        )

    def run(
        self,
        progress: Progress | None = None,
        on_batch: BatchHook | None = None,
        on_total: Progress | None = None,
        checked: tuple[int, list[RowProblem], list[Row] | None] | None = None,
    ) -> ImportResult:
        """Validate, then write; `progress(n)` after each batch, `on_batch(k)` before its commit.
        `checked`: what `validate` returned for this file, when the caller already ran it."""
        self.stamp = self._stamp()
        file = scan(self.path)
        key = self.run_key(file.sha256, file.encoding)
        with self.sessions() as s:
            run = store.latest_run(s, key, self.source)
        if run is not None and run.status == "done":
            return ImportResult(run.id, run.file, self.source, run.rows_total, already_done=True)
        good, problems, kept = checked or self.validate(file.encoding)
        if problems and not self.skip_bad:
            raise ImportRefusedError(str(self.path), problems)
        bad_lines = {p.line for p in problems}
        if on_total is not None:
            on_total(good)
        with self.sessions() as s, s.begin():
            if run is None:
                run_id = store.start_run(
                    s,
                    file=str(self.path),
                    file_hash=key,
                    source=self.source,
                    started_at=self.now,
                    started_by=self.actor.name,
                    rows_total=good + len(bad_lines),
                    rows_skipped=len(bad_lines),
                )
                done_to = 0
            else:
                run_id = run.id
                done_to = store.last_line(s, run_id)
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
        for item in kept if kept is not None else self._rows(file.encoding, trusted=True):
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
        """Batch `number` in one transaction: persons created or merged, sources recorded."""
        if self._stamp() != self.stamp:
            raise InvalidInputError(
                _(
                    "{file} changed while it was being imported; nothing more was written",
                    file=self.path,
                ),
                hint=_("import the new file again; rows already written are kept"),
            )

        with self.sessions() as s, s.begin():
            if batch:
                self._merge(s, run_id, batch, result)
                store.count_rows(s, run_id, len(batch), self.now, self.actor.name)
            if last:
                store.finish_run(s, run_id, self.now, self.actor.name)
            failpoints.reach("import.merge")  # a batch written, not committed
            if on_batch is not None:
                on_batch(number)
        failpoints.reach("import.batch")  # a batch committed

    def _merge(self, s: Session, run_id: int, batch: list[Row], result: ImportResult) -> None:
        persons = self._person_rows(s)
        current: dict[str, dict[str, Any]] = {}
        person_ids: dict[str, int] = {}
        for n, (pid, values) in persons.current(s, {row.id_number for row in batch}).items():
            person_ids[n] = pid
            current[n] = values
        # who stated each field first: earlier rows of any source; persons entered by hand
        # (no source rows) count every recorded value as stated
        stated: dict[str, dict[str, str]] = {n: {} for n in current}
        by_pid = {pid: n for n, pid in person_ids.items()}
        for pid, src, line, fields in persons.statements(s, list(by_pid)):
            for f in fields:
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
                # row.values holds id_number and merged fields; the birth date is the ID number's
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
        who = self.actor.name
        if new:
            shared = {"related_users": [], "created_at": now}
            persons.insert_persons(s, list(new.values()), shared)
            person_ids.update(persons.ids(s, new))
            persons.log_new(s, new.values(), person_ids, shared, at=now, actor=who)
        persons.fill_many(
            s, {person_ids[n]: values for n, values in fills.items()}, at=now, actor=who
        )
        persons.insert_sources(
            s,
            [
                {"person_id": person_ids[row.id_number], "line": row.line, "data": record}
                for row, record in sources
            ],
            {"import_run_id": run_id, "source": source, "imported_at": now},
        )
        result.imported += len(batch)
        result.person_ids.update(person_ids)
