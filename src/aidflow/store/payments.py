"""The payments' SQL: payment runs, the reads a run makes page by page, the bank file's rows.

A run reads one workflow's cases a page at a time (keyset on the case id, so memory stays
flat) and per page, by the page's id range, the state-changing events (with the local
month each happened in, computed by the database), the payments already made and, when
an event does not carry a field a kind needs, the cases' data. The page's payments go in
with one INSERT ... ON CONFLICT (case_id, kind, period) DO NOTHING executemany, so a
second run, or two runs at once, create nothing twice.

Every run, payment, status change, bank file and bank answer is appended to the global
audit log (aidflow.store.auditlog) as written, read back from the database; a page's new
payments as one entry for the page (auditlog.ROW_SETS), each later change of a payment as
an entry of its own.

Functions take the caller's Session; the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
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

from aidflow.language.definition import Workflow
from aidflow.store import auditlog, workflows
from aidflow.store.fast import Fast, connection
from aidflow.store.models import (
    Case,
    CaseEvent,
    Payment,
    PaymentExport,
    PaymentRun,
    Person,
    Reconciliation,
    WorkflowVersion,
)
from aidflow.store.records import VersionRecord
from aidflow.store.tables import PAYMENT_EXPORTS, RECONCILIATIONS, record_of

CHUNK = 1000  # payment ids per look-up
_FIELDS_CACHE = 10_000

_CASES: Any = Case.__table__
_EVENTS: Any = CaseEvent.__table__
_PAYMENTS: Any = Payment.__table__
_RUNS: Any = PaymentRun.__table__


# -- runs ----------------------------------------------------------------------------------


def first_period(session: Session) -> str | None:
    """The earliest period any payment run was made for (None: no run yet)."""
    return session.scalar(select(func.min(PaymentRun.period)))


def start_run(session: Session, period: str, started_at: datetime, started_by: str) -> int:
    run = PaymentRun(period=period, started_at=started_at, started_by=started_by, created=0)
    session.add(run)
    session.flush()
    _log_run(session, run.id, started_at, started_by)
    return run.id


def finish_run(
    session: Session, run_id: int, created: int, finished_at: datetime, actor: str
) -> None:
    session.execute(
        update(PaymentRun)
        .where(PaymentRun.id == run_id)
        .values(created=created, finished_at=finished_at)
    )
    _log_run(session, run_id, finished_at, actor)


def _log_run(session: Session, run_id: int, at: datetime, actor: str) -> None:
    auditlog.log_rows(
        session,
        at=at,
        actor=actor,
        kind="payment_run",
        table="payment_runs",
        where=_RUNS.c.id == run_id,
    )


def has_run(session: Session, period: str) -> bool:
    """Whether a run for `period` has finished."""
    return (
        session.scalar(
            select(func.count())
            .select_from(PaymentRun)
            .where(PaymentRun.period == period, PaymentRun.finished_at.is_not(None))
        )
        != 0
    )


def latest_definition(session: Session, workflow: str) -> Workflow | None:
    """The latest deployed definition of `workflow` (None: not deployed)."""
    row = session.scalars(
        select(WorkflowVersion)
        .where(WorkflowVersion.name == workflow)
        .order_by(WorkflowVersion.version.desc())
        .limit(1)
    ).first()
    return None if row is None else workflows.definition_of(record_of(VersionRecord, row))


# -- one workflow's part of a run ----------------------------------------------------------


@dataclass(frozen=True)
class Months:
    """How the run sees time: `bounds` are (the instant month m + 1 starts, m) for each
    month m the run tells apart, in order; an instant after the last bound is month `later`.
    `open_since` is the start of the first month paid (a case closed before it is skipped);
    `from_period` that month as text."""

    bounds: Sequence[tuple[datetime, int]]
    later: int
    open_since: datetime
    from_period: str


Page = tuple[Sequence[tuple[int, int]], dict[str, int]]  # (case id, person id)s, the id range


class WorkflowReads:
    """One workflow's statements for a run, built once, then run page by page."""

    def __init__(
        self,
        session: Session,
        run_id: int,
        workflow: str,
        kinds: Sequence[str],
        paid_states: Iterable[str],
        months: Months,
        *,
        at: datetime,
        actor: str,
    ) -> None:
        self.session = session
        self.conn = session.connection()
        self.run_id = run_id
        self.at, self.actor = at, actor
        c, e, p = _CASES, _EVENTS, _PAYMENTS
        paid = sorted(set(paid_states))
        lo, hi = bindparam("lo", type_=Integer), bindparam("hi", type_=Integer)
        open_since = or_(c.c.closed_at.is_(None), c.c.closed_at >= months.open_since)
        # the local month of an event: compared with the month boundaries (bound through
        # UTCDateTime, so SQLite's naive UTC text works too), no datetime in Python
        month = case(*((e.c.at < start, m) for start, m in months.bounds), else_=months.later)
        self._cases = (
            select(c.c.id, c.c.person_id)
            .where(c.c.workflow_name == workflow, open_since, c.c.id > lo)
            .order_by(c.c.id)
            .limit(bindparam("size", type_=Integer))
        )
        # ORs of equalities, not IN lists: an IN list is re-rendered on every execution
        self._events = (
            select(e.c.case_id, month, e.c.from_state, e.c.to_state, cast(e.c.fields, Text))
            .join_from(e, c, c.c.id == e.c.case_id)
            .where(
                c.c.id > lo,
                c.c.id <= hi,
                e.c.case_id > lo,
                e.c.case_id <= hi,
                c.c.workflow_name == workflow,
                open_since,
                or_(*(e.c.to_state == s for s in paid), *(e.c.from_state == s for s in paid)),
            )
            .order_by(e.c.case_id, e.c.seq)
        )
        self._existing = select(p.c.case_id, p.c.kind, p.c.period).where(
            p.c.case_id > lo,
            p.c.case_id <= hi,
            p.c.period >= months.from_period,
            or_(*(p.c.kind == k for k in kinds)),
        )
        self._datas = select(c.c.id, c.c.data).where(c.c.id > lo, c.c.id <= hi)
        self._inserted = (
            select(p.c.id, p.c.case_id, p.c.kind, p.c.period)
            .where(
                p.c.case_id > lo,
                p.c.case_id <= hi,
                p.c.run_id == bindparam("run_id", type_=Integer),
                or_(*(p.c.kind == k for k in kinds)),
            )
            .order_by(p.c.id)
        )
        self._bases: dict[str, Any] = {}  # basis JSON text -> its value, decoded once
        self._fields: dict[str, dict[str, Any]] = {}  # event fields' JSON text -> the value
        insert = _insert_statement(session, run_id)
        self._staged = _Staged(session, run_id) if insert is None else None
        # the driver's executemany, without SQLAlchemy's parameter processing per row
        self._insert = None if insert is None else Fast(insert, column_keys=_NEW)

    def pages(self, size: int) -> Iterator[Page]:
        """The workflow's cases open since the first month paid, `size` at a time."""
        last = 0
        while True:
            rows = self.conn.execute(self._cases, {"lo": last, "size": size}).all()
            if not rows:
                return
            yield rows, {"lo": last, "hi": rows[-1][0]}
            last = rows[-1][0]

    def events(
        self, page_range: dict[str, int]
    ) -> list[tuple[int, int, str | None, str | None, dict[str, Any] | None]]:
        """(case id, month, from state, to state, fields) of the page's state-changing
        events, each case's in order."""
        # the fields come as JSON text, decoded once per distinct text: a county's approvals
        # repeat few amounts
        cache = self._fields
        out = []
        for cid, month, frm, to, text in self.conn.execute(self._events, page_range):
            fields = None
            if text is not None:
                fields = cache.get(text)
                if fields is None:
                    if len(cache) >= _FIELDS_CACHE:
                        cache.clear()  # amounts may all differ: keep memory flat
                    fields = cache[text] = json.loads(text)
            out.append((cid, month, frm, to, fields))
        return out

    def existing(self, page_range: dict[str, int]) -> set[tuple[int, str, str]]:
        """(case id, kind, period) of the page's payments since the first month paid."""
        return {
            (cid, kind, per) for cid, kind, per in self.conn.execute(self._existing, page_range)
        }

    def datas(self, page_range: dict[str, int]) -> dict[int, dict[str, Any]]:
        return {i: d or {} for i, d in self.conn.execute(self._datas, page_range)}

    def insert(
        self, page_range: dict[str, int], values: list[dict[str, Any]]
    ) -> Iterable[tuple[str, str, int, int]]:
        """Insert the page's payments (case_id, person_id, kind, period, amount_fen, basis as
        JSON text) and log them; (kind, period, count, fen) of those this call created."""
        # ON CONFLICT DO NOTHING: a row another run wrote meanwhile is not written twice.
        # Which rows this run wrote (its rows of these kinds in the page's id range) and
        # their ids are read back; the rest of each row is what was just inserted: the run's
        # id and time, status pending, nothing settled.
        given = {(v["case_id"], v["kind"], v["period"]): v for v in values}
        mine: Iterable[Any]
        if self._staged is not None:
            mine = self._staged.insert(self.session, values)
        else:
            assert self._insert is not None
            self._insert.many(self.session, values, {})
            mine = self.conn.execute(self._inserted, {**page_range, "run_id": self.run_id})
        at_text = auditlog.canonical_time(self.at)
        lines: list[auditlog.SetLine] = []
        totals = []
        for pid, cid, kind, period in mine:
            v = given[(cid, kind, period)]
            basis = self._bases.get(v["basis"])
            if basis is None:
                basis = self._bases[v["basis"]] = json.loads(v["basis"])
            fen = v["amount_fen"]
            # ROW_SETS["payment_sets"].fixed, in its order
            lines.append(
                (pid, (cid, v["person_id"], self.run_id, kind, period, fen, basis, at_text))
            )
            totals.append((kind, period, 1, fen))
        # the page's payments as one entry: their fixed columns, the rest as first written
        auditlog.append_set(
            self.session,
            at=self.at,
            actor=self.actor,
            kind="payments_created",
            name="payment_sets",
            group=self.run_id,
            lines=lines,
        )
        return totals


