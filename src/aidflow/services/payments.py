"""Monthly payments: the run that creates them, the bank file, and the bank's answer.

A run for period P (a month, "2023-09") creates one `payments` row per case, kind and
month that the policy file's `payments:` section says is due and that does not exist yet:

- a case is paid from the month AFTER the event that entered a paid state (L21 §21,
  T21 §17) through the month of the event that left them (payment stops from the month
  after exit, L21 §33, T21 §26): the month of exit is still paid;
- months before P that were missed (a case approved after the run for its first month)
  are created by the next run as arrears (`basis.arrears = true`). Months before the
  first payment run ever recorded are not created: aidflow starts paying with its first run;
- amounts are taken as in force for the period: a standard's value on the 1st of the
  month, a case field's value as set by the latest event effective (month after) by then;
- the unique key (case_id, kind, period) with INSERT ... ON CONFLICT DO NOTHING makes a
  second run, or two runs at once, create nothing twice.

Cases are streamed in id order, a page at a time (keyset on the id); each page's
state-changing events (with their local month, computed by the database) and existing
payments are read by the page's id range, amounts are worked out once per distinct value,
and the page's payments are written with one executemany. Money is integer fen, converted
from Decimal with ROUND_HALF_UP once, never a float.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    Integer,
    String,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from aidflow import failpoints
from aidflow.clock import Clock
from aidflow.errors import ForbiddenError, InvalidInputError, NotFoundError, did_you_mean
from aidflow.policy.standards import PaymentKind, Policy
from aidflow.store import queries as store
from aidflow.store.models import Case, CaseEvent, Payment, PaymentRun, Person, WorkflowVersion

COUNTY_ROLES = ("county_officer", "admin")
SYSTEM_ACTOR = "system"
BATCH = 1000
_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})$")
EXPORT_COLUMNS = ("reference", "name", "id_number", "amount_yuan", "kind", "period")


# -- money and months --------------------------------------------------------------------


def to_fen(amount: Decimal) -> int:
    """Yuan -> integer fen, rounding half up at this one place."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def yuan(fen: int) -> str:
    """Integer fen -> '1234.50' (exact)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def parse_period(text: str) -> int:
    """'2023-09' -> a month number (year * 12 + month - 1)."""
    m = _PERIOD.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise InvalidInputError(f"--period {text!r} is not a month", hint="write it like 2023-09")
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def period_text(month: int) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def month_start(month: int) -> date:
    return date(month // 12, month % 12 + 1, 1)


def month_of(at: datetime, tz: ZoneInfo) -> int:
    local = at.astimezone(tz)
    return local.year * 12 + local.month - 1


# -- who may run ---------------------------------------------------------------------------


def require_county(session: Session, user: str | None, what: str) -> str:
    """The acting user's name if they hold a county role; ForbiddenError otherwise."""
    if not user:
        raise ForbiddenError("no acting user", hint="pass --as USER or set AIDFLOW_USER")
    roles, _area = store.user_access(session, user)
    if not any(r in roles for r in COUNTY_ROLES):
        raise ForbiddenError(
            f"{what} needs role county_officer or admin; {user} has {', '.join(roles)}"
        )
    return user


# -- the run -------------------------------------------------------------------------------


@dataclass
class RunResult:
    run_id: int
    period: str
    created: int = 0
    arrears: int = 0
    total_fen: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # cases that could not be paid, and why


class _Event(NamedTuple):
    """A state-changing event of a case, as the run needs it."""

    month: int  # the local month it happened in, clamped to [floor - 2, target + 1] (_month_case)
    from_state: str | None
    to_state: str | None
    fields: dict[str, Any]


