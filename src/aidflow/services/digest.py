"""The daily digest: one email per supervisor per local day, listing the open cases in their area.

`send_digests` is a scheduler job. For each user holding a supervisor role it lists the
open cases with a deadline in the user's area, overdue first (template `daily_digest`), and
queues one outbox row, only when there is something to report. The row's Message-ID is
derived from the user and the local date (a row whose id starts so is looked for first), and
the outbox writes a Message-ID once (store.outbox.queue), so the digest goes out once per
supervisor per day however often (and in how many processes) the job runs.

`send_checkpoints`, run with the digest, signs a checkpoint of the audit log once per
local day (when a signing key is configured) and mails its file's text to every user with
the `auditor` role (template `audit_checkpoint`), so copies live in mailboxes the
database's writers cannot reach; with a checkpoint directory configured it is written
there too. Its Message-IDs are per auditor and day, like the digest's.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidflow.clock import Clock
from aidflow.engine.access import Area
from aidflow.engine.deadlines import counts_working_days, describe
from aidflow.idnumber import mask, mask_in_text
from aidflow.language.calendar import WorkCalendar
from aidflow.notify.messageid import make_message_id
from aidflow.notify.templates import AUDIT_CHECKPOINT, DAILY_DIGEST
from aidflow.services import auditlog
from aidflow.store import digest as rows
from aidflow.store import outbox
from aidflow.store import workflows as workflow_store
from aidflow.store.escalations import users
from aidflow.store.records import UserRecord
from aidflow.store.session import Session

if TYPE_CHECKING:
    from aidflow.notify.render import Templates

SUPERVISOR_ROLES = ("township_supervisor", "county_supervisor")
AUDITOR_ROLE = "auditor"
LIMIT = 200  # cases per list in one email; `aidflow case list --overdue` shows them all


def _token(user: str, day: date, what: str = "digest") -> str:
    return f"{what}.{day:%Y%m%d}.{hashlib.sha256(user.encode()).hexdigest()[:16]}"


def digest_message_id(user: str, day: date, domain: str) -> str:
    """The same id for the same user and day, so the outbox writes the day's digest once."""
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
    supervisors = [u for u in users(session) if set(u.roles) & set(SUPERVISOR_ROLES)]
    for user in supervisors:
        message_id = digest_message_id(user.name, day, domain)
        # the sender's domain may change between runs (AIDFLOW_SMTP_FROM); the day's digest may not
        if outbox.has_message_id_prefix(session, f"<{_token(user.name, day)}@"):
            continue
        overdue = _cases(session, user, now, calendar, lang, overdue=True)
        open_ = _cases(session, user, now, calendar, lang, overdue=False)
        if not overdue and not open_:
            continue
        if _queue(session, user, day, overdue, open_, message_id, now, lang, templates):
            queued += 1
    return queued


def _cases(
    session: Session,
    user: UserRecord,
    now: datetime,
    calendar: WorkCalendar,
    lang: str,
    *,
    overdue: bool,
) -> list[dict[str, Any]]:
    out = []
    for c in rows.with_deadline(session, Area.parse(user.area), now, overdue=overdue, limit=LIMIT):
        wf = workflow_store.definition(session, c.workflow_version_id)
        item: dict[str, Any] = {
            "case_id": c.case_id,
            "person_name": mask_in_text(c.person_name),
            "person_id_masked": mask(c.person_id_number),
            "caseworker": c.assigned_to or "-",
            "step": wf.states[c.state].labels.get(lang),
        }
        # the deadline as people count it (engine.deadlines): its last day, working days left
        wd = counts_working_days(wf, c.state, c.deadline_at, calendar.tz)
        item["due_at"] = due = describe(c.deadline_at, now, calendar, working_days=wd)
        item["overdue" if overdue else "due_in"] = due
        out.append(item)
    return out


def _queue(
    session: Session,
    user: UserRecord,
    day: date,
    overdue: list[dict[str, Any]],
    open_: list[dict[str, Any]],
    message_id: str,
    now: datetime,
    lang: str,
    templates: Templates | None,
) -> bool:
    from aidflow.notify.render import Templates, render

    templates = templates or Templates.shipped()
    county = Area.parse(user.area).is_county
    area = ("全县" if lang == "zh" else "the county") if county else user.area
    msg = render(
        DAILY_DIGEST,
        lang,
        {
            "recipient_name": user.greeting_name,
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
    queued = outbox.queue(
        session,
        [
            outbox.NewMessage(
                to_addr=user.email,
                message_id=message_id,
                subject=msg.subject,
                text=msg.text,
                html=msg.html,
            )
        ],
        now,
    )
    return bool(queued)


def send_checkpoints(
    session: Session,
    clock: Clock,
    calendar: WorkCalendar,
    *,
    key_file: Path | None,
    directory: Path | None,
    lang: str = "en",
    domain: str = "aidflow.local",
    templates: Templates | None = None,
) -> int:
    """Sign today's checkpoint and queue it to every auditor who has not had today's; the
    number queued (0 without a signing key or an auditor waiting)."""
    from aidflow.notify.render import Templates, render

    if key_file is None:
        return 0
    now = clock.now()
    day = now.astimezone(calendar.tz).date()
    waiting = [
        u
        for u in users(session)
        if AUDITOR_ROLE in u.roles
        and not outbox.has_message_id_prefix(session, f"<{_token(u.name, day, 'checkpoint')}@")
    ]
    if not waiting:
        return 0
    checkpoint = auditlog.sign_checkpoint(session, key_file, now)
    if directory is not None:
        auditlog.write_checkpoint(checkpoint, directory)
    templates = templates or Templates.shipped()
    messages = []
    for user in waiting:
        message_id = make_message_id(_token(user.name, day, "checkpoint"), domain)
        msg = render(
            AUDIT_CHECKPOINT,
            lang,
            {
                "recipient_name": user.greeting_name,
                "recipient_user": user.name,
                "day": day,
                "checkpoint": checkpoint,
            },
            to=[user.email],
            message_id=message_id,
            directory=templates.directory,
            tz=templates.tz,
        )
        messages.append(
            outbox.NewMessage(
                to_addr=user.email,
                message_id=message_id,
                subject=msg.subject,
                text=msg.text,
                html=msg.html,
            )
        )
    return len(outbox.queue(session, messages, now))
