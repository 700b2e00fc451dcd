"""`aidflow case ...`: the caseworker's commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from aidflow.cli.app import ROW_ID, App, emit_json, local, pass_app

if TYPE_CHECKING:
    from aidflow.engine.clocks import ClockReport
    from aidflow.services.cases import CaseView, Service
    from aidflow.store.records import EventRecord, Recorded

TEXT = {
    "en": {
        "case": "Case",
        "person": "Person",
        "workflow": "Workflow",
        "state": "State",
        "entered": "entered",
        "deadline": "Deadline",
        "left": "left",
        "overdue": "OVERDUE by",
        "assigned": "Assigned to",
        "area": "Area",
        "data": "Data",
        "history": "History",
        "actions": "What you can do",
        "blocked": "blocked",
        "vote": "Vote",
        "dwell": "Notice runs until",
        "closed": "closed",
        "emergency": "EMERGENCY",
        "none": "(none)",
    },
    "zh": {
        "case": "案件",
        "person": "对象",
        "workflow": "流程",
        "state": "状态",
        "entered": "进入于",
        "deadline": "时限",
        "left": "剩余",
        "overdue": "已超期",
        "assigned": "经办人",
        "area": "地区",
        "data": "数据",
        "history": "办理记录",
        "actions": "可办理操作",
        "blocked": "不可办理",
        "vote": "评议",
        "dwell": "公示截止",
        "closed": "已办结",
        "emergency": "急难",
        "none": "（无）",
    },
}


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    from aidflow.errors import InvalidInputError

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                f"--field {pair!r} is not NAME=VALUE", hint="write --field amount=450"
            )
        if key.strip() in out:
            raise InvalidInputError(f"--field {key.strip()} given twice")
        out[key.strip()] = value
    return out


@click.group("case")
def case_group() -> None:
    """Open, advance and inspect cases."""


KEY_HELP = (
    "Any unique text (e.g. a UUID) naming this command: repeating the command with the same key "
    "applies it once and prints the first result."
)


def run_command(app: App, key: str | None, command: Callable[[Service], str]) -> None:
    """Run one writing command in a transaction; print its result only after the commit.

    With an idempotency key, a command that lost a race against a concurrent retry of
    itself prints the winner's result (aidflow.services.idempotency.run_keyed).
    """
    from aidflow.services.idempotency import run_keyed

    click.echo(run_keyed(app.transaction, key, command))


@case_group.command("open")
@click.argument("id_number")
@click.option("--workflow", "-w", required=True, help="Workflow name, e.g. dibao.")
@click.option(
    "--emergency", is_flag=True, help="Flag an emergency (assist first, review afterwards)."
)
@click.option("--assign", "assign_to", metavar="USER", help="Caseworker to assign (default: you).")
@click.option("--note")
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_open(
    app: App,
    id_number: str,
    workflow: str,
    emergency: bool,
    assign_to: str | None,
    note: str | None,
    key: str | None,
) -> None:
    """Open a case for a registered person on the latest version of a workflow."""

    def command(svc: Service) -> str:
        actor = svc.actor(app.user)
        case = svc.open_case(
            actor,
            id_number,
            workflow,
            emergency=emergency,
            assign_to=assign_to,
            note=note,
            command_id=key,
        )
        wf = svc.workflow_of(case)
        first = wf.initial_state  # the open event's state, also when a retry finds it moved on
        label = wf.states[first].labels.get(app.lang)
        return (
            f"case {case.id} opened: {wf.name}, state {first} ({label}), "
            f"deadline {local(svc.deadline_for(wf, first, case.opened_at), app)}"
        )

    run_command(app, key, command)


def moved(svc: Service, app: App, case_id: int, ev: Recorded) -> str:
    """`from -> to (label); deadline D` of a transition event, as of when it was written."""
    case = svc.case(case_id)
    wf = svc.workflow_of(case)
    dest = ev.to_state
    assert dest is not None, "a transition names the state it moved to"
    return (
        f"{ev.from_state} -> {dest} ({wf.states[dest].labels.get(app.lang)}); "
        f"deadline {local(svc.deadline_for(wf, dest, ev.at, case.data), app)}"
    )


@case_group.command("fire")
@click.argument("case_id", type=ROW_ID)
@click.argument("trigger")
@click.option(
    "--field", "-f", "fields", multiple=True, metavar="NAME=VALUE", help="A field value (repeat)."
)
@click.option("--note", "-n")
@click.option(
    "--expect-version", type=ROW_ID, help="Refuse if the case changed since you saw this version."
)
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_fire(
    app: App,
    case_id: int,
    trigger: str,
    fields: tuple[str, ...],
    note: str | None,
    expect_version: int | None,
    key: str | None,
) -> None:
    """Fire TRIGGER on a case (see `case show` for what you may fire)."""
    values = parse_pairs(fields)

    def command(svc: Service) -> str:
        actor = svc.actor(app.user)
        ev = svc.fire(
            actor, case_id, trigger, values, note, expected_version=expect_version, command_id=key
        )
        return f"case {case_id}: {moved(svc, app, case_id, ev)}"

    run_command(app, key, command)


@case_group.command("object")
@click.argument("case_id", type=ROW_ID)
@click.option("--note", "-n", required=True, help="What the objection is about.")
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_object(app: App, case_id: int, note: str, key: str | None) -> None:
    """Record an objection during a public notice (sends the case back as the workflow says)."""

    def command(svc: Service) -> str:
        ev = svc.object(svc.actor(app.user), case_id, note, command_id=key)
        return f"case {case_id}: objection recorded; {ev.from_state} -> {ev.to_state}"

    run_command(app, key, command)


@case_group.command("vote")
@click.argument("case_id", type=ROW_ID)
@click.argument("choice", type=click.Choice(["yes", "no", "abstain"]))
@click.option("--note", "-n")
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_vote(app: App, case_id: int, choice: str, note: str | None, key: str | None) -> None:
    """Vote in a case's democratic review."""

    def command(svc: Service) -> str:
        actor = svc.actor(app.user)
        ev = svc.vote(actor, case_id, choice, note, command_id=key)
        tally = svc.vote_tally(case_id, actor.name, ev.fields["round"])
        return (
            f"case {case_id}: {actor.name} voted {choice}; tally {tally.yes} yes, {tally.no} no, "
            f"{tally.abstain} abstain ({'quorum met' if tally.quorum_met else 'no quorum yet'})"
        )

    run_command(app, key, command)


