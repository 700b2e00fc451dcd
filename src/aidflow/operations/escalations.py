"""Escalation and outbox operations (`aidflow escalation ...`, `aidflow outbox ...`).

The scheduler's own commands (`scheduler tick`, `scheduler run`) are not operations: they
are the operator's, run beside the database.
"""

from __future__ import annotations

from typing import Any

from aidflow.i18n import _
from aidflow.operations import Caller, operation
from aidflow.services.cases import Service


@operation("escalation.list", write=False)
def list_open(svc: Service, caller: Caller) -> list[dict[str, Any]]:
    """Open (unacknowledged) escalations in the caller's area; `age_seconds` as of now."""
    from aidflow.language.definition import Workflow
    from aidflow.services.escalations import listing_labels, open_escalations

    now = svc.clock.now()
    actor = svc.actor(caller.user)
    definitions: dict[int, Workflow] = {}
    return [
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
            "meant_for": e.meant_for,
            "rerouted": e.rerouted,
            "recipient": e.recipient,
            "template": e.template,
            "fired_at": e.fired_at.isoformat(),
            "age_seconds": int((now - e.fired_at).total_seconds()),
            **listing_labels(svc.session, e, c, caller.lang, definitions),
        }
        for e, c in open_escalations(svc.session, actor)
    ]


@operation("escalation.ack", write=True)
def ack(
    svc: Service, caller: Caller, escalation_id: int, note: str | None = None
) -> dict[str, Any]:
    """Acknowledge an escalation (stops the repeats of its rung where the ladder says so)."""
    from aidflow.services.escalations import acknowledge

    esc = acknowledge(svc.session, svc.clock, svc.actor(caller.user), escalation_id, note)
    return {"id": esc.id, "case_id": esc.case_id, "acknowledged_by": esc.acknowledged_by}


@operation("outbox.list", write=False)
def outbox_list(
    svc: Service, caller: Caller, status: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Emails in the outbox, newest first (administrators)."""
    from aidflow.errors import InvalidInputError
    from aidflow.store.outbox import newest

    if status not in (None, "pending", "sent", "failed"):
        raise InvalidInputError(
            _("outbox status {status!r} is not pending, sent or failed", status=status)
        )
    if not 1 <= limit <= 100_000:
        raise InvalidInputError(_("limit {limit} is not between 1 and 100000", limit=limit))
    svc.require_admin(caller.user)
    return [
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


@operation("outbox.retry", write=True)
def outbox_retry(svc: Service, caller: Caller, outbox_id: int) -> dict[str, Any]:
    """Queue a failed email again (the next scheduler round sends it; administrators)."""
    from aidflow.services.delivery import retry_outbox

    svc.require_admin(caller.user)
    row = retry_outbox(svc.session, svc.clock, outbox_id)
    return {"id": row.id, "to": row.to_addr}
