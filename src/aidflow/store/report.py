"""The county report's aggregates: each figure of aidflow.services.figures as SQL.

Every function takes the session and one `Query` (the area, the period, the county's
choices) and returns `{township: value}` plus the county's value under `COUNTY`, computed by
the database (GROUP BY, window functions), never by loading cases into Python: a county of
a million cases sends back a few rows per township. The area rule becomes SQL through
`aidflow.store.scope.in_area`, as everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from aidflow.engine.access import Area
from aidflow.policy.report import CentralizedRule, EmergencyRule, Programme
from aidflow.store.scope import in_area
from aidflow.store.tables import CASES, EVENTS, PAYMENTS
from aidflow.store.visits import VISITS

COUNTY = "*"
T = TypeVar("T")


@dataclass(frozen=True)
class CareRule:
    """Cases owing monthly visits: a selector of the care policy with its `when` as column
    equalities over the case's data, and the monthly minimum of each kind."""

    workflow: str
    states: tuple[str, ...]
    data_equals: Mapping[str, Any]
    required: Mapping[str, int]


@dataclass(frozen=True)
class Query:
    """What one report covers: the area (and township), the period [start, end), the moment
    it is read at, and the county's choices the figures read."""

    area: Area
    township: str | None
    start: datetime
    end: datetime
    now: datetime
    programmes: tuple[Programme, ...]
    emergency: EmergencyRule
    centralized: CentralizedRule
    care: tuple[CareRule, ...] = ()
    # (YYYY-MM, start, end) of each month whose care visits are counted
    months: tuple[tuple[str, datetime, datetime], ...] = ()
    first_period: str = ""  # payments: YYYY-MM of the period's first and last months
    last_period: str = ""
    lookback_note: str = ""  # the open event's note prefix of a case opened by the look-back


class seconds_between(FunctionElement[float]):
    """(later - earlier) in seconds, on SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


def _cases_in(stmt: Any, q: Query) -> Any:
    stmt = in_area(stmt, q.area, CASES.c.township, CASES.c.village)
    if q.township is not None:
        stmt = stmt.where(CASES.c.township == q.township)
    return stmt


def _by_township(rows: Any, zero: Callable[[], T], add: Callable[[T, Any], T]) -> dict[str, T]:
    """{township: value} from rows whose first column is the township, and the county's
    value, folding each row into both with `add`."""
    out: dict[str, T] = {COUNTY: zero()}
    for row in rows:
        town = row[0]
        out[town] = add(out.get(town, zero()), row)
        out[COUNTY] = add(out[COUNTY], row)
    return out


def _count(total: int, row: Any) -> int:
    return total + int(row[1] or 0)


def cases_by_state(session: Session, q: Query) -> dict[str, dict[str, dict[str, int]]]:
    """Cases now, by workflow and state."""
    stmt = _cases_in(
        select(CASES.c.township, CASES.c.workflow_name, CASES.c.state, func.count()), q
    ).group_by(CASES.c.township, CASES.c.workflow_name, CASES.c.state)

    def add(acc: dict[str, dict[str, int]], row: Any) -> dict[str, dict[str, int]]:
        states = acc.setdefault(row[1], {})
        states[row[2]] = states.get(row[2], 0) + row[3]
        return acc

    return _by_township(session.execute(stmt), dict, add)


def _count_cases(session: Session, q: Query, column: Any) -> dict[str, int]:
    stmt = _cases_in(select(CASES.c.township, func.count()), q)
    stmt = stmt.where(column >= q.start, column < q.end).group_by(CASES.c.township)
    return _by_township(session.execute(stmt), int, _count)


def opened(session: Session, q: Query) -> dict[str, int]:
    """Cases opened in the period."""
    return _count_cases(session, q, CASES.c.opened_at)


def closed(session: Session, q: Query) -> dict[str, int]:
    """Cases that reached a final state in the period."""
    return _count_cases(session, q, CASES.c.closed_at)


def _approval(programmes: Sequence[Programme]) -> ColumnElement[bool]:
    """An event that approves its case: a programme's approving trigger."""
    return or_(
        false(),
        *(
            and_(CASES.c.workflow_name == p.workflow, EVENTS.c.trigger.in_(p.approved_by))
            for p in programmes
        ),
    )


def _count_events(session: Session, q: Query, which: ColumnElement[bool]) -> dict[str, int]:
    stmt = _cases_in(
        select(CASES.c.township, func.count()).select_from(
            EVENTS.join(CASES, CASES.c.id == EVENTS.c.case_id)
        ),
        q,
    ).where(EVENTS.c.kind == "transition", EVENTS.c.at >= q.start, EVENTS.c.at < q.end, which)
    return _by_township(session.execute(stmt.group_by(CASES.c.township)), int, _count)


def approved(session: Session, q: Query) -> dict[str, int]:
    """Approvals in the period (events of a programme's approving trigger)."""
    return _count_events(session, q, _approval(q.programmes))


