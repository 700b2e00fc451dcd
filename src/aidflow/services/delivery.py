"""Outbox delivery: send each due message once, render queued ones at their first attempt.

Exactly once, as far as SMTP allows: each row is claimed, sent and marked in one short
transaction of its own, committed before the next row is touched, so a message the
server accepted is never sent again because a later one failed or the process died
later. The claim locks the row (store.outbox.claim_next), so two scheduler processes
never hold the same one.

What remains: the server accepts a message and the process dies (or the database goes
away) before the "sent" mark commits. The row is then still pending and is sent once
more, with the same Message-ID header, so the recipient's mail system can drop the
duplicate. That is at most one duplicate per crash, never a lost message.

The sweep queues escalation emails unrendered; the first attempt renders one (as of the
sweep that fired it) and stores the text on the row, so Jinja's cost is paid by delivery,
not by the sweep, what was sent stays recorded, and a retry sends the same text.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aidflow import failpoints
from aidflow.clock import Clock
from aidflow.errors import AidflowError, InvalidInputError, NotFoundError, RefusedError
from aidflow.i18n import _, pgettext
from aidflow.language.calendar import WorkCalendar
from aidflow.notify.mailer import DeliveryError, Mailer, Message
from aidflow.notify.templates import ESCALATION_SUMMARY
from aidflow.services.escalations import email_context, summary_context
from aidflow.store import escalations as escalation_rows
from aidflow.store import outbox
from aidflow.store import workflows as workflow_store
from aidflow.store.outbox import OutboxRecord, Rendered
from aidflow.store.session import Session

if TYPE_CHECKING:
    from aidflow.notify.render import Templates

MAX_BACKOFF = timedelta(hours=1)


def outbox_status_word(status: str) -> str:
    """An outbox row's status in the reader's words (a payment's statuses are other words)."""
    words = {
        "pending": pgettext("outbox", "pending"),
        "sent": pgettext("outbox", "sent"),
        "failed": pgettext("outbox", "failed"),
    }
    return words.get(status, status)


"""An outbox row's status as a person reads it (`_()` it where shown)."""


def backoff(attempts: int) -> timedelta:
    """1 min after the first failure, then 2, 4, ... capped at one hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def render_queued(
    session: Session,
    row: OutboxRecord,
    templates: Templates | None = None,
    calendar: WorkCalendar | None = None,
) -> Message:
    """Render an outbox row the sweep queued unrendered (`row.text` is None), with
    `templates` (default: the shipped ones, times in Asia/Shanghai) and the county's
    `calendar` (default: the national one in the templates' zone) for working days left."""
    from aidflow.notify.render import Templates, render

    templates = templates or Templates.shipped()
    calendar = calendar or WorkCalendar(str(templates.tz))

    if row.escalation_id is None or row.template is None or row.lang is None:
        raise InvalidInputError(
            _(
                "outbox message {id} has neither a rendered text nor an escalation "
                "and template to render it from",
                id=row.id,
            )
        )
    found = escalation_rows.render_source(session, row.escalation_id)
    if found is None:
        raise NotFoundError(
            _(
                "outbox message {id}: escalation {escalation} or its recipient no longer exists",
                id=row.id,
                escalation=row.escalation_id,
            )
        )
    if row.template == ESCALATION_SUMMARY:  # several escalations of one sweep, one email
        context = summary_context(session, found.escalation, found.recipient, row.lang, calendar)
    else:
        context = email_context(
            session,
            found.escalation,
            found.case,
            workflow_store.definition(session, found.case.workflow_version_id),
            found.recipient,
            row.lang,
            found.person_name,
            found.person_id_number,
            calendar,
            templates.public_url,
        )
    return render(
        row.template,
        row.lang,
        context,
        to=[row.to_addr],
        message_id=row.message_id,
        directory=templates.directory,
        tz=templates.tz,
    )


def deliver_outbox(
    session: Session,
    clock: Clock,
    mailer: Mailer,
    max_attempts: int = 8,
    limit: int = 1000,
    templates: Templates | None = None,
    calendar: WorkCalendar | None = None,
) -> tuple[int, int]:
    """Send the pending outbox rows that are due, one at a time; (sent, failed now).

    Given a Session with no transaction open (the scheduler), this function owns the
    per-message transactions; given one inside a transaction (tests, scripts), the marks
    commit with the caller's transaction.

    A temporary DeliveryError schedules a retry with backoff; a permanent one, or the last
    allowed attempt, marks the row failed.
    """
    own = not session.in_transaction()
    now = clock.now()
    sent = failed = 0
    for _turn in range(limit):
        # one message: claimed, sent and marked in its own transaction
        with session.begin() if own else nullcontext():
            outcome = deliver_next(session, now, mailer, max_attempts, templates, calendar)
        if outcome is None:
            break
        failpoints.reach("delivery.message")  # its mark committed
        sent += outcome == "sent"
        failed += outcome == "failed"
    return sent, failed


def deliver_next(
    session: Session,
    now: datetime,
    mailer: Mailer,
    max_attempts: int,
    templates: Templates | None = None,
    calendar: WorkCalendar | None = None,
) -> str | None:
    """Claim the next due row, send it and mark it; 'sent', 'failed', 'retry' or None (none due)."""
    row = outbox.claim_next(session, now)
    if row is None:
        return None
    rendered: Rendered | None = None  # what this attempt renders, stored with its mark
    if row.text is None:
        try:
            msg = render_queued(session, row, templates, calendar)
        except AidflowError as exc:  # a template or data problem no retry fixes by itself
            outbox.mark_failed(session, row, _("cannot render: {error}", error=exc.message))
            return "failed"
        rendered = content = Rendered(msg.subject, msg.text, msg.html)
    else:
        assert row.subject is not None and row.html is not None
        content = Rendered(row.subject, row.text, row.html)
    try:
        mailer.send(
            Message(
                to=(row.to_addr,),
                subject=content.subject,
                text=content.text,
                html=content.html,
                headers={"Message-ID": row.message_id},
            )
        )
    except DeliveryError as exc:
        if exc.permanent or row.attempts + 1 >= max_attempts:
            outbox.mark_failed(session, row, str(exc), rendered)
            return "failed"
        outbox.mark_retry(session, row, str(exc), now + backoff(row.attempts + 1), rendered)
        return "retry"
    failpoints.reach("delivery.sent")  # accepted by the server, not yet marked sent
    outbox.mark_sent(session, row, now, rendered)
    return "sent"


def retry_outbox(session: Session, clock: Clock, outbox_id: int) -> OutboxRecord:
    """Put a failed row back in the queue, due now, with a fresh attempt count."""
    row = outbox.get(session, outbox_id)
    if row is None:
        raise NotFoundError(
            _("no outbox message {id}", id=outbox_id), hint=_("`aidflow outbox list` shows them")
        )
    if row.status != outbox.FAILED:
        raise RefusedError(
            _(
                "outbox message {id} is {status}; only failed messages are retried",
                id=outbox_id,
                status=outbox_status_word(row.status),
            )
        )
    return outbox.requeue(session, outbox_id, clock.now())
