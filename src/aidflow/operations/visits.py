"""Care-visit operations: log a visit, see who is behind (`aidflow visit ...`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
from aidflow.services.runtime import Runtime


@operation("visit.log", write=True, runtime=True)
def log(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    case_id: int,
    kind: str,
    at: datetime | None = None,
    by: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Log a care visit on a case (also written to the case's history); `at` defaults to now.
    The caller's idempotency key makes a repeat find the first visit and change nothing."""
    from aidflow.policy.care import load_policy_file
    from aidflow.services.visits import log_visit

    policy = load_policy_file(rt.county.care_visits_file)
    done = log_visit(
        svc.session,
        svc.clock,
        svc.calendar,
        policy,
        svc.actor(caller.user),
        case_id,
        kind,
        at=at,
        by=by,
        note=note,
        command_id=caller.key,
    )
    return {
        "visit_id": done.visit_id,
        "case_id": done.case_id,
        "kind": done.kind,
        "at": done.at.isoformat(),
        "by_user": done.by_user,
        "event_seq": done.event_seq,
        "created": done.created,
        "labels": {k: kind.labels.get(caller.lang) for k, kind in policy.kinds.items()},
    }


@operation("visit.due", write=False, runtime=True)
def due(svc: Service, caller: Caller, rt: Runtime, month: str | None = None) -> dict[str, Any]:
    """Cases in the caller's area behind their monthly minimums (this month if no `month`,
    written YYYY-MM), by township; `labels` names each kind in the caller's language."""
    from aidflow.idnumber import mask
    from aidflow.policy.care import load_policy_file
    from aidflow.services.visits import Month, behind
    from aidflow.store.visits import person_name

    policy = load_policy_file(rt.county.care_visits_file)
    which = Month.parse(month) if month else Month.of(svc.clock.now(), svc.calendar)
    rows: list[dict[str, Any]] = []
    actor = svc.actor(caller.user)
    for b in behind(svc.session, svc.calendar, policy, which, area=actor):
        name, id_number = person_name(svc.session, b.person_id)
        rows.append(
            {
                "township": b.township,
                "village": b.village,
                "case_id": b.case_id,
                "person_name": name,
                "person_id_masked": mask(id_number),
                "caseworker": b.assigned_to,
                "month": str(which),
                "kinds": {
                    k: {"done": b.done.get(k, 0), "required": n} for k, n in b.required.items()
                },
            }
        )
    rows.sort(key=lambda r: (r["township"], r["case_id"]))
    labels = {k: kind.labels.get(caller.lang) for k, kind in policy.kinds.items()}
    return {"month": str(which), "rows": rows, "labels": labels}
