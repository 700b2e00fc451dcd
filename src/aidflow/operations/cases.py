"""Case operations: what a caseworker does to a case (`aidflow case ...`).

Each result carries everything the CLI prints about it (labels in the caller's language,
the clock's time at the reading, clocks, actions with the reasons they are blocked), so the
CLI renders it the same whether the operation ran in process or on the server.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aidflow.errors import ForbiddenError, InvalidInputError
from aidflow.i18n import N_, _, pick, use_language
from aidflow.operations import Caller, operation
from aidflow.services.cases import (
    Service,
    duration_shown,
    field_shown,
    state_shown,
    trigger_shown,
    value_shown,
)

if TYPE_CHECKING:
    from aidflow.engine.clocks import ClockReport
    from aidflow.engine.deadlines import Due
    from aidflow.language.definition import Transition, Workflow
    from aidflow.services.cases import Action, CaseView
    from aidflow.store.records import EventRecord


MAX_LIST = 100000  # the most cases one `case list` returns


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@operation("case.open", write=True)
def open_(
    svc: Service,
    caller: Caller,
    id_number: str,
    workflow: str,
    emergency: bool = False,
    assign_to: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Open a case for a registered person on the latest version of a workflow."""
    case = svc.open_case(
        svc.actor(caller.user),
        id_number,
        workflow,
        emergency=emergency,
        assign_to=assign_to,
        note=note,
        command_id=caller.key,
    )
    wf = svc.workflow_of(case)
    first = wf.initial_state  # the open event's state, also when a retry finds it moved on
    deadline = svc.deadline_for(wf, first, case.opened_at)
    return {
        "case_id": case.id,
        "workflow": wf.name,
        "workflow_label": wf.labels.get(caller.lang),
        "state": first,
        "state_label": wf.states[first].labels.get(caller.lang),
        "deadline_at": _iso(deadline),
        "deadline": _state_due(svc, caller, wf, first, deadline),
    }


def _state_due(
    svc: Service, caller: Caller, wf: Workflow, state: str, deadline: datetime | None
) -> dict[str, Any] | None:
    """A state's deadline as shown (engine.deadlines), as of now."""
    from aidflow.engine.deadlines import counts_working_days, describe

    if deadline is None:
        return None
    wd = counts_working_days(wf, state, deadline, svc.calendar.tz)
    due = describe(deadline, svc.clock.now(), svc.calendar, working_days=wd)
    return due.to_json(caller.lang, svc.calendar.tz)


@operation("case.fire", write=True)
def fire(
    svc: Service,
    caller: Caller,
    case_id: int,
    trigger: str,
    fields: dict[str, str] | None = None,
    note: str | None = None,
    expect_version: int | None = None,
) -> dict[str, Any]:
    """Fire `trigger` on a case; the state it moved to and that state's deadline."""
    ev = svc.fire(
        svc.actor(caller.user),
        case_id,
        trigger,
        dict(fields or {}),
        note,
        expected_version=expect_version,
        command_id=caller.key,
    )
    case = svc.case(case_id)
    wf = svc.workflow_of(case)
    dest = ev.to_state
    assert dest is not None, "a transition names the state it moved to"
    deadline = svc.deadline_for(wf, dest, ev.at, case.data)
    return {
        "case_id": case_id,
        "from": ev.from_state,
        "from_label": wf.states[ev.from_state].labels.get(caller.lang)
        if ev.from_state in wf.states
        else ev.from_state,
        "to": dest,
        "to_label": wf.states[dest].labels.get(caller.lang),
        "deadline_at": _iso(deadline),
        "deadline": _state_due(svc, caller, wf, dest, deadline),
    }


@operation("case.object", write=True)
def object_(svc: Service, caller: Caller, case_id: int, note: str) -> dict[str, Any]:
    """Record an objection during a public notice."""
    ev = svc.object(svc.actor(caller.user), case_id, note, command_id=caller.key)
    wf = svc.workflow_of(svc.case(case_id))
    with use_language(caller.lang):
        shown = {
            "from_label": state_shown(wf, ev.from_state),
            "to_label": state_shown(wf, ev.to_state),
        }
    return {"case_id": case_id, "from": ev.from_state, "to": ev.to_state, **shown}


