"""Care visits: logging a visit, who is behind, and the monthly check job.

The county plan asks that dispersed-support persons get at least 2 visits (with cleaning)
and 1 haircut each calendar month. Which cases carry that obligation, the kinds and the
minimums live in `workflows/policy/care_visits.yaml` (read by `care_policy`), never in code.

A case is under obligation for a month when it matches a selector of the policy now (its
workflow, one of the states, the optional `when` guard over `case.*` / `person.*`) and it
entered that state before the month began (support starts the month after confirmation).

`check_visits` is the scheduler job. From the policy's warning day it warns the case's
assigned caseworker (template `deadline_reminder`: the month's end is the deadline); once a
month has ended with a minimum missed it escalates to every user with the escalation role
covering the case's area (template `visit_missing`). Each alert is a `visit_alerts` row keyed
(case, month, alert kind, recipient) and inserted with ON CONFLICT DO NOTHING, so the job is
idempotent across runs and processes. An escalation is also an `escalations` row (ladder
`care_visits`, rung -1, repeat_no YYYYMM; ladder rungs are >= 0, so the keys never meet), so
`aidflow escalation list|ack` work for it as the email says.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aidflow.clock import Clock, as_utc
from aidflow.engine.rules import Actor
from aidflow.errors import (
    ExpressionError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
    did_you_mean,
)
from aidflow.idnumber import mask
from aidflow.language.calendar import WorkCalendar
from aidflow.language.definition import Workflow
from aidflow.policy.care import CarePolicy, Selector
from aidflow.store import queries as store
from aidflow.store.models import Case, Escalation, OutboxMessage, Person, User, Visit, VisitAlert

if TYPE_CHECKING:
    from aidflow.notify.render import Templates

LADDER = "care_visits"
RUNG = -1  # escalation rows of this module; workflow ladders number their rungs from 0
WARNING_TEMPLATE = "deadline_reminder"
ESCALATION_TEMPLATE = "visit_missing"
BATCH = 500


# -- months ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        try:
            year, month = (int(p) for p in text.split("-"))
            if len(text) != 7 or not 1 <= month <= 12 or year < 1900:
                raise ValueError
        except ValueError:
            raise InvalidInputError(
                f"--month {text!r} is not a month", hint="write it like 2023-08"
            ) from None
        return cls(year, month)

    @classmethod
    def of(cls, at: datetime, calendar: WorkCalendar) -> Month:
        local = at.astimezone(calendar.tz)
        return cls(local.year, local.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def start(self, calendar: WorkCalendar) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=calendar.tz)

    def end(self, calendar: WorkCalendar) -> datetime:
        return self.next().start(calendar)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


# -- which cases are under obligation ----------------------------------------------------


@dataclass(frozen=True)
class Behind:
    """One case under obligation for a month, with what was done and what is required."""

    case_id: int
    person_id: int
    workflow_version_id: int
    state: str
    entry_seq: int
    assigned_to: str | None
    township: str
    village: str
    done: dict[str, int]
    required: dict[str, int]

    @property
    def shortfall(self) -> dict[str, dict[str, int]]:
        return {
            k: {"done": self.done.get(k, 0), "required": n}
            for k, n in self.required.items()
            if self.done.get(k, 0) < n
        }


_COLUMNS = (
    Case.id,
    Case.person_id,
    Case.workflow_version_id,
    Case.state,
    Case.entry_seq,
    Case.assigned_to,
    Case.township,
    Case.village,
    Case.data,
    Case.emergency,
    Case.opened_at,
)


def _matches(session: Session, sel: Selector, row: Any) -> bool:
    if sel.when is None:
        return True
    case_scope = dict(row.data or {})
    case_scope.update(
        state=row.state,
        township=row.township,
        village=row.village,
        emergency=row.emergency,
        opened_at=row.opened_at.isoformat(),
    )
    scope: dict[str, Mapping[str, Any]] = {"case": case_scope}
    if any(ref.startswith("person.") for ref in sel.when.references):
        person = session.execute(select(Person).where(Person.id == row.person_id)).scalar_one()
        scope["person"] = {c.key: getattr(person, c.key) for c in Person.__table__.columns}
        session.expunge(person)
    try:
        return bool(sel.when.evaluate(scope))
    except ExpressionError:
        return False  # data the guard cannot read: not selected (the loader checked the grammar)


def behind(
    session: Session,
    calendar: WorkCalendar,
    policy: CarePolicy,
    month: Month,
    area: Actor | None = None,
) -> Iterator[Behind]:
    """Cases under obligation for `month` whose minimums are not met, streamed in id order.

    Reads cases BATCH at a time by keyset (never all at once) and counts the month's visits
    of each batch with one grouped query.
    """
    start, end = month.start(calendar), month.end(calendar)
    required = policy.required
    if not required:
        return
    for sel in policy.applies_to:
        stmt = select(*_COLUMNS).where(
            Case.workflow_name == sel.workflow,
            Case.state.in_(sel.states),
            Case.closed_at.is_(None),
            Case.state_entered_at < start,
        )
        if area is not None and area.area != "*":
            town, _, vill = area.area.partition("/")
            stmt = stmt.where(Case.township == town)
            if vill:
                stmt = stmt.where(Case.village == vill)
        last = 0
        while True:
            rows = session.execute(stmt.where(Case.id > last).order_by(Case.id).limit(BATCH)).all()
            if not rows:
                break
            last = rows[-1].id
            chosen = [r for r in rows if _matches(session, sel, r)]
            counts: dict[int, dict[str, int]] = {}
            if chosen:
                for cid, kind, n in session.execute(
                    select(Visit.case_id, Visit.kind, func.count())
                    .where(
                        Visit.case_id.in_([r.id for r in chosen]), Visit.at >= start, Visit.at < end
                    )
                    .group_by(Visit.case_id, Visit.kind)
                ):
                    counts.setdefault(cid, {})[kind] = n
            for r in chosen:
                done = counts.get(r.id, {})
                if any(done.get(k, 0) < n for k, n in required.items()):
                    yield Behind(
                        r.id,
                        r.person_id,
                        r.workflow_version_id,
                        r.state,
                        r.entry_seq,
                        r.assigned_to,
                        r.township,
                        r.village,
                        {k: done.get(k, 0) for k in policy.kinds},
                        required,
                    )


# -- logging a visit ---------------------------------------------------------------------


@dataclass(frozen=True)
class Logged:
    visit_id: int
    case_id: int
    kind: str
    at: datetime
    by_user: str
    event_seq: int | None  # None when an earlier command with the same key did the work
    created: bool


def log_visit(
    session: Session,
    clock: Clock,
    calendar: WorkCalendar,
    policy: CarePolicy,
    actor: Actor,
    case_id: int,
    kind: str,
    *,
    at: datetime | None = None,
    by: str | None = None,
    note: str | None = None,
    command_id: str | None = None,
) -> Logged:
    """Record a visit and a `note` event on the case's audit chain, in the caller's transaction.

    With `command_id` (an idempotency key) a repeated command finds the row the first one
    wrote and changes nothing.
    """
    if command_id is not None and (not command_id.strip() or len(command_id) > 100):
        raise InvalidInputError("--idempotency-key must be 1 to 100 characters")
    if kind not in policy.kinds:
        hint = did_you_mean(kind, policy.kinds)
        known = ", ".join(policy.kinds)
        raise InvalidInputError(
            f"unknown visit kind '{kind}' (kinds: {known})",
            hint=hint or f"kinds come from {policy.file}",
        )
    if not set(actor.roles) & set(policy.log_roles):
        raise ForbiddenError(
            f"logging a visit needs one of the roles {', '.join(policy.log_roles)}; "
            f"{actor.name} has {', '.join(actor.roles) or 'none'}"
        )
    case = store.case_row(session, case_id)
    if not actor.covers(case.township, case.village):
        raise ForbiddenError(
            f"case {case_id} is in {case.township}/{case.village}, outside "
            f"{actor.name}'s area ({actor.area})"
        )
    if (
        command_id is not None
    ):  # a retry: report what the first command did, even if the case moved on
        existing = session.scalar(select(Visit).where(Visit.command_id == command_id))
        if existing is not None:
            return _existing(existing, case_id, command_id)
    if case.closed_at is not None:
        raise RefusedError(f"case {case_id} is closed (state '{case.state}')")
    sels = policy.selectors_for(case.workflow_name, case.state)
    if not any(_matches(session, s, case) for s in sels):
        raise RefusedError(
            f"case {case_id} ({case.workflow_name}, state '{case.state}') carries no care-visit "
            f"obligation",
            hint=f"the cases under obligation are set in {policy.file}",
        )
    now = clock.now()
    at = now if at is None else at
    if at > now:
        raise InvalidInputError(
            f"--at {_local(at, calendar)} is in the future (now {_local(now, calendar)})",
            hint="log a visit after it happened",
        )
    if at < case.opened_at:
        raise InvalidInputError(
            f"--at {_local(at, calendar)} is before case {case_id} was opened "
            f"({_local(case.opened_at, calendar)})"
        )
    by_user = by or actor.name
    if by is not None and session.get(User, by) is None:
        raise NotFoundError(f"no user named '{by}'", hint="--by names the user who made the visit")
    text = note.strip() if note and note.strip() else None
    try:
        with session.begin_nested():
            visit = Visit(
                case_id=case_id,
                kind=kind,
                at=at,
                by_user=by_user,
                note=text,
                logged_at=now,
                logged_by=actor.name,
                command_id=command_id,
            )
            session.add(visit)
            session.flush()
    except IntegrityError:  # another process with the same key committed first
        existing = session.scalar(select(Visit).where(Visit.command_id == command_id))
        if existing is None:
            raise
        return _existing(existing, case_id, command_id or "")
    label = policy.kinds[kind].labels.en
    summary = f"{label} on {_local(at, calendar)} by {by_user}" + (f": {text}" if text else "")
    ev = store.write_event(
        session,
        case_id,
        case.last_seq,
        case.head_hash,
        store.EventInput(
            kind="note",
            actor=actor.name,
            at=now,
            note=summary,
            fields={
                "visit_id": visit.id,
                "visit_kind": kind,
                "visit_at": as_utc(at).isoformat(),
                "visit_by": by_user,
            },
        ),
        None,
        case.version,
    )
    return Logged(visit.id, case_id, kind, at, by_user, ev.seq, True)


def _existing(visit: Visit, case_id: int, key: str) -> Logged:
    if visit.case_id != case_id:
        raise InvalidInputError(
            f"idempotency key {key!r} was already used for case {visit.case_id}",
            hint="use a new key for each distinct command",
        )
    return Logged(visit.id, visit.case_id, visit.kind, visit.at, visit.by_user, None, False)


def _local(at: datetime, calendar: WorkCalendar) -> str:
    return at.astimezone(calendar.tz).strftime("%Y-%m-%d %H:%M")


# -- the monthly check job ---------------------------------------------------------------


def check_visits(
    session: Session,
    clock: Clock,
    calendar: WorkCalendar,
    policy: CarePolicy,
    *,
    lang: str = "en",
    domain: str = "aidflow.local",
    templates: Templates | None = None,
) -> tuple[int, int]:
    """Warn caseworkers from the warning day, escalate after month end; (warnings, escalations).

    Looks at the current month (warnings, once the local day reaches `warning.from_day`) and
    at the month before (escalations). Each alert is inserted once per (case, month, kind,
    recipient); a second run, or a second process, adds nothing. After a downtime of more
    than a month only the latest finished month is escalated.
    """
    now = clock.now()
    current = Month.of(now, calendar)
    users = {u.name: u for u in session.scalars(select(User).order_by(User.name))}
    supervisors = [u for u in users.values() if policy.escalation_role in u.roles]
    warnings = escalations = 0
    if now.astimezone(calendar.tz).day >= policy.warning_from_day:
        for b in behind(session, calendar, policy, current):
            user = users.get(b.assigned_to or "")
            if user is not None and _alert(session, b, current, "warning", user, now) is not None:
                _queue(
                    session,
                    calendar,
                    policy,
                    b,
                    current,
                    "warning",
                    user,
                    None,
                    now,
                    lang,
                    domain,
                    templates,
                )
                warnings += 1
    last = current.previous()
    for b in behind(session, calendar, policy, last):
        for user in supervisors:
            if not Actor(user.name, tuple(user.roles), user.area).covers(b.township, b.village):
                continue
            if _alert(session, b, last, "escalation", user, now) is None:
                continue
            esc_id = insert_ignore(
                session,
                Escalation.__table__,
                {
                    "case_id": b.case_id,
                    "entry_seq": b.entry_seq,
                    "state": b.state,
                    "ladder": LADDER,
                    "rung": RUNG,
                    "repeat_no": last.year * 100 + last.month,
                    "role": policy.escalation_role,
                    "recipient": user.name,
                    "template": ESCALATION_TEMPLATE,
                    "due_at": last.end(calendar),
                    "fired_at": now,
                },
            )
            _queue(
                session,
                calendar,
                policy,
                b,
                last,
                "escalation",
                user,
                esc_id,
                now,
                lang,
                domain,
                templates,
            )
            escalations += 1
    return warnings, escalations


def insert_ignore(session: Session, table: Any, values: dict[str, Any]) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None if a unique key held."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table).values(values).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(values).on_conflict_do_nothing()
    return session.execute(stmt.returning(table.c.id)).scalar()


def _alert(
    session: Session, b: Behind, month: Month, kind: str, user: User, now: datetime
) -> int | None:
    return insert_ignore(
        session,
        VisitAlert.__table__,
        {
            "case_id": b.case_id,
            "month": str(month),
            "kind": kind,
            "recipient": user.name,
            "shortfall": b.shortfall,
            "created_at": now,
        },
    )


def expected_text(policy: CarePolicy, b: Behind, lang: str) -> str:
    """What is missing and the command that logs it, in the message's language."""
    missing = [(k, v) for k, v in b.shortfall.items()]
    first = missing[0][0] if missing else next(iter(policy.kinds))
    if lang == "zh":
        parts = "，".join(
            f"{policy.kinds[k].labels.zh} {v['done']}/{v['required']} 次" for k, v in missing
        )
        return f"补足本月生活照料服务（{parts}），每次服务后登记：aidflow visit log {b.case_id} --kind {first}"
    parts = ", ".join(
        f"{policy.kinds[k].labels.en} {v['done']} of {v['required']}" for k, v in missing
    )
    return (
        f"make up this month's care services ({parts}) and log each one: "
        f"aidflow visit log {b.case_id} --kind {first}"
    )


