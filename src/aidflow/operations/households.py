"""Household operations: register, add members, record incomes, show (`aidflow household ...`)."""

from __future__ import annotations

from typing import Any

from aidflow.operations import Caller, operation
from aidflow.services.cases import Service


def _yuan(fen: int | None) -> str | None:
    from aidflow.services.payments import yuan

    return None if fen is None else yuan(fen)


@operation("household.add", write=True)
def add(svc: Service, caller: Caller, head_id_number: str) -> dict[str, Any]:
    """Register a household headed by a registered person (in the head's township/village)."""
    from aidflow.idnumber import mask
    from aidflow.services import households

    h, head = households.add_household(
        svc.session, svc.actor(caller.user), svc.clock.now(), svc.local_today(), head_id_number
    )
    return {
        "id": h.id,
        "township": h.township,
        "village": h.village,
        "head": head.name,
        "head_id_number_masked": mask(head.id_number),
    }


@operation("household.member", write=True)
def member(
    svc: Service,
    caller: Caller,
    household_id: int,
    id_number: str,
    relationship: str,
    lives_together: bool = True,
) -> dict[str, Any]:
    """Add a registered person to a household with their relationship to the head."""
    from aidflow.idnumber import mask
    from aidflow.policy.households import relationship_label
    from aidflow.services import households

    person = households.add_member(
        svc.session,
        svc.actor(caller.user),
        svc.clock.now(),
        svc.local_today(),
        household_id,
        id_number,
        relationship,
        lives_together,
    )
    return {
        "household_id": household_id,
        "name": person.name,
        "id_number_masked": mask(person.id_number),
        "relationship": relationship_label(relationship, caller.lang),
        "lives_together": lives_together,
    }


@operation("household.income", write=True)
def income(
    svc: Service, caller: Caller, household_id: int, id_number: str, amount: str
) -> dict[str, Any]:
    """Record a member's monthly income in yuan (at most 2 decimals), as found at investigation."""
    from aidflow.idnumber import mask
    from aidflow.services import households

    now = svc.clock.now()
    person, fen = households.record_income(
        svc.session, svc.actor(caller.user), now, svc.local_today(), household_id, id_number, amount
    )
    return {
        "household_id": household_id,
        "name": person.name,
        "id_number_masked": mask(person.id_number),
        "income": _yuan(fen),
        "recorded_by": caller.user,
        "recorded_at": now.isoformat(),
    }


@operation("household.show", write=False)
def show(svc: Service, caller: Caller, household_id: int) -> dict[str, Any]:
    """A household: its members, their latest incomes, and the dibao figures on today's date."""
    from aidflow.idnumber import mask
    from aidflow.policy.households import relationship_label
    from aidflow.services import households

    v = households.view(
        svc.session, svc.actor(caller.user), svc.standards(), svc.local_today(), household_id
    )
    figures = None
    if v.figures is not None and v.problem is None:
        figures = {k: (None if x is None else str(x)) for k, x in v.figures.items()}
    return {
        "id": v.household.id,
        "township": v.household.township,
        "village": v.household.village,
        "members": [
            {
                "name": m.name,
                "id_number_masked": mask(m.id_number),
                "relationship": relationship_label(m.relationship, caller.lang),
                "lives_together": m.lives_together,
                "income": _yuan(m.income_fen),
                "recorded_by": m.income_recorded_by,
                "recorded_at": m.income_recorded_at.isoformat() if m.income_recorded_at else None,
            }
            for m in v.members
        ],
        "figures": figures,
        "problem": v.problem,
    }