@operation("case.vote", write=True)
def vote(
    svc: Service, caller: Caller, case_id: int, choice: str, note: str | None = None
) -> dict[str, Any]:
    """Vote in a case's democratic review; the round's tally after the vote."""
    actor = svc.actor(caller.user)
    ev = svc.vote(actor, case_id, choice, note, command_id=caller.key)
    tally = svc.vote_tally(case_id, actor.name, ev.fields["round"])
    names = svc.display_names([actor.name])
    return {
        "case_id": case_id,
        "voter": actor.name,
        "voter_name": names.get(actor.name, actor.name),
        "choice": choice,
        "tally": {
            "yes": tally.yes,
            "no": tally.no,
            "abstain": tally.abstain,
            "quorum_met": tally.quorum_met,
        },
    }


@operation("case.note", write=True)
def note(svc: Service, caller: Caller, case_id: int, note: str) -> dict[str, Any]:
    """Add a note to a case's history."""
    ev = svc.add_note(svc.actor(caller.user), case_id, note, command_id=caller.key)
    return {"case_id": case_id, "seq": ev.seq}


def may_see_id(view: CaseView, roles: tuple[str, ...]) -> bool:
    """Admins and the roles that own a step of this workflow may see full ID numbers."""
    owners = {st.owner for st in view.workflow.states.values() if st.owner}
    return "admin" in roles or bool(owners & set(roles))


@operation("case.show", write=False)
def show(svc: Service, caller: Caller, case_id: int, show_id: bool = False) -> dict[str, Any]:
    """A case as `case show` prints it.

    `view` is the case (what `case show --json` prints); `labels` are the texts in the
    caller's language that go beside it; `now` is the time the clocks were read at.
    """
    actor = svc.actor(caller.user)
    view = svc.view(actor, case_id)
    if show_id and not may_see_id(view, actor.roles):
        raise ForbiddenError(
            _(
                "{user} may not see full ID numbers on {workflow} cases",
                user=actor.name,
                workflow=view.workflow.labels.zh if caller.lang == "zh" else view.workflow.name,
            )
        )
    from aidflow.engine import clocks

    now = svc.clock.now()
    reports = clocks.report(view.workflow, view.case.clocks or {}, now, svc.calendar)
    wf = view.workflow
    c = view.case
    people = {e.actor for e in view.events} | {c.assigned_to or ""}
    for value in c.data.values():
        if isinstance(value, list):
            people.update(v for v in value if isinstance(v, str))
    for e in view.events:
        tally = (e.fields or {}).get("vote")
        if isinstance(tally, dict):  # a transition after a vote records who dissented
            people.update(v for v in tally.get("dissent") or [] if isinstance(v, str))
    names = svc.display_names(people)
    with use_language(caller.lang):
        shown = {
            "states": {name: state_shown(wf, name) for name in wf.states},
            "state": state_shown(wf, c.state),
            "users": names,
            "clock_durations": [duration_shown(r.duration) for r in reports],
            "data": [
                [field_shown(wf, k), value_shown(wf, k, v, names)]
                for k, v in sorted(c.data.items())
            ],
            "events": [event_text(wf, e, names) for e in view.events],
            "routes": [
                state_shown(wf, a.route[0]) if a.route is not None else "" for a in view.actions
            ],
            "needs": [action_needs(wf, a.transition, c.id) for a in view.actions],
        }
    return {
        "now": now.isoformat(),
        "view": view_json(view, caller.lang, now, show_id, reports),
        "deadline": _due_json(svc.due_of(view.case, now), caller.lang, svc),
        "clocks": [clock_due(r, now, svc, caller.lang) for r in reports],
        "labels": {
            "workflow": wf.labels.get(caller.lang),
            "clocks": [r.spec.labels.get(caller.lang) if r.spec.labels else "" for r in reports],
            "actions": [
                a.transition.labels.get(caller.lang) if a.transition.labels else ""
                for a in view.actions
            ],
            **shown,
        },
    }


KIND_WORDS = {
    "str": N_("text"),
    "int": N_("a whole number"),
    "decimal": N_("a number"),
    "bool": N_("yes or no"),
    "date": N_("a date, e.g. 2023-08-01"),
    "list": N_("a list, comma-separated"),
}
# what the command `case show` suggests puts in place of a value the user has to give
KIND_EXAMPLES = {
    "str": N_("TEXT"),
    "int": "0",
    "decimal": "0.00",
    "bool": N_("yes"),
    "date": "2023-08-01",
    "list": N_("NAME1,NAME2"),
}