def _queue(
    session: Session,
    calendar: WorkCalendar,
    policy: CarePolicy,
    b: Behind,
    month: Month,
    kind: str,
    user: User,
    esc_id: int | None,
    now: datetime,
    lang: str,
    domain: str,
    templates: Templates | None,
) -> None:
    from aidflow.notify import render as notify

    wf: Workflow = store.workflow_by_id(session, b.workflow_version_id)
    name, id_number = session.execute(
        select(Person.name, Person.id_number).where(Person.id == b.person_id)
    ).one()
    ctx: dict[str, Any] = {
        "recipient_name": user.name,
        "recipient_user": user.name,
        "case_id": b.case_id,
        "workflow_label": wf.labels.get(lang),
        "person_name": name,
        "person_id_masked": mask(id_number),
        "area": f"{b.township}/{b.village}",
        "step": wf.states[b.state].labels.get(lang),
        "expected_next": expected_text(policy, b, lang),
    }
    end = month.end(calendar)
    if kind == "warning":
        template = WARNING_TEMPLATE
        ctx.update(due_at=end, due_in=max(end - now, timedelta(0)), actions=[])
    else:
        template = ESCALATION_TEMPLATE
        ctx.update(
            escalation_id=esc_id,
            caseworker=b.assigned_to or "-",
            overdue=max(now - end, timedelta(0)),
            month=month.first_day,
            shortfalls=[
                {
                    "label": policy.kinds[k].labels.get(lang),
                    "done": v["done"],
                    "required": v["required"],
                }
                for k, v in b.shortfall.items()
            ],
        )
    message_id = notify.make_message_id(uuid.uuid4().hex, domain)
    templates = templates or notify.Templates.shipped()
    msg = notify.render(
        template,
        lang,
        ctx,
        to=[user.email],
        message_id=message_id,
        directory=templates.directory,
        tz=templates.tz,
    )
    session.add(
        OutboxMessage(
            escalation_id=esc_id,
            to_addr=user.email,
            subject=msg.subject,
            text=msg.text,
            html=msg.html,
            message_id=message_id,
            created_at=now,
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
    )
    session.flush()
