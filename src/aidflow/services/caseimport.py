"""A county's existing caseload from its ledgers (工作台账): `aidflow case import`.

On the day a county adopts aidflow its dibao and tekun recipients are already approved,
paid up to a known month and due for review on known dates. Each ledger row names the
person (by ID number) and the state the case is in today, with its dates, amounts and the
last period paid; the columns are mapped by workflows/policy/case_import.yaml
(aidflow.policy.casemapping).

Every row is checked against the workflow and the policy before anything is written:
- the state exists (by name or Chinese label) and is not final (an import brings in open
  cases; a closed one stays in the old ledger);
- the fields the transitions into the state require are stated (less the mapping's
  `waived` ones, each with its reason), and so are the fields a paid state's payment kinds
  read (the dibao amount, the tekun self-care category);
- an amount the policy bounds (`amounts.bounded`) is positive and at most the ceiling in
  force on the day the case entered its state;
- dates are in order: accepted <= approved <= entered the state <= today, and the next
  review falls after the approval; a paid state needs the approval date;
- the person has no other open case of the programme (in the database, or on an earlier
  row of the file) and none the programme excludes (policy `exclusivity`).
Bad rows are reported with file:line and the reason; nothing is written unless every row
passes, or the caller asked to skip the bad rows (they are listed).

A case brought in carries one "imported" event (the file, line, the file's SHA-256, the
row's content hash and values) instead of an invented history, hashed onto its chain and
logged in the audit log. Its deadline is counted from the day it entered its state on the
working-day calendar (or is the ledger's next review date), its statutory clocks from its
acceptance, and its payments resume from the month after the last period paid
(`paid_from` on the event; aidflow.services.payments).

Importing the same file again writes nothing; a corrected file changes only the cases
whose row changed, each by one "import_corrected" event naming the changed fields. The
persons are created or merged by the survey import (aidflow.services.survey) under the
source "case_ledger".
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aidflow.engine import clocks
from aidflow.engine.access import Actor
from aidflow.errors import InvalidInputError
from aidflow.files.table import cell_text, check_file, read_rows, scan
from aidflow.i18n import _, pick
from aidflow.idnumber import mask
from aidflow.language.calendar import WorkCalendar
from aidflow.language.definition import Workflow
from aidflow.language.expressions import compile_expression
from aidflow.policy.casemapping import IMPORT_FIELDS, KIND_PREFIX, CaseMapping
from aidflow.policy.mappings import FIELDS as PERSON_FIELDS
from aidflow.policy.mappings import ImportPolicy, Mapping
from aidflow.policy.standards import PaymentKind, Policy
from aidflow.services.migration import dominators
from aidflow.services.payments import (
    PAID_FROM,
    kind_label,
    month_start,
    period_text,
    to_fen,
    yuan,
)
from aidflow.services.survey import Importer, ImportRefusedError, Row, RowProblem, parse_date
from aidflow.store import caseimport as store
from aidflow.store import workflows
from aidflow.store.events import EventInput, Move, write_event
from aidflow.store.session import Session

SOURCE = "case_ledger"
_TRUE = {"是", "有", "y", "yes", "true", "1", "√"}
_FALSE = {"否", "无", "n", "no", "false", "0", "×"}
REVIEW_MONTHS = 3  # the dry run lists reviews falling due this many months ahead


# -- one row ---------------------------------------------------------------------------


@dataclass
class LedgerRow:
    """One good row: its person, the case it describes, and what the ledger says it pays."""

    line: int
    id_number: str
    township: str
    village: str
    state: str
    entered_at: datetime
    deadline_at: datetime | None
    clocks: dict[str, Any]
    data: dict[str, Any]  # the workflow's fields
    values: dict[str, Any]  # everything the row states about the case, as JSON values
    sha256: str
    paid_from: str | None  # the first month aidflow pays (a paid state only)
    ledger: dict[str, Decimal]  # kind -> the ledger's monthly figure


class _Rows:
    """Turns a ledger's cells into LedgerRows, or problems; one instance per file."""

    def __init__(
        self,
        mapping: CaseMapping,
        wf: Workflow,
        policy: Policy,
        header: tuple[int, list[Any]],
        file: str,
        today: date,
        calendar: WorkCalendar,
        deadline_for: Callable[[Workflow, str, datetime, dict[str, Any]], datetime | None],
    ) -> None:
        self.wf, self.policy, self.file, self.today = wf, policy, file, today
        self.calendar, self.deadline_for = calendar, deadline_for
        self.tz: ZoneInfo = calendar.tz
        self.kinds = [pk for pk in policy.payments.values() if pk.workflow == wf.name]
        self.labels = {st.labels.zh: s for s, st in wf.states.items()}
        self.doms = dominators(wf)
        self.waived = mapping.waived
        rule = policy.amount_rule(wf.name)
        self.ceiling = rule.ceiling if rule is not None else None
        self.bounded = set(rule.bounded) if rule is not None else set()
        header_line, cells = header
        texts = [cell_text(h) for h in cells]
        # (column, header, field, the mapping's values, text -> value for the column's
        # text cells: None where a value is a list, which rows must not share)
        self.positions: list[tuple[int, str, str, dict[str, Any], dict[str, Any] | None]] = []
        problems: list[str] = []
        kinds = {pk.kind for pk in self.kinds}
        for col in mapping.columns:
            if col.header not in texts or col.field in PERSON_FIELDS:
                continue
            target = col.field
            if target.startswith(KIND_PREFIX):
                if target[len(KIND_PREFIX) :] not in kinds:
                    problems.append(
                        _(
                            "column '{header}' maps to {target}, but {workflow} pays {kinds}",
                            header=col.header,
                            target=target,
                            workflow=wf.name,
                            kinds=", ".join(sorted(kinds)) or _("nothing"),
                        )
                    )
                    continue
            elif target not in IMPORT_FIELDS and target not in wf.fields:
                problems.append(
                    _(
                        "column '{header}' maps to {target}, which is not a field of {workflow}",
                        header=col.header,
                        target=target,
                        workflow=wf.name,
                    )
                )
                continue
            listed = target in wf.fields and wf.fields[target].type == "list"
            memo: dict[str, Any] | None = None if listed else {}
            self.positions.append((texts.index(col.header), col.header, target, col.values, memo))
        if "state" not in {p[2] for p in self.positions}:
            states = [c.header for c in mapping.columns if c.field == "state"]
            problems.append(
                _("the header has no state column ({columns})", columns=_(" or ").join(states))
            )
        if problems:
            raise InvalidInputError(
                _(
                    "{file}: line {line}: {problems}",
                    file=file,
                    line=header_line,
                    problems=_("; ").join(problems),
                ),
                hint=_("rename the column, or edit the mapping {file}", file=mapping.file),
            )
        self._required: dict[str, list[str]] = {}
        # clocks started at one time are alike: (clock, its start state, time) -> its state
        self._clocks: dict[tuple[str, str, datetime], dict[str, Any]] = {}
        # and so are the cases of one state entered and accepted at one time: one clocks
        # dict shared by their rows (never changed: the store writes it once per distinct
        # object, store.fast)
        self._running: dict[tuple[str, datetime, datetime], dict[str, Any]] = {}
        # a state's deadline depends on its entry and on the fields its `deadline_when`
        # read, nothing else: (state, entry, those fields' values) -> deadline
        self._deadlines: dict[tuple[Any, ...], datetime | None] = {}
        self._when_reads = {
            s: sorted(
                {
                    ref.partition(".")[2]
                    for alt in st.deadline_when
                    for ref in compile_expression(alt.when, namespaces=("case",)).references
                }
            )
            for s, st in wf.states.items()
        }

    def _deadline(self, state: str, entered_at: datetime, data: dict[str, Any]) -> datetime | None:
        # the type beside each value: 1 and True are equal keys, not equal to a guard
        reads = self._when_reads[state]
        key: tuple[Any, ...] = (state, entered_at)
        if reads:
            key += tuple((type(v), v) for v in map(data.get, reads))
        try:
            return self._deadlines[key]
        except KeyError:
            pass
        except TypeError:  # a list field's value: not a key
            return self.deadline_for(self.wf, state, entered_at, data)
        found = self._deadlines[key] = self.deadline_for(self.wf, state, entered_at, data)
        return found

    def _running_of(self, state: str, entered_at: datetime, start_at: datetime) -> dict[str, Any]:
        """The statutory clocks running for a case in `state` entered at `entered_at`,
        accepted at `start_at`."""
        running: dict[str, Any] = {}
        for name, spec in self.wf.clocks.items():
            dom = self.doms[state]
            if state == spec.starts_at:
                began = entered_at
            elif spec.starts_at in dom and not set(spec.stops_at) & dom:
                began = start_at
            else:
                continue
            key = (name, spec.starts_at, began)
            if key not in self._clocks:
                started = clocks.start(self.wf, spec.starts_at, began, self.calendar)
                self._clocks[key] = started[name]
            running[name] = dict(self._clocks[key])
        return running

    def required(self, state: str) -> list[str]:
        found = self._required.get(state)
        if found is None:
            found = self._required[state] = self._required_of(state)
        return found

    def _required_of(self, state: str) -> list[str]:
        """The fields a case in `state` must have: those the transitions into it require
        (a case may have come in by any of them), those its payment kinds read; less the
        mapping's waived ones."""
        need: dict[str, None] = {}
        for t in self.wf.transitions:
            if state in t.dests and state not in t.sources:
                need.update((f, None) for f, spec in t.fields.items() if spec.required)
        for pk in self.kinds:
            if state in pk.paid_states:
                for name in (pk.amount_field, pk.tier_field):
                    if name is not None:
                        need[name] = None
        return [f for f in need if f not in self.waived]

    def row(
        self, line: int, cells: list[Any], id_number: str | None, township: str, village: str
    ) -> LedgerRow | list[RowProblem]:
        problems: list[str] = []
        raw: dict[str, Any] = {}
        width = len(cells)
        for index, header, target, values, memo in self.positions:
            cell = cells[index] if index < width else None
            if type(cell) is str:  # a CSV cell: its value is its text's, converted once
                text = cell.strip()
                if memo is not None and text in memo:
                    raw[target] = memo[text]
                    continue
            else:
                text = cell_text(cell)
            if not text and not isinstance(cell, date):
                continue
            key = text if type(cell) is str else None
            if text in values:
                cell = values[text]
                text = cell_text(cell)
            try:
                value = raw[target] = self.convert(target, cell, text)
            except InvalidInputError as exc:
                problems.append(_("{header}: {message}", header=header, message=exc.message))
                continue
            if memo is not None and key is not None:
                memo[key] = value
        if "state" not in raw:
            if not problems:
                problems.append(_("the state (状态/当前环节) is empty"))
            return [RowProblem(line, p) for p in problems]
        state: str = raw["state"]
        st = self.wf.states[state]
        data = {f: v for f, v in raw.items() if f in self.wf.fields}
        missing = [f for f in self.required(state) if f not in data]
        if missing:
            problems.append(
                _(
                    "a case in {state} needs {fields}, which the row does not give",
                    state=self._state(state),
                    fields=_(", ").join(self._field(f) for f in missing),
                )
            )
        paid = [pk for pk in self.kinds if state in pk.paid_states]
        accepted = raw.get("accepted_on")
        approved = raw.get("approved_on")
        entered = raw.get("entered_on") or (approved if paid else accepted)
        if paid and approved is None:
            problems.append(
                _(
                    "a case in {state} is approved: the approval date (审批日期) is empty",
                    state=self._state(state),
                )
            )
        if entered is None and not st.initial:
            problems.append(_("no date the case entered its state (受理日期 or 进入当前环节日期)"))
        entered = entered or self.today
        order = [
            (_("accepted"), accepted),
            (_("approved"), approved),
            (_("entered its state"), entered),
        ]
        dated = [(n, d) for n, d in order if d is not None] + [(_("today"), self.today)]
        for (n1, d1), (n2, d2) in zip(dated, dated[1:], strict=False):
            if d1 > d2:
                problems.append(
                    _(
                        "dates out of order: {first} {first_date} is after {second} {second_date}",
                        first=n1,
                        first_date=d1,
                        second=n2,
                        second_date=d2,
                    )
                )
        review = raw.get("next_review")
        if review is not None and approved is not None and review <= approved:
            problems.append(
                _(
                    "the next review {review} is not after the approval {approved}",
                    review=review,
                    approved=approved,
                )
            )
        for name in sorted(self.bounded & set(data)):
            problems.extend(self._bounded(name, data[name], entered))
        ledger: dict[str, Decimal] = {}
        for pk in paid:
            got = raw.get(KIND_PREFIX + pk.kind)
            if got is None and pk.amount_field is not None and pk.amount_field in data:
                got = Decimal(str(data[pk.amount_field]))
            if got is not None:
                ledger[pk.kind] = got
        last_paid = raw.get("last_paid")
        # paid from the month after approval
        if (
            last_paid is not None
            and approved is not None
            and (last_paid < approved.year * 12 + approved.month)
        ):
            problems.append(
                _(
                    "the last period paid {period} is before the month after the approval "
                    "{approved}",
                    period=period_text(last_paid),
                    approved=approved,
                )
            )
        if last_paid is not None and last_paid > self.today.year * 12 + self.today.month - 1:
            problems.append(
                _(
                    "the last period paid {period} is in the future",
                    period=period_text(last_paid),
                )
            )
        if problems or id_number is None:
            return [RowProblem(line, p) for p in problems]
        entered_at = datetime.combine(entered, time(0), tzinfo=self.tz)
        deadline: datetime | None
        if review is not None:
            deadline = datetime.combine(review, time(0), tzinfo=self.tz)
        else:
            deadline = self._deadline(state, entered_at, data)
        start_at = datetime.combine(accepted, time(0), tzinfo=self.tz) if accepted else entered_at
        running = self._running.get((state, entered_at, start_at))
        if running is None:
            running = self._running[(state, entered_at, start_at)] = self._running_of(
                state, entered_at, start_at
            )
        paid_from = None
        if paid:
            first = (
                last_paid + 1 if last_paid is not None else entered.year * 12 + entered.month
            )  # the month after approval, as the payment run counts it
            paid_from = period_text(first)
        values = {k: _plain(v) for k, v in sorted(raw.items())}
        sha = hashlib.sha256(_ROW_JSON.encode(values).encode()).hexdigest()
        return LedgerRow(
            line,
            id_number,
            township,
            village,
            state,
            entered_at,
            deadline,
            running,
            {k: values[k] for k in data},  # converted once, above
            values,
            sha,
            paid_from,
            ledger,
        )

    def _state(self, state: str) -> str:
        """A state as the reader calls it: its code in English, its label in Chinese."""
        st = self.wf.states.get(state)
        return pick(state, st.labels.zh) if st is not None else state

    def _field(self, name: str) -> str:
        """A field as the reader calls it: its name in English, its label in Chinese."""
        spec = self.wf.fields.get(name)
        return pick(name, spec.labels.zh) if spec is not None and spec.labels else name

    def _bounded(self, name: str, value: Any, on: date) -> list[str]:
        amount = Decimal(str(value))
        if amount <= 0:
            return [
                _("{name} {amount} is not a positive amount", name=self._field(name), amount=amount)
            ]
        if self.ceiling is None:
            return []
        ceiling = self.policy.value(self.ceiling, on)
        if amount > ceiling:
            return [
                _(
                    "{name} {amount} is above the ceiling {ceiling} ({standard}) on {on}",
                    name=self._field(name),
                    amount=amount,
                    ceiling=ceiling,
                    standard=self.ceiling,
                    on=on,
                )
            ]
        return []

    def convert(self, target: str, cell: Any, text: str) -> Any:
        if target == "state":
            if text in self.wf.states:
                state = text
            elif text in self.labels:
                state = self.labels[text]
            else:
                raise InvalidInputError(
                    _(
                        "unknown state {text!r}; {workflow} has {states}",
                        text=text,
                        workflow=self.wf.name,
                        states=", ".join(
                            f"{s} ({st.labels.zh})" for s, st in self.wf.states.items()
                        ),
                    )
                )
            if self.wf.states[state].final:
                raise InvalidInputError(
                    _(
                        "{state} is a final state: an import brings in open cases only",
                        state=self._state(state),
                    )
                )
            return state
        if target in ("accepted_on", "approved_on", "entered_on", "next_review"):
            return parse_date(cell, text)
        if target == "last_paid":
            return _month(cell, text)
        if target in ("account", "notes"):
            return text
        if target.startswith(KIND_PREFIX):
            return _decimal(text)
        spec = self.wf.fields[target]
        if spec.type == "decimal":
            return _decimal(text)
        if spec.type == "int":
            try:
                return int(text)
            except ValueError:
                raise InvalidInputError(_("{text!r} is not a whole number", text=text)) from None
        if spec.type == "bool":
            if isinstance(cell, bool):
                return cell
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise InvalidInputError(_("{text!r} is not yes or no; expected 是/否", text=text))
        if spec.type == "list":
            return [p.strip() for p in text.replace("，", ",").replace("、", ",").split(",") if p]
        if spec.choices and text not in spec.choices:
            raise InvalidInputError(
                _(
                    "{text!r} is not one of {choices}",
                    text=text,
                    choices=", ".join(spec.choices),
                )
            )
        return text


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise InvalidInputError(_("{text!r} is not an amount", text=text)) from None
    if not value.is_finite():
        raise InvalidInputError(_("{text!r} is not an amount", text=text))
    return value


