"""Case-ledger import throughput against a raw executemany of the same rows.

    python bench/case_import.py [--rows N] [--db URL]

aidflow: `CaseImporter.run` on a generated dibao ledger (CSV) of N rows, all new persons in
two townships, a third each in active (with amount, approval date and last period paid),
public_notice and investigation. Full validation: the persons as the survey import checks
them (ID checksum, hukou, area), every row's state, required fields, amount ceiling, dates
in order, one open case per programme (database and file), deadlines and clocks on the
working-day calendar; then the persons are written (survey import, batches of 1000), the
cases with one hashed "imported" event each and their audit-log entries in one
transaction, and the reconciliation reads them back.

baseline: the same N persons and N cases, already parsed, inserted by two SQLAlchemy Core
executemany statements (`INSERT INTO persons`, `INSERT INTO cases`) in one transaction on a
fresh database. No parsing, validation, events, audit log or reconciliation.

Ratio = aidflow rows/s / baseline rows/s (issue goal >= 0.3). Both run in this process on
fresh SQLite files (or fresh PostgreSQL schemas with --db postgresql://...).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_ import drop, fresh_url

from aidflow.clock import FrozenClock
from aidflow.engine.access import Actor
from aidflow.language.calendar import WorkCalendar
from aidflow.policy.casemapping import load_case_mapping
from aidflow.policy.mappings import load_import_policy
from aidflow.policy.standards import load_policy
from aidflow.policy.workflows import load_workflow_file
from aidflow.services.caseimport import CaseImporter
from aidflow.services.cases import Service
from aidflow.store.database import make_engine, upgrade
from aidflow.store.models import Case, Person
from aidflow.store.tables import PERSONS

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "aidflow" / "shipped" / "workflows"
NOW = datetime(2024, 6, 10, 1, 0, tzinfo=UTC)
HEADER = ["身份证号", "姓名", "乡镇", "村", "户籍性质", "状态", "受理日期", "审批日期"]
HEADER += ["进入当前环节日期", "保障金额", "收入稳定", "月人均收入", "调查人员", "末次发放月份"]


def make_rows(n: int) -> list[list[str]]:
    from stdnum.cn import ric

    rows = []
    for i in range(n):
        born = date(1930 + i % 60, 1 + i % 12, 1 + i % 28)
        body = f"1101{i // 1000 % 100:02d}{born:%Y%m%d}{i % 1000:03d}"
        number = body + ric.calc_check_digit(body + "0")
        town = "城关镇" if i % 2 else "河西镇"
        person = [number, f"人{i}", town, f"村{i % 17}", "农业"]
        kind = i % 3
        if kind == 0:
            case = ["享受低保", "2023-08-01", "2023-09-20", "", str(300 + i % 400), "是", "", ""]
            case.append("2024-05")
        elif kind == 1:
            case = ["公示", "2024-05-20", "", "2024-06-05", "", "是", "300", "", ""]
        else:
            case = ["入户调查", "2024-06-03", "", "", "", "", "", "张三、李四", ""]
        rows.append(person + case)
    return rows


def setup(url: str, cal: WorkCalendar) -> object:
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        svc = Service(s, FrozenClock(NOW), cal)
        svc.add_user(None, "admin", ["admin"], "*", "admin@county.example")
        svc.deploy("admin", load_workflow_file(SHIPPED / "dibao.yaml"))
    return engine


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--db", help="postgresql://... (default: SQLite files in a temp dir)")
    args = parser.parse_args()
    rows = make_rows(args.rows)
    cal = WorkCalendar.from_file(SHIPPED / "policy" / "calendar.yaml")
    policy = load_policy(SHIPPED / "policy")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        f = tmp / "ledger.csv"
        with f.open("w", encoding="utf-8-sig", newline="") as out:
            w = csv.writer(out)
            w.writerow(HEADER)
            w.writerows(rows)

        url, cleanup = fresh_url(args.db, tmp, "aidflow")
        engine = setup(url, cal)
        svc = Service(Session(engine), FrozenClock(NOW), cal)  # for its deadline rule only
        importer = CaseImporter(
            lambda: Session(engine, expire_on_commit=False),  # type: ignore[arg-type]
            load_import_policy(SHIPPED / "policy" / "import_mappings.yaml"),
            load_case_mapping(SHIPPED / "policy" / "case_import.yaml"),
            policy,
            Actor("sun", ("county_officer",), "*"),
            f,
            "dibao",
            now=NOW,
            calendar=cal,
            deadline_for=svc.deadline_for,
        )
        t0 = time.perf_counter()
        result = importer.run()
        t_aidflow = time.perf_counter() - t0
        assert result.imported == args.rows and not result.differences, result.problems[:3]
        engine.dispose()  # type: ignore[attr-defined]
        drop(cleanup)

        url, cleanup = fresh_url(args.db, tmp, "baseline")
        engine = setup(url, cal)
        persons = [
            {
                "id_number": r[0],
                "name": r[1],
                "birth_date": date(int(r[0][6:10]), int(r[0][10:12]), int(r[0][12:14])),
                "sex": "M" if int(r[0][16]) % 2 else "F",
                "township": r[2],
                "village": r[3],
                "hukou": "rural",
                "mental_illness": False,
                "registered_poor": False,
                "related_users": [],
                "created_at": NOW,
            }
            for r in rows
        ]
        states = {"享受低保": "active", "公示": "public_notice", "入户调查": "investigation"}
        t0 = time.perf_counter()
        with engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(insert(Person.__table__), persons)
            ids = dict(conn.execute(select(PERSONS.c.id_number, PERSONS.c.id)).all())
            conn.execute(
                insert(Case.__table__),
                [
                    {
                        "person_id": ids[r[0]],
                        "workflow_version_id": 1,
                        "workflow_name": "dibao",
                        "state": states[r[5]],
                        "state_entered_at": NOW,
                        "deadline_at": NOW,
                        "township": r[2],
                        "village": r[3],
                        "data": {"amount": r[9]} if r[9] else {},
                        "clocks": {},
                        "emergency": False,
                        "opened_at": NOW,
                        "entry_seq": 1,
                        "last_seq": 1,
                        "head_hash": "",
                        "version": 1,
                    }
                    for r in rows
                ],
            )
        t_base = time.perf_counter() - t0
        engine.dispose()  # type: ignore[attr-defined]
        drop(cleanup)
    a, b = args.rows / t_aidflow, args.rows / t_base
    kind = "PostgreSQL" if args.db else "SQLite"
    print(f"{args.rows} ledger rows, csv, {kind}")
    print(
        f"aidflow case import {a:10,.0f} rows/s  ({t_aidflow:.2f} s, persons + validation + "
        "cases + events + audit log + reconciliation)"
    )
    print(f"raw executemany     {b:10,.0f} rows/s  ({t_base:.2f} s, persons + cases)")
    ratio = a / b
    print(f"ratio               {ratio:10.2f}x  (goal >= 0.3x)")
    return 0 if ratio >= 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
