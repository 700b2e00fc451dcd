"""Care visits: logging a visit, who is behind, and the monthly check job.

The county plan asks that dispersed-support persons get at least 2 visits (with cleaning)
and 1 haircut each calendar month. Which cases carry that obligation, the kinds and the
minimums live in `workflows/policy/care_visits.yaml` (read by `policy.care`), never in code.

A case is under obligation for a month when it matches a selector of the policy now (its
workflow, one of the states, the optional `when` guard over `case.*` / `person.*`) and it
entered that state before the month began (support starts the month after confirmation).

`check_visits` is the scheduler job. From the policy's warning day it warns the case's
assigned caseworker (template `deadline_reminder`: the month's end is the deadline); once a
month has ended with a minimum missed it escalates to every user with the escalation role
covering the case's area (`access.covering`; template `visit_missing`). Each alert is a
`visit_alerts` row keyed (case, month, alert kind, recipient) and written once
(store.visits), so the job is idempotent across runs and processes. An escalation is also an
`escalations` row (ladder `care_visits`, rung -1, repeat_no YYYYMM; ladder rungs are >= 0, so
the keys never meet), so `aidflow escalation list|ack` work for it as the email says.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aidflow.clock import Clock, as_utc
from aidflow.engine.access import Actor, covering
from aidflow.errors import (
    ExpressionError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
    did_you_mean,
)
from aidflow.i18n import _, pick
from aidflow.idnumber import mask, mask_in_text
from aidflow.language.calendar import WorkCalendar
from aidflow.language.definition import Workflow
from aidflow.notify.messageid import make_message_id
from aidflow.notify.templates import DEADLINE_REMINDER, VISIT_MISSING
from aidflow.policy.care import CarePolicy, Selector
from aidflow.store import cases as case_store
from aidflow.store import escalations as escalation_rows
from aidflow.store import events as event_store
from aidflow.store import outbox
from aidflow.store import visits as rows
from aidflow.store import workflows as workflow_store
from aidflow.store.records import UserRecord
from aidflow.store.session import Session
from aidflow.store.visits import ObligedCase, VisitRecord

if TYPE_CHECKING:
    from aidflow.notify.render import Templates

LADDER = "care_visits"
RUNG = -1  # escalation rows of this module; workflow ladders number their rungs from 0
WARNING_TEMPLATE = DEADLINE_REMINDER
ESCALATION_TEMPLATE = VISIT_MISSING


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
                _("--month {text!r} is not a month", text=text), hint=_("write it like 2023-08")
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


def _matches(session: Session, sel: Selector, row: ObligedCase | Any) -> bool:
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
        scope["person"] = rows.person_values(session, row.person_id)
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

    Reads cases a batch at a time (never all at once) and counts the month's visits of each
    batch with one grouped query (store.visits). `area` limits the cases to an actor's area.
    """
    start, end = month.start(calendar), month.end(calendar)
    required = policy.required
    if not required:
        return
    scope = area.scope if area is not None else None
    for sel in policy.applies_to:
        for batch in rows.in_states(session, sel.workflow, sel.states, start, scope):
            chosen = [r for r in batch if _matches(session, sel, r)]
            counts = rows.counts(session, [r.id for r in chosen], start, end)
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
        raise InvalidInputError(_("--idempotency-key must be 1 to 100 characters"))
    if kind not in policy.kinds:
        hint = did_you_mean(kind, policy.kinds)
        known = ", ".join(
            pick(k, _("{code} ({label})", code=k, label=v.labels.zh))
            for k, v in policy.kinds.items()
        )
        raise InvalidInputError(
            _("unknown visit kind '{kind}' (kinds: {known})", kind=kind, known=known),
            hint=hint or _("kinds come from {file}", file=policy.file),
        )
    if not set(actor.roles) & set(policy.log_roles):
        raise ForbiddenError(
            _(
                "logging a visit needs one of the roles {roles}; {user} has {held}",
                roles=", ".join(policy.log_roles),
                user=actor.name,
                held=", ".join(actor.roles) or _("none"),
            )
        )
    case = case_store.get_case(session, case_id)
    if not actor.covers(case.township, case.village):
        raise ForbiddenError(
            _(
                "case {case} is in {where}, outside {user}'s area ({area})",
                case=case_id,
                where="/".join((case.township, case.village)),
                user=actor.name,
                area=actor.area,
            )
        )
    if (
        command_id is not None
    ):  # a retry: report what the first command did, even if the case moved on
        existing = rows.by_command(session, command_id)
        if existing is not None:
            return _existing(existing, case_id, command_id)
    if case.closed_at is not None:
        raise RefusedError(
            _(
                "case {case} is closed (state '{state}')",
                case=case_id,
                state=_state_label(session, case.workflow_version_id, case.state),
            )
        )
    sels = policy.selectors_for(case.workflow_name, case.state)
    if not any(_matches(session, s, case) for s in sels):
        raise RefusedError(
            _(
                "case {case} ({workflow}, state '{state}') carries no care-visit obligation",
                case=case_id,
                workflow=_workflow_label(session, case.workflow_version_id, case.workflow_name),
                state=_state_label(session, case.workflow_version_id, case.state),
            ),
            hint=_("the cases under obligation are set in {file}", file=policy.file),
        )
    now = clock.now()
    at = now if at is None else at
    if at > now:
        raise InvalidInputError(
            _(
                "--at {at} is in the future (now {now})",
                at=_local(at, calendar),
                now=_local(now, calendar),
            ),
            hint=_("log a visit after it happened"),
        )
    if at < case.opened_at:
        raise InvalidInputError(
            _(
                "--at {at} is before case {case} was opened ({opened})",
                at=_local(at, calendar),
                case=case_id,
                opened=_local(case.opened_at, calendar),
            )
        )
    by_user = by or actor.name
    if by is not None and not rows.user_exists(session, by):
        raise NotFoundError(
            _("no user named '{name}'", name=by), hint=_("--by names the user who made the visit")
        )
    text = note.strip() if note and note.strip() else None
    visit_id = rows.insert_visit(
        session,
        case_id=case_id,
        kind=kind,
        at=at,
        by_user=by_user,
        note=text,
        logged_at=now,
        logged_by=actor.name,
        command_id=command_id,
    )
    if visit_id is None:  # another process with the same key committed first
        existing = rows.by_command(session, command_id or "")
        assert existing is not None
        return _existing(existing, case_id, command_id or "")
    labels = policy.kinds[kind].labels
    summary = _(
        "{kind} on {at} by {user}",
        kind=pick(labels.en, labels.zh),
        at=_local(at, calendar),
        user=by_user,
    ) + (_(": {note}", note=text) if text else "")
    ev = event_store.write_event(
        session,
        case_id,
        case.last_seq,
        case.head_hash,
        event_store.EventInput(
            kind="note",
            actor=actor.name,
            entered_by=actor.entered_by,
            at=now,
            note=summary,
            fields={
                "visit_id": visit_id,
                "visit_kind": kind,
                "visit_at": as_utc(at).isoformat(),
                "visit_by": by_user,
            },
        ),
        None,
        case.version,
    )
    return Logged(visit_id, case_id, kind, at, by_user, ev.seq, True)


