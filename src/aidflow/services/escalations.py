"""The deadline sweep (timed transitions and escalation ladders), acknowledgement and listing.

Each job takes a Session and leaves the transaction to its caller (the scheduler's round
runs each in a transaction of its own). Jobs are idempotent: escalations are keyed by
(case, state entry, rung, repeat, recipient) and a key that exists is skipped
(store.escalations), so a sweep run twice, or by two processes at once, fires each rung
once. The sweep queues escalation emails unrendered (store.outbox); delivery
(services.delivery) renders each one at its first attempt, as of the sweep that fired it,
with `email_context` below.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aidflow import failpoints
from aidflow.clock import Clock
from aidflow.engine.access import SYSTEM, Actor, covering
from aidflow.engine.deadlines import Due, counts_working_days, describe, show_left
from aidflow.errors import AidflowError, ForbiddenError, NotFoundError, RefusedError
from aidflow.i18n import _, language, use_language
from aidflow.idnumber import mask, mask_in_text
from aidflow.language.calendar import Duration, WorkCalendar, parse_duration
from aidflow.language.definition import Rung, Workflow
from aidflow.language.textlimits import check_text
from aidflow.notify.messageid import make_message_id
from aidflow.notify.templates import (
    DEADLINE_REMINDER,
    EMERGENCY_ESCALATION,
    ESCALATION_SUMMARY,
)
from aidflow.store import escalations as rows
from aidflow.store import events as event_store
from aidflow.store import outbox
from aidflow.store.escalations import EscalationRecord, LadderCandidate
from aidflow.store.records import CaseRecord, UserRecord
from aidflow.store.session import Session


@dataclass(frozen=True)
class SweepResult:
    timeouts: int
    escalations: int

    @property
    def total(self) -> int:
        return self.timeouts + self.escalations

    def summary(self) -> str:
        return _(
            "sweep: {timeouts} timed transition(s), {escalations} escalation(s)",
            timeouts=self.timeouts,
            escalations=self.escalations,
        )


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
    """`sweep_deadlines` with the two counts apart (for the round's summary)."""
    timeouts = fire_timeouts(session, clock, calendar)
    return SweepResult(timeouts, escalate(session, clock, calendar, lang=lang, domain=domain))


# -- timed transitions -------------------------------------------------------------------


def fire_timeouts(session: Session, clock: Clock, calendar: WorkCalendar) -> int:
    """Fire the `on_timeout` transition of every open case past its deadline, as `system`.

    Reads only cases past their deadline in states that have an `on_timeout`. A transition
    the rules refuse is skipped (and retried next sweep); each one runs in a savepoint so
    one refusal does not undo the others.
    """
    from aidflow.services.cases import Service

    deployed = rows.deployed(session)
    triggers = {
        (vid, name): st.on_timeout
        for vid, wf in deployed
        for name, st in wf.states.items()
        if st.on_timeout
    }
    if not triggers:
        return 0
    states = sorted({name for _, name in triggers})
    svc = Service(session, clock, calendar)
    fired = 0
    for batch in rows.due_for_timeout(session, clock.now(), states):
        for case in batch:
            trigger = triggers.get((case.workflow_version_id, case.state))
            if trigger is None:
                continue
            try:
                with session.begin_nested():
                    svc.fire(SYSTEM, case.id, trigger, expected_version=case.version)
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


ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Route:
    """Who a rung reaches for one case: `users` holding `role`; `meant_for` and `why` are
    set when no user held the rung's own role over the case's area."""

    users: list[UserRecord]
    role: str
    meant_for: str | None = None
    why: str | None = None


def fallback_roles(role: str) -> list[str]:
    """Where a rung goes when no user holds `role` over the case: up the hierarchy, a
    township role to the county role of the same kind, then the administrators."""
    up = [f"county_{role.removeprefix('township_')}"] if role.startswith("township_") else []
    return [*up, ADMIN_ROLE] if role != ADMIN_ROLE else []


@dataclass
class Recipients:
    """The users a rung goes to: `access.covering`, asked once per (role, township, village)."""

    users: list[UserRecord]
    _by_name: dict[str, UserRecord] = field(default_factory=dict)
    _cache: dict[tuple[str, str, str], list[UserRecord]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name = {u.name: u for u in self.users}
        self._actors = [Actor(u.name, tuple(u.roles), u.area) for u in self.users]

    def of(self, role: str, township: str, village: str) -> list[UserRecord]:
        key = (role, township, village)
        if key not in self._cache:
            self._cache[key] = [
                self._by_name[a.name] for a in covering(self._actors, township, village, role)
            ]
        return self._cache[key]

    def route(self, role: str, township: str, village: str) -> Route:
        """The rung's role's users over the area or, when there are none, the first role up
        the hierarchy that has some (`fallback_roles`): an escalation never vanishes."""
        found = self.of(role, township, village)
        if found:
            return Route(found, role)
        for other in fallback_roles(role):
            found = self.of(other, township, village)
            if found:
                why = _(
                    "no user holds {role} over {area}; sent to {other}",
                    role=role,
                    area="/".join((township, village)),
                    other=other,
                )
                return Route(found, other, meant_for=role, why=why)
        return Route([], role)

    def email(self, name: str) -> str:
        return self._by_name[name].email


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
    queued unrendered; no case or person is loaded here.
    """
    now = clock.now()
    recipients = Recipients(rows.users(session))
    created = 0
    fired: dict[str, list[tuple[int, str]]] = {}  # recipient -> (escalation id, template)
    for vid, wf in rows.deployed(session):
        for state_name, st in wf.states.items():
            if st.escalation is None or st.escalation not in wf.escalations:
                continue
            rungs = wf.escalations[st.escalation]
            entered_by, deadline_by = _earliest_due(rungs, now)
            for batch in rows.laddered(
                session, vid, state_name, entered_by=entered_by, deadline_by=deadline_by
            ):
                done = rows.fired(session, [c.id for c in batch])
                values = [
                    {
                        "case_id": c.id,
                        "entry_seq": c.entry_seq,
                        "state": state_name,
                        "ladder": st.escalation,
                        "rung": index,
                        "repeat_no": repeat_no,
                        "role": route.role,
                        "meant_for": route.meant_for,
                        "rerouted": route.why,
                        "recipient": user.name,
                        "template": rung.template,
                        "due_at": due,
                        "fired_at": now,
                    }
                    for c in batch
                    for index, rung, repeat_no, due, route, user in _due_rungs(
                        c, rungs, done, recipients, calendar, now
                    )
                ]
                if values:
                    created += _fire_batch(session, values, fired)
                    failpoints.reach("sweep.batch")  # inside the sweep's transaction
    _queue_emails(session, fired, recipients, now, lang, domain)
    return created


def _earliest_due(
    rungs: tuple[Rung, ...], now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The latest entry time and deadline at which any rung can be due now (an index bound)."""
    bounds: dict[str, datetime | None] = {"entry": None, "deadline": None}
    for clock_name in bounds:
        afters = [
            lower_bound(parse_duration(r.after)) for r in rungs if r.relative_to == clock_name
        ]
        if afters:
            bounds[clock_name] = now - min(afters)
    return bounds["entry"], bounds["deadline"]


# (rung index, rung, repeat_no, due, route, to)
_Plan = list[tuple[int, Rung, int, datetime, Route, UserRecord]]


def _due_rungs(
    case: LadderCandidate,
    rungs: tuple[Rung, ...],
    done: rows.Fired,
    recipients: Recipients,
    calendar: WorkCalendar,
    now: datetime,
) -> _Plan:
    """What is due and not yet fired for one case."""
    plan: _Plan = []
    for index, rung in enumerate(rungs):
        base = case.state_entered_at if rung.relative_to == "entry" else case.deadline_at
        if base is None:
            continue
        first = calendar.add(base, parse_duration(rung.after))
        if first > now:
            continue
        seen, acked = done.get((case.id, case.entry_seq, index), (set(), False))
        repeat_no = 0
        if rung.repeat is not None and not (acked and rung.stop_on_ack):
            # after downtime only the latest repeat is sent, not every one that was missed
            repeat_no = latest_repeat(calendar, first, parse_duration(rung.repeat), now)
        due = (
            first
            if repeat_no == 0
            else calendar.add(first, _times(parse_duration(rung.repeat or "1h"), repeat_no))
        )
        route = recipients.route(rung.to, case.township, case.village)
        plan.extend(
            (index, rung, repeat_no, due, route, user)
            for user in route.users
            if (repeat_no, user.name) not in seen
        )
    return plan


def _fire_batch(
    session: Session, values: list[dict[str, Any]], fired: dict[str, list[tuple[int, str]]]
) -> int:
    """Insert one batch of escalations; note each one inserted under its recipient."""
    inserted = rows.insert_fired(session, values)
    template = {tuple(v[k] for k in rows.KEY): v["template"] for v in values}
    for esc_id, cid, entry, rung, rep, who in inserted:
        fired.setdefault(who, []).append((esc_id, template[(cid, entry, rung, rep, who)]))
    return len(inserted)  # none: another sweep got there first


def _queue_emails(
    session: Session,
    fired: dict[str, list[tuple[int, str]]],
    recipients: Recipients,
    now: datetime,
    lang: str,
    domain: str,
) -> None:
    """One unrendered email per recipient of this sweep: the escalation's own message, or a
    summary of all of them (`escalation_summary`, keyed on the first) when there are several,
    so a look-back that opens thousands of cases does not flood one supervisor's mailbox."""
    outbox.queue(
        session,
        [
            outbox.NewMessage(
                to_addr=recipients.email(who),
                message_id=make_message_id(uuid.uuid4().hex, domain),
                escalation_id=mine[0][0],
                template=mine[0][1] if len(mine) == 1 else ESCALATION_SUMMARY,
                lang=lang,
            )
            for who, mine in sorted(fired.items())
        ],
        now,
    )


# -- what an escalation email says -------------------------------------------------------


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
    esc: EscalationRecord,
    case: CaseRecord,
    wf: Workflow,
    recipient: UserRecord,
    lang: str,
    person_name: str,
    person_id_number: str,
    calendar: WorkCalendar,
    public_url: str | None = None,
) -> dict[str, Any]:
    """What the templates get (notify.templates); the ID number is masked.

    The case's deadline goes to the templates as an `engine.deadlines.Due` (shown as its
    last day that counts, time left in working days for a working-day deadline); a rung
    that fires before any deadline has passed is late against its own due time.

    As of the sweep that fired `esc` (its `fired_at` is "now"), with the case and person as
    they are when this is called (at delivery). A case that has since left the state entry
    that fired `esc` keeps that state, its entry time from the audit event, and the rung's
    due time as its deadline.
    """
    state, due, now = esc.state, esc.due_at, esc.fired_at
    deadline: datetime | None
    if case.entry_seq == esc.entry_seq:
        # the same entry: the case's state, under the name of the case's version (a
        # migration to a version that renamed the state keeps the entry)
        state = case.state
        deadline, entered = case.deadline_at, case.state_entered_at
    else:
        deadline = None
        entered = rows.entered_at(session, case.id, esc.entry_seq) or case.opened_at
    # None: the case left the state and then moved to a version that renamed it (a
    # migration); the step is named as it was
    st = wf.states.get(state)
    late_from = deadline if deadline is not None and deadline <= now else due
    cal = calendar
    shown: Due | None = None
    if deadline is not None and st is not None:
        wd = counts_working_days(wf, state, deadline, cal.tz)
        shown = describe(deadline, now, cal, working_days=wd)
    ctx: dict[str, Any] = {
        "recipient_name": recipient.greeting_name,
        "recipient_user": recipient.name,
        "case_id": case.id,
        "workflow_label": wf.labels.get(lang),
        "person_name": mask_in_text(person_name),
        "person_id_masked": mask(person_id_number),
        "area": f"{case.township}/{case.village}",
        "step": st.labels.get(lang) if st is not None else state,
        "expected_next": expected_next(wf, state, lang) if st is not None else "-",
    }
    if esc.template == DEADLINE_REMINDER:
        ctx.update(
            due_at=shown or due,
            due_in=shown or max(due - now, timedelta(0)),
            topic=None,
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
        case_url=f"{public_url}/cases/{case.id}" if public_url else None,
        overdue=shown if shown is not None and late_from == deadline else now - late_from,
        due_at=shown if shown is not None and late_from == deadline else late_from,
    )
    if esc.template == EMERGENCY_ESCALATION:
        # the rule's limit is the state's deadline: a rung due before it (the 20-hour rung of
        # a 24-hour limit) warns; one due at or after it reports a breach, late from the limit
        limit_at = deadline if deadline is not None else due
        reason = case.data.get("emergency_reason") or rows.opening_note(session, case.id)
        ctx.update(
            emergency_reason=str(reason or "-"),
            reported_at=case.opened_at,
            limit=limit_at - entered,
            before_limit=now < limit_at,
            due_in=max(limit_at - now, timedelta(0)),
        )
    return ctx


SUMMARY_LIMIT = 50  # escalations listed in one summary; `escalation list` shows them all

_KINDS = {
    DEADLINE_REMINDER: {"en": "due soon", "zh": "即将到期"},
    EMERGENCY_ESCALATION: {"en": "emergency", "zh": "急难救助"},
}
_OVERDUE_KIND = {"en": "overdue", "zh": "超期督办"}


def summary_context(
    session: Session,
    esc: EscalationRecord,
    recipient: UserRecord,
    lang: str,
    calendar: WorkCalendar,
) -> dict[str, Any]:
    """What `escalation_summary` gets: the escalations the sweep that fired `esc` sent to
    its recipient, the oldest deadline first, as of that sweep."""
    from aidflow.store import workflows as workflow_store

    listed, count = rows.fired_together(session, esc.recipient, esc.fired_at, SUMMARY_LIMIT)
    definitions: dict[int, Workflow] = {}
    items = []
    for e, case in listed:
        vid = case.workflow_version_id
        wf = definitions.get(vid) or definitions.setdefault(
            vid, workflow_store.definition(session, vid)
        )
        st = wf.states.get(e.state)
        late = "-"
        if case.entry_seq == e.entry_seq and case.deadline_at is not None and st is not None:
            wd = counts_working_days(wf, e.state, case.deadline_at, calendar.tz)
            late = show_left(
                describe(case.deadline_at, e.fired_at, calendar, working_days=wd), lang
            )
        items.append(
            {
                "escalation_id": e.id,
                "case_id": case.id,
                "area": f"{case.township}/{case.village}",
                "step": st.labels.get(lang) if st is not None else e.state,
                "kind": _KINDS.get(e.template, _OVERDUE_KIND)[lang],
                "late": late,
            }
        )
    return {
        "recipient_name": recipient.greeting_name,
        "recipient_user": recipient.name,
        "count": count,
        "more": count - len(items),
        "escalations": items,
    }


# -- acknowledgement and listing ---------------------------------------------------------


def acknowledge(
    session: Session, clock: Clock, actor: Actor, escalation_id: int, note: str | None
) -> EscalationRecord:
    """Record `actor`'s acknowledgement; with `stop_on_ack` it stops the rung's repeats.

    The recipient may acknowledge, and so may anyone else holding the escalation's role
    over the case's area (`access.covering`: the rule that chose the recipients).
    """
    if note is not None:
        check_text(note, "note")
    esc = rows.get(session, escalation_id)
    if esc is None:
        raise NotFoundError(
            _("no escalation {id}", id=escalation_id),
            hint=_("`aidflow escalation list` shows the open escalations in your area"),
        )
    case = rows.case_of(session, esc.case_id)
    if actor.name != esc.recipient and not covering([actor], case.township, case.village, esc.role):
        role = listing_labels(session, esc, case, language(), {})["role_label"]
        raise ForbiddenError(
            _(
                "escalation {id} was sent to {recipient} ({role}); "
                "{user} is neither the recipient nor a {role} covering {area}",
                id=escalation_id,
                recipient=esc.recipient,
                role=role,
                user=actor.name,
                area="/".join((case.township, case.village)),
            )
        )
    if esc.acknowledged_at is not None:
        raise RefusedError(
            _(
                "escalation {id} was already acknowledged by {user}",
                id=escalation_id,
                user=esc.acknowledged_by,
            )
        )
    now = clock.now()
    esc = rows.set_acknowledged(session, escalation_id, now, actor.name, note)
    # the supervisor's answer belongs to the case's history too (and its hash chain)
    event_store.write_event(
        session,
        case.id,
        case.last_seq,
        case.head_hash,
        event_store.EventInput(
            kind="note",
            actor=actor.name,
            entered_by=actor.entered_by,
            at=now,
            fields={"escalation_ack": escalation_id},
            note=note or _("acknowledged escalation {id}", id=escalation_id),
        ),
        None,
        case.version,
    )
    return esc


_BUILT_IN_ROLES_ZH = {ADMIN_ROLE: "系统管理员", "auditor": "审计人员"}


def listing_labels(
    session: Session, esc: EscalationRecord, case: CaseRecord, lang: str, cache: dict[int, Workflow]
) -> dict[str, str | None]:
    """The escalation's step and roles named in `lang` (the case's workflow's labels; the
    built-in roles by their Chinese names), for lists."""
    from aidflow.store import workflows as workflow_store

    vid = case.workflow_version_id
    wf = cache.get(vid) or cache.setdefault(vid, workflow_store.definition(session, vid))

    def role(code: str | None) -> str | None:
        if code is None:
            return None
        if lang != "zh":
            return code  # English lists name roles by their codes
        return wf.roles[code].zh if code in wf.roles else _BUILT_IN_ROLES_ZH.get(code, code)

    st = wf.states.get(esc.state)
    why = esc.rerouted
    if why is not None and esc.meant_for is not None:
        with use_language(lang):
            why = _(
                "no user holds {role} over {area}; sent to {other}",
                role=role(esc.meant_for),
                area="/".join((case.township, case.village)),
                other=role(esc.role),
            )
    return {
        "state_label": st.labels.get(lang) if st is not None else esc.state,  # zh only in lists
        "role_label": role(esc.role),
        "meant_for_label": role(esc.meant_for),
        "rerouted_label": why,
    }


def open_escalations(session: Session, actor: Actor) -> list[tuple[EscalationRecord, CaseRecord]]:
    """Unacknowledged escalations on cases in `actor`'s area, by township then age."""
    return rows.open_in(session, actor.scope)
