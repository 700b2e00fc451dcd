"""`aidflow scheduler|escalation|outbox ...`: run the jobs, answer escalations, watch the outbox."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from aidflow.cli.app import ROW_ID, App, emit_json, pass_app

if TYPE_CHECKING:
    from aidflow.notify.email import SMTPMailer

_DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}


def mailer_from_env() -> SMTPMailer | None:
    """The SMTP mailer the AIDFLOW_SMTP_* variables describe, or None without AIDFLOW_SMTP_HOST."""
    from aidflow.errors import InvalidInputError
    from aidflow.notify.email import SMTPMailer

    host = os.environ.get("AIDFLOW_SMTP_HOST")
    if not host:
        return None
    security = os.environ.get("AIDFLOW_SMTP_SECURITY") or "starttls"
    if security not in _DEFAULT_PORTS:
        raise InvalidInputError(
            f"AIDFLOW_SMTP_SECURITY={security!r} is not one of none, starttls, ssl"
        )
    port_text = os.environ.get("AIDFLOW_SMTP_PORT") or str(_DEFAULT_PORTS[security])
    if not port_text.isdigit():
        raise InvalidInputError(f"AIDFLOW_SMTP_PORT={port_text!r} is not a port number")
    sender = os.environ.get("AIDFLOW_SMTP_FROM")
    if not sender:
        raise InvalidInputError(
            "AIDFLOW_SMTP_FROM is not set",
            hint="set it to the sender address, e.g. aidflow@county.example",
        )
    return SMTPMailer(
        host,
        int(port_text),
        security=security,  # type: ignore[arg-type]
        username=os.environ.get("AIDFLOW_SMTP_USER") or None,
        password=os.environ.get("AIDFLOW_SMTP_PASSWORD") or None,
        sender=sender,
    )


def message_domain() -> str:
    sender = os.environ.get("AIDFLOW_SMTP_FROM") or ""
    domain = sender.rpartition("@")[2].strip(" >")
    return domain if domain and domain.isascii() else "aidflow.local"


@click.group("scheduler")
def scheduler_group() -> None:
    """Run the periodic jobs: deadline sweep, timed transitions, escalations, email delivery."""


@scheduler_group.command("tick")
@pass_app
def scheduler_tick(app: App) -> None:
    """Run every job once as of now (or --now) and exit: for cron and tests.

    Email goes out over SMTP when AIDFLOW_SMTP_HOST is set; otherwise it stays queued.
    """
    for line in run_round_for(app):
        click.echo(line)


def _payment_day() -> int | None:
    """AIDFLOW_PAYMENT_DAY=N: on/after day N of a month the round runs the month's payments once."""
    from aidflow.errors import InvalidInputError

    day_text = os.environ.get("AIDFLOW_PAYMENT_DAY")
    if not day_text:
        return None
    if not day_text.isdigit() or not 1 <= int(day_text) <= 28:
        raise InvalidInputError(f"AIDFLOW_PAYMENT_DAY={day_text!r} is not a day from 1 to 28")
    return int(day_text)


def run_round_for(app: App) -> list[str]:
    """One scheduler round with the inputs the App and the environment describe.

    The one place the CLI builds a round's inputs; the round itself is
    aidflow.scheduler.rounds.run_round.
    """
    from aidflow.cli.payments import load_county_policy
    from aidflow.cli.visits import load_policy
    from aidflow.scheduler.rounds import run_round
    from aidflow.store.database import Database

    payment_day = _payment_day()
    mailer = mailer_from_env()
    database = Database(app.engine.url.render_as_string(hide_password=False))
    try:
        return run_round(
            database,
            app.clock,
            app.calendar,
            lang=app.lang,
            domain=message_domain(),
            care_policy=load_policy,
            county_policy=load_county_policy,
            payment_day=payment_day,
            mailer=mailer,
        )
    finally:
        database.dispose()


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
            "--now cannot be used with `scheduler run`",
            hint="use `aidflow --now TIME scheduler tick` to run the jobs as of a time",
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
    return f"{days}d {rem // 3600}h" if days else f"{rem // 3600}h {rem % 3600 // 60}m"


@escalation_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def escalation_list(app: App, as_json: bool) -> None:
    """Open (unacknowledged) escalations in your area, by township and age."""
    from aidflow.services.escalations import open_escalations

    now = app.clock.now()
    with app.reading() as svc:
        actor = svc.actor(app.user)
        rows: list[dict[str, Any]] = [
            {
                "id": e.id,
                "case_id": c.id,
                "township": c.township,
                "village": c.village,
                "state": e.state,
                "ladder": e.ladder,
                "rung": e.rung,
                "repeat": e.repeat_no,
                "role": e.role,
                "recipient": e.recipient,
                "template": e.template,
                "fired_at": e.fired_at.isoformat(),
                "age": _age(now - e.fired_at),
            }
            for e, c in open_escalations(svc.session, actor)
        ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no open escalations")
    for r in rows:
        click.echo(
            f"{r['id']:>6} {r['township']}/{r['village']}  case {r['case_id']:<6} {r['state']:<18} "
            f"{r['role']} -> {r['recipient']:<10} {r['template']:<18} {r['age']} ago"
        )


@escalation_group.command("ack")
@click.argument("escalation_id", type=ROW_ID)
@click.option("--note", "-n", help="What you did about it.")
@pass_app
def escalation_ack(app: App, escalation_id: int, note: str | None) -> None:
    """Acknowledge an escalation (stops the repeats of its rung where the ladder says so)."""
    from aidflow.services.escalations import acknowledge

    with app.transaction() as svc:
        esc = acknowledge(svc.session, app.clock, svc.actor(app.user), escalation_id, note)
        click.echo(
            f"escalation {esc.id} on case {esc.case_id} acknowledged by {esc.acknowledged_by}"
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
    from aidflow.store.outbox import newest

    with app.reading() as svc:
        svc.require_admin(app.user)
        rows = [
            {
                "id": m.id,
                "escalation_id": m.escalation_id,
                "to": m.to_addr,
                "subject": m.subject,
                "template": m.template,
                "status": m.status,
                "attempts": m.attempts,
                "created_at": m.created_at.isoformat(),
                "next_attempt_at": m.next_attempt_at.isoformat(),
                "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                "last_error": m.last_error,
            }
            for m in newest(svc.session, status, limit)
        ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("the outbox is empty")
    for r in rows:
        extra = f"  ({r['last_error']})" if r["last_error"] and r["status"] != "sent" else ""
        # an escalation email is rendered when first sent: until then it has no subject
        subject = (
            r["subject"] if r["subject"] is not None else f"({r['template']}, not rendered yet)"
        )
        click.echo(f"{r['id']:>6} {r['status']:<7} x{r['attempts']} {r['to']:<28} {subject}{extra}")


@outbox_group.command("retry")
@click.argument("outbox_id", type=ROW_ID)
@pass_app
def outbox_retry(app: App, outbox_id: int) -> None:
    """Queue a failed email again (the next `scheduler tick` sends it)."""
    from aidflow.services.delivery import retry_outbox

    with app.transaction() as svc:
        svc.require_admin(app.user)
        row = retry_outbox(svc.session, app.clock, outbox_id)
        click.echo(f"outbox message {row.id} to {row.to_addr} is pending again")