def _month(cell: Any, text: str) -> int:
    """A month as year * 12 + month - 1, from a date cell, 2023-08, 2023/8, 202308 or 2023年8月."""
    if isinstance(cell, date):
        return cell.year * 12 + cell.month - 1
    t = text.replace("年", "-").replace("月", "").replace("/", "-").replace(".", "-").strip("-")
    try:
        if t.isdigit() and len(t) == 6:
            y, m = int(t[:4]), int(t[4:])
        else:
            parts = t.split("-")
            y, m = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise InvalidInputError(
            _("{text!r} is not a month", text=text), hint=_("write it like 2023-08")
        ) from None
    if not 1 <= m <= 12 or y < 1900:
        raise InvalidInputError(
            _("{text!r} is not a month", text=text), hint=_("write it like 2023-08")
        )
    return y * 12 + m - 1


# a row's content hash: json.dumps(values, sort_keys=True)'s spelling, its encoder made once
_ROW_JSON = json.JSONEncoder(sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- the report ------------------------------------------------------------------------


@dataclass
class Township:
    """What the ledger says of one township: the figures the dry run and the reconciliation show."""

    states: Counter[str] = field(default_factory=Counter)
    count: Counter[str] = field(default_factory=Counter)  # kind -> cases paid (aidflow)
    fen: Counter[str] = field(default_factory=Counter)  # kind -> monthly fen (aidflow)
    ledger_count: Counter[str] = field(default_factory=Counter)  # kind -> rows stating it
    ledger_fen: Counter[str] = field(default_factory=Counter)  # kind -> the ledger's monthly fen
    reviews: list[tuple[str, int, str]] = field(default_factory=list)  # (date, line, masked id)


@dataclass
class CaseImportResult:
    file: str
    sha256: str
    workflow: str
    dry_run: bool
    rows: int
    imported: int = 0
    corrected: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    townships: dict[str, Township] = field(default_factory=dict)
    corrections: list[dict[str, Any]] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)  # the reconciliation's
    deadlines: dict[int, str] = field(default_factory=dict)  # line -> the case's deadline
    case_ids: dict[int, int] = field(default_factory=dict)  # line -> case id