def check_programmes(session: Session, policy: Policy) -> None:
    """The policy's paid states and fields exist in the deployed workflows (else InvalidInputError)."""
    problems = []
    for pk in policy.payments.values():
        row = session.scalars(
            select(WorkflowVersion)
            .where(WorkflowVersion.name == pk.workflow)
            .order_by(WorkflowVersion.version.desc())
            .limit(1)
        ).first()
        if row is None:
            continue  # not deployed: nothing to pay
        wf = store.definition_of(row)
        for st in pk.paid_states:
            if st not in wf.states:
                hint = did_you_mean(st, wf.states) or f"states: {', '.join(wf.states)}"
                problems.append(
                    f"{policy.file}: payments.{pk.kind}.paid_states: workflow {pk.workflow} "
                    f"has no state '{st}'; {hint}"
                )
        for fname in (pk.amount_field, pk.tier_field):
            if fname is not None and fname not in wf.fields:
                hint = did_you_mean(fname, wf.fields) or f"fields: {', '.join(wf.fields)}"
                problems.append(
                    f"{policy.file}: payments.{pk.kind}: workflow {pk.workflow} has no field "
                    f"'{fname}'; {hint}"
                )
    if problems:
        raise InvalidInputError(
            "the policy's payments do not match the deployed workflows:\n  "
            + "\n  ".join(problems),
            hint="fix the policy file or deploy the workflow",
        )


def run_payments(
    session: Session,
    clock: Clock,
    policy: Policy,
    period: str,
    *,
    actor: str,
    tz: ZoneInfo,
    batch_size: int = BATCH,
) -> RunResult:
    """Create the payments due up to `period` (with arrears); the caller owns the transaction."""
    target = parse_period(period)
    if actor != SYSTEM_ACTOR:
        require_county(session, actor, "a payment run")
    check_programmes(session, policy)
    first_run = session.scalar(select(func.min(PaymentRun.period)))
    floor = min(target, parse_period(first_run)) if first_run else target
    now = clock.now()
    run = PaymentRun(period=period_text(target), started_at=now, started_by=actor, created=0)
    session.add(run)
    session.flush()
    result = RunResult(run.id, run.period)
    by_workflow: dict[str, list[PaymentKind]] = {}
    for pk in policy.payments.values():
        by_workflow.setdefault(pk.workflow, []).append(pk)
    insert_stmt = _insert_statement(session, run.id)
    for workflow, kinds in sorted(by_workflow.items()):
        _Run(session, policy, workflow, kinds, floor, target, tz, run.id, result).pay_all(
            batch_size, insert_stmt
        )
    run.created = result.created
    run.finished_at = clock.now()
    session.flush()
    return result


