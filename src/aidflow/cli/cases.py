"""`aidflow case ...`: the caseworker's commands.

Each command calls its operation (aidflow.operations.cases) through `App.call`, in process or
on the server, and prints the operation's JSON result; nothing here reads the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from aidflow.cli.app import ROW_ID, App, emit_json, local, pass_app

MAX_LIST = 100000  # as aidflow.operations.cases.MAX_LIST, which the CLI must not import

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
        "otherwise": "otherwise",
        "list_id": "Case",
        "list_workflow": "Workflow",
        "list_state": "State",
        "list_person": "Person",
        "list_id_number": "ID number",
        "list_area": "Area",
        "list_assigned": "Assigned",
        "list_due": "Deadline (time left)",
        "list_more": "showing {shown} of {total} cases (soonest deadlines first); "
        "--limit N or --all for more",
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
        "otherwise": "其他情形",
        "list_id": "案件",
        "list_workflow": "流程",
        "list_state": "状态",
        "list_person": "对象",
        "list_id_number": "身份证号",
        "list_area": "地区",
        "list_assigned": "经办人",
        "list_due": "时限（剩余）",
        "list_more": "共 {total} 件，按时限先后显示前 {shown} 件；用 --limit N 或 --all 查看更多",
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


def at(text: str | None, app: App) -> str:
    """An ISO time from an operation's result in the county's local time, or `-`."""
    return local(datetime.fromisoformat(text) if text else None, app)


@case_group.command("open")
@click.argument("id_number", metavar="PERSON")
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
    """Open a case for a registered person on the latest version of a workflow.

    PERSON is the person's ID number, or their name as registered in your area (several
    persons of that name are listed; then give the ID number)."""
    done = app.call(
        "case.open",
        key=key,
        id_number=id_number,
        workflow=workflow,
        emergency=emergency,
        assign_to=assign_to,
        note=note,
    )
    click.echo(
        f"case {done['case_id']} opened: {done['workflow']}, state {done['state']} "
        f"({done['state_label']}), deadline {due_texts(done['deadline'], app)[0] or '-'}"
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
    done = app.call(
        "case.fire",
        key=key,
        case_id=case_id,
        trigger=trigger,
        fields=parse_pairs(fields),
        note=note,
        expect_version=expect_version,
    )
    click.echo(
        f"case {case_id}: {done['from']} -> {done['to']} ({done['to_label']}); "
        f"deadline {due_texts(done['deadline'], app)[0] or '-'}"
    )


@case_group.command("object")
@click.argument("case_id", type=ROW_ID)
@click.option("--note", "-n", required=True, help="What the objection is about.")
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_object(app: App, case_id: int, note: str, key: str | None) -> None:
    """Record an objection during a public notice (sends the case back as the workflow says)."""
    done = app.call("case.object", key=key, case_id=case_id, note=note)
    click.echo(f"case {case_id}: objection recorded; {done['from']} -> {done['to']}")


@case_group.command("vote")
@click.argument("case_id", type=ROW_ID)
@click.argument("choice", type=click.Choice(["yes", "no", "abstain", "赞成", "反对", "弃权"]))
@click.option("--note", "-n")
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_vote(app: App, case_id: int, choice: str, note: str | None, key: str | None) -> None:
    """Vote in a case's democratic review."""
    done = app.call("case.vote", key=key, case_id=case_id, choice=choice, note=note)
    tally = done["tally"]
    click.echo(
        f"case {case_id}: {done['voter']} voted {choice}; tally {tally['yes']} yes, "
        f"{tally['no']} no, {tally['abstain']} abstain "
        f"({'quorum met' if tally['quorum_met'] else 'no quorum yet'})"
    )


@case_group.command("note")
@click.argument("case_id", type=ROW_ID)
@click.option("--note", "-n", required=True)
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_note(app: App, case_id: int, note: str, key: str | None) -> None:
    """Add a note to a case's history."""

    done = app.call("case.note", key=key, case_id=case_id, note=note)
    click.echo(f"case {case_id}: note #{done['seq']} added")


def due_texts(due: dict[str, Any] | None, app: App) -> tuple[str, str]:
    """(when it is due, time left) of a deadline in an operation's result, as the operation
    worded them in the caller's language (the rule lives in aidflow.engine.deadlines)."""
    if due is None:
        return "", ""
    return str(due["text"]), str(due["left_text"])


CLOCK_TEXT = {
    "en": {
        "clock": "Clock",
        "running": "running",
        "paused": "PAUSED",
        "stopped": "stopped",
        "due": "due",
    },
    "zh": {
        "clock": "计时",
        "running": "计时中",
        "paused": "已暂停",
        "stopped": "已停止",
        "due": "截止",
    },
}


def clock_line(r: dict[str, Any], due: dict[str, Any] | None, label: str, app: App) -> str:
    """A clock's line in `case show` (`r` is one of the view's clocks, `due` its due date as
    shown, `label` its label).

    `Clock statutory (Statutory time limit, 30wd): running, due 2023-09-19 (Tue) end of day
    (12 working days left)`
    """
    t = CLOCK_TEXT[app.lang]
    named = f"{label}, " if label else ""
    when, left = due_texts(due, app)
    if due is None:
        shown = ""
    elif r["status"] == "paused":
        shown = f" ({left})"
    else:
        shown = f", {t['due']} {when} ({left})"
    return f"{t['clock']} {r['name']} ({named}{r['duration']}): {t[r['status']]}{shown}"


