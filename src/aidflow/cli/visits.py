"""`aidflow visit log|due`: record care visits, and see who is behind this month."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from aidflow.cli.app import App, emit_json, local, parse_time, pass_app
from aidflow.i18n import _, ngettext, pick

if TYPE_CHECKING:
    from aidflow.policy.care import CarePolicy


def load_policy(app: App) -> CarePolicy:
    """The care-visit policy file the settings name (care_visits_file)."""
    from aidflow.policy.care import load_policy_file

    return load_policy_file(app.county.care_visits_file)


@click.group("visit")
def visit_group() -> None:
    """Care visits (visit, cleaning, haircut) for cases under a care obligation."""


@visit_group.command("log")
@click.argument("case_id", type=int)
@click.option(
    "--kind", "-k", required=True, help="visit, cleaning or haircut (kinds of the policy file)."
)
@click.option(
    "--at", "at_text", metavar="TIME", help="When it happened (county time; default now)."
)
@click.option("--by", "by_user", metavar="USER", help="Who made the visit (default: you).")
@click.option("--note", "-n", help="What was done.")
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="Repeat a command safely: the same key is applied once.",
)
@pass_app
def visit_log(
    app: App,
    case_id: int,
    kind: str,
    at_text: str | None,
    by_user: str | None,
    note: str | None,
    idempotency_key: str | None,
) -> None:
    """Log a care visit on a case (also written to the case's history)."""
    from datetime import datetime

    at = parse_time(at_text, app.tz).isoformat() if at_text else None
    done = app.call(
        "visit.log", key=idempotency_key, case_id=case_id, kind=kind, at=at, by=by_user, note=note
    )
    when = local(datetime.fromisoformat(done["at"]), app)
    labels = done.get("labels") or {}
    if done["created"]:
        click.echo(
            _(
                "case {case}: {kind} on {when} by {user} logged (visit {visit}, note #{seq})",
                case=case_id,
                kind=pick(kind, labels.get(kind) or ""),
                when=when,
                user=done["by_user"],
                visit=done["visit_id"],
                seq=done["event_seq"],
            )
        )
    else:
        click.echo(
            _(
                "case {case}: already logged as visit {visit} ({kind} on {when} by {user}); "
                "nothing changed",
                case=case_id,
                visit=done["visit_id"],
                kind=pick(done["kind"], labels.get(done["kind"]) or ""),
                when=when,
                user=done["by_user"],
            )
        )


@visit_group.command("due")
@click.option("--month", metavar="YYYY-MM", help="The month to check (default: this month).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def visit_due(app: App, month: str | None, as_json: bool) -> None:
    """Cases in your area behind their monthly minimums, per township."""
    result = app.call("visit.due", month=month)
    which, rows, labels = result["month"], result["rows"], result["labels"]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(_("{month}: no case in your area is behind", month=which))
        return
    town = None
    for r in rows:
        if r["township"] != town:
            town = r["township"]
            count = sum(1 for x in rows if x["township"] == town)
            click.echo(
                ngettext(
                    "{month} {township}: {n} case(s) behind",
                    "{month} {township}: {n} case(s) behind",
                    count,
                    month=which,
                    township=town,
                )
            )
        kinds = ", ".join(f"{labels[k]} {v['done']}/{v['required']}" for k, v in r["kinds"].items())
        click.echo(
            _(
                "  case {case:<6} {village:<8} {name} ({id_number})  caseworker {caseworker}  "
                "{kinds}",
                case=r["case_id"],
                village=r["village"],
                name=r["person_name"],
                id_number=r["person_id_masked"],
                caseworker=r["caseworker"] or "-",
                kinds=kinds,
            )
        )