def _instant(month: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(month_start(month), time(0), tzinfo=tz)


def _month_case(at: Any, floor: int, target: int, tz: ZoneInfo) -> Any:
    """SQL: the local month of the instant `at`, clamped to [floor - 2, target + 1].

    The run only compares an event's month (and the month after it) with the months it
    pays, floor..target, so an earlier month acts exactly as floor - 2 and a later one as
    target + 1. The database compares `at` with the month boundaries (bound through
    UTCDateTime, so SQLite's naive UTC text works too), and no row needs a datetime in Python.
    """
    return case(
        *((at < _instant(m + 1, tz), m) for m in range(floor - 2, target + 1)), else_=target + 1
    )


class _Run:
    """One workflow's part of a run: its statements are built once, then run page by page.

    Per page of `batch_size` cases (keyset on Case.id, so memory stays flat) there are three
    reads over the id range of the page: the cases, their state-changing events and their
    existing payments since `floor`; the cases' data too if no event carries a field a kind
    needs. The page's payments go out as one executemany.
    """

    def __init__(
        self,
        session: Session,
        policy: Policy,
        workflow: str,
        kinds: list[PaymentKind],
        floor: int,
        target: int,
        tz: ZoneInfo,
        run_id: int,
        result: RunResult,
    ) -> None:
        self.conn = session.connection()
        self.kinds = [(pk, frozenset(pk.paid_states), _Pricer(policy, pk)) for pk in kinds]
        self.floor, self.target, self.run_id, self.result = floor, target, run_id, result
        self.texts = {m: period_text(m) for m in range(floor, target + 1)}
        c: Any = Case.__table__
        e: Any = CaseEvent.__table__
        p: Any = Payment.__table__
        paid = sorted({s for pk in kinds for s in pk.paid_states})
        lo, hi = bindparam("lo", type_=Integer), bindparam("hi", type_=Integer)
        open_since_floor = or_(c.c.closed_at.is_(None), c.c.closed_at >= _instant(floor, tz))
        self.cases = (
            select(c.c.id, c.c.person_id)
            .where(c.c.workflow_name == workflow, open_since_floor, c.c.id > lo)
            .order_by(c.c.id)
            .limit(bindparam("size", type_=Integer))
        )
        # ORs of equalities, not IN lists: an IN list is re-rendered on every execution
        self.events = (
            select(
                e.c.case_id,
                _month_case(e.c.at, floor, target, tz),
                e.c.from_state,
                e.c.to_state,
                e.c.fields,
            )
            .join_from(e, c, c.c.id == e.c.case_id)
            .where(
                c.c.id > lo,
                c.c.id <= hi,
                e.c.case_id > lo,
                e.c.case_id <= hi,
                c.c.workflow_name == workflow,
                open_since_floor,
                or_(*(e.c.to_state == s for s in paid), *(e.c.from_state == s for s in paid)),
            )
            .order_by(e.c.case_id, e.c.seq)
        )
        self.existing = select(p.c.case_id, p.c.kind, p.c.period).where(
            p.c.case_id > lo,
            p.c.case_id <= hi,
            p.c.period >= period_text(floor),
            or_(*(p.c.kind == pk.kind for pk in kinds)),
        )
        self.datas = select(c.c.id, c.c.data).where(c.c.id > lo, c.c.id <= hi)
        self.inserted = (
            select(p.c.kind, p.c.period, func.count(), func.sum(p.c.amount_fen))
            .where(
                p.c.case_id > lo,
                p.c.case_id <= hi,
                p.c.run_id == bindparam("run_id", type_=Integer),
                or_(*(p.c.kind == pk.kind for pk in kinds)),
            )
            .group_by(p.c.kind, p.c.period)
        )
        self._page_data: dict[int, dict[str, Any]] | None = None
        self._range: dict[str, int] = {}

    def pay_all(self, size: int, insert_stmt: Any) -> None:
        last = 0
        while True:
            rows = self.conn.execute(self.cases, {"lo": last, "size": size}).all()
            if not rows:
                return
            self._range = {"lo": last, "hi": rows[-1][0]}
            self._page_data = None
            values = self._page(rows)
            if values:
                self._insert(insert_stmt, values)
                failpoints.reach("payments.batch")  # inside the run's one transaction
            last = rows[-1][0]

    def _page(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        events: dict[int, list[_Event]] = {}
        for cid, month, frm, to, fields in self.conn.execute(self.events, self._range).all():
            ev = _Event(month, frm, to, fields or {})
            evs = events.get(cid)
            if evs is None:
                events[cid] = [ev]
            else:
                evs.append(ev)
        if not events:
            return []
        existing = {
            (cid, kind, per)
            for cid, kind, per in self.conn.execute(self.existing, self._range).all()
        }
        floor, target, texts = self.floor, self.target, self.texts
        skipped = self.result.skipped
        values: list[dict[str, Any]] = []
        for cid, person_id in rows:
            evs = events.get(cid)
            if evs is None:
                continue
            for pk, states, pricer in self.kinds:
                for month in _due_months(pk, states, evs, floor, target):
                    per = texts[month]
                    if existing and (cid, pk.kind, per) in existing:
                        continue
                    try:
                        fen, basis = pricer.price(evs, month, self._data_of, cid, month < target)
                    except _Skip as exc:
                        skipped.append(f"case {cid} {pk.kind} {per}: {exc}")
                        continue
                    values.append(
                        {
                            "case_id": cid,
                            "person_id": person_id,
                            "kind": pk.kind,
                            "period": per,
                            "amount_fen": fen,
                            "basis": basis,
                        }
                    )
        return values

    def _data_of(self, cid: int) -> dict[str, Any]:
        """A case's data: read for the whole page, only when an event does not carry a field."""
        if self._page_data is None:
            self._page_data = {
                i: d or {} for i, d in self.conn.execute(self.datas, self._range).all()
            }
        return self._page_data.get(cid, {})

    def _insert(self, stmt: Any, values: list[dict[str, Any]]) -> None:
        # ON CONFLICT DO NOTHING: a row another run wrote meanwhile is not written twice. When
        # the driver's count says every row went in, the totals are the values themselves;
        # otherwise (a concurrent run, or psycopg's pipelined executemany, which reports -1)
        # they are summed by the database: this run's rows of these kinds in the page's id range.
        # RETURNING would give them too, but costs more than the insert itself on PostgreSQL.
        totals: Iterable[tuple[str, str, int, int]]
        if self.conn.execute(stmt, values).rowcount == len(values):
            totals = ((v["kind"], v["period"], 1, v["amount_fen"]) for v in values)
        else:
            totals = self.conn.execute(self.inserted, {**self._range, "run_id": self.run_id}).all()
        result = self.result
        for kind, period, n, fen in totals:
            result.created += n
            result.total_fen += fen
            result.by_kind[kind] = result.by_kind.get(kind, 0) + n
            if period < result.period:
                result.arrears += n


def _due_months(
    pk: PaymentKind, states: frozenset[str], evs: list[_Event], floor: int, target: int
) -> Iterator[int]:
    """The months in [floor, target] the case is paid for under `pk` (paid in `states`)."""
    start: int | None = None
    for ev in evs:
        was, now_in = ev.from_state in states, ev.to_state in states
        if not was and now_in:
            if pk.once:
                if floor <= ev.month + 1 <= target:
                    yield ev.month + 1
                return
            start = ev.month + 1
        elif was and not now_in and start is not None:
            yield from range(max(start, floor), min(ev.month, target) + 1)
            start = None
    if start is not None:
        yield from range(max(start, floor), target + 1)


class _Skip(Exception):
    """A case that cannot be paid for a month (reported, not fatal)."""


_MISSING = object()
_PRICE_CACHE = 10_000


def _field_value(evs: list[_Event], name: str, month: int) -> Any:
    """The field's value in force for `month`: set by the latest event effective by then (_MISSING: none)."""
    value: Any = _MISSING
    for ev in evs:
        if name in ev.fields and (ev.month + 1 <= month or value is _MISSING):
            value = ev.fields[name]
    return value


_Price = tuple[int, str]  # amount in fen, basis as JSON text


@dataclass(slots=True)
class _Priced:
    fen: int
    basis: dict[str, Any]
    text: str | None = None  # the basis as JSON, made when first needed
    arrears_text: str | None = None  # the same marked as arrears

    def price(self, arrears: bool) -> _Price:
        if arrears:
            if self.arrears_text is None:
                self.arrears_text = json.dumps({**self.basis, "arrears": True})
            return self.fen, self.arrears_text
        if self.text is None:
            self.text = json.dumps(self.basis)
        return self.fen, self.text


class _Pricer:
    """Amount (fen) and basis of one payment kind, worked out once per distinct value and month.

    A county's cases share few amounts and standards, so the Decimal parsing, rounding,
    standard look-ups and the basis's JSON are cached by the field value (amount_field), the
    month (standard) or the tier and month (tier_field).
    """

    def __init__(self, policy: Policy, pk: PaymentKind) -> None:
        self.policy, self.pk = policy, pk
        self._cache: dict[Any, _Priced] = {}

    def price(
        self,
        evs: list[_Event],
        month: int,
        data_of: Callable[[int], dict[str, Any]],
        cid: int,
        arrears: bool,
    ) -> _Price:
        """(fen, basis JSON) of the payment for `month`; _Skip if the case cannot be paid."""
        pk = self.pk
        raw: Any = None
        if pk.standard is not None:
            key: Any = month
        else:
            name = pk.amount_field or pk.tier_field
            assert name is not None
            raw = _field_value(evs, name, month)
            if raw is _MISSING:
                raw = data_of(cid).get(name)
            if not isinstance(
                raw, (str, int, float)
            ):  # None (a skip) or a list or mapping: not cached
                return self._price(raw, month).price(arrears)
            # (type, value): True, 1 and 1.0 are equal as keys but not as amounts
            key = (type(raw), raw) if pk.amount_field is not None else (str(raw), month)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= _PRICE_CACHE:
                self._cache.clear()  # amounts worked out per case may all differ: keep memory flat
            hit = self._cache[key] = self._price(raw, month)
        return hit.price(arrears)

    def _price(self, raw: Any, month: int) -> _Priced:
        amount, basis = self._amount(raw, month)
        return _Priced(to_fen(amount), basis)

    def _amount(self, raw: Any, month: int) -> tuple[Decimal, dict[str, Any]]:
        pk, policy = self.pk, self.policy
        on = month_start(month)
        if pk.amount_field is not None:
            if raw is None:
                raise _Skip(f"no {pk.amount_field} recorded")
            try:
                amount = Decimal(str(raw))
            except InvalidOperation:
                raise _Skip(f"{pk.amount_field} {raw!r} is not a decimal") from None
            if not amount.is_finite() or amount < 0:
                raise _Skip(f"{pk.amount_field} {raw!r} is not a payable amount")
            return amount, {"field": pk.amount_field, "value": str(amount)}
        if pk.standard is not None:
            value = policy.value(pk.standard, on)
            return value, {"standard": pk.standard, "value": str(value)}
        assert pk.tier_field is not None
        tier = raw
        name = pk.tier_standard(str(tier)) if tier is not None else None
        if name is None:
            raise _Skip(
                f"{pk.tier_field} is {tier!r}, not one of {', '.join(t for t, _ in pk.tiers)}"
            )
        value = policy.value(name, on)
        return value, {"standard": name, "tier": str(tier), "value": str(value)}


def _insert_statement(session: Session, run_id: int) -> Any:
    """INSERT INTO payments ... ON CONFLICT (case_id, kind, period) DO NOTHING, for the rows of run `run_id`.

    What is the same for every row is written in the SQL, not bound per row: the run's id,
    status 'pending' and created_at, which is the run's started_at (read by the database;
    converting one datetime for every row was a tenth of the time of a run). The basis
    comes as JSON text, serialized once per distinct basis by _Pricer (the JSON type's own
    bind processing would serialize it again for every row): SQLite stores JSON as that
    text; PostgreSQL casts it to json, which keeps the text as it is.
    """
    table: Any = Payment.__table__
    runs: Any = PaymentRun.__table__
    run = literal_column(str(int(run_id)), Integer)
    stmt: Any
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).on_conflict_do_nothing(constraint="uq_payment_once")
        basis: Any = cast(bindparam("basis", type_=Text), JSON)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).on_conflict_do_nothing()
        basis = bindparam(
            "basis", type_=Text
        )  # not CAST(? AS JSON): SQLite would make a number of it
    return stmt.values(
        basis=basis,
        run_id=run,
        status=literal_column("'pending'", String),
        created_at=select(runs.c.started_at).where(runs.c.id == run).scalar_subquery(),
    )


