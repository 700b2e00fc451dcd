"""Scheduler entry points: the deadline sweep and outbox delivery.

Each job takes a Session and leaves the transaction to its caller (`aidflow scheduler tick`
wraps each in `with session.begin():`), except delivery, which commits once per message. Jobs are idempotent: escalations are keyed by
(case, state entry, rung, repeat, recipient) and inserted with ON CONFLICT DO NOTHING, so a
sweep run twice, or by two processes at once, fires each rung once; delivery claims outbox
rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serialises writers) and commits
each "sent" mark before sending the next row (see `deliver_outbox`). The sweep queues
escalation emails unrendered; delivery renders each one at its first attempt (as of the
sweep that fired it) and stores the text on the row, so Jinja's cost is paid by delivery,
not by the sweep, and a retry sends what the first attempt rendered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from aidflow import failpoints
from aidflow.clock import Clock
from aidflow.engine.rules import SYSTEM, Actor
from aidflow.errors import AidflowError, InvalidInputError, NotFoundError
from aidflow.idnumber import mask
from aidflow.language.calendar import Duration, WorkCalendar, parse_duration
from aidflow.language.definition import Rung, Workflow
from aidflow.notify.messageid import make_message_id
from aidflow.store import queries as store
from aidflow.store.models import (
    Case,
    CaseEvent,
    Escalation,
    OutboxMessage,
    Person,
    User,
    WorkflowVersion,
)

if TYPE_CHECKING:
    from aidflow.notify.mailer import Mailer
    from aidflow.notify.render import Message

BATCH = 500
_OUTBOX_TABLE: Any = OutboxMessage.__table__
_INSERT_OUTBOX = _OUTBOX_TABLE.insert()
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class SweepResult:
    timeouts: int
    escalations: int

    @property
    def total(self) -> int:
        return self.timeouts + self.escalations


def sweep_deadlines(
    session: Session,
    clock: Clock,
    calendar: WorkCalendar,
    *,
    lang: str = "en",
    domain: str = "aidflow.local",
) -> int:
    """Fire due `on_timeout` transitions, then every due escalation rung; the number of both."""
    return sweep(session, clock, calendar, lang=lang, domain=domain).total


def sweep(
    session: Session,
    clock: Clock,
    calendar: WorkCalendar,
    *,
    lang: str = "en",
    domain: str = "aidflow.local",
) -> SweepResult:
    """`sweep_deadlines` with the two counts apart (for the CLI)."""
    timeouts = fire_timeouts(session, clock, calendar)
    return SweepResult(timeouts, escalate(session, clock, calendar, lang=lang, domain=domain))


# -- timed transitions -------------------------------------------------------------------


def _deployed(session: Session) -> list[tuple[int, Workflow]]:
    rows = session.execute(
        select(WorkflowVersion.id, WorkflowVersion.content_hash, WorkflowVersion.definition_json)
    ).all()
    out = []
    for vid, digest, text in rows:
        wf = store._DEFINITIONS.get(digest)
        if wf is None:
            from aidflow.language.definition import workflow_from_json

            wf = store._DEFINITIONS[digest] = workflow_from_json(text)
        out.append((vid, wf))
    return out


def _batches(session: Session, stmt: Any) -> Iterator[Sequence[Any]]:
    """Rows of `stmt` (which selects Case.id first) in id order, BATCH at a time (keyset)."""
    last = 0
    while True:
        rows = session.execute(stmt.where(Case.id > last).order_by(Case.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def fire_timeouts(session: Session, clock: Clock, calendar: WorkCalendar) -> int:
    """Fire the `on_timeout` transition of every open case past its deadline, as `system`.

    Reads only cases past their deadline (index on cases.deadline_at) in states that have
    an `on_timeout`. A transition the rules refuse is skipped (and retried next sweep);
    each one runs in a savepoint so one refusal does not undo the others.
    """
    from aidflow.services.cases import Service

    now = clock.now()
    pairs = [
        (vid, name)
        for vid, wf in _deployed(session)
        for name, st in wf.states.items()
        if st.on_timeout
    ]
    if not pairs:
        return 0
    states = sorted({name for _, name in pairs})
    wanted = set(pairs)
    stmt = select(Case.id, Case.workflow_version_id, Case.state, Case.version).where(
        Case.deadline_at <= now, Case.closed_at.is_(None), Case.state.in_(states)
    )
    svc = Service(session, clock, calendar)
    fired = 0
    for rows in _batches(session, stmt):
        for case_id, vid, state, version in rows:
            if (vid, state) not in wanted:
                continue
            trigger = svc.workflow_of(store.case_row(session, case_id)).states[state].on_timeout
            assert trigger is not None
            try:
                with session.begin_nested():
                    svc.fire(SYSTEM, case_id, trigger, expected_version=version)
                fired += 1
            except AidflowError:
                continue  # refused or changed meanwhile: the next sweep looks again
    return fired


# -- escalation ladders ------------------------------------------------------------------


def lower_bound(d: Duration) -> timedelta:
    """A span no longer than `d` from any start (to select candidate rows by index)."""
    if d.unit == "h":
        return timedelta(hours=d.amount)
    if d.unit == "d":
        return timedelta(days=d.amount, hours=-1)  # a daylight-saving day may be 23 hours
    if d.unit == "wd":
        return timedelta(days=d.amount)
    return timedelta(days=28 * d.amount - 1)


def _times(d: Duration, k: int) -> Duration:
    return Duration(d.amount * k, d.unit)


def latest_repeat(calendar: WorkCalendar, first: datetime, repeat: Duration, now: datetime) -> int:
    """How many whole `repeat` spans have passed since `first` (0 if none)."""
    if now < first:
        return 0
    if repeat.unit == "h":
        return int((now - first) // timedelta(hours=repeat.amount))
    k = max(0, int((now - first) // (lower_bound(repeat) + timedelta(days=3))) - 1)  # a safe start
    while calendar.add(first, _times(repeat, k + 1)) <= now:
        k += 1
    return k


@dataclass
class _Users:
    users: list[User]

    _cache: dict[tuple[str, str, str], list[User]] = field(default_factory=dict)

    def with_role(self, role: str, township: str, village: str) -> list[User]:
        key = (role, township, village)
        if key not in self._cache:
            self._cache[key] = [
                u
                for u in self.users
                if role in u.roles
                and Actor(u.name, tuple(u.roles), u.area).covers(township, village)
            ]
        return self._cache[key]


def escalate(
    session: Session,
    clock: Clock,
    calendar: WorkCalendar,
    *,
    lang: str = "en",
    domain: str = "aidflow.local",
) -> int:
    """Insert an escalation and an outbox row per recipient for every due rung; the count.

    Candidates come from the index on (workflow_version_id, state, state_entered_at): only
    cases that entered a laddered state at least the rung's shortest `after` ago. Per keyset
    batch: one multi-row INSERT of the escalations and one of their outbox rows, which are
    queued unrendered (delivery renders them, see `render_queued`); no case or person is
    loaded here.
    """
    now = clock.now()
    users = _Users(list(session.scalars(select(User).order_by(User.name))))
    created = 0
    for vid, wf in _deployed(session):
        for state_name, st in wf.states.items():
            if st.escalation is None or st.escalation not in wf.escalations:
                continue
            rungs = wf.escalations[st.escalation]
            stmt = select(
                Case.id,
                Case.entry_seq,
                Case.state_entered_at,
                Case.township,
                Case.village,
                Case.deadline_at,
            ).where(
                Case.workflow_version_id == vid,
                Case.state == state_name,
                Case.closed_at.is_(None),
                _could_be_due(rungs, now),
            )
            for rows in _batches(session, stmt):
                done = _fired(session, [r[0] for r in rows])
                values = [
                    {
                        "case_id": r[0],
                        "entry_seq": r[1],
                        "state": state_name,
                        "ladder": st.escalation,
                        "rung": index,
                        "repeat_no": repeat_no,
                        "role": rung.to,
                        "recipient": user.name,
                        "template": rung.template,
                        "due_at": due,
                        "fired_at": now,
                    }
                    for r in rows
                    for index, rung, repeat_no, due, user in _due_rungs(
                        r, rungs, done, users, calendar, now
                    )
                ]
                if values:
                    created += _insert_batch(session, values, users, now, lang, domain)
                    failpoints.reach("sweep.batch")  # inside the sweep's transaction
    return created


def _fired(
    session: Session, case_ids: list[int]
) -> dict[tuple[int, int, int], tuple[set[tuple[int, str]], bool]]:
    """(case, entry, rung) -> ({(repeat_no, recipient)}, acknowledged) for the given cases."""
    out: dict[tuple[int, int, int], tuple[set[tuple[int, str]], bool]] = {}
    rows = session.execute(
        select(
            Escalation.case_id,
            Escalation.entry_seq,
            Escalation.rung,
            Escalation.repeat_no,
            Escalation.recipient,
            Escalation.acknowledged_at,
        ).where(Escalation.case_id.in_(case_ids))
    )
    for cid, entry, rung, rep, who, acked in rows:
        seen, ack = out.setdefault((cid, entry, rung), (set(), False))
        seen.add((rep, who))
        if acked is not None and not ack:
            out[(cid, entry, rung)] = (seen, True)
    return out


def _could_be_due(rungs: tuple[Rung, ...], now: datetime) -> Any:
    """An indexable filter: entered (or past the deadline) at least the shortest `after` ago."""
    conds = []
    for clock_name, column in (("entry", Case.state_entered_at), ("deadline", Case.deadline_at)):
        afters = [
            lower_bound(parse_duration(r.after)) for r in rungs if r.relative_to == clock_name
        ]
        if afters:
            conds.append(column <= now - min(afters))
    return or_(*conds)


_Plan = list[tuple[int, Rung, int, datetime, User]]  # (rung index, rung, repeat_no, due, recipient)


def _due_rungs(
    row: Any,
    rungs: tuple[Rung, ...],
    done: dict[tuple[int, int, int], tuple[set[tuple[int, str]], bool]],
    users: _Users,
    calendar: WorkCalendar,
    now: datetime,
) -> _Plan:
    """What is due and not yet fired for one case row (id, entry_seq, entered, township, village, deadline)."""
    case_id, entry_seq, entered, township, village, deadline = row
    plan: _Plan = []
    for index, rung in enumerate(rungs):
        base = entered if rung.relative_to == "entry" else deadline
        if base is None:
            continue
        first = calendar.add(base, parse_duration(rung.after))
        if first > now:
            continue
        seen, acked = done.get((case_id, entry_seq, index), (set(), False))
        repeat_no = 0
        if rung.repeat is not None and not (acked and rung.stop_on_ack):
            # after downtime only the latest repeat is sent, not every one that was missed
            repeat_no = latest_repeat(calendar, first, parse_duration(rung.repeat), now)
        due = (
            first
            if repeat_no == 0
            else calendar.add(first, _times(parse_duration(rung.repeat or "1h"), repeat_no))
        )
        plan.extend(
            (index, rung, repeat_no, due, user)
            for user in users.with_role(rung.to, township, village)
            if (repeat_no, user.name) not in seen
        )
    return plan


_INSERT_ONCE: dict[str, Any] = {}
_KEY = ("case_id", "entry_seq", "rung", "repeat_no", "recipient")  # uq_escalation_once


def _insert_many_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id and the unique key, built once per dialect.

    Executed with a list of rows, SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues",
    pages sized for SQLite's variable limit); a row that conflicts returns nothing, so the
    returned rows are matched to recipients by the unique key, not by position.
    """
    stmt = _INSERT_ONCE.get(dialect)
    if stmt is None:
        table: Any = Escalation.__table__
        insert: Any
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = _INSERT_ONCE[dialect] = (
            insert(table)
            .on_conflict_do_nothing()
            .returning(table.c.id, *(table.c[k] for k in _KEY))
        )
    return stmt