def action_needs(wf: Workflow, t: Transition, case_id: int) -> dict[str, Any]:
    """What firing `t` takes, in the current language: each field the user gives (label, kind,
    choices, whether required), whether a note is required, and the command that fires it
    with a placeholder for every value, ready to copy and fill in."""
    fields: list[dict[str, Any]] = []
    command = ["aidflow", "case", "fire", str(case_id), _shell_word(trigger_shown(wf, t.trigger))]
    for name, given in t.fields.items():
        spec = wf.fields.get(name)
        if spec is None or name in t.computes:
            continue
        choices = [pick(c, spec.choice_labels[c].zh if c in spec.choice_labels else c)
                   for c in spec.choices]  # fmt: skip
        fields.append(
            {
                "name": name,
                "label": pick(spec.labels.en, spec.labels.zh) if spec.labels else name,
                "kind": _(KIND_WORDS[spec.type]),
                "required": given.required,
                "choices": choices,
            }
        )
        if given.required:
            example = choices[0] if choices else _(KIND_EXAMPLES[spec.type])
            command += ["--field", _shell_word(f"{name}={example}")]
    if t.note_required:
        command += ["--note", _shell_word(_("WHY"))]
    return {"fields": fields, "note": t.note_required, "command": " ".join(command)}


def _shell_word(text: str) -> str:
    """`text` as one word of a shell command: as it is when the shell reads it so (Chinese
    included), else quoted."""
    import re
    import shlex

    return text if re.fullmatch(r"[^\s'\"\\$`;&|<>()*?!#~{}\[\]]+", text) else shlex.quote(text)


def event_text(wf: Workflow, e: EventRecord, names: dict[str, str]) -> str:
    """What an event did, in the current language, as `case history` prints it after its
    time and actor: `accept: discovery -> accepted`, or in Chinese `受理：主动发现 → 已受理`."""
    fields = e.fields or {}
    if e.kind == "open":
        text = _("opened in {state}", state=state_shown(wf, e.to_state))
    elif e.kind == "vote":
        choice = str(fields.get("choice"))
        text = _("voted {choice}", choice=pick(choice, VOTE_WORDS.get(choice, "")))
    elif e.kind == "note":
        text = _("note")
    else:
        text = _(
            "{trigger}: {source} -> {dest}",
            trigger=trigger_shown(wf, e.trigger) if e.trigger else str(e.trigger),
            source=state_shown(wf, e.from_state) if e.from_state else str(e.from_state),
            dest=state_shown(wf, e.to_state) if e.to_state else str(e.to_state),
        )
    if e.kind == "objection":
        text = _("objection; {text}", text=text)
    if e.kind in ("transition", "objection") and fields:
        text += " " + pick(", ", "，").join(
            pick(
                f"{k}={v}",
                f"{_(VOTE) if k == 'vote' else field_shown(wf, k)}：{value_shown(wf, k, v, names)}",
            )
            for k, v in fields.items()
        )
    if e.note:
        text += f" — {e.note}"
    return text


VOTE_WORDS = {"yes": "赞成", "no": "反对", "abstain": "弃权"}
VOTE = N_("Vote")  # the tally a transition after a vote records


def view_json(
    view: CaseView, lang: str, now: datetime, show_id: bool, reports: list[ClockReport]
) -> dict[str, Any]:
    from aidflow.idnumber import mask

    c, p, wf = view.case, view.person, view.workflow
    return {
        "id": c.id,
        "workflow": wf.name,
        "workflow_version": view.version.version,
        "state": c.state,
        "state_label": wf.states[c.state].labels.get(lang),
        "entered_at": c.state_entered_at.isoformat(),
        "deadline_at": _iso(c.deadline_at),
        "overdue": bool(c.deadline_at and c.deadline_at < now),
        "dwell_until": _iso(view.dwell_until),
        "assigned_to": c.assigned_to,
        "township": c.township,
        "village": c.village,
        "emergency": c.emergency,
        "version": c.version,
        "closed_at": _iso(c.closed_at),
        "data": c.data,
        "person": {
            "id": p.id,
            "name": p.name,
            "id_number": p.id_number if show_id else mask(p.id_number),
            "birth_date": p.birth_date.isoformat(),
            "sex": p.sex,
        },
        "vote": None
        if view.tally is None
        else {
            "yes": view.tally.yes,
            "no": view.tally.no,
            "abstain": view.tally.abstain,
            "quorum_met": view.tally.quorum_met,
            "passed": view.tally.passed,
        },
        "actions": [action_json(a) for a in view.actions],
        "clocks": [clock_json(r) for r in reports],
        "history": [event_json(e) for e in view.events],
    }