@case_group.command("note")
@click.argument("case_id", type=ROW_ID)
@click.option("--note", "-n", required=True)
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_note(app: App, case_id: int, note: str, key: str | None) -> None:
    """Add a note to a case's history."""

    done = app.call("case.note", key=key, case_id=case_id, note=note)
    click.echo(f"case {case_id}: note #{done['seq']} added")


def time_left(deadline: datetime | None, now: datetime, lang: str) -> str:
    if deadline is None:
        return ""
    delta = deadline - now
    t = TEXT[lang]
    secs = int(abs(delta.total_seconds()))
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    span = f"{days}d {hours}h" if days else f"{hours}h {rem // 60}m"
    return f"{span} {t['left']}" if delta.total_seconds() >= 0 else f"{t['overdue']} {span}"


def may_see_id(view: CaseView, roles: tuple[str, ...]) -> bool:
    """Admins and the roles that own a step of this workflow may see full ID numbers."""
    owners = {st.owner for st in view.workflow.states.values() if st.owner}
    return "admin" in roles or bool(owners & set(roles))


def view_json(view: CaseView, app: App, show_id: bool) -> dict[str, Any]:
    from aidflow.idnumber import mask

    c, p, wf = view.case, view.person, view.workflow
    return {
        "id": c.id,
        "workflow": wf.name,
        "workflow_version": view.version.version,
        "state": c.state,
        "state_label": wf.states[c.state].labels.get(app.lang),
        "entered_at": c.state_entered_at.isoformat(),
        "deadline_at": c.deadline_at.isoformat() if c.deadline_at else None,
        "overdue": bool(c.deadline_at and c.deadline_at < app.clock.now()),
        "dwell_until": view.dwell_until.isoformat() if view.dwell_until else None,
        "assigned_to": c.assigned_to,
        "township": c.township,
        "village": c.village,
        "emergency": c.emergency,
        "version": c.version,
        "closed_at": c.closed_at.isoformat() if c.closed_at else None,
        "data": c.data,
        "person": {
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
        "actions": [
            {"trigger": a.transition.trigger, "allowed": a.allowed, "blocked_by": a.reasons}
            for a in view.actions
        ],
        "clocks": [clock_json(r) for r in clock_reports(view, app)],
        "history": [event_json(e) for e in view.events],
    }


CLOCK_TEXT = {
    "en": {
        "clock": "Clock",
        "running": "running",
        "paused": "PAUSED",
        "stopped": "stopped",
        "due": "due",
        "wd_left": "working day(s) left after today",
        "wd_over": "OVERDUE by {n} working day(s)",
    },
    "zh": {
        "clock": "计时",
        "running": "计时中",
        "paused": "已暂停",
        "stopped": "已停止",
        "due": "截止",
        "wd_left": "个工作日剩余（不含今日）",
        "wd_over": "已超期 {n} 个工作日",
    },
}


def clock_reports(view: CaseView, app: App) -> list[ClockReport]:
    from aidflow.engine import clocks

    return clocks.report(view.workflow, view.case.clocks or {}, app.clock.now(), app.calendar)


def clock_json(r: ClockReport) -> dict[str, Any]:
    return {
        "name": r.name,
        "duration": r.duration,
        "status": r.status,
        "due_at": r.due_at.isoformat() if r.due_at else None,
        "left_seconds": int(r.left.total_seconds()) if r.left is not None else None,
        "working_days_left": r.left_wd,
        "overdue": r.overdue,
    }


def clock_line(r: ClockReport, app: App) -> str:
    """A clock's line in `case show`.

    `Clock statutory (Statutory time limit, 30wd): running, due 2023-09-20 00:00 (12 ...)`
    """
    t = CLOCK_TEXT[app.lang]
    label = f"{r.spec.labels.get(app.lang)}, " if r.spec.labels else ""
    if r.left_wd is not None:
        left = (
            f"{r.left_wd} {t['wd_left']}" if r.left_wd >= 0 else t["wd_over"].format(n=-r.left_wd)
        )
    else:
        left = (
            time_left(app.clock.now() + r.left, app.clock.now(), app.lang)
            if r.left is not None
            else ""
        )
    due = (
        f", {t['due']} {local(r.due_at, app)}"
        if r.due_at is not None and r.status != "paused"
        else ""
    )
    return f"{t['clock']} {r.name} ({label}{r.duration}): {t[r.status]}{due} ({left})"


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


@case_group.command("show")
@click.argument("case_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--show-id", is_flag=True, help="Show the full ID number (if your role may see it).")
@pass_app
def case_show(app: App, case_id: int, as_json: bool, show_id: bool) -> None:
    """A case: state, deadline and time left, history, and what you may do next (and why not)."""
    from aidflow.errors import ForbiddenError

    with app.reading() as svc:
        actor = svc.actor(app.user)
        view = svc.view(actor, case_id)
    if show_id and not may_see_id(view, actor.roles):
        raise ForbiddenError(
            f"{actor.name} may not see full ID numbers on {view.workflow.name} cases"
        )
    data = view_json(view, app, show_id)
    if as_json:
        emit_json(data)
        return
    t = TEXT[app.lang]
    c, wf = view.case, view.workflow
    now = app.clock.now()
    flag = f"  [{t['emergency']}]" if c.emergency else ""
    click.echo(
        f"{t['case']} {c.id}  {wf.labels.get(app.lang)} ({wf.name} v{view.version.version}){flag}"
    )
    click.echo(
        f"{t['person']}: {data['person']['name']} {data['person']['id_number']}  "
        f"{t['area']}: {c.township}/{c.village}"
    )
    closed = f" ({t['closed']})" if c.closed_at else ""
    click.echo(
        f"{t['state']}: {c.state} {data['state_label']}{closed}, {t['entered']} "
        f"{local(c.state_entered_at, app)}"
    )
    if c.deadline_at:
        left = time_left(c.deadline_at, now, app.lang)
        click.echo(f"{t['deadline']}: {local(c.deadline_at, app)} ({left})")
    for r in clock_reports(view, app):
        click.echo(clock_line(r, app))
    if view.dwell_until:
        click.echo(f"{t['dwell']}: {local(view.dwell_until, app)}")
    if view.tally:
        v = data["vote"]
        click.echo(
            f"{t['vote']}: {v['yes']} yes, {v['no']} no, {v['abstain']} abstain; "
            f"{'quorum met' if v['quorum_met'] else 'no quorum yet'}"
        )
    click.echo(f"{t['assigned']}: {c.assigned_to or '-'}   version {c.version}")
    if c.data:
        click.echo(f"{t['data']}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.data.items())))
    click.echo(f"{t['history']}:")
    for e in view.events:
        click.echo("  " + event_line(e, app))
    click.echo(f"{t['actions']}:")
    if not view.actions:
        click.echo(f"  {t['none']}")
    for a in view.actions:
        label = a.transition.labels.get(app.lang) if a.transition.labels else ""
        if a.allowed:
            click.echo(f"  {a.transition.trigger:<20} {label}")
        else:
            click.echo(
                f"  {a.transition.trigger:<20} {label} [{t['blocked']}: {'; '.join(a.reasons)}]"
            )


def event_line(e: EventRecord, app: App) -> str:
    what = {
        "open": f"opened in {e.to_state}",
        "vote": f"voted {e.fields.get('choice')}",
        "note": "note",
    }
    text = what.get(e.kind) or f"{e.trigger}: {e.from_state} -> {e.to_state}"
    if e.kind == "objection":
        text = "objection; " + text
    fields = {k: v for k, v in e.fields.items() if e.kind in ("transition", "objection")}
    if fields:
        text += " " + ", ".join(f"{k}={v}" for k, v in fields.items())
    if e.note:
        text += f" — {e.note}"
    return f"#{e.seq:<3} {local(e.at, app)}  {e.actor:<12} {text}"


@case_group.command("history")
@click.argument("case_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def case_history(app: App, case_id: int, as_json: bool) -> None:
    """Every event of a case, oldest first."""
    with app.reading() as svc:
        view = svc.view(svc.actor(app.user), case_id)
    if as_json:
        emit_json([event_json(e) for e in view.events])
        return
    for e in view.events:
        click.echo(event_line(e, app))


@case_group.command("list")
@click.option("--state")
@click.option("--workflow", "-w")
@click.option("--township")
@click.option("--overdue", is_flag=True, help="Only cases past their deadline.")
@click.option("--mine", is_flag=True, help="Only cases assigned to me.")
@click.option("--all", "include_closed", is_flag=True, help="Include closed cases.")
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def case_list(
    app: App,
    state: str | None,
    workflow: str | None,
    township: str | None,
    overdue: bool,
    mine: bool,
    include_closed: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Cases in your area, filtered."""
    from aidflow.idnumber import mask

    with app.reading() as svc:
        actor = svc.actor(app.user)
        listed = svc.list_cases(
            actor,
            state=state,
            workflow=workflow,
            township=township,
            overdue=overdue,
            mine=mine,
            include_closed=include_closed,
            limit=limit,
        )
        now = app.clock.now()
        rows = []
        for c, p in ((item.case, item.person) for item in listed):
            rows.append(
                {
                    "id": c.id,
                    "workflow": c.workflow_name,
                    "state": c.state,
                    "person": p.name,
                    "id_number": mask(p.id_number),
                    "township": c.township,
                    "village": c.village,
                    "assigned_to": c.assigned_to,
                    "emergency": c.emergency,
                    "deadline_at": c.deadline_at.isoformat() if c.deadline_at else None,
                    "overdue": bool(c.deadline_at and c.deadline_at < now),
                    "time_left": time_left(c.deadline_at, now, app.lang),
                }
            )
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(TEXT[app.lang]["none"])
    for r in rows:
        flag = "!" if r["emergency"] else " "
        click.echo(
            f"{r['id']:>6}{flag} {r['workflow']:<12} {r['state']:<18} {r['person']:<8} "
            f"{r['id_number']} "
            f"{r['township']}/{r['village']}  {r['assigned_to'] or '-':<10} {r['time_left']}"
        )
