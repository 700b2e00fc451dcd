"""`aidflow case ...`: the caseworker's commands.

Each command calls its operation (aidflow.operations.cases) through `App.call`, in process or
on the server, and prints the operation's JSON result; nothing here reads the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from aidflow.cli.app import ROW_ID, App, emit_json, local, pass_app
from aidflow.i18n import N_, _, language, pick

MAX_LIST = 100000  # as aidflow.operations.cases.MAX_LIST, which the CLI must not import

# the words of `case show` and `case list` (translated where read)
CASE = N_("Case")
PERSON = N_("Person")
STATE = N_("State")
ENTERED = N_("entered")
DEADLINE = N_("Deadline")
ASSIGNED = N_("Assigned to")
AREA = N_("Area")
DATA = N_("Data")
HISTORY = N_("History")
ACTIONS = N_("What you can do")
BLOCKED = N_("blocked")
VOTE = N_("Vote")
DWELL = N_("Notice runs until")
CLOSED = N_("closed")
EMERGENCY = N_("EMERGENCY")
NONE = N_("(none)")
OTHERWISE = N_("otherwise")
LIST_ID = N_("Case")
LIST_WORKFLOW = N_("Workflow")
LIST_STATE = N_("State")
LIST_PERSON = N_("Person")
LIST_ID_NUMBER = N_("ID number")
LIST_AREA = N_("Area")
LIST_ASSIGNED = N_("Assigned")
LIST_DUE = N_("Deadline (time left)")


def zh() -> bool:
    return language() == "zh"


def width(text: str) -> int:
    """The columns `text` takes on a terminal: a wide (Chinese) character takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, columns: int, right: bool = False) -> str:
    """`text` padded to `columns`; in Chinese a wide character takes two columns (English
    output pads by characters, as it always did)."""
    if not zh():
        return f"{text:>{columns}}" if right else f"{text:<{columns}}"
    fill = " " * max(columns - width(text), 0)
    return fill + text if right else text + fill


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    from aidflow.errors import InvalidInputError

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                _("--field {pair} is not NAME=VALUE", pair=repr(pair)),
                hint=_("write --field amount=450"),
            )
        if key.strip() in out:
            raise InvalidInputError(_("--field {name} given twice", name=key.strip()))
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
        _(
            "case {case} opened: {workflow}, state {state} ({state_label}), deadline {due}",
            case=done["case_id"],
            workflow=pick(done["workflow"], done.get("workflow_label") or ""),
            state=done["state"],
            state_label=done["state_label"],
            due=due_texts(done["deadline"], app)[0] or "-",
        )
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
        _(
            "case {case}: {source} -> {dest} ({dest_label}); deadline {due}",
            case=case_id,
            source=pick(done["from"], done.get("from_label") or ""),
            dest=done["to"],
            dest_label=done["to_label"],
            due=due_texts(done["deadline"], app)[0] or "-",
        )
    )


@case_group.command("object")
@click.argument("case_id", type=ROW_ID)
@click.option("--note", "-n", required=True, help="What the objection is about.")
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_object(app: App, case_id: int, note: str, key: str | None) -> None:
    """Record an objection during a public notice (sends the case back as the workflow says)."""
    done = app.call("case.object", key=key, case_id=case_id, note=note)
    click.echo(
        _(
            "case {case}: objection recorded; {source} -> {dest}",
            case=case_id,
            source=pick(done["from"], done.get("from_label") or ""),
            dest=pick(done["to"], done.get("to_label") or ""),
        )
    )


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
    words = {"yes": "赞成", "no": "反对", "abstain": "弃权"}
    click.echo(
        _(
            "case {case}: {voter} voted {choice}; tally {tally} ({quorum})",
            case=case_id,
            voter=pick(done["voter"], done.get("voter_name") or ""),
            choice=pick(choice, words.get(choice, choice)),
            tally=tally_text(tally),
            quorum=quorum_text(tally["quorum_met"]),
        )
    )


def tally_text(tally: dict[str, Any]) -> str:
    """`5 yes, 1 no, 0 abstain` (赞成 5 票、反对 1 票、弃权 0 票)."""
    return _(
        "{yes} yes, {no} no, {abstain} abstain",
        yes=tally["yes"],
        no=tally["no"],
        abstain=tally["abstain"],
    )


def quorum_text(met: bool) -> str:
    return _("quorum met") if met else _("no quorum yet")


@case_group.command("note")
@click.argument("case_id", type=ROW_ID)
@click.option("--note", "-n", required=True)
@click.option("--idempotency-key", "key", metavar="KEY", help=KEY_HELP)
@pass_app
def case_note(app: App, case_id: int, note: str, key: str | None) -> None:
    """Add a note to a case's history."""

    done = app.call("case.note", key=key, case_id=case_id, note=note)
    click.echo(_("case {case}: note #{seq} added", case=case_id, seq=done["seq"]))