def action_json(a: Action) -> dict[str, Any]:
    """An action; a routed one also says where the case's current data would take it."""
    out: dict[str, Any] = {
        "trigger": a.transition.trigger,
        "allowed": a.allowed,
        "blocked_by": a.reasons,
    }
    if a.route is not None:
        out["route"] = {"dest": a.route[0], "when": a.route[1]}
    return out


def _due_json(due: Due | None, lang: str, svc: Service) -> dict[str, Any] | None:
    return None if due is None else due.to_json(lang, svc.calendar.tz)


def clock_due(r: ClockReport, now: datetime, svc: Service, lang: str) -> dict[str, Any] | None:
    """A clock's due date as shown (engine.deadlines); a stopped clock has no time left."""
    from aidflow.engine.clocks import PAUSED, STOPPED
    from aidflow.engine.deadlines import Due, describe

    if r.status == PAUSED:  # no due date while paused: only the time it keeps
        kept = Due(now, r.left_wd is not None, left=r.left, left_wd=r.left_wd)
        return kept.to_json(lang, svc.calendar.tz)
    if r.due_at is None:
        return None
    wd = r.left_wd is not None or (r.duration or r.spec.duration).endswith("wd")
    stopped = r.status == STOPPED
    due = describe(r.due_at, now, svc.calendar, working_days=wd, stopped=stopped)
    return due.to_json(lang, svc.calendar.tz)


def clock_json(r: ClockReport) -> dict[str, Any]:
    return {
        "name": r.name,
        "duration": r.duration,
        "status": r.status,
        "due_at": _iso(r.due_at),
        "left_seconds": int(r.left.total_seconds()) if r.left is not None else None,
        "working_days_left": r.left_wd,
        "overdue": r.overdue,
    }


def event_json(e: EventRecord) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "kind": e.kind,
        "trigger": e.trigger,
        "from": e.from_state,
        "to": e.to_state,
        "fields": e.fields,
        "note": e.note,
    }


@operation("case.history", write=False)
def history(svc: Service, caller: Caller, case_id: int) -> list[dict[str, Any]]:
    """Every event of a case, oldest first."""
    view = svc.view(svc.actor(caller.user), case_id)
    return [event_json(e) for e in view.events]


@operation("case.list", write=False)
def list_(
    svc: Service,
    caller: Caller,
    state: str | None = None,
    workflow: str | None = None,
    township: str | None = None,
    village: str | None = None,
    overdue: bool = False,
    mine: bool = False,
    include_closed: bool = False,
    limit: int = 200,
) -> dict[str, Any]:
    """Cases in the caller's area, filtered, the soonest deadline first; `now` is the time
    `overdue` was judged at, `total` how many match (more than listed past `limit`)."""
    from aidflow.idnumber import mask

    if not 1 <= limit <= MAX_LIST:
        raise InvalidInputError(
            _("case.list: limit {limit} is not from 1 to {most}", limit=limit, most=MAX_LIST),
            hint=_("narrow the filters"),
        )

    listed, total = svc.list_cases(
        svc.actor(caller.user),
        state=state,
        workflow=workflow,
        township=township,
        village=village,
        overdue=overdue,
        mine=mine,
        include_closed=include_closed,
        limit=limit,
    )
    now = svc.clock.now()
    rows = []
    names = svc.display_names(item.case.assigned_to or "" for item in listed)
    for c, p in ((item.case, item.person) for item in listed):
        wf = svc.workflow_of(c)
        rows.append(
            {
                "id": c.id,
                "workflow": c.workflow_name,
                "workflow_label": wf.labels.get(caller.lang),
                "state": c.state,
                "state_label": wf.states[c.state].labels.get(caller.lang),
                "person": p.name,
                "person_id": p.id,
                "id_number": mask(p.id_number),
                "township": c.township,
                "village": c.village,
                "assigned_to": c.assigned_to,
                "assigned_name": names.get(c.assigned_to or "", c.assigned_to),
                "emergency": c.emergency,
                "deadline_at": _iso(c.deadline_at),
                "deadline": _due_json(svc.due_of(c, now), caller.lang, svc),
                "overdue": bool(c.deadline_at and c.deadline_at < now),
            }
        )
    return {"now": now.isoformat(), "cases": rows, "total": total, "limit": limit}