_PAGE: Any = Table(  # a page of new payments on its way in (PostgreSQL; see _Staged)
    "payments_page",
    MetaData(),
    Column("case_id", Integer),
    Column("person_id", Integer),
    Column("kind", String(40)),
    Column("period", String(7)),
    Column("amount_fen", BigInteger),
    Column("basis", Text),
    prefixes=["TEMPORARY"],
)
_NEW = ("case_id", "person_id", "kind", "period", "amount_fen", "basis")  # a new payment's values
_PAGE_COPY = Fast(_PAGE.insert(), column_keys=_NEW)


class _Staged:
    """A page of payments into PostgreSQL: COPY into a temporary table, then one INSERT ...
    SELECT ... ON CONFLICT (case_id, kind, period) DO NOTHING RETURNING the rows it wrote.

    One COPY and one statement per page instead of a statement per row (executemany, even
    pipelined, costs the server a statement and the client a round of parameters per row).
    The table lives for the run's transaction (ON COMMIT DROP)."""

    def __init__(self, session: Session, run_id: int) -> None:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        connection(session).exec_driver_sql(
            "CREATE TEMPORARY TABLE IF NOT EXISTS payments_page (case_id integer, "
            "person_id integer, kind varchar(40), period varchar(7), amount_fen bigint, "
            "basis text) ON COMMIT DROP"
        )
        run = literal_column(str(int(run_id)), Integer)
        p, g = _PAYMENTS, _PAGE
        rows = select(
            g.c.case_id,
            g.c.person_id,
            run,
            g.c.kind,
            g.c.period,
            g.c.amount_fen,
            cast(g.c.basis, JSON),
            literal_column("'pending'", String),
            select(_RUNS.c.started_at).where(_RUNS.c.id == run).scalar_subquery(),
        )
        columns = ["case_id", "person_id", "run_id", "kind", "period", "amount_fen", "basis"]
        self._insert = (
            pg_insert(p)
            .from_select([*columns, "status", "created_at"], rows)
            .on_conflict_do_nothing(constraint="uq_payment_once")
            .returning(p.c.id, p.c.case_id, p.c.kind, p.c.period)
        )

    def insert(self, session: Session, values: list[dict[str, Any]]) -> list[Any]:
        conn = session.connection()
        conn.exec_driver_sql("TRUNCATE payments_page")
        _PAGE_COPY.many(session, values, {})
        return list(conn.execute(self._insert).all())


