"""`aidflow scheduler|escalation|outbox ...`: run the jobs, answer escalations, watch the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from aidflow.cli.app import ROW_ID, App, emit_json, pass_app
from aidflow.i18n import _, pick


@click.group("scheduler")
def scheduler_group() -> None:
    """Run the periodic jobs: deadline sweep, timed transitions, escalations, email delivery."""


@scheduler_group.command("tick")
@pass_app
def scheduler_tick(app: App) -> None:
    """Run every job once as of now (or --now) and exit: for cron and tests.

    Email goes out over SMTP when smtp_host (AIDFLOW_SMTP_HOST) is set; otherwise it stays queued.
    """
    for line in run_round_for(app):
        click.echo(line)


def run_round_for(app: App) -> list[str]:
    """One scheduler round with the inputs the App and the environment describe (the
    round is aidflow.scheduler.rounds.round_for)."""
    from aidflow.scheduler.rounds import round_for

    app.check_clock(writing=True)  # the round writes through the database, not a transaction()
    return round_for(app, mailer=app.mailer())


@scheduler_group.command("run")
@click.option(
    "--every",
    "interval",
    type=click.IntRange(1, 86400),
    default=60,
    show_default=True,
    help="Seconds between rounds of jobs.",
)
@pass_app
def scheduler_run(app: App, interval: int) -> None:
    """Run the jobs every --every seconds until SIGTERM or Ctrl-C (APScheduler).

    Jobs look at what is due now, so the first round after downtime catches up on
    everything missed. Several processes may run against one PostgreSQL database:
    escalations are claimed by unique keys and outbox rows with row locks.
    """
    from aidflow.errors import InvalidInputError
    from aidflow.scheduler.adapter import run_forever

    if app.now:
        raise InvalidInputError(
            _("--now cannot be used with `scheduler run`"),
            hint=_("use `aidflow --now TIME scheduler tick` to run the jobs as of a time"),
        )

    def job() -> None:
        app._clock = None  # re-read the system clock each round
        for line in run_round_for(app):
            click.echo(line)

    run_forever(job, interval)


@click.group("escalation")
def escalation_group() -> None:
    """Escalations sent to you: list them, acknowledge them."""


def _age(delta: timedelta) -> str:
    secs = max(int(delta.total_seconds()), 0)
    days, rem = divmod(secs, 86400)
    if days:
        return _("{days}d {hours}h", days=days, hours=rem // 3600)
    return _("{hours}h {minutes}m", hours=rem // 3600, minutes=rem % 3600 // 60)


@escalation_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def escalation_list(app: App, as_json: bool) -> None:
    """Open (unacknowledged) escalations in your area, by township and age."""
    from aidflow.notify.templates import template_label

    rows: list[dict[str, Any]] = app.call("escalation.list")
    for r in rows:
        r["age"] = _age(timedelta(seconds=r.pop("age_seconds")))
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(_("no open escalations"))
    for r in rows:
        click.echo(
            _(
                "{id:>6} {township}/{village}  case {case:<6} {state:<18} "
                "{role} -> {recipient:<10} {template:<18} {age} ago",
                id=r["id"],
                township=r["township"],
                village=r["village"],
                case=r["case_id"],
                state=pick(r["state"], r.get("state_label") or ""),
                role=pick(r["role"], r.get("role_label") or ""),
                recipient=r["recipient"],
                template=template_label(r["template"]),
                age=r["age"],
            )
        )
        if r["rerouted"]:
            click.echo(
                _(
                    "       (meant for {role}: {why})",
                    role=pick(r["meant_for"], r.get("meant_for_label") or ""),
                    why=r.get("rerouted_label") or r["rerouted"],
                )
            )


@escalation_group.command("ack")
@click.argument("escalation_id", type=ROW_ID)
@click.option("--note", "-n", help="What you did about it.")
@pass_app
def escalation_ack(app: App, escalation_id: int, note: str | None) -> None:
    """Acknowledge an escalation (stops the repeats of its rung where the ladder says so)."""
    esc = app.call("escalation.ack", escalation_id=escalation_id, note=note)
    click.echo(
        _(
            "escalation {id} on case {case} acknowledged by {user}",
            id=esc["id"],
            case=esc["case_id"],
            user=esc["acknowledged_by"],
        )
    )


@click.group("outbox")
def outbox_group() -> None:
    """Queued, sent and failed emails (administrators)."""


@outbox_group.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]))
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def outbox_list(app: App, status: str | None, limit: int, as_json: bool) -> None:
    """Emails in the outbox, newest first."""
    from aidflow.notify.templates import template_label
    from aidflow.services.delivery import outbox_status_word

    rows = app.call("outbox.list", status=status, limit=limit)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(_("the outbox is empty"))
    for r in rows:
        extra = f"  ({r['last_error']})" if r["last_error"] and r["status"] != "sent" else ""
        # an escalation email is rendered when first sent: until then it has no subject
        subject = (
            r["subject"]
            if r["subject"] is not None
            else _("({template}, not rendered yet)", template=template_label(r["template"]))
        )
        status = outbox_status_word(r["status"])
        click.echo(
            _(
                "{id:>6} {status:<7} x{attempts} {to:<28} {subject}{extra}",
                id=r["id"],
                status=status,
                attempts=r["attempts"],
                to=r["to"],
                subject=subject,
                extra=extra,
            )
        )


@outbox_group.command("retry")
@click.argument("outbox_id", type=ROW_ID)
@pass_app
def outbox_retry(app: App, outbox_id: int) -> None:
    """Queue a failed email again (the next `scheduler tick` sends it)."""
    row = app.call("outbox.retry", outbox_id=outbox_id)
    click.echo(_("outbox message {id} to {to} is pending again", id=row["id"], to=row["to"]))