def due_period(now: datetime, tz: ZoneInfo, day: int) -> str | None:
    """The current month, if it is on or after day `day` of it (for the scheduled run)."""
    local = now.astimezone(tz)
    return period_text(local.year * 12 + local.month - 1) if local.day >= day else None


def has_run(session: Session, period: str) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(PaymentRun)
            .where(PaymentRun.period == period, PaymentRun.finished_at.is_not(None))
        )
        != 0
    )


# -- the bank file ---------------------------------------------------------------------------


@dataclass
class ExportResult:
    period: str
    file: str
    rows: int = 0
    total_fen: int = 0


def export_payments(
    session: Session, period: str, fmt: str, output: Path, *, actor: str, batch_size: int = BATCH
) -> ExportResult:
    """Write the period's pending (and already exported) payments for the bank; mark them exported.

    Columns: reference (the payment id), name, full ID number, amount in yuan with two
    decimals (text, so no spreadsheet turns it into a float), kind, period. The file is
    written next to `output` and renamed into place when complete.
    """
    require_county(session, actor, "exporting payments")
    per = period_text(parse_period(period))
    if fmt not in ("csv", "xlsx"):
        raise InvalidInputError(f"--format {fmt!r} is not csv or xlsx")
    result = ExportResult(per, str(output))
    tmp = output.with_name(output.name + ".part")
    rows = _export_rows(session, per, result, batch_size)
    try:
        if fmt == "csv":
            _write_csv(tmp, rows)
        else:
            _write_xlsx(tmp, rows)
        if result.rows == 0:
            raise NotFoundError(
                f"no pending or exported payments for {per}",
                hint=f"run `aidflow payments run --period {per}` first",
            )
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def _export_rows(
    session: Session, period: str, result: ExportResult, size: int
) -> Iterator[tuple[str, ...]]:
    yield EXPORT_COLUMNS
    last = 0
    while True:
        page = session.execute(
            select(
                Payment.id,
                Person.name,
                Person.id_number,
                Payment.amount_fen,
                Payment.kind,
                Payment.period,
            )
            .join(Person, Person.id == Payment.person_id)
            .where(
                Payment.period == period,
                Payment.status.in_(("pending", "exported")),
                Payment.id > last,
            )
            .order_by(Payment.id)
            .limit(size)
        ).all()
        if not page:
            return
        for pid, name, idn, fen, kind, per in page:
            result.rows += 1
            result.total_fen += fen
            yield (str(pid), name, idn, yuan(fen), kind, per)
        ids = [r[0] for r in page]
        session.execute(
            update(Payment)
            .where(Payment.id.in_(ids), Payment.status == "pending")
            .values(status="exported")
        )
        last = ids[-1]