def due_texts(due: dict[str, Any] | None, app: App) -> tuple[str, str]:
    """(when it is due, time left) of a deadline in an operation's result, as the operation
    worded them in the caller's language (the rule lives in aidflow.engine.deadlines)."""
    if due is None:
        return "", ""
    return str(due["text"]), str(due["left_text"])


CLOCK_STATUS = {
    "running": N_("running"),
    "paused": N_("PAUSED"),
    "stopped": N_("stopped"),
}


def clock_line(
    r: dict[str, Any], due: dict[str, Any] | None, label: str, app: App, duration: str = ""
) -> str:
    """A clock's line in `case show` (`r` is one of the view's clocks, `due` its due date as
    shown, `label` its label, `duration` its length in words).

    `Clock statutory (Statutory time limit, 30wd): running, due 2023-09-19 (Tue) end of day
    (12 working days left)`; in Chinese the label stands for the name:
    `计时 法定办理时限（30 个工作日）: 计时中，截止 2023-09-19（周二）当日 (剩余 12 个工作日)`
    """
    when, left = due_texts(due, app)
    status = _(CLOCK_STATUS[r["status"]]) if r["status"] in CLOCK_STATUS else r["status"]
    if due is None:
        shown = ""
    elif r["status"] == "paused":
        shown = f" ({left})"
    else:
        shown = _(", due {when} ({left})", when=when, left=left)
    if zh():
        return _(
            "Clock {name} ({duration}): {status}{shown}",
            name=label or r["name"],
            duration=duration or r["duration"],
            status=status,
            shown=shown,
        )
    named = f"{label}, " if label else ""
    return _(
        "Clock {name} ({duration}): {status}{shown}",
        name=r["name"],
        duration=named + r["duration"],
        status=status,
        shown=shown,
    )


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
    flag = f"  [{_(EMERGENCY)}]" if c["emergency"] else ""
    version = _(" ({workflow} v{version})", workflow=c["workflow"], version=c["workflow_version"])
    click.echo(f"{_(CASE)} {c['id']}  {labels['workflow']}{version}{flag}")
    click.echo(
        f"{_(PERSON)}: {c['person']['name']} {c['person']['id_number']}  "
        f"{_(AREA)}: {c['township']}/{c['village']}"
    )
    users: dict[str, str] = labels.get("users") or {}
    closed = f" ({_(CLOSED)})" if c["closed_at"] else ""
    state = pick(f"{c['state']} {c['state_label']}", c["state_label"])
    click.echo(
        _(
            "{label}: {state}{closed}, {entered} {at}",
            label=_(STATE),
            state=state,
            closed=closed,
            entered=_(ENTERED),
            at=at(c["entered_at"], app),
        )
    )
    if shown["deadline"] is not None:
        when, left = due_texts(shown["deadline"], app)
        click.echo(f"{_(DEADLINE)}: {when} ({left})")
    durations = labels.get("clock_durations") or [""] * len(c["clocks"])
    for r, due, label, duration in zip(
        c["clocks"], shown["clocks"], labels["clocks"], durations, strict=True
    ):
        click.echo(clock_line(r, due, label, app, duration))
    if c["dwell_until"]:
        click.echo(f"{_(DWELL)}: {at(c['dwell_until'], app)}")
    if c["vote"]:
        v = c["vote"]
        click.echo(
            _(
                "{label}: {tally}; {quorum}",
                label=_(VOTE),
                tally=tally_text(v),
                quorum=quorum_text(v["quorum_met"]),
            )
        )
    assigned = c["assigned_to"] or "-"
    click.echo(
        _(
            "{label}: {user}   version {version}",
            label=_(ASSIGNED),
            user=users.get(assigned, assigned),
            version=c["version"],
        )
    )
    if c["data"]:
        data = labels.get("data")
        if zh() and data:
            text = "，".join(f"{k}：{v}" for k, v in data)
        else:
            text = ", ".join(f"{k}={v}" for k, v in sorted(c["data"].items()))
        click.echo(f"{_(DATA)}: {text}")
    click.echo(f"{_(HISTORY)}:")
    texts = labels.get("events") or [None] * len(c["history"])
    for e, text in zip(c["history"], texts, strict=True):
        click.echo("  " + event_line(e, app, text, users))
    click.echo(f"{_(ACTIONS)}:")
    if not c["actions"]:
        click.echo(f"  {_(NONE)}")
    routes = labels.get("routes") or [""] * len(c["actions"])
    needs = labels.get("needs") or [None] * len(c["actions"])
    for a, label, dest, need in zip(c["actions"], labels["actions"], routes, needs, strict=True):
        if zh():
            line = f"  {label or a['trigger']}"
            if a.get("route"):
                line += f" → {dest or a['route']['dest']}"
            if not a["allowed"]:
                line += f" [{_(BLOCKED)}：{'；'.join(a['blocked_by'])}]"
            click.echo(line)
        else:
            if a.get("route"):  # where the case's current data would take it
                r = a["route"]
                label = f"-> {r['dest']} ({r['when'] or _(OTHERWISE)})  {label}".rstrip()
            if a["allowed"]:
                click.echo(f"  {a['trigger']:<20} {label}")
            else:
                blocked = "; ".join(a["blocked_by"])
                click.echo(f"  {a['trigger']:<20} {label} [{_(BLOCKED)}: {blocked}]")
        if need is not None:
            for line in needs_lines(need):
                click.echo("      " + line)


