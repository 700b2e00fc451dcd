"""Scheduler entry points: the deadline sweep and outbox delivery.

Each job takes a Session and leaves the transaction to its caller (`aidflow scheduler tick`
wraps each in `with session.begin():`), except delivery, which commits once per message. Jobs are idempotent: escalations are keyed by
(case, state entry, rung, repeat, recipient) and inserted with ON CONFLICT DO NOTHING, so a
sweep run twice, or by two processes at once, fires each rung once; delivery claims outbox
rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serialises writers) and commits
each "sent" mark before sending the next row (see `deliver_outbox`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from . import store
from .calendar import Duration, WorkCalendar, parse_duration
from .clock import Clock
from .definition import Rung, Workflow
from .errors import AidflowError
from .idnumber import mask
from .models import Case, Escalation, OutboxMessage, Person, User, WorkflowVersion
from .rules import SYSTEM, Actor

if TYPE_CHECKING:
    from .mailer import Mailer

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


def sweep_deadlines(session: Session, clock: Clock, calendar: WorkCalendar, *, lang: str = "en",
                    domain: str = "aidflow.local") -> int:
    """Fire due `on_timeout` transitions, then every due escalation rung; the number of both."""
    return sweep(session, clock, calendar, lang=lang, domain=domain).total


def sweep(session: Session, clock: Clock, calendar: WorkCalendar, *, lang: str = "en",
          domain: str = "aidflow.local") -> SweepResult:
    """`sweep_deadlines` with the two counts apart (for the CLI)."""
    timeouts = fire_timeouts(session, clock, calendar)
    return SweepResult(timeouts, escalate(session, clock, calendar, lang=lang, domain=domain))


# -- timed transitions -------------------------------------------------------------------


def _deployed(session: Session) -> list[tuple[int, Workflow]]:
    rows = session.execute(select(WorkflowVersion.id, WorkflowVersion.content_hash,
                                  WorkflowVersion.definition_json)).all()
    out = []
    for vid, digest, text in rows:
        wf = store._DEFINITIONS.get(digest)
        if wf is None:
            from .definition import workflow_from_json

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
    from .service import Service

    now = clock.now()
    pairs = [(vid, name) for vid, wf in _deployed(session) for name, st in wf.states.items()
             if st.on_timeout]
    if not pairs:
        return 0
    states = sorted({name for _, name in pairs})
    wanted = set(pairs)
    stmt = select(Case.id, Case.workflow_version_id, Case.state, Case.version).where(
        Case.deadline_at <= now, Case.closed_at.is_(None), Case.state.in_(states))
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
            self._cache[key] = [u for u in self.users if role in u.roles
                                and Actor(u.name, tuple(u.roles), u.area).covers(township, village)]
        return self._cache[key]


def escalate(session: Session, clock: Clock, calendar: WorkCalendar, *, lang: str = "en",
             domain: str = "aidflow.local") -> int:
    """Insert an escalation and an outbox row per recipient for every due rung; the count.

    Candidates come from the index on (workflow_version_id, state, state_entered_at): only
    cases that entered a laddered state at least the rung's shortest `after` ago.
    """
    now = clock.now()
    users = _Users(list(session.scalars(select(User).order_by(User.name))))
    created = 0
    for vid, wf in _deployed(session):
        for state_name, st in wf.states.items():
            if st.escalation is None or st.escalation not in wf.escalations:
                continue
            rungs = wf.escalations[st.escalation]
            stmt = select(Case.id, Case.entry_seq, Case.state_entered_at, Case.township, Case.village,
                          Case.deadline_at).where(
                Case.workflow_version_id == vid, Case.state == state_name, Case.closed_at.is_(None),
                _could_be_due(rungs, now))
            for rows in _batches(session, stmt):
                done = _fired(session, [r[0] for r in rows])
                # plain rows first: a sweep that finds nothing new loads no case or person
                plans = {r[0]: plan for r in rows if (plan := _due_rungs(r, rungs, done, users, calendar, now))}
                if not plans:
                    continue
                cases = session.scalars(select(Case).where(Case.id.in_(plans)).order_by(Case.id)).all()
                persons = {p.id: p for p in session.scalars(
                    select(Person).where(Person.id.in_({c.person_id for c in cases})))}
                for case in cases:
                    created += _escalate_case(session, case, persons[case.person_id], wf, st.escalation,
                                              plans[case.id], now, lang, domain)
                for obj in [*cases, *persons.values()]:  # bounded memory across batches
                    session.expunge(obj)
    return created


def _fired(session: Session, case_ids: list[int]) -> dict[tuple[int, int, int], tuple[set[tuple[int, str]], bool]]:
    """(case, entry, rung) -> ({(repeat_no, recipient)}, acknowledged) for the given cases."""
    out: dict[tuple[int, int, int], tuple[set[tuple[int, str]], bool]] = {}
    rows = session.execute(select(Escalation.case_id, Escalation.entry_seq, Escalation.rung,
                                  Escalation.repeat_no, Escalation.recipient, Escalation.acknowledged_at)
                           .where(Escalation.case_id.in_(case_ids)))
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
        afters = [lower_bound(parse_duration(r.after)) for r in rungs if r.relative_to == clock_name]
        if afters:
            conds.append(column <= now - min(afters))
    return or_(*conds)


_Plan = list[tuple[int, Rung, int, datetime, User]]  # (rung index, rung, repeat_no, due, recipient)


def _due_rungs(row: Any, rungs: tuple[Rung, ...], done: dict[tuple[int, int, int], tuple[set[tuple[int, str]], bool]],
               users: _Users, calendar: WorkCalendar, now: datetime) -> _Plan:
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
        due = first if repeat_no == 0 else calendar.add(first, _times(parse_duration(rung.repeat or "1h"),
                                                                       repeat_no))
        plan.extend((index, rung, repeat_no, due, user) for user in users.with_role(rung.to, township, village)
                    if (repeat_no, user.name) not in seen)
    return plan


def _escalate_case(session: Session, case: Case, person: Person, wf: Workflow, ladder: str, plan: _Plan,
                   now: datetime, lang: str, domain: str) -> int:
    created = 0
    for index, rung, repeat_no, due, user in plan:
        esc_id = _insert_escalation(session, {
            "case_id": case.id, "entry_seq": case.entry_seq, "state": case.state, "ladder": ladder,
            "rung": index, "repeat_no": repeat_no, "role": rung.to, "recipient": user.name,
            "template": rung.template, "due_at": due, "fired_at": now})
        if esc_id is None:
            continue  # another sweep got there first
        created += 1
        _queue_email(session, esc_id, case, person, wf, rung, user, due, now, lang, domain)
    return created


_INSERT_ONCE: dict[str, Any] = {}


def _insert_once_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, built once per dialect (building it per
    row cost more than running it)."""
    stmt = _INSERT_ONCE.get(dialect)
    if stmt is None:
        table: Any = Escalation.__table__
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = _INSERT_ONCE[dialect] = insert(table).on_conflict_do_nothing().returning(table.c.id)
    return stmt