def _insert_batch(
    session: Session,
    values: list[dict[str, Any]],
    users: _Users,
    now: datetime,
    lang: str,
    domain: str,
) -> int:
    """Insert one batch of escalations, then an unrendered outbox row for each one inserted."""
    conn = session.connection()
    inserted = conn.execute(_insert_many_statement(conn.dialect.name), values).all()
    if not inserted:
        return 0  # another sweep got there first
    template = {tuple(v[k] for k in _KEY): v["template"] for v in values}
    email = {u.name: u.email for u in users.users}
    conn.execute(
        _INSERT_OUTBOX,
        [
            {  # Core: no ORM unit of work per message
                "escalation_id": esc_id,
                "to_addr": email[who],
                "template": template[(cid, entry, rung, rep, who)],
                "lang": lang,
                "message_id": make_message_id(uuid.uuid4().hex, domain),
                "created_at": now,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
            for esc_id, cid, entry, rung, rep, who in sorted(inserted)
        ],
    )
    return len(inserted)


def expected_next(wf: Workflow, state: str, lang: str) -> str:
    st = wf.states[state]
    owner = wf.roles[st.owner].get(lang) if st.owner and st.owner in wf.roles else "-"
    steps = [
        t.labels.get(lang) if t.labels else t.trigger
        for t in wf.transitions_from(state)
        if not t.system
    ]
    return f"{owner}: " + (" / ".join(steps) if steps else "-")


def email_context(
    session: Session,
    esc: Escalation,
    case: Case,
    wf: Workflow,
    user: User,
    lang: str,
    person: Person | None = None,
) -> dict[str, Any]:
    """What the templates get (notify.TEMPLATE_VARIABLES); the ID number is masked.

    As of the sweep that fired `esc` (its `fired_at` is "now"), with the case and person as
    they are when this is called (at delivery). A case that has since left the state entry
    that fired `esc` keeps that state, its entry time from the audit event, and the rung's
    due time as its deadline.
    """
    person = person or session.get_one(Person, case.person_id)
    state, due, now = esc.state, esc.due_at, esc.fired_at
    deadline: datetime | None
    if case.entry_seq == esc.entry_seq:
        deadline, entered = case.deadline_at, case.state_entered_at
    else:
        deadline = None
        entered = (
            session.scalar(
                select(CaseEvent.at).where(
                    CaseEvent.case_id == case.id, CaseEvent.seq == esc.entry_seq
                )
            )
            or case.opened_at
        )
    st = wf.states[state]
    late_from = deadline if deadline is not None and deadline <= now else due
    ctx: dict[str, Any] = {
        "recipient_name": user.name,
        "recipient_user": user.name,
        "case_id": case.id,
        "workflow_label": wf.labels.get(lang),
        "person_name": person.name,
        "person_id_masked": mask(person.id_number),
        "area": f"{case.township}/{case.village}",
        "step": st.labels.get(lang),
        "expected_next": expected_next(wf, state, lang),
    }
    if esc.template == "deadline_reminder":
        ctx.update(
            due_at=deadline or due,
            due_in=max((deadline or due) - now, timedelta(0)),
            actions=[
                {"trigger": t.trigger, "label": t.labels.get(lang) if t.labels else t.trigger}
                for t in wf.transitions_from(state)
                if not t.system
            ],
        )
        return ctx
    ctx.update(
        escalation_id=esc.id,
        caseworker=case.assigned_to or "-",
        overdue=now - late_from,
        due_at=late_from,
    )
    if esc.template == "emergency_escalation":
        ctx.update(
            emergency_reason=str(case.data.get("emergency_reason", "-")),
            reported_at=case.opened_at,
            limit=due - entered,
        )
    return ctx


# what an unrendered row is rendered from, in one query built once (it runs once per message)
_RENDER_SOURCE = (
    select(Escalation, Case, Person, User)
    .join(Case, Case.id == Escalation.case_id)
    .join(Person, Person.id == Case.person_id)
    .join(User, User.name == Escalation.recipient)
    .where(Escalation.id == bindparam("esc_id"))
)


def render_queued(session: Session, row: OutboxMessage) -> Message:
    """Render an outbox row the sweep queued unrendered (`row.text` is NULL)."""
    from aidflow.notify import render as notify

    if row.escalation_id is None or row.template is None or row.lang is None:
        raise InvalidInputError(
            f"outbox message {row.id} has neither a rendered text nor an escalation "
            "and template to render it from"
        )
    found = session.execute(_RENDER_SOURCE, {"esc_id": row.escalation_id}).first()
    if found is None:
        raise NotFoundError(
            f"outbox message {row.id}: escalation {row.escalation_id} or its recipient "
            "no longer exists"
        )
    esc, case, person, user = found
    wf = store.workflow_by_id(session, case.workflow_version_id)
    return notify.render(
        row.template,
        row.lang,
        email_context(session, esc, case, wf, user, row.lang, person),
        to=[row.to_addr],
        message_id=row.message_id,
    )


# -- delivery ----------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """1 min after the first failure, then 2, 4, ... capped at one hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver_outbox(
    session: Session, clock: Clock, mailer: Mailer, max_attempts: int = 8, limit: int = 1000
) -> tuple[int, int]:
    """Send the pending outbox rows that are due, one at a time; (sent, failed now).

    Exactly once, as far as SMTP allows: each row is claimed, sent and marked in one short
    transaction of its own, committed before the next row is touched, so a message the
    server accepted is never sent again because a later one failed or the process died
    later. Given a Session with no transaction open (the scheduler), this function owns
    those per-message transactions; given one inside a transaction (tests, scripts), the
    marks commit with the caller's transaction.

    The claim is `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL: two scheduler
    processes never hold the same row, and the lock lasts until the mark is committed.
    SQLite writers take the database lock up front (db.make_engine), which serialises them.

    What remains: the server accepts a message and the process dies (or the database goes
    away) before the "sent" mark commits. The row is then still pending and is sent once
    more, with the same Message-ID header, so the recipient's mail system can drop the
    duplicate. That is at most one duplicate per crash, never a lost message.

    A temporary DeliveryError schedules a retry with backoff; a permanent one, or the last
    allowed attempt, marks the row failed.
    """
    from contextlib import nullcontext

    own = not session.in_transaction()
    now = clock.now()
    sent = failed = 0
    for _ in range(limit):
        with session.begin() if own else nullcontext():
            outcome = _deliver_next(session, now, mailer, max_attempts)
        if outcome is None:
            break
        failpoints.reach("delivery.message")  # its mark committed
        sent += outcome == "sent"
        failed += outcome == "failed"
    return sent, failed