@case_group.command("show")
@click.argument("case_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--show-id", is_flag=True, help="Show the full ID number (if your role may see it).")
@pass_app
def case_show(app: App, case_id: int, as_json: bool, show_id: bool) -> None:
    """A case: state, deadline and time left, history, and what you may do next (and why not)."""
    shown = app.call("case.show", case_id=case_id, show_id=show_id)
    c, labels = shown["view"], shown["labels"]
    if as_json:
        emit_json(c)
        return
    t = TEXT[app.lang]
    flag = f"  [{t['emergency']}]" if c["emergency"] else ""
    click.echo(
        f"{t['case']} {c['id']}  {labels['workflow']} ({c['workflow']} v{c['workflow_version']})"
        f"{flag}"
    )
    click.echo(
        f"{t['person']}: {c['person']['name']} {c['person']['id_number']}  "
        f"{t['area']}: {c['township']}/{c['village']}"
    )
    closed = f" ({t['closed']})" if c["closed_at"] else ""
    click.echo(
        f"{t['state']}: {c['state']} {c['state_label']}{closed}, {t['entered']} "
        f"{at(c['entered_at'], app)}"
    )
    if shown["deadline"] is not None:
        when, left = due_texts(shown["deadline"], app)
        click.echo(f"{t['deadline']}: {when} ({left})")
    for r, due, label in zip(c["clocks"], shown["clocks"], labels["clocks"], strict=True):
        click.echo(clock_line(r, due, label, app))
    if c["dwell_until"]:
        click.echo(f"{t['dwell']}: {at(c['dwell_until'], app)}")
    if c["vote"]:
        v = c["vote"]
        click.echo(
            f"{t['vote']}: {v['yes']} yes, {v['no']} no, {v['abstain']} abstain; "
            f"{'quorum met' if v['quorum_met'] else 'no quorum yet'}"
        )
    click.echo(f"{t['assigned']}: {c['assigned_to'] or '-'}   version {c['version']}")
    if c["data"]:
        click.echo(f"{t['data']}: " + ", ".join(f"{k}={v}" for k, v in sorted(c["data"].items())))
    click.echo(f"{t['history']}:")
    for e in c["history"]:
        click.echo("  " + event_line(e, app))
    click.echo(f"{t['actions']}:")
    if not c["actions"]:
        click.echo(f"  {t['none']}")
    for a, label in zip(c["actions"], labels["actions"], strict=True):
        if a.get("route"):  # where the case's current data would take it
            r = a["route"]
            label = f"-> {r['dest']} ({r['when'] or t['otherwise']})  {label}".rstrip()
        if a["allowed"]:
            click.echo(f"  {a['trigger']:<20} {label}")
        else:
            click.echo(
                f"  {a['trigger']:<20} {label} [{t['blocked']}: {'; '.join(a['blocked_by'])}]"
            )


def event_line(e: dict[str, Any], app: App) -> str:
    """One event of a case's history (`e` as the operations give it)."""
    kind, fields = e["kind"], e["fields"]
    what = {
        "open": f"opened in {e['to']}",
        "vote": f"voted {fields.get('choice')}",
        "note": "note",
    }
    text = what.get(kind) or f"{e['trigger']}: {e['from']} -> {e['to']}"
    if kind == "objection":
        text = "objection; " + text
    shown = {k: v for k, v in fields.items() if kind in ("transition", "objection")}
    if shown:
        text += " " + ", ".join(f"{k}={v}" for k, v in shown.items())
    if e["note"]:
        text += f" — {e['note']}"
    return f"#{e['seq']:<3} {at(e['at'], app)}  {e['actor']:<12} {text}"


@case_group.command("history")
@click.argument("case_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def case_history(app: App, case_id: int, as_json: bool) -> None:
    """Every event of a case, oldest first."""
    events = app.call("case.history", case_id=case_id)
    if as_json:
        emit_json(events)
        return
    for e in events:
        click.echo(event_line(e, app))


@case_group.command("list")
@click.option("--state")
@click.option("--workflow", "-w")
@click.option("--township")
@click.option("--overdue", is_flag=True, help="Only cases past their deadline.")
@click.option("--mine", is_flag=True, help="Only cases assigned to me.")
@click.option("--all", "include_closed", is_flag=True, help="Include closed cases.")
@click.option("--limit", type=click.IntRange(1, MAX_LIST), default=200, show_default=True)
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
    listed = app.call(
        "case.list",
        state=state,
        workflow=workflow,
        township=township,
        overdue=overdue,
        mine=mine,
        include_closed=include_closed,
        limit=limit,
    )
    rows = [
        {**r, **dict(zip(("due", "time_left"), due_texts(r["deadline"], app), strict=True))}
        for r in listed["cases"]
    ]
    if as_json:
        emit_json(rows)
        return
    t = TEXT[app.lang]
    if not rows:
        click.echo(t["none"])
        return
    click.echo(
        f"{t['list_id']:>7} {t['list_workflow']:<12} {t['list_state']:<18} "
        f"{t['list_person']:<8} {t['list_id_number']:<18} {t['list_area']}  "
        f"{t['list_assigned']:<10} {t['list_due']}"
    )
    for r in rows:
        flag = "!" if r["emergency"] else " "
        left = f" ({r['time_left']})" if r["time_left"] else ""
        click.echo(
            f"{r['id']:>6}{flag} {r['workflow']:<12} {r['state']:<18} {r['person']:<8} "
            f"{r['id_number']} "
            f"{r['township']}/{r['village']}  {r['assigned_to'] or '-':<10} {r['due']}{left}"
        )
    if listed["total"] > len(rows):
        click.echo(t["list_more"].format(shown=len(rows), total=listed["total"]))
