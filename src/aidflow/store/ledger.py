"""What the survey ledger reads about a page of persons: cases, payments, visits, sources."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidflow.store.models import Case, Payment, PersonSource, Visit
from aidflow.store.records import CaseRecord, LedgerFacts
from aidflow.store.tables import CASES


def ledger_facts(
    session: Session, person_ids: Sequence[int], month_start: datetime, month_end: datetime
) -> LedgerFacts:
    """The cases (oldest first), paid totals, visits in [month_start, month_end) and list
    sources of the persons `person_ids`: one query each."""
    ids = list(person_ids)
    cases: dict[int, list[CaseRecord]] = defaultdict(list)
    stmt = select(CASES).where(CASES.c.person_id.in_(ids)).order_by(CASES.c.opened_at, CASES.c.id)
    for row in session.execute(stmt):
        case = CaseRecord(*row)
        cases[case.person_id].append(case)
    paid = {
        pid: (int(fen), period)
        for pid, fen, period in session.execute(
            select(Payment.person_id, func.sum(Payment.amount_fen), func.max(Payment.period))
            .where(Payment.person_id.in_(ids), Payment.status == "paid")
            .group_by(Payment.person_id)
        )
    }
    visits: dict[int, dict[str, int]] = defaultdict(dict)
    for pid, kind, count in session.execute(
        select(Case.person_id, Visit.kind, func.count())
        .join(Case, Case.id == Visit.case_id)
        .where(Case.person_id.in_(ids), Visit.at >= month_start, Visit.at < month_end)
        .group_by(Case.person_id, Visit.kind)
    ):
        visits[pid][kind] = count
    sources: dict[int, set[str]] = defaultdict(set)
    for pid, source in session.execute(
        select(PersonSource.person_id, PersonSource.source)
        .where(PersonSource.person_id.in_(ids))
        .distinct()
    ):
        sources[pid].add(source)
    return LedgerFacts(dict(cases), paid, dict(visits), dict(sources))
