"""The public notice (公示) of one village: the cases in notice there, with what the rules
allow to be published, each one's notice period, and how to object.

L21 §19 and T21 §15 put a case's preliminary opinion on notice in its village for 7 days;
the workflow's notice state holds it there (its deadline ends the period). What is
published is what supervision needs and no more (L21: 注意保护申请人隐私，不得公开无关信息):
name, masked ID number (never the birth date), village, programme and proposed amount.
Which states are "in notice", the amount's field and the objection channel are the county's
(policy/notice.yaml). The area rule is the one every case read uses.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aidflow.engine.access import require_area
from aidflow.i18n import _
from aidflow.idnumber import mask
from aidflow.language.calendar import last_day
from aidflow.policy.notice import NoticePolicy
from aidflow.services.cases import Service

FORMAT = "aidflow.notice/1"
MAX_CASES = 5000  # far more than a village ever has in notice at once


def _amount(value: Any) -> str | None:
    """The proposed amount as yuan text with two decimals, or None when not yet set."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return f"{Decimal(str(value)):.2f}"
    except InvalidOperation:
        return None


def build_notice(
    svc: Service, user: str | None, policy: NoticePolicy, township: str, village: str, lang: str
) -> dict[str, Any]:
    """The notice of `township`/`village` as JSON (format aidflow.notice/1), for `user`."""
    actor = svc.actor(user)
    require_area(
        actor,
        township,
        village,
        _("village {area}", area="/".join((township, village))),
        say_where=False,
    )
    tz = svc.calendar.tz
    now: datetime = svc.clock.now()
    rows: list[dict[str, Any]] = []
    for workflow, states in sorted(policy.states.items()):
        for state in states:
            listed, _total = svc.list_cases(
                actor,
                state=state,
                workflow=workflow,
                township=township,
                village=village,
                limit=MAX_CASES,
            )
            for item in listed:
                case, person = item.case, item.person
                wf = svc.workflow_of(case)
                rows.append(
                    {
                        "case_id": case.id,
                        "name": person.name,
                        "id_number": mask(person.id_number),
                        "village": case.village,
                        "programme": wf.labels.get(lang) or wf.name,
                        "amount": _amount(case.data.get(policy.amount_field)),
                        "from": case.state_entered_at.astimezone(tz).date().isoformat(),
                        "to": None
                        if case.deadline_at is None
                        else last_day(case.deadline_at, tz).isoformat(),
                    }
                )
    rows.sort(key=lambda r: (r["from"], r["case_id"]))
    ends = [r["to"] for r in rows if r["to"] is not None]
    return {
        "format": FORMAT,
        "township": township,
        "village": village,
        "lang": lang,
        "generated_at": now.astimezone(tz).isoformat(timespec="minutes"),
        "period": {
            "from": min((r["from"] for r in rows), default=None),
            "to": max(ends, default=None),
        },
        "objection": {"phone": policy.phone, "address": policy.address},
        "cases": rows,
    }
