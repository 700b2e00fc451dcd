"""What a database's cases did over a span of time, and where they stand: the figures a
"what if" run compares between two copies (aidflow.scheduler.simulation)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from aidflow.store.models import Escalation, OutboxMessage, VisitAlert, WorkflowVersion
from aidflow.store.tables import CASES, EVENTS

SYSTEM = "system"  # the actor of transitions the scheduler fires (services.escalations)


@dataclass(frozen=True)
class Standing:
    """Where one case stands: its state, the version it runs on and its deadline."""

    state: str
    version: int
    deadline_at: datetime | None
    final: bool


@dataclass
class Activity:
    """What happened to a workflow's cases from `since` on: rungs fired by (state, ladder,
    rung, role), transitions fired by the scheduler by (from, trigger, to), care-visit
    alerts by kind, and emails queued (for any reason: escalations, alerts, digests)."""

    escalations: Counter[tuple[str, str, int, str]] = field(default_factory=Counter)
    timed: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    visit_alerts: Counter[str] = field(default_factory=Counter)
    emails: int = 0


def standings(session: Session, workflow: str) -> dict[int, Standing]:
    """Every case of `workflow` by id."""
    q = (
        select(
            CASES.c.id,
            CASES.c.state,
            WorkflowVersion.version,
            CASES.c.deadline_at,
            CASES.c.closed_at,
        )
        .join(WorkflowVersion, WorkflowVersion.id == CASES.c.workflow_version_id)
        .where(CASES.c.workflow_name == workflow)
    )
    return {
        cid: Standing(state, version, deadline, closed is not None)
        for cid, state, version, deadline, closed in session.execute(q)
    }


def activity(session: Session, workflow: str, since: datetime) -> Activity:
    """What the scheduler did to `workflow`'s cases after `since` (see Activity)."""
    out = Activity()
    of_workflow = CASES.c.workflow_name == workflow
    for state, ladder, rung, role, n in session.execute(
        select(
            Escalation.state,
            Escalation.ladder,
            Escalation.rung,
            Escalation.role,
            func.count(),
        )
        .join(CASES, CASES.c.id == Escalation.case_id)
        .where(of_workflow, Escalation.fired_at > since)
        .group_by(Escalation.state, Escalation.ladder, Escalation.rung, Escalation.role)
    ):
        out.escalations[(state, ladder, rung, role)] = n
    for source, trigger, dest, n in session.execute(
        select(EVENTS.c.from_state, EVENTS.c.trigger, EVENTS.c.to_state, func.count())
        .join(CASES, CASES.c.id == EVENTS.c.case_id)
        .where(
            of_workflow,
            and_(EVENTS.c.actor == SYSTEM, EVENTS.c.kind == "transition", EVENTS.c.at > since),
        )
        .group_by(EVENTS.c.from_state, EVENTS.c.trigger, EVENTS.c.to_state)
    ):
        out.timed[(source or "", trigger or "", dest or "")] = n
    for kind, n in session.execute(
        select(VisitAlert.kind, func.count())
        .join(CASES, CASES.c.id == VisitAlert.case_id)
        .where(of_workflow, VisitAlert.created_at > since)
        .group_by(VisitAlert.kind)
    ):
        out.visit_alerts[kind] = n
    out.emails = (
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.created_at > since)
        )
        or 0
    )
    return out