def _insert_escalation(session: Session, values: dict[str, Any]) -> int | None:
    stmt = _insert_once_statement(session.get_bind().dialect.name)
    return session.connection().execute(stmt, values).scalar()


def expected_next(wf: Workflow, state: str, lang: str) -> str:
    st = wf.states[state]
    owner = wf.roles[st.owner].get(lang) if st.owner and st.owner in wf.roles else "-"
    steps = [t.labels.get(lang) if t.labels else t.trigger for t in wf.transitions_from(state)
             if not t.system]
    return f"{owner}: " + (" / ".join(steps) if steps else "-")


def email_context(session: Session, esc_id: int, case: Case, wf: Workflow, rung: Rung, user: User,
                  due: datetime, now: datetime, lang: str, person: Person | None = None) -> dict[str, Any]:
    """What the templates get (notify.TEMPLATE_VARIABLES); the ID number is masked."""
    person = person or session.get_one(Person, case.person_id)
    st = wf.states[case.state]
    deadline = case.deadline_at
    late_from = deadline if deadline is not None and deadline <= now else due
    ctx: dict[str, Any] = {
        "recipient_name": user.name, "recipient_user": user.name,
        "case_id": case.id, "workflow_label": wf.labels.get(lang), "person_name": person.name,
        "person_id_masked": mask(person.id_number), "area": f"{case.township}/{case.village}",
        "step": st.labels.get(lang), "expected_next": expected_next(wf, case.state, lang),
    }
    if rung.template == "deadline_reminder":
        ctx.update(due_at=deadline or due, due_in=max((deadline or due) - now, timedelta(0)),
                   actions=[{"trigger": t.trigger, "label": t.labels.get(lang) if t.labels else t.trigger}
                            for t in wf.transitions_from(case.state) if not t.system])
        return ctx
    ctx.update(escalation_id=esc_id, caseworker=case.assigned_to or "-", overdue=now - late_from,
               due_at=late_from)
    if rung.template == "emergency_escalation":
        ctx.update(emergency_reason=str(case.data.get("emergency_reason", "-")),
                   reported_at=case.opened_at, limit=due - case.state_entered_at)
    return ctx


