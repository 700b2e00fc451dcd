"""Case operations: what a caseworker does to a case (`aidflow case ...`)."""

from __future__ import annotations

from typing import Any

from aidflow.operations import Caller, operation
from aidflow.services.cases import Service


@operation("case.note", write=True)
def note(svc: Service, caller: Caller, case_id: int, note: str) -> dict[str, Any]:
    """Add a note to a case's history."""
    ev = svc.add_note(svc.actor(caller.user), case_id, note, command_id=caller.key)
    return {"case_id": case_id, "seq": ev.seq}