def rejected(session: Session, q: Query) -> dict[str, int]:
    """Rejections in the period (events entering a programme's rejected state)."""
    which = or_(
        false(),
        *(
            and_(CASES.c.workflow_name == p.workflow, EVENTS.c.to_state.in_(p.rejected_in))
            for p in q.programmes
        ),
    )
    return _count_events(session, q, which)


def overdue(session: Session, q: Query) -> dict[str, dict[str, Any]]:
    """Open cases past their deadline now: count, the oldest deadline, count by step."""
    stmt = (
        _cases_in(
            select(
                CASES.c.township,
                CASES.c.workflow_name,
                CASES.c.state,
                func.count(),
                func.min(CASES.c.deadline_at),
            ),
            q,
        )
        .where(CASES.c.closed_at.is_(None), CASES.c.deadline_at < q.now)
        .group_by(CASES.c.township, CASES.c.workflow_name, CASES.c.state)
    )

    def zero() -> dict[str, Any]:
        return {"count": 0, "oldest_deadline": None, "by_step": {}}

    def add(acc: dict[str, Any], row: Any) -> dict[str, Any]:
        step = f"{row[1]}/{row[2]}"
        acc["count"] += row[3]
        acc["by_step"][step] = acc["by_step"].get(step, 0) + row[3]
        if acc["oldest_deadline"] is None or row[4] < acc["oldest_deadline"]:
            acc["oldest_deadline"] = row[4]
        return acc

    return _by_township(session.execute(stmt), zero, add)


