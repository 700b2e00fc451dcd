"""The survey ledger (工作台账): one row per person with programmes, payments and visits.

Rows are read in chunks of persons ordered by township, village and id (keyset
pagination, so memory stays flat however large the county), each chunk with one query
each for its cases, paid totals, this month's visits and list sources. `write_xlsx` puts
each township on a sheet of its own (openpyxl write-only mode); `write_csv` keeps one
table with a township column.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import Session

from aidflow.engine.rules import Actor
from aidflow.idnumber import mask
from aidflow.store.models import Case, Payment, Person, PersonSource, Visit

CHUNK = 500
_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])

# (key, zh, en) for every column, in order
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("township", "乡镇", "Township"),
    ("village", "村", "Village"),
    ("name", "姓名", "Name"),
    ("id_number", "身份证号", "ID number"),
    ("sex", "性别", "Sex"),
    ("age", "年龄", "Age"),
    ("hukou", "户籍性质", "Hukou"),
    ("disability", "残疾", "Disability"),
    ("mental_illness", "精神疾病", "Mental illness"),
    ("sources", "来源", "Sources"),
    ("programmes", "救助项目及状态", "Programmes and states"),
    ("deadlines", "办理时限", "Deadlines"),
    ("overdue", "超期", "Overdue"),
    ("paid_total", "累计发放（元）", "Paid in total (yuan)"),
    ("last_paid_period", "最近发放月份", "Last paid period"),
    ("visits", "本月探访", "Visits this month"),
    ("cleanings", "本月保洁", "Cleanings this month"),
    ("haircuts", "本月理发", "Haircuts this month"),
)
KEYS = tuple(c[0] for c in COLUMNS)


def headers(lang: str) -> list[str]:
    return [zh if lang == "zh" else en for _, zh, en in COLUMNS]


@dataclass(frozen=True)
class LedgerOptions:
    now: datetime
    tz: ZoneInfo
    township: str | None = None
    show_id: bool = False


def area_filter(stmt: _S, actor: Actor, township: str | None) -> _S:
    """Persons the actor's area covers, optionally one township only."""
    if actor.area != "*":
        town, _, village = actor.area.partition("/")
        stmt = stmt.where(Person.township == town)
        if village:
            stmt = stmt.where(Person.village == village)
    if township is not None:
        stmt = stmt.where(Person.township == township)
    return stmt


def persons_in_chunks(session: Session, stmt: Any, size: int = CHUNK) -> Iterator[list[Any]]:
    """Rows of `stmt` (which selects Person columns) by keyset pages on (township, village, id)."""
    last: tuple[str, str, int] | None = None
    while True:
        page = stmt
        if last is not None:
            page = page.where(tuple_(Person.township, Person.village, Person.id) > tuple_(*last))
        rows = list(
            session.execute(page.order_by(Person.township, Person.village, Person.id).limit(size))
        )
        if not rows:
            return
        yield rows
        tail = rows[-1]
        last = (tail.township, tail.village, tail.id)


