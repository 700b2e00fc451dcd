"""`aidflow scheduler|escalation|outbox ...`: run the jobs once, answer escalations, watch the outbox."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from aidflow.cli.app import ROW_ID, App, emit_json, pass_app

if TYPE_CHECKING:
    from aidflow.notify.mailer import SMTPMailer

_DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}


def mailer_from_env() -> SMTPMailer | None:
    """The SMTP mailer the AIDFLOW_SMTP_* variables describe, or None without AIDFLOW_SMTP_HOST."""
    from aidflow.errors import InvalidInputError
    from aidflow.notify.mailer import SMTPMailer

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
    for line in run_jobs(app):
        click.echo(line)


def run_jobs(app: App) -> list[str]:
    """One round of every job, each in its own transaction; returns what happened."""
    from sqlalchemy import func, select

    from aidflow import failpoints
    from aidflow.services import escalations as jobs
    from aidflow.store.models import OutboxMessage

    lines = []
    with app.transaction() as svc:
        result = jobs.sweep(
            svc.session, app.clock, app.calendar, lang=app.lang, domain=message_domain()
        )
    failpoints.reach("sweep.commit")
    lines.append(
        f"sweep: {result.timeouts} timed transition(s), {result.escalations} escalation(s)"
    )
    from aidflow.cli.visits import care_jobs

    lines.extend(care_jobs(app, message_domain()))
    from aidflow.cli.payments import scheduled_run

    lines.extend(scheduled_run(app))  # with AIDFLOW_PAYMENT_DAY: the month's payment run, once
    mailer = mailer_from_env()
    if mailer is None:
        with app.reading() as svc:
            pending = (
                svc.session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == "pending")
                )
                or 0
            )
        lines.append(
            f"delivery skipped: AIDFLOW_SMTP_HOST is not set; {pending} message(s) stay pending"
        )
        return lines
    with app.session() as session:  # one short transaction per message (exactly-once; see jobs)
        sent, failed = jobs.deliver_outbox(session, app.clock, mailer)
    with app.reading() as svc:
        pending = (
            svc.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")
            )
            or 0
        )
    lines.append(f"delivery: {sent} sent, {failed} failed, {pending} pending")
    return lines


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
        try:
            lines = run_jobs(app)
        except Exception as exc:  # a dropped database connection is the environment's, not a bug
            from aidflow.cli.root import _translate  # found by tests/test_pg_restart.py

            translated = _translate(exc, app)
            if translated is None:
                raise
            raise translated from exc
        for line in lines:
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
    from aidflow.services import escalations as jobs

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
            for e, c in jobs.open_escalations(svc.session, actor)
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
    from aidflow.services import escalations as jobs

    with app.transaction() as svc:
        esc = jobs.acknowledge(svc.session, app.clock, svc.actor(app.user), escalation_id, note)
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
    from sqlalchemy import select

    from aidflow.store.models import OutboxMessage

    with app.reading() as svc:
        svc.require_admin(app.user)
        stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(OutboxMessage.status == status)
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
            for m in svc.session.scalars(stmt)
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
    from aidflow.services import escalations as jobs

    with app.transaction() as svc:
        svc.require_admin(app.user)
        row = jobs.retry_outbox(svc.session, app.clock, outbox_id)
        click.echo(f"outbox message {row.id} to {row.to_addr} is pending again")