def _insert_statement(session: Session, run_id: int) -> Any:
    """INSERT INTO payments ... ON CONFLICT (case_id, kind, period) DO NOTHING, for run
    `run_id` on SQLite (None on PostgreSQL, which stages a page: _Staged).

    What is the same for every row is written in the SQL, not bound per row: the run's id,
    status 'pending' and created_at, which is the run's started_at (read by the database,
    so no datetime is converted per row). The basis comes as JSON text, serialized once per
    distinct basis by the caller (the JSON type's own bind processing would serialize it
    again for every row): SQLite stores JSON as that text.
    """
    if session.get_bind().dialect.name == "postgresql":
        return None
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    run = literal_column(str(int(run_id)), Integer)
    stmt: Any = sqlite_insert(_PAYMENTS).on_conflict_do_nothing()
    # not CAST(? AS JSON): SQLite would make a number of it
    basis = bindparam("basis", type_=Text)
    return stmt.values(
        basis=basis,
        run_id=run,
        status=literal_column("'pending'", String),
        created_at=select(_RUNS.c.started_at).where(_RUNS.c.id == run).scalar_subquery(),
    )


# -- the bank file and the bank's answer ---------------------------------------------------


BankRow = tuple[int, str, str, int, str, str]  # payment id, name, ID number, fen, kind, period