@dataclass
class Checked:
    """What `CaseImporter.check` found, for `write`."""

    result: CaseImportResult
    wf: Workflow
    version_id: int
    good: list[LedgerRow]
    news: set[int]  # lines that open a case
    changes: dict[int, store.Imported]  # line -> the imported case its changed row corrects
    persons: tuple[int, list[RowProblem], list[Row] | None]  # the survey import's check


class CaseImporter:
    """One import of one ledger by one user: `run()` checks every row, then writes."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        import_policy: ImportPolicy,
        mapping: CaseMapping,
        policy: Policy,
        actor: Actor,
        path: Path,
        workflow: str,
        *,
        now: datetime,
        calendar: WorkCalendar,
        deadline_for: Callable[[Workflow, str, datetime, dict[str, Any]], datetime | None],
        file_name: str | None = None,
        skip_bad: bool = False,
        dry_run: bool = False,
    ) -> None:
        check_file(path)
        self.sessions = session_factory
        self.mapping, self.policy, self.actor = mapping, policy, actor
        self.path, self.workflow, self.now = path, workflow, now
        self.calendar, self.deadline_for = calendar, deadline_for
        self.file_name = file_name or path.name
        self.skip_bad, self.dry_run = skip_bad, dry_run
        self.today = now.astimezone(calendar.tz).date()
        persons = Mapping(SOURCE, mapping.person_columns())
        self.persons = Importer(
            session_factory,
            ImportPolicy(
                mapping.file,
                {SOURCE: persons},
                {SOURCE: SOURCE},
                import_policy.import_roles,
                import_policy.show_id_roles,
            ),
            actor,
            path,
            SOURCE,
            skip_bad=skip_bad,
            now=now,
            today=self.today,
            keep_rows=10**9,
        )

    def _lines(self, encoding: str, wf: Workflow) -> tuple[_Rows, Iterator[tuple[int, list[Any]]]]:
        rows = read_rows(self.path, encoding)
        first = next(rows, None)
        if first is None:
            raise InvalidInputError(
                _("{file}: the file has no header row", file=self.file_name),
                hint=_("the first row must name the columns"),
            )
        checker = _Rows(
            self.mapping,
            wf,
            self.policy,
            first,
            self.file_name,
            self.today,
            self.calendar,
            self.deadline_for,
        )
        return checker, rows

    def run(self) -> CaseImportResult:
        """Check every row; then, unless a dry run, write (see the module docstring)."""
        checked = self.check()
        return checked.result if self.dry_run else self.write(checked)

    def check(self) -> Checked:
        """Every row against the workflow, the policy and the database; writes nothing."""
        file = scan(self.path)
        with self.sessions() as s:
            version = workflows.latest_version(s, self.workflow)
        wf = workflows.definition_of(version)
        persons = self.persons.validate(file.encoding)
        _good, person_problems, kept = persons
        people = {r.line: r for r in kept or []}
        checker, lines = self._lines(file.encoding, wf)
        problems = list(person_problems)
        good: list[LedgerRow] = []
        total = 0
        for line, cells in lines:
            total += 1
            person = people.get(line)
            item = checker.row(
                line,
                cells,
                person.id_number if person else None,
                person.values["township"] if person else "",
                person.values["village"] if person else "",
            )
            if isinstance(item, list):
                problems.extend(item)
            else:
                good.append(item)
        result = CaseImportResult(self.file_name, file.sha256, self.workflow, self.dry_run, total)
        news, changes = self._against_database(good, problems, result, wf)
        problems.sort(key=lambda p: p.line)
        result.problems = problems
        bad = {p.line for p in problems}
        good = [r for r in good if r.line not in bad]
        self._figures(result, good)
        return Checked(result, wf, version.id, good, news, changes, persons)

    def write(self, checked: Checked) -> CaseImportResult:
        """The persons (survey import), then the new cases and the corrections in one
        transaction, then the reconciliation. ImportRefusedError for bad rows unless
        skip_bad; ConflictError (nothing written) if a person got an open case meanwhile."""
        result, good = checked.result, checked.good
        if result.problems and not self.skip_bad:
            raise ImportRefusedError(self.file_name, result.problems)
        new_rows = [r for r in good if r.line in checked.news]
        # the persons are written first, in transactions of their own: a case opened for one
        # of them since the check refuses the import before that (and again, under the
        # writers' lock, in insert_cases)
        with self.sessions() as s:
            known = store.person_ids(s, {r.id_number for r in new_rows})
            store.refuse_taken(s, list(known.values()), self.workflow)
        written = self.persons.run(checked=checked.persons).person_ids
        with self.sessions() as s, s.begin():
            wanted = {r.id_number for r in new_rows}
            ids = {n: written[n] for n in wanted if n in written}
            if len(ids) < len(wanted):  # rows a previous, interrupted run wrote
                ids.update(store.person_ids(s, wanted - ids.keys()))
            inserted = store.insert_cases(
                s,
                [
                    self._new_case(r, checked.wf, checked.version_id, ids[r.id_number], result)
                    for r in new_rows
                ],
                at=self.now,
                actor=self.actor.name,
                note=_("imported from {file}", file=self.file_name),
            )
            result.case_ids.update({r.line: cid for r, cid in zip(new_rows, inserted, strict=True)})
            for row in good:
                if row.line in checked.changes:
                    self._correct(s, row, checked.changes[row.line], result.sha256, result)
        result.imported = len(inserted)
        self._reconcile(result, good)
        return result

    def _against_database(
        self,
        good: list[LedgerRow],
        problems: list[RowProblem],
        result: CaseImportResult,
        definition: Workflow,
    ) -> tuple[set[int], dict[int, store.Imported]]:
        """Exclusivity and idempotence: (lines of new cases, line -> the case a changed row
        corrects); rows that would open a second case become problems."""
        rule = self.policy.exclusivity.get(self.workflow)
        excluded = set(rule.not_while) if rule is not None else set()
        by_household = rule is not None and rule.one_open_per == "household"
        paid = {
            st
            for pk in self.policy.payments.values()
            for st in pk.paid_states
            if pk.workflow == self.workflow
        }
        with self.sessions() as s:
            pids = store.person_ids(s, {r.id_number for r in good})
            open_ = store.open_cases(s, set(pids.values()), {self.workflow, *excluded})
            before = store.imported_cases(s, self.workflow)
            homes, home_cases = (
                store.households_of(s, set(pids.values()), self.workflow)
                if by_household
                else ({}, {})
            )
        taken: dict[int, int] = {}  # household -> the line whose case it receives by
        first: dict[str, int] = {}
        this = pick(self.workflow, definition.labels.zh)  # as the reader calls it
        news: set[int] = set()
        changes: dict[int, store.Imported] = {}
        for row in good:
            who = mask(row.id_number)
            if row.id_number in first:
                problems.append(
                    RowProblem(
                        row.line,
                        _(
                            "{who} already has an open {workflow} case on line {other}; a person "
                            "has one open case per programme",
                            who=who,
                            workflow=this,
                            other=first[row.id_number],
                        ),
                    )
                )
                continue
            first[row.id_number] = row.line
            pid = pids.get(row.id_number)
            earlier = before.get(pid) if pid is not None else None
            reasons = []
            for cid, wf in open_.get(pid, []) if pid is not None else []:
                if earlier is not None and cid == earlier.case_id:
                    continue
                if wf == self.workflow:
                    reasons.append(
                        _(
                            "{who} already has an open {workflow} case ({case})",
                            who=who,
                            workflow=this if wf == self.workflow else wf,
                            case=cid,
                        )
                    )
                else:
                    reasons.append(
                        _(
                            "{who} has an open {workflow} case ({case}), which excludes {workflow}",
                            who=who,
                            workflow=this if wf == self.workflow else wf,
                            case=cid,
                        )
                    )
            home = homes.get(pid) if pid is not None and row.state in paid else None
            if home is not None:
                # one dibao per household (policy `exclusivity`): a paid case of another member
                for cid, holder, state in home_cases.get(home, []):
                    if holder != pid and state in paid:
                        reasons.append(
                            _(
                                "household {home} of {who} already receives {workflow} in case "
                                "{case}; one {workflow} case per household",
                                home=home,
                                who=who,
                                workflow=this,
                                case=cid,
                            )
                        )
                if home in taken:
                    reasons.append(
                        _(
                            "household {home} of {who} receives {workflow} by line {line}; "
                            "one {workflow} case per household",
                            home=home,
                            who=who,
                            workflow=this,
                            line=taken[home],
                        )
                    )

                if not reasons:
                    taken[home] = row.line
            if reasons:
                problems.extend(RowProblem(row.line, r) for r in reasons)
            elif earlier is None:
                news.add(row.line)
            elif earlier.row_sha256 == row.sha256:
                result.unchanged += 1
                result.case_ids[row.line] = earlier.case_id
            else:
                changes[row.line] = earlier
        return news, changes

    def _fields(self, row: LedgerRow, sha: str) -> dict[str, Any]:
        fields = {
            **row.data,
            "file": self.file_name,
            "line": row.line,
            "file_sha256": sha,
            "row_sha256": row.sha256,
            "row": row.values,
        }
        if row.paid_from is not None:
            fields[PAID_FROM] = row.paid_from
        return fields

    def _new_case(
        self, row: LedgerRow, wf: Workflow, version_id: int, pid: int, result: CaseImportResult
    ) -> store.NewCase:
        return store.NewCase(
            {
                "person_id": pid,
                "workflow_version_id": version_id,
                "workflow_name": wf.name,
                "state": row.state,
                "state_entered_at": row.entered_at,
                "deadline_at": row.deadline_at,
                "assigned_to": None,
                "township": row.township,
                "village": row.village,
                "data": row.data,
                "clocks": row.clocks,
                "emergency": False,
                "opened_at": self.now,
                "closed_at": None,
            },
            self._fields(row, result.sha256),
        )

    def _correct(
        self,
        s: Session,
        row: LedgerRow,
        case: store.Imported,
        sha: str,
        result: CaseImportResult,
    ) -> None:
        changed = {
            k: {"from": case.row.get(k), "to": row.values.get(k)}
            for k in sorted(set(case.row) | set(row.values))
            if case.row.get(k) != row.values.get(k)
        }
        fields = {**self._fields(row, sha), "changed": changed}
        moved = row.state != case.state
        move = Move(
            row.state,
            row.entered_at,
            row.deadline_at,
            {**case.data, **row.data},
            None,
            row.clocks if moved else None,
        )
        write_event(
            s,
            case.case_id,
            case.last_seq,
            case.head_hash,
            EventInput(
                kind=store.CORRECTED,
                actor=self.actor.name,
                at=self.now,
                from_state=case.state,
                to_state=row.state,
                fields=fields,
                note=_("corrected from {file} line {line}", file=self.file_name, line=row.line),
            ),
            move,
            case.version,
        )
        result.corrected += 1
        result.case_ids[row.line] = case.case_id
        result.corrections.append(
            {"line": row.line, "case_id": case.case_id, "changed": sorted(changed)}
        )

    # -- figures -----------------------------------------------------------------------

    def _monthly(self, pk: PaymentKind, data: dict[str, Any], month: int) -> int | None:
        """aidflow's monthly amount (fen) of kind `pk` for a case with `data`."""
        on = month_start(month)
        if pk.amount_field is not None:
            raw = data.get(pk.amount_field)
            return None if raw is None else to_fen(Decimal(str(raw)))
        if pk.standard is not None:
            return to_fen(self.policy.value(pk.standard, on))
        tier = data.get(pk.tier_field or "")
        name = pk.tier_standard(str(tier)) if tier is not None else None
        return None if name is None else to_fen(self.policy.value(name, on))

    def _figures(self, result: CaseImportResult, rows: list[LedgerRow]) -> None:
        """Per township: cases by state, monthly totals per kind (aidflow's and the ledger's),
        and the reviews falling due in the next REVIEW_MONTHS months."""
        month = self.today.year * 12 + self.today.month - 1
        horizon = month_start(month + REVIEW_MONTHS + 1)
        kinds = [pk for pk in self.policy.payments.values() if pk.workflow == self.workflow]
        local: dict[datetime, tuple[str, date]] = {}  # an instant -> its local time and day
        for row in rows:
            t = result.townships.setdefault(row.township, Township())
            t.states[row.state] += 1
            for pk in kinds:
                if row.state not in pk.paid_states:
                    continue
                fen = self._monthly(pk, row.data, month)
                if fen is not None:
                    t.count[pk.kind] += 1
                    t.fen[pk.kind] += fen
                if pk.kind in row.ledger:
                    t.ledger_count[pk.kind] += 1
                    t.ledger_fen[pk.kind] += to_fen(row.ledger[pk.kind])
            if row.deadline_at is not None:
                shown = local.get(row.deadline_at)
                if shown is None:  # many cases share a deadline: spelled once
                    at = row.deadline_at.astimezone(self.calendar.tz)
                    shown = local[row.deadline_at] = (at.isoformat(), at.date())
                result.deadlines[row.line], due = shown
                is_review = any(row.state in pk.paid_states for pk in kinds)
                if is_review and due < horizon:
                    t.reviews.append((due.isoformat(), row.line, mask(row.id_number)))
        for t in result.townships.values():
            t.reviews.sort()

    def _reconcile(self, result: CaseImportResult, rows: list[LedgerRow]) -> None:
        """aidflow's figures read back from the database against the ledger's own totals,
        per township and kind: every difference named."""
        month = self.today.year * 12 + self.today.month - 1
        kinds = [pk for pk in self.policy.payments.values() if pk.workflow == self.workflow]
        with self.sessions() as s:
            stored = store.imported_figures(s, self.workflow, set(result.case_ids.values()))
        mine: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for fig in stored:
            for pk in kinds:
                if fig.state in pk.paid_states:
                    fen = self._monthly(pk, fig.data, month)
                    if fen is not None:
                        mine[(fig.township, pk.kind)][0] += 1
                        mine[(fig.township, pk.kind)][1] += fen
        # only the kinds the ledger states a figure for: a ledger without a column for the
        # care allowance says nothing about it
        stated = {k for t in result.townships.values() for k in t.ledger_count}
        for name, t in sorted(result.townships.items()):
            for kind in sorted(stated):
                count, fen = mine.get((name, kind), [0, 0])
                if t.ledger_count[kind] != count:
                    result.differences.append(
                        _(
                            "{township} {kind}: the ledger has {ledger} case(s), aidflow {count}",
                            township=name,
                            kind=kind_label(kind),
                            ledger=t.ledger_count[kind],
                            count=count,
                        )
                    )
                if t.ledger_fen[kind] != fen:
                    result.differences.append(
                        _(
                            "{township} {kind}: the ledger pays {ledger} a month, aidflow {yuan}",
                            township=name,
                            kind=kind_label(kind),
                            ledger=yuan(t.ledger_fen[kind]),
                            yuan=yuan(fen),
                        )
                    )
