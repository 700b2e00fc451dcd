"""The county report (`aidflow report`): every figure per township and for the caller's area."""

from __future__ import annotations

from datetime import date
from typing import Any

from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
from aidflow.services.runtime import Runtime


@operation("report.county", write=False, runtime=True)
def county(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    township: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """The report over [start, end] (both included; by default the year to date) for the
    caller's area, or one `township` in it; JSON as documented (format aidflow.report/1)."""
    from aidflow.policy.care import load_policy_file
    from aidflow.policy.report import load_report_policy
    from aidflow.services.report import build_report

    return build_report(
        svc.session,
        svc.actor(caller.user),
        svc.calendar,
        load_policy_file(rt.county.care_visits_file),
        load_report_policy(rt.county.report_file),
        svc.clock.now(),
        township=township,
        start=start,
        end=end,
        lang=caller.lang,
    )