def read_snapshot(session: Session) -> None:
    """Make the session's transaction, not begun yet, read one snapshot throughout: an
    export's pages then show the payments as they were when it began. PostgreSQL's READ
    COMMITTED would show each page as of its own query; REPEATABLE READ does not. (A
    SQLite read transaction is one snapshot already.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _bank_rows(session: Session, where: Sequence[Any], after: int, size: int) -> list[BankRow]:
    rows = session.execute(
        select(
            Payment.id,
            Person.name,
            Person.id_number,
            Payment.amount_fen,
            Payment.kind,
            Payment.period,
        )
        .join(Person, Person.id == Payment.person_id)
        .where(*where, Payment.id > after)
        .order_by(Payment.id)
        .limit(size)
    )
    return [
        (pid, name, id_number, fen, kind, period)
        for pid, name, id_number, fen, kind, period in rows
    ]


def export_page(session: Session, period: str, after: int, size: int) -> list[BankRow]:
    """Up to `size` of the period's payments in no export batch yet (pending) after id
    `after`, with the person's name and full ID number, by payment id."""
    where = (Payment.period == period, Payment.status == "pending", Payment.export_id.is_(None))
    return _bank_rows(session, where, after, size)


def batch_page(session: Session, export_id: int, after: int, size: int) -> list[BankRow]:
    """Up to `size` of the payments of export batch `export_id` after id `after`."""
    return _bank_rows(session, (Payment.export_id == export_id,), after, size)


@dataclass(frozen=True)
class Batch:
    """An export batch as recorded: its id, period, control count and total."""

    id: int
    period: str
    rows: int
    total_fen: int


def batch(session: Session, export_id: int) -> Batch | None:
    found = session.get(PaymentExport, export_id)
    if found is None:
        return None
    return Batch(found.id, found.period, found.rows, found.total_fen)


def batches(session: Session, period: str) -> list[int]:
    """The ids of the period's export batches, oldest first."""
    return list(
        session.scalars(
            select(PaymentExport.id)
            .where(PaymentExport.period == period)
            .order_by(PaymentExport.id)
        )
    )


class ChangedMeanwhileError(Exception):
    """Payments of a file changed or were exported by another export while it was written."""

    def __init__(self, payment_ids: Sequence[int]) -> None:
        super().__init__(payment_ids)
        self.payment_ids = list(payment_ids)