def needs_lines(need: dict[str, Any]) -> list[str]:
    """What an action takes (each field: label, kind, choices; a note) and the command that
    fires it, as `case show` prints them under the action."""
    lines: list[str] = []
    for f in need["fields"]:
        kind = (
            _("one of: {choices}", choices=pick(", ", "、").join(f["choices"]))
            if f["choices"]
            else f["kind"]
        )
        if f["required"]:
            lines.append(_("{label} ({name}): {kind}", label=f["label"], name=f["name"], kind=kind))
        else:
            lines.append(
                _("{label} ({name}), optional: {kind}", label=f["label"], name=f["name"], kind=kind)
            )
    if need["note"]:
        lines.append(_("a note (--note) is required"))
    lines.append(need["command"])
    return lines


def event_line(
    e: dict[str, Any], app: App, text: str | None = None, users: dict[str, str] | None = None
) -> str:
    """One event of a case's history (`e` as the operations give it; `text` what it did as
    the operation worded it, `users` the display names of actors)."""
    if text is None:
        kind, fields = e["kind"], e["fields"]
        what = {
            "open": _("opened in {state}", state=e["to"]),
            "vote": _("voted {choice}", choice=fields.get("choice")),
            "note": _("note"),
        }
        text = what.get(kind) or _(
            "{trigger}: {source} -> {dest}", trigger=e["trigger"], source=e["from"], dest=e["to"]
        )
        if kind == "objection":
            text = _("objection; {text}", text=text)
        shown = {k: v for k, v in fields.items() if kind in ("transition", "objection")}
        if shown:
            text += " " + ", ".join(f"{k}={v}" for k, v in shown.items())
        if e["note"]:
            text += f" — {e['note']}"
    actor = (users or {}).get(e["actor"], e["actor"])
    return f"#{e['seq']:<3} {at(e['at'], app)}  {pad(actor, 12)} {text}"


@case_group.command("history")
@click.argument("case_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def case_history(app: App, case_id: int, as_json: bool) -> None:
    """Every event of a case, oldest first."""
    if as_json:
        emit_json(app.call("case.history", case_id=case_id))
        return
    shown = app.call("case.show", case_id=case_id)  # the events with their words
    labels = shown["labels"]
    events = shown["view"]["history"]
    texts = labels.get("events") or [None] * len(events)
    for e, text in zip(events, texts, strict=True):
        click.echo(event_line(e, app, text, labels.get("users") or {}))


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
    if not rows:
        click.echo(_(NONE))
        return
    shown = [
        (
            pick(r["workflow"], r.get("workflow_label") or ""),
            pick(r["state"], r.get("state_label") or ""),
            r["person"],
            f"{r['township']}/{r['village']}",
            pick(r["assigned_to"] or "-", r.get("assigned_name") or "-"),
        )
        for r in rows
    ]
    heads = (_(LIST_WORKFLOW), _(LIST_STATE), _(LIST_PERSON), _(LIST_AREA), _(LIST_ASSIGNED))
    widths = [12, 18, 8, 0, 10]  # English: fixed columns, as they always were
    if zh():  # labels and names vary in length: each column as wide as its widest text
        columns = zip(heads, zip(*shown, strict=True), strict=True)
        widths = [max(width(t) for t in (head, *column)) for head, column in columns]
    w_workflow, w_state, w_person, w_area, w_assigned = widths
    click.echo(
        f"{pad(_(LIST_ID), 7, right=True)} {pad(heads[0], w_workflow)} "
        f"{pad(heads[1], w_state)} {pad(heads[2], w_person)} {pad(_(LIST_ID_NUMBER), 18)} "
        f"{pad(heads[3], w_area)}  {pad(heads[4], w_assigned)} {_(LIST_DUE)}"
    )
    for r, (workflow, state, person, area, assigned) in zip(rows, shown, strict=True):
        flag = "!" if r["emergency"] else " "
        left = f" ({r['time_left']})" if r["time_left"] else ""
        click.echo(
            f"{r['id']:>6}{flag} {pad(workflow, w_workflow)} {pad(state, w_state)} "
            f"{pad(person, w_person)} {r['id_number']} "
            f"{pad(area, w_area)}  {pad(assigned, w_assigned)} {r['due']}{left}"
        )
    if listed["total"] > len(rows):
        click.echo(
            _(
                "showing {shown} of {total} cases (soonest deadlines first); "
                "--limit N or --all for more",
                shown=len(rows),
                total=listed["total"],
            )
        )