def _deliver_next(session: Session, now: datetime, mailer: Mailer, max_attempts: int) -> str | None:
    """Claim the next due row, send it and mark it; 'sent', 'failed', 'retry' or None (nothing due)."""
    from aidflow.notify import render as notify
    from aidflow.notify.mailer import DeliveryError

    row = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if row is None:
        return None
    if row.text is None:
        # rendered at the first attempt and kept on the row: what was sent stays recorded
        # and a retry sends the same text
        try:
            rendered = render_queued(session, row)
        except AidflowError as exc:  # a template or data problem no retry fixes by itself
            row.attempts += 1
            row.status, row.last_error = "failed", f"cannot render: {exc.message}"
            session.flush()
            return "failed"
        row.subject, row.text, row.html = rendered.subject, rendered.text, rendered.html
    row.attempts += 1
    assert row.subject is not None and row.text is not None and row.html is not None
    msg = notify.Message(
        to=(row.to_addr,),
        subject=row.subject,
        text=row.text,
        html=row.html,
        headers={"Message-ID": row.message_id},
    )
    outcome = "sent"
    try:
        mailer.send(msg)
    except DeliveryError as exc:
        row.last_error = str(exc)
        if exc.permanent or row.attempts >= max_attempts:
            row.status = outcome = "failed"
        else:
            row.next_attempt_at = now + backoff(row.attempts)
            outcome = "retry"
    else:
        failpoints.reach("delivery.sent")  # accepted by the server, not yet marked sent
        row.status = "sent"
        row.sent_at = now
        row.last_error = None
    session.flush()
    return outcome