def _existing(visit: VisitRecord, case_id: int, key: str) -> Logged:
    if visit.case_id != case_id:
        raise InvalidInputError(
            _(
                "idempotency key {key!r} was already used for case {case}",
                key=key,
                case=visit.case_id,
            ),
            hint=_("use a new key for each distinct command"),
        )
    return Logged(visit.id, visit.case_id, visit.kind, visit.at, visit.by_user, None, False)


def _state_label(session: Session, version_id: int, state: str) -> str:
    """The state's code for English readers, its label for Chinese ones."""
    st = workflow_store.definition(session, version_id).states.get(state)
    return pick(state, st.labels.zh) if st is not None else state


def _workflow_label(session: Session, version_id: int, name: str) -> str:
    return pick(name, workflow_store.definition(session, version_id).labels.zh)


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
    users = escalation_rows.users(session)
    by_name = {u.name: u for u in users}
    actors = [Actor(u.name, tuple(u.roles), u.area) for u in users]
    warnings = escalations = 0
    if now.astimezone(calendar.tz).day >= policy.warning_from_day:
        for b in behind(session, calendar, policy, current):
            user = by_name.get(b.assigned_to or "")
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
        for actor in covering(actors, b.township, b.village, policy.escalation_role):
            user = by_name[actor.name]
            if _alert(session, b, last, "escalation", user, now) is None:
                continue
            inserted = escalation_rows.insert_fired(
                session,
                [
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
                    }
                ],
            )
            esc_id = inserted[0][0] if inserted else None
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


def _alert(
    session: Session, b: Behind, month: Month, kind: str, user: UserRecord, now: datetime
) -> int | None:
    return rows.insert_alert(
        session,
        case_id=b.case_id,
        month=str(month),
        kind=kind,
        recipient=user.name,
        shortfall=b.shortfall,
        created_at=now,
    )


def expected_text(policy: CarePolicy, b: Behind, lang: str) -> str:
    """What is missing and the command that logs it, in the message's language."""
    missing = [(k, v) for k, v in b.shortfall.items()]
    first = missing[0][0] if missing else next(iter(policy.kinds))
    if lang == "zh":
        parts = "，".join(
            f"{policy.kinds[k].labels.zh} {v['done']}/{v['required']} 次" for k, v in missing
        )
        return (
            f"补足本月生活照料服务（{parts}），每次服务后登记："
            f"aidflow visit log {b.case_id} --kind {first}"
        )
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
    user: UserRecord,
    esc_id: int | None,
    now: datetime,
    lang: str,
    domain: str,
    templates: Templates | None,
) -> None:
    from aidflow.notify.render import Templates, render

    templates = templates or Templates.shipped()

    wf: Workflow = workflow_store.definition(session, b.workflow_version_id)
    name, id_number = rows.person_name(session, b.person_id)
    ctx: dict[str, Any] = {
        "recipient_name": user.greeting_name,
        "recipient_user": user.name,
        "case_id": b.case_id,
        "workflow_label": wf.labels.get(lang),
        "person_name": mask_in_text(name),
        "person_id_masked": mask(id_number),
        "area": f"{b.township}/{b.village}",
        "step": wf.states[b.state].labels.get(lang),
        "expected_next": expected_text(policy, b, lang),
    }
    end = month.end(calendar)
    if kind == "warning":
        template = WARNING_TEMPLATE
        # the warning is about this month's visits, not the case's step deadline
        topic = (
            "本月上门服务未达到最低次数"
            if lang == "zh"
            else "care visits below the monthly minimum"
        )
        ctx.update(due_at=end, due_in=max(end - now, timedelta(0)), actions=[], topic=topic)
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
    message_id = make_message_id(uuid.uuid4().hex, domain)
    msg = render(
        template,
        lang,
        ctx,
        to=[user.email],
        message_id=message_id,
        directory=templates.directory,
        tz=templates.tz,
    )
    outbox.queue(
        session,
        [
            outbox.NewMessage(
                to_addr=user.email,
                message_id=message_id,
                escalation_id=esc_id,
                subject=msg.subject,
                text=msg.text,
                html=msg.html,
            )
        ],
        now,
    )