def record_batch(
    session: Session,
    *,
    period: str,
    fmt: str,
    file: str,
    file_hash: str,
    lines: Mapping[int, int],
    total_fen: int,
    at: datetime,
    actor: str,
) -> int:
    """Record (and log) a bank file written from a snapshot: the export batch with its
    control count and total, and each of its payments (payment id -> fen, as written)
    moved into the batch. ChangedMeanwhileError, naming them, if any of those payments is
    no longer pending in no batch or no longer has the amount written; the caller then
    rolls back. The batch's id."""
    export = PaymentExport(
        period=period,
        format=fmt,
        file=file,
        file_hash=file_hash,
        rows=len(lines),
        total_fen=total_fen,
        at=at,
        actor=actor,
    )
    session.add(export)
    session.flush()
    ids = sorted(lines)
    moved: dict[int, int] = {}
    for i in range(0, len(ids), CHUNK):
        moved.update(
            session.execute(
                update(Payment)
                .where(
                    Payment.id.in_(ids[i : i + CHUNK]),
                    Payment.status == "pending",
                    Payment.export_id.is_(None),
                )
                .values(status="exported", export_id=export.id)
                .returning(Payment.id, Payment.amount_fen)
            ).all()
        )
    changed = [pid for pid in ids if moved.get(pid) != lines[pid]]
    if changed:
        raise ChangedMeanwhileError(changed)
    _log_payments(session, ids, at, actor, "payment_exported")
    _log_export(session, export.id, at, actor, "payment_export")
    return export.id


def log_reexport(session: Session, export_id: int, at: datetime, actor: str) -> None:
    """Log that batch `export_id`'s file was written again, by whom and when."""
    _log_export(session, export_id, at, actor, "payment_reexport")


def _log_export(session: Session, export_id: int, at: datetime, actor: str, kind: str) -> None:
    auditlog.log_rows(
        session,
        at=at,
        actor=actor,
        kind=kind,
        table="payment_exports",
        where=PAYMENT_EXPORTS.c.id == export_id,
    )


def _log_payments(
    session: Session, payment_ids: Sequence[int], at: datetime, actor: str, kind: str
) -> None:
    ids = sorted(payment_ids)
    for i in range(0, len(ids), CHUNK):
        auditlog.log_rows(
            session,
            at=at,
            actor=actor,
            kind=kind,
            table="payments",
            where=_PAYMENTS.c.id.in_(ids[i : i + CHUNK]),
        )


@dataclass(frozen=True)
class Sent:
    """A payment as the bank was sent it, and its status now."""

    status: str
    amount_fen: int
    name: str
    id_number: str


def sent(session: Session, payment_ids: Sequence[int]) -> dict[int, Sent]:
    """Each of these payments that exists: its status, amount and payee."""
    found: dict[int, Sent] = {}
    for i in range(0, len(payment_ids), CHUNK):
        chunk = payment_ids[i : i + CHUNK]
        rows = session.execute(
            select(Payment.id, Payment.status, Payment.amount_fen, Person.name, Person.id_number)
            .join(Person, Person.id == Payment.person_id)
            .where(Payment.id.in_(chunk))
        )
        found.update((pid, Sent(st, fen, name, idn)) for pid, st, fen, name, idn in rows)
    return found


Answer = tuple[int, str, str | None, str | None]  # payment id, status, reason, bank ref


def settle(
    session: Session,
    answers: Sequence[Answer],
    at: datetime,
    actor: str,
    *,
    file: str,
    file_hash: str,
    unchanged: int,
) -> int:
    """Record the bank's answer for exported payments (paid or failed), and the answer
    itself (file, hash, counts); all logged. The reconciliation's id."""
    settled: list[int] = []
    for payment_id, status, reason, bank_ref in answers:
        settled.extend(
            session.scalars(
                update(Payment)
                .where(Payment.id == payment_id, Payment.status == "exported")
                .values(status=status, settled_at=at, failure_reason=reason, bank_ref=bank_ref)
                .returning(Payment.id)
            )
        )
    _log_payments(session, settled, at, actor, "payment_settled")
    paid = sum(1 for a in answers if a[1] == "paid")
    answer = Reconciliation(
        file=file,
        file_hash=file_hash,
        paid=paid,
        failed=len(answers) - paid,
        unchanged=unchanged,
        at=at,
        actor=actor,
    )
    session.add(answer)
    session.flush()
    auditlog.log_rows(
        session,
        at=at,
        actor=actor,
        kind="reconciliation",
        table="reconciliations",
        where=RECONCILIATIONS.c.id == answer.id,
    )
    return answer.id