# -- acknowledgement and listing ---------------------------------------------------------


def acknowledge(
    session: Session, clock: Clock, actor: Actor, escalation_id: int, note: str | None
) -> Escalation:
    """Record `actor`'s acknowledgement; with `stop_on_ack` it stops the rung's repeats."""
    from aidflow.errors import ForbiddenError, RefusedError

    esc = session.get(Escalation, escalation_id)
    if esc is None:
        raise NotFoundError(
            f"no escalation {escalation_id}",
            hint="`aidflow escalation list` shows the open escalations in your area",
        )
    case = session.get_one(Case, esc.case_id)
    if actor.name != esc.recipient and not (
        esc.role in actor.roles and actor.covers(case.township, case.village)
    ):
        raise ForbiddenError(
            f"escalation {escalation_id} was sent to {esc.recipient} ({esc.role}); "
            f"{actor.name} is neither the recipient nor a {esc.role} covering "
            f"{case.township}/{case.village}"
        )
    if esc.acknowledged_at is not None:
        raise RefusedError(
            f"escalation {escalation_id} was already acknowledged by {esc.acknowledged_by}"
        )
    now = clock.now()
    esc.acknowledged_at = now
    esc.acknowledged_by = actor.name
    esc.ack_note = note
    session.flush()
    # the supervisor's answer belongs to the case's history too (and its hash chain)
    store.write_event(
        session,
        case.id,
        case.last_seq,
        case.head_hash,
        store.EventInput(
            kind="note",
            actor=actor.name,
            at=now,
            fields={"escalation_ack": escalation_id},
            note=note or f"acknowledged escalation {escalation_id}",
        ),
        None,
        case.version,
    )
    return esc


def open_escalations(session: Session, actor: Actor) -> list[tuple[Escalation, Case]]:
    """Unacknowledged escalations on cases in `actor`'s area, by township then age."""
    stmt = (
        select(Escalation, Case)
        .join(Case, Case.id == Escalation.case_id)
        .where(Escalation.acknowledged_at.is_(None))
        .order_by(Case.township, Escalation.fired_at, Escalation.id)
    )
    if actor.area != "*":
        town, _, vill = actor.area.partition("/")
        stmt = stmt.where(Case.township == town)
        if vill:
            stmt = stmt.where(Case.village == vill)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def retry_outbox(session: Session, clock: Clock, outbox_id: int) -> OutboxMessage:
    """Put a failed row back in the queue, due now, with a fresh attempt count."""
    from aidflow.errors import RefusedError

    row = session.get(OutboxMessage, outbox_id)
    if row is None:
        raise NotFoundError(
            f"no outbox message {outbox_id}", hint="`aidflow outbox list` shows them"
        )
    if row.status != "failed":
        raise RefusedError(
            f"outbox message {outbox_id} is {row.status}; only failed messages are retried"
        )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status="pending", attempts=0, next_attempt_at=clock.now())
    )
    session.refresh(row)
    return row