def _queue_email(session: Session, esc_id: int, case: Case, person: Person, wf: Workflow, rung: Rung,
                 user: User, due: datetime, now: datetime, lang: str, domain: str) -> None:
    from . import notify

    token = uuid.uuid4().hex
    message_id = notify.make_message_id(token, domain)
    msg = notify.render(rung.template, lang, email_context(session, esc_id, case, wf, rung, user, due, now,
                                                           lang, person), to=[user.email], message_id=message_id)
    session.execute(_INSERT_OUTBOX, {  # Core: no ORM unit of work per message
        "escalation_id": esc_id, "to_addr": user.email, "subject": msg.subject, "text": msg.text,
        "html": msg.html, "message_id": message_id, "created_at": now, "status": "pending", "attempts": 0,
        "next_attempt_at": now})


# -- delivery ----------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """1 min after the first failure, then 2, 4, ... capped at one hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver_outbox(session: Session, clock: Clock, mailer: Mailer, max_attempts: int = 8,
                   limit: int = 1000) -> tuple[int, int]:
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
        sent += outcome == "sent"
        failed += outcome == "failed"
    return sent, failed


def _deliver_next(session: Session, now: datetime, mailer: Mailer, max_attempts: int) -> str | None:
    """Claim the next due row, send it and mark it; 'sent', 'failed', 'retry' or None (nothing due)."""
    from .mailer import DeliveryError
    from .notify import Message

    row = session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1)
        .with_for_update(skip_locked=True)).first()
    if row is None:
        return None
    msg = Message(to=(row.to_addr,), subject=row.subject, text=row.text, html=row.html,
                  headers={"Message-ID": row.message_id})
    row.attempts += 1
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
        row.status = "sent"
        row.sent_at = now
        row.last_error = None
    session.flush()
    return outcome


# -- acknowledgement and listing ---------------------------------------------------------


def acknowledge(session: Session, clock: Clock, actor: Actor, escalation_id: int, note: str | None) -> Escalation:
    """Record `actor`'s acknowledgement; with `stop_on_ack` it stops the rung's repeats."""
    from .errors import ForbiddenError, NotFoundError, RefusedError

    esc = session.get(Escalation, escalation_id)
    if esc is None:
        raise NotFoundError(f"no escalation {escalation_id}",
                            hint="`aidflow escalation list` shows the open escalations in your area")
    case = session.get_one(Case, esc.case_id)
    if actor.name != esc.recipient and not (esc.role in actor.roles and actor.covers(case.township,
                                                                                    case.village)):
        raise ForbiddenError(f"escalation {escalation_id} was sent to {esc.recipient} ({esc.role}); "
                             f"{actor.name} is neither the recipient nor a {esc.role} covering "
                             f"{case.township}/{case.village}")
    if esc.acknowledged_at is not None:
        raise RefusedError(f"escalation {escalation_id} was already acknowledged by {esc.acknowledged_by}")
    now = clock.now()
    esc.acknowledged_at = now
    esc.acknowledged_by = actor.name
    esc.ack_note = note
    session.flush()
    # the supervisor's answer belongs to the case's history too (and its hash chain)
    store.write_event(session, case.id, case.last_seq, case.head_hash, store.EventInput(
        kind="note", actor=actor.name, at=now, fields={"escalation_ack": escalation_id},
        note=note or f"acknowledged escalation {escalation_id}"), None, case.version)
    return esc


def open_escalations(session: Session, actor: Actor) -> list[tuple[Escalation, Case]]:
    """Unacknowledged escalations on cases in `actor`'s area, by township then age."""
    stmt = (select(Escalation, Case).join(Case, Case.id == Escalation.case_id)
            .where(Escalation.acknowledged_at.is_(None))
            .order_by(Case.township, Escalation.fired_at, Escalation.id))
    if actor.area != "*":
        town, _, vill = actor.area.partition("/")
        stmt = stmt.where(Case.township == town)
        if vill:
            stmt = stmt.where(Case.village == vill)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def retry_outbox(session: Session, clock: Clock, outbox_id: int) -> OutboxMessage:
    """Put a failed row back in the queue, due now, with a fresh attempt count."""
    from .errors import NotFoundError, RefusedError

    row = session.get(OutboxMessage, outbox_id)
    if row is None:
        raise NotFoundError(f"no outbox message {outbox_id}", hint="`aidflow outbox list` shows them")
    if row.status != "failed":
        raise RefusedError(f"outbox message {outbox_id} is {row.status}; only failed messages are retried")
    session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(
        status="pending", attempts=0, next_attempt_at=clock.now()))
    session.refresh(row)
    return row