def _write_csv(path: Path, rows: Iterator[tuple[str, ...]]) -> None:
    # UTF-8 with a BOM: spreadsheet programs then show the Chinese names correctly
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        for row in rows:
            writer.writerow(row)


def _write_xlsx(path: Path, rows: Iterator[tuple[str, ...]]) -> None:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    wb = Workbook(write_only=True)  # streams rows to disk: memory stays flat
    ws = wb.create_sheet("payments")
    for row in rows:
        ws.append(list(row))
    wb.save(path)


# -- the bank's answer -----------------------------------------------------------------------


@dataclass
class ReconcileResult:
    file: str
    paid: int = 0
    failed: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class _Line:
    line: int
    payment_id: int
    status: str
    reason: str | None
    bank_ref: str | None


RECONCILE_COLUMNS = ("reference", "status", "reason")


def reconcile(session: Session, clock: Clock, path: Path, *, actor: str) -> ReconcileResult:
    """Record paid/failed from the bank's file (CSV or XLSX): all lines, or none.

    The file has a header row with `reference` (the payment id from the export),
    `status` (paid or failed) and `reason` (required for failed); `bank_ref` is optional.
    Every bad, unmatched, duplicated or conflicting line is reported with its line number
    in one InvalidInputError, and then nothing is recorded.
    """
    require_county(session, actor, "reconciling payments")
    problems: list[tuple[int, str]] = []
    lines = _parse_lines(path, _read_table(path), problems)
    rows: dict[int, tuple[str, str | None]] = {}
    for chunk_start in range(0, len(lines), BATCH):
        chunk = lines[chunk_start : chunk_start + BATCH]
        rows.update(
            {
                pid: (status, failure)
                for pid, status, failure in session.execute(
                    select(Payment.id, Payment.status, Payment.failure_reason).where(
                        Payment.id.in_([ln.payment_id for ln in chunk])
                    )
                )
            }
        )
    todo: list[_Line] = []
    result = ReconcileResult(str(path))
    for ln in lines:
        where, n = f"{path}:{ln.line}", ln.line
        if ln.payment_id not in rows:
            problems.append(
                (n, f"{where}: reference {ln.payment_id} matches no payment (unmatched)")
            )
            continue
        current = rows[ln.payment_id][0]
        if current == ln.status:
            result.unchanged += 1
        elif current == "pending":
            problems.append(
                (
                    n,
                    (
                        f"{where}: payment {ln.payment_id} was never exported; "
                        "export it before recording the bank's answer"
                    ),
                )
            )
        elif current in ("paid", "failed"):
            problems.append(
                (
                    n,
                    (
                        f"{where}: payment {ln.payment_id} is already recorded as {current}; "
                        f"the file says {ln.status}"
                    ),
                )
            )
        else:
            todo.append(ln)
    if problems:
        listed = "\n  ".join(text for _, text in sorted(problems))
        raise InvalidInputError(
            f"{path}: {len(problems)} problem(s); nothing was recorded:\n  {listed}",
            hint="fix the file (or ask the bank for a corrected one) and run reconcile again",
        )
    now = clock.now()
    for ln in todo:
        session.execute(
            update(Payment)
            .where(Payment.id == ln.payment_id, Payment.status == "exported")
            .values(
                status=ln.status, settled_at=now, failure_reason=ln.reason, bank_ref=ln.bank_ref
            )
        )
        if ln.status == "paid":
            result.paid += 1
        else:
            result.failed += 1
    return result


