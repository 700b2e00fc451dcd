"""The outbox: the one writer of outbox rows, and the claims and marks of their delivery.

An email is an outbox row written in the transaction of the event that causes it, then
sent by delivery (services.delivery). Every producer queues through `queue`: rows whose
Message-ID (the table's natural key) exists already are skipped, so a job that queues the
same message twice (the daily digest, two scheduler processes at once) writes it once.
Escalation emails are queued unrendered (`template`, `lang`) and rendered at their first
delivery attempt; other producers queue the rendered text.

Delivery claims one due row at a time (`claim_next`: `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so two schedulers never hold the same row; SQLite serialises writers) and
marks it with one UPDATE (`mark_sent`, `mark_retry`, `mark_failed`), which also stores
the text rendered at that attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from aidflow.store.models import OutboxMessage
from aidflow.store.once import insert_rows_once

OUTBOX = cast(Table, OutboxMessage.__table__)
PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True)
class NewMessage:
    """A message to queue: rendered (subject, text, html) or not yet (template, lang)."""

    to_addr: str
    message_id: str
    escalation_id: int | None = None
    template: str | None = None
    lang: str | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One outbox row as the layers above see it."""

    id: int
    escalation_id: int | None
    to_addr: str
    template: str | None
    lang: str | None
    subject: str | None
    text: str | None
    html: str | None
    message_id: str
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class Rendered:
    """The text rendered at a delivery attempt, stored on the row with the attempt's mark."""

    subject: str
    text: str
    html: str


# ORM attributes, so a read flushes what the session holds unwritten (autoflush)
_COLUMNS = tuple(getattr(OutboxMessage, f.name) for f in fields(OutboxRecord))


def _record(row: Any) -> OutboxRecord:
    return OutboxRecord(*row)


def queue(session: Session, messages: Sequence[NewMessage], now: datetime) -> list[int]:
    """Queue `messages`, due now, skipping any whose Message-ID is queued already; the new ids."""
    rows = [
        {
            "escalation_id": m.escalation_id,
            "to_addr": m.to_addr,
            "template": m.template,
            "lang": m.lang,
            "subject": m.subject,
            "text": m.text,
            "html": m.html,
            "message_id": m.message_id,
            "created_at": now,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for m in messages
    ]
    return [r[0] for r in insert_rows_once(session, OUTBOX, rows)]


def has_message_id_prefix(session: Session, prefix: str) -> bool:
    """Whether a row's Message-ID starts with `prefix` (a message made once a day, say)."""
    stmt = select(OutboxMessage.id).where(OutboxMessage.message_id.like(f"{prefix}%")).limit(1)
    return session.execute(stmt).first() is not None


def claim_next(session: Session, now: datetime) -> OutboxRecord | None:
    """Lock and return the next due pending row (oldest due first), or None if none is due.

    The lock (PostgreSQL) lasts until the caller's transaction ends, which is where the
    row's mark is committed.
    """
    stmt = (
        select(*_COLUMNS)
        .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    row = session.execute(stmt).first()
    return None if row is None else _record(row)


def _mark(session: Session, outbox_id: int, rendered: Rendered | None, **values: Any) -> None:
    """One UPDATE of one row (on the table: no ORM bookkeeping per delivered message)."""
    if rendered is not None:
        values.update(subject=rendered.subject, text=rendered.text, html=rendered.html)
    session.connection().execute(update(OUTBOX).where(OUTBOX.c.id == outbox_id).values(**values))


def mark_sent(
    session: Session, row: OutboxRecord, now: datetime, rendered: Rendered | None = None
) -> None:
    """The attempt succeeded: the row is sent and stays as the record of what was sent."""
    _mark(
        session,
        row.id,
        rendered,
        attempts=row.attempts + 1,
        status=SENT,
        sent_at=now,
        last_error=None,
    )


def mark_retry(
    session: Session,
    row: OutboxRecord,
    error: str,
    next_attempt_at: datetime,
    rendered: Rendered | None = None,
) -> None:
    """The attempt failed for now: the row stays pending until `next_attempt_at`."""
    _mark(
        session,
        row.id,
        rendered,
        attempts=row.attempts + 1,
        last_error=error,
        next_attempt_at=next_attempt_at,
    )


def mark_failed(
    session: Session, row: OutboxRecord, error: str, rendered: Rendered | None = None
) -> None:
    """The row will not be sent (a permanent refusal, the last attempt, or nothing to send)."""
    _mark(session, row.id, rendered, attempts=row.attempts + 1, status=FAILED, last_error=error)


def get(session: Session, outbox_id: int) -> OutboxRecord | None:
    row = session.execute(select(*_COLUMNS).where(OutboxMessage.id == outbox_id)).first()
    return None if row is None else _record(row)


def requeue(session: Session, outbox_id: int, now: datetime) -> OutboxRecord:
    """Put a row back in the queue, due `now`, with a fresh attempt count."""
    _mark(session, outbox_id, None, status=PENDING, attempts=0, next_attempt_at=now)
    found = get(session, outbox_id)
    assert found is not None
    return found


def count_pending(session: Session) -> int:
    stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == PENDING)
    return int(session.execute(stmt).scalar() or 0)


def newest(session: Session, status: str | None, limit: int) -> list[OutboxRecord]:
    """Rows newest first, optionally of one status (`aidflow outbox list`)."""
    stmt = select(*_COLUMNS).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    return [_record(r) for r in session.execute(stmt)]