def emergency_response(session: Session, q: Query) -> dict[str, dict[str, Any]]:
    """Emergencies reported in the period and helped first: how many, the median and the
    90th percentile (nearest rank) of the hours from report to help, and how many took
    longer than the goal."""
    rule = q.emergency
    seconds = seconds_between(EVENTS.c.at, CASES.c.opened_at)
    base = _cases_in(select(CASES.c.township), q).select_from(
        EVENTS.join(CASES, CASES.c.id == EVENTS.c.case_id)
    )
    base = base.where(
        CASES.c.workflow_name == rule.workflow,
        EVENTS.c.kind == "transition",
        EVENTS.c.trigger == rule.trigger,
        CASES.c.opened_at >= q.start,
        CASES.c.opened_at < q.end,
    )
    out: dict[str, dict[str, Any]] = {}
    for group in (CASES.c.township, literal(COUNTY)):
        ranked = base.with_only_columns(
            group.label("town"),
            seconds.label("s"),
            func.row_number().over(partition_by=group, order_by=seconds).label("rn"),
            func.count().over(partition_by=group).label("n"),
        ).subquery()
        n, rn, s = ranked.c.n, ranked.c.rn, ranked.c.s
        middle = or_(rn == (n + 1) // 2, rn == (n + 2) // 2)  # the middle rank, or two
        stmt = select(
            ranked.c.town,
            func.max(n),
            func.avg(case((middle, s))),
            func.max(case((rn == (9 * n + 9) // 10, s))),  # rank ceil(0.9 n)
            func.sum(case((s > rule.goal_hours * 3600, 1), else_=0)),
        ).group_by(ranked.c.town)
        for town, count, median, p90, over in session.execute(stmt):
            out[town] = {
                "count": int(count),
                "median_hours": None if median is None else float(median) / 3600,
                "p90_hours": None if p90 is None else float(p90) / 3600,
                "over_goal": int(over or 0),
            }
    out.setdefault(COUNTY, {"count": 0, "median_hours": None, "p90_hours": None, "over_goal": 0})
    return out


def _json_equals(key: str, value: Any) -> ColumnElement[bool]:
    item = CASES.c.data[key]
    if isinstance(value, bool):
        found: ColumnElement[bool] = item.as_boolean() == value
    elif isinstance(value, int):
        found = item.as_integer() == value
    elif value is None:
        found = item.as_string().is_(None)
    else:
        found = item.as_string() == str(value)
    return found


def care_visits(session: Session, q: Query) -> dict[str, dict[str, Any]]:
    """Care visits made against required, per kind, over the months counted: a case owes
    each kind's monthly minimum for a month it was in a selected state before the month
    began (the care policy's rule); a month's visits count up to that minimum."""
    kinds = sorted({k for rule in q.care for k in rule.required})

    def zero() -> dict[str, Any]:
        return {"case_months": 0, "by_kind": {k: {"required": 0, "made": 0} for k in kinds}}

    totals: dict[str, dict[str, Any]] = {COUNTY: zero()}
    for _, start, end in q.months:
        for rule in q.care:
            counted = [k for k in kinds if k in rule.required]
            per_case = (
                select(
                    VISITS.c.case_id,
                    *(
                        func.sum(case((VISITS.c.kind == k, 1), else_=0)).label(f"k_{k}")
                        for k in counted
                    ),
                )
                .where(VISITS.c.at >= start, VISITS.c.at < end)
                .group_by(VISITS.c.case_id)
                .subquery()
            )
            made = []
            for k in counted:
                done = func.coalesce(per_case.c[f"k_{k}"], 0)
                need = rule.required[k]
                made.append(func.sum(case((done < need, done), else_=need)))
            stmt = _cases_in(
                select(CASES.c.township, func.count(), *made).select_from(
                    CASES.outerjoin(per_case, per_case.c.case_id == CASES.c.id)
                ),
                q,
            ).where(
                CASES.c.workflow_name == rule.workflow,
                CASES.c.state.in_(rule.states),
                CASES.c.closed_at.is_(None),
                CASES.c.state_entered_at < start,
                *(_json_equals(key, value) for key, value in rule.data_equals.items()),
            )
            for row in session.execute(stmt.group_by(CASES.c.township)):
                for town in (row[0], COUNTY):
                    acc = totals.setdefault(town, zero())
                    acc["case_months"] += row[1]
                    for k, value in zip(counted, row[2:], strict=True):
                        acc["by_kind"][k]["required"] += row[1] * rule.required[k]
                        acc["by_kind"][k]["made"] += int(value or 0)
    return totals


def centralized_support(session: Session, q: Query) -> dict[str, dict[str, Any]]:
    """Persons receiving support now who cannot care for themselves, and how many of them
    are supported in an institution (centralized)."""
    rule = q.centralized
    centralized = _json_equals("support_mode", "centralized")
    stmt = (
        _cases_in(
            select(
                CASES.c.township,
                func.count(),
                func.sum(case((centralized, 1), else_=0)),
            ),
            q,
        )
        .where(
            CASES.c.workflow_name == rule.workflow,
            CASES.c.state.in_(rule.states),
            CASES.c.closed_at.is_(None),
            CASES.c.data["self_care"].as_string().in_(rule.unable_self_care),
        )
        .group_by(CASES.c.township)
    )

    def zero() -> dict[str, Any]:
        return {"unable_self_care": 0, "centralized": 0}

    def add(acc: dict[str, Any], row: Any) -> dict[str, Any]:
        acc["unable_self_care"] += row[1]
        acc["centralized"] += int(row[2] or 0)
        return acc

    return _by_township(session.execute(stmt), zero, add)


def lookback(session: Session, q: Query) -> dict[str, dict[str, int]]:
    """Gaps the look-back found in the period (cases it opened) and how many of them are
    closed: approved, or ended in a final state."""
    approved_since = exists().where(
        EVENTS.c.case_id == CASES.c.id,
        EVENTS.c.kind == "transition",
        _approval(q.programmes),
    )
    done = or_(CASES.c.closed_at.is_not(None), approved_since)
    opening = EVENTS.alias("opening")
    stmt = (
        _cases_in(
            select(CASES.c.township, func.count(), func.sum(case((done, 1), else_=0))).select_from(
                opening.join(CASES, CASES.c.id == opening.c.case_id)
            ),
            q,
        )
        .where(
            opening.c.kind == "open",
            opening.c.note.startswith(q.lookback_note, autoescape=True),
            opening.c.at >= q.start,
            opening.c.at < q.end,
        )
        .group_by(CASES.c.township)
    )

    def zero() -> dict[str, int]:
        return {"found": 0, "closed": 0}

    def add(acc: dict[str, int], row: Any) -> dict[str, int]:
        acc["found"] += row[1]
        acc["closed"] += int(row[2] or 0)
        return acc

    return _by_township(session.execute(stmt), zero, add)


def payments(session: Session, q: Query) -> dict[str, dict[str, dict[str, int]]]:
    """Payments for the months of the period, by kind: rows, total and paid, in fen."""
    paid = PAYMENTS.c.status == "paid"
    stmt = (
        _cases_in(
            select(
                CASES.c.township,
                PAYMENTS.c.kind,
                func.count(),
                func.sum(PAYMENTS.c.amount_fen),
                func.sum(case((paid, PAYMENTS.c.amount_fen), else_=0)),
            ).select_from(PAYMENTS.join(CASES, CASES.c.id == PAYMENTS.c.case_id)),
            q,
        )
        .where(PAYMENTS.c.period >= q.first_period, PAYMENTS.c.period <= q.last_period)
        .group_by(CASES.c.township, PAYMENTS.c.kind)
    )

    def add(acc: dict[str, dict[str, int]], row: Any) -> dict[str, dict[str, int]]:
        kind = acc.setdefault(row[1], {"count": 0, "amount_fen": 0, "paid_fen": 0})
        kind["count"] += row[2]
        kind["amount_fen"] += int(row[3] or 0)
        kind["paid_fen"] += int(row[4] or 0)
        return acc

    return _by_township(session.execute(stmt), dict, add)
