"""The daily digest: one email per supervisor per local day, listing the open cases in their area.

`send_digests` is a scheduler job. For each user holding a supervisor role it lists the
open cases with a deadline in the user's area, overdue first (template `daily_digest`), and
queues one outbox row, only when there is something to report. The row's Message-ID is
derived from the user and the local date (a row whose id starts so is looked for first), and
`outbox.message_id` is unique, so the digest goes out once per supervisor per day however often
(and in how many processes) the job runs.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidflow.clock import Clock
from aidflow.idnumber import mask
from aidflow.language.calendar import WorkCalendar
from aidflow.services.visits import insert_ignore
from aidflow.store import queries as store
from aidflow.store.models import Case, OutboxMessage, Person, User

if TYPE_CHECKING:
    from aidflow.notify.render import Templates

SUPERVISOR_ROLES = ("township_supervisor", "county_supervisor")
LIMIT = 200  # cases per list in one email; `aidflow case list --overdue` shows them all


def _token(user: str, day: date) -> str:
    return f"digest.{day:%Y%m%d}.{hashlib.sha256(user.encode()).hexdigest()[:16]}"


def digest_message_id(user: str, day: date, domain: str) -> str:
    """The same id for the same user and day: the outbox's unique key makes the digest once a day."""
    from aidflow.notify.render import make_message_id

    return make_message_id(_token(user, day), domain)


def send_digests(
    session: Session,
    clock: Clock,
    calendar: WorkCalendar,
    *,
    lang: str = "en",
    domain: str = "aidflow.local",
    templates: Templates | None = None,
) -> int:
    """Queue today's digest for every supervisor who has something to report; the number queued."""
    now = clock.now()
    day = now.astimezone(calendar.tz).date()
    queued = 0
    supervisors = [
        u
        for u in session.scalars(select(User).order_by(User.name))
        if set(u.roles) & set(SUPERVISOR_ROLES)
    ]
    for user in supervisors:
        message_id = digest_message_id(user.name, day, domain)
        # the sender's domain may change between runs (AIDFLOW_SMTP_FROM); the day's digest may not
        sent = select(OutboxMessage.id).where(
            OutboxMessage.message_id.like(f"<{_token(user.name, day)}@%")
        )
        if session.scalar(sent.limit(1)) is not None:
            continue
        overdue = _cases(session, user, now, lang, overdue=True)
        open_ = _cases(session, user, now, lang, overdue=False)
        if not overdue and not open_:
            continue
        if _queue(session, user, day, overdue, open_, message_id, now, lang, templates):
            queued += 1
    return queued


def _cases(
    session: Session, user: User, now: datetime, lang: str, *, overdue: bool
) -> list[dict[str, Any]]:
    stmt = (
        select(
            Case.id,
            Case.workflow_version_id,
            Case.state,
            Case.assigned_to,
            Case.deadline_at,
            Person.name,
            Person.id_number,
        )
        .join(Person, Person.id == Case.person_id)
        .where(Case.closed_at.is_(None), Case.deadline_at.is_not(None))
        .order_by(Case.deadline_at, Case.id)
        .limit(LIMIT)
    )
    stmt = stmt.where(Case.deadline_at <= now) if overdue else stmt.where(Case.deadline_at > now)
    if user.area != "*":
        town, _, vill = user.area.partition("/")
        stmt = stmt.where(Case.township == town)
        if vill:
            stmt = stmt.where(Case.village == vill)
    out = []
    for cid, vid, state, assigned, due, name, id_number in session.execute(stmt):
        wf = store.workflow_by_id(session, vid)
        item: dict[str, Any] = {
            "case_id": cid,
            "person_name": name,
            "person_id_masked": mask(id_number),
            "caseworker": assigned or "-",
            "step": wf.states[state].labels.get(lang),
            "due_at": due,
        }
        assert due is not None  # selected by deadline_at IS NOT NULL
        if overdue:
            item["overdue"] = now - due
        else:
            item["due_in"] = due - now
        out.append(item)
    return out


def _queue(
    session: Session,
    user: User,
    day: date,
    overdue: list[dict[str, Any]],
    open_: list[dict[str, Any]],
    message_id: str,
    now: datetime,
    lang: str,
    templates: Templates | None,
) -> bool:
    from aidflow.notify import render as notify

    templates = templates or notify.Templates.shipped()
    area = (
        "全县"
        if user.area == "*" and lang == "zh"
        else ("the county" if user.area == "*" else user.area)
    )
    msg = notify.render(
        "daily_digest",
        lang,
        {
            "recipient_name": user.name,
            "recipient_user": user.name,
            "area": area,
            "day": day,
            "overdue_cases": overdue,
            "open_cases": open_,
        },
        to=[user.email],
        message_id=message_id,
        directory=templates.directory,
        tz=templates.tz,
    )
    return (
        insert_ignore(
            session,
            OutboxMessage.__table__,
            {
                "escalation_id": None,
                "to_addr": user.email,
                "subject": msg.subject,
                "text": msg.text,
                "html": msg.html,
                "message_id": message_id,
                "created_at": now,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            },
        )
        is not None
    )