def _month_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    local = now.astimezone(tz)
    start = datetime(local.year, local.month, 1, tzinfo=tz)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def ledger_rows(session: Session, actor: Actor, opts: LedgerOptions) -> Iterator[dict[str, Any]]:
    """One dict per person (keys: KEYS), ordered by township, village and id."""
    stmt = area_filter(
        select(
            Person.id,
            Person.id_number,
            Person.name,
            Person.sex,
            Person.birth_date,
            Person.township,
            Person.village,
            Person.hukou,
            Person.disability_grade,
            Person.disability_type,
            Person.mental_illness,
        ),
        actor,
        opts.township,
    )
    today = opts.now.astimezone(opts.tz).date()
    month_start, month_end = _month_bounds(opts.now, opts.tz)
    for chunk in persons_in_chunks(session, stmt):
        ids = [p.id for p in chunk]
        cases: dict[int, list[Any]] = defaultdict(list)
        for c in session.execute(
            select(
                Case.id,
                Case.person_id,
                Case.workflow_name,
                Case.state,
                Case.deadline_at,
                Case.closed_at,
            )
            .where(Case.person_id.in_(ids))
            .order_by(Case.opened_at, Case.id)
        ):
            cases[c.person_id].append(c)
        paid = {
            r.person_id: r
            for r in session.execute(
                select(
                    Payment.person_id,
                    func.sum(Payment.amount_fen).label("fen"),
                    func.max(Payment.period).label("period"),
                )
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
        for p in chunk:
            yield _row(p, cases[p.id], paid.get(p.id), visits[p.id], sources[p.id], today, opts)


def _row(
    p: Any,
    cases: list[Any],
    paid: Any,
    visits: dict[str, int],
    sources: set[str],
    today: date,
    opts: LedgerOptions,
) -> dict[str, Any]:
    open_cases = [c for c in cases if c.closed_at is None]
    overdue = [c for c in open_cases if c.deadline_at is not None and c.deadline_at < opts.now]
    age = (
        today.year
        - p.birth_date.year
        - ((today.month, today.day) < (p.birth_date.month, p.birth_date.day))
    )
    disability = ""
    if p.disability_grade is not None:
        disability = f"grade {p.disability_grade}" + (
            f" {p.disability_type}" if p.disability_type else ""
        )
    return {
        "township": p.township,
        "village": p.village,
        "name": p.name,
        "id_number": p.id_number if opts.show_id else mask(p.id_number),
        "sex": p.sex,
        "age": age,
        "hukou": p.hukou,
        "disability": disability,
        "mental_illness": "yes" if p.mental_illness else "",
        "sources": ", ".join(sorted(sources)),
        "programmes": "; ".join(f"{c.workflow_name} #{c.id}: {c.state}" for c in cases),
        "deadlines": "; ".join(
            f"#{c.id}: {c.deadline_at.astimezone(opts.tz):%Y-%m-%d %H:%M}"
            for c in open_cases
            if c.deadline_at is not None
        ),
        "overdue": ", ".join(f"#{c.id}" for c in overdue),
        "paid_total": (Decimal(paid.fen) / 100).quantize(Decimal("0.01"))
        if paid
        else Decimal("0.00"),
        "last_paid_period": paid.period if paid else "",
        "visits": visits.get("visit", 0),
        "cleanings": visits.get("cleaning", 0),
        "haircuts": visits.get("haircut", 0),
    }


def sheet_title(township: str, used: set[str]) -> str:
    """A valid, unique worksheet title (at most 31 characters, none of []:*?/\\)."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in township).strip("'") or "_"
    title = clean[:31]
    n = 2
    while title.lower() in used:
        suffix = f" ({n})"
        title = clean[: 31 - len(suffix)] + suffix
        n += 1
    used.add(title.lower())
    return title


def write_xlsx(rows: Iterator[dict[str, Any]], path: Path, lang: str) -> dict[str, int]:
    """One sheet per township (rows arrive ordered by township); persons per township."""
    from openpyxl import Workbook  # type: ignore[import-untyped]

    wb = Workbook(write_only=True)
    counts: dict[str, int] = {}
    used: set[str] = set()
    ws: Any = None
    current: str | None = None
    head = headers(lang)
    for row in rows:
        if row["township"] != current:
            current = row["township"]
            ws = wb.create_sheet(sheet_title(current, used))
            ws.append(head)
            counts[current] = 0
        ws.append([row[k] for k in KEYS])
        counts[current] += 1  # type: ignore[index]
    if not counts:
        wb.create_sheet("ledger").append(head)
    wb.save(path)
    return counts


def write_csv(rows: Iterator[dict[str, Any]], out: IO[str], lang: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    writer = csv.writer(out)
    writer.writerow(headers(lang))
    for row in rows:
        writer.writerow([row[k] for k in KEYS])
        counts[row["township"]] = counts.get(row["township"], 0) + 1
    return counts


__all__ = [
    "COLUMNS",
    "KEYS",
    "LedgerOptions",
    "area_filter",
    "ledger_rows",
    "persons_in_chunks",
    "sheet_title",
    "write_csv",
    "write_xlsx",
]