def _read_table(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells as text) for each row of a CSV or XLSX file; row 1 is the header."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    if suffix == ".csv":
        yield from _read_csv(path)
    elif suffix == ".xlsx":
        yield from _read_xlsx(path)
    else:
        raise InvalidInputError(
            f"{path}: unknown file type '{suffix}'", hint="give a .csv or .xlsx file"
        )


def _read_csv(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
            hint="save the file as UTF-8 CSV",
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        start = 1
        for cells in reader:
            yield start, [c.strip() for c in cells]
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidInputError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_xlsx(path: Path) -> Iterator[tuple[int, list[str]]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, OSError, KeyError, ValueError) as exc:
        raise InvalidInputError(f"{path}: not a readable XLSX file ({exc})") from None
    try:
        ws = wb.worksheets[0]
        for number, cells in enumerate(ws.iter_rows(values_only=True), start=1):
            yield number, [_cell(v) for v in cells]
    finally:
        wb.close()


def _parse_lines(
    path: Path, table: Iterator[tuple[int, list[str]]], problems: list[tuple[int, str]]
) -> list[_Line]:
    header: dict[str, int] | None = None
    seen: dict[int, int] = {}
    out: list[_Line] = []
    for number, cells in table:
        if header is None:
            names = [c.lower() for c in cells]
            missing = [c for c in RECONCILE_COLUMNS if c not in names]
            if missing:
                raise InvalidInputError(
                    f"{path}:{number}: the header lacks column(s) {', '.join(missing)} "
                    f"(found: {', '.join(cells) or 'nothing'}); nothing was recorded",
                    hint="the first row names the columns: reference,status,reason",
                )
            header = {n: names.index(n) for n in (*RECONCILE_COLUMNS, "bank_ref") if n in names}
            continue
        if not any(cells):
            continue  # blank lines at the end of a spreadsheet export

        def get(name: str, cells: list[str] = cells, header: dict[str, int] = header) -> str:
            i = header.get(name)
            return cells[i] if i is not None and i < len(cells) else ""

        where, n = f"{path}:{number}", number
        ref, status, reason = get("reference"), get("status").lower(), get("reason")
        bad = False
        if not ref.isdigit():
            problems.append(
                (
                    n,
                    f"{where}: reference {ref!r} is not a payment id (a whole number from the export)",
                )
            )
            bad = True
        if status not in ("paid", "failed"):
            problems.append((n, f"{where}: status {get('status')!r} is not paid or failed"))
            bad = True
        elif status == "failed" and not reason:
            problems.append((n, f"{where}: a failed payment needs a reason"))
            bad = True
        if bad:
            continue
        pid = int(ref)
        if pid in seen:
            problems.append((n, f"{where}: payment {pid} is also on line {seen[pid]}"))
            continue
        seen[pid] = number
        out.append(_Line(number, pid, status, reason or None, get("bank_ref") or None))
    if header is None:
        raise InvalidInputError(
            f"{path}: the file is empty; nothing was recorded",
            hint="the first row names the columns: reference,status,reason",
        )
    return out
