"""Survey-list import throughput against a raw executemany baseline of the same rows.

    python bench/import_.py [--rows N] [--db URL_OR_DIR] [--format csv|xlsx]

aidflow: `Importer.run` on a generated civil-affairs list of N rows (valid ID numbers,
two townships): pass 1 hashes the file, validates every row (ID checksum, dates, hukou,
yes/no fields, the acting user's area, one existence query per 1000 rows) and keeps the
good rows, pass 2 writes them in batches of 1000 rows, one transaction each (an existence
query, the new persons, one query for their ids, one PersonSource per row, the run's
counters). Its inserts go through the store's fast path (`store.queries.Fast.many`:
executemany on SQLite, COPY on PostgreSQL) with values converted by the columns'
SQLAlchemy types, shared values once.

baseline: the same N persons, already parsed, inserted with one SQLAlchemy Core
executemany (`INSERT INTO persons ...`) in one transaction on a fresh database, as issue
5 defines it. No parsing, validation, provenance or merge lookups.

Ratio = aidflow rows/s / baseline rows/s (issue goal >= 0.3). Both run in this process
on fresh SQLite files (or fresh PostgreSQL schemas with --db postgresql://...).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.orm import Session
from stdnum.cn import ric

from aidflow.engine.access import Actor
from aidflow.policy.mappings import load_import_policy
from aidflow.services.survey import Importer
from aidflow.store.database import make_engine, upgrade
from aidflow.store.models import Person

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2023, 8, 1, 1, 0, tzinfo=UTC)
HEADER = [
    "身份证号",
    "姓名",
    "乡镇",
    "村",
    "户籍性质",
    "出生日期",
    "建档立卡",
    "独居",
    "赡养人有能力",
]


def make_rows(n: int) -> list[list[str]]:
    rows = []
    for i in range(n):
        born = date(1930 + i % 60, 1 + i % 12, 1 + i % 28)
        body = f"1101{i // 1000 % 100:02d}{born:%Y%m%d}{i % 1000:03d}"
        number = body + ric.calc_check_digit(body + "0")
        town = "城关镇" if i % 2 else "河西镇"
        rows.append(
            [
                number,
                f"人{i}",
                town,
                f"村{i % 17}",
                "农业" if i % 3 else "非农业",
                born.isoformat(),
                "是" if i % 5 == 0 else "否",
                "是" if i % 4 == 0 else "否",
                "否",
            ]
        )
    return rows


def fresh_url(base: str | None, tmp: Path, label: str) -> tuple[str, object]:
    if base and base.startswith("postgres"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options=-csearch_path%3D{schema}", (admin, schema)
    return f"sqlite:///{tmp / (label + '.db')}", None


def drop(cleanup: object) -> None:
    if cleanup is not None:
        admin, schema = cleanup  # type: ignore[misc]
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--db", help="postgresql://... (default: SQLite files in a temp dir)")
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    args = parser.parse_args()
    rows = make_rows(args.rows)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.format == "csv":
            f = tmp / "list.csv"
            with f.open("w", encoding="utf-8-sig", newline="") as out:
                w = csv.writer(out)
                w.writerow(HEADER)
                w.writerows(rows)
        else:
            from openpyxl import Workbook

            f = tmp / "list.xlsx"
            wb = Workbook(write_only=True)
            ws = wb.create_sheet()
            ws.append(HEADER)
            for r in rows:
                ws.append(r)
            wb.save(f)

        url, cleanup = fresh_url(args.db, tmp, "aidflow")
        engine = make_engine(url)
        upgrade(engine)
        policy = load_import_policy(
            REPO / "src" / "aidflow" / "shipped" / "workflows" / "policy" / "import_mappings.yaml"
        )
        importer = Importer(
            lambda: Session(engine, expire_on_commit=False),
            policy,
            Actor("sun", ("county_officer",), "*"),
            f,
            "civil_affairs",
            now=NOW,
            today=NOW.date(),
        )
        t0 = time.perf_counter()
        result = importer.run()
        t_aidflow = time.perf_counter() - t0
        assert result.imported == args.rows, result
        engine.dispose()
        drop(cleanup)

        url, cleanup = fresh_url(args.db, tmp, "baseline")
        engine = make_engine(url)
        upgrade(engine)
        params = [
            {
                "id_number": r[0],
                "name": r[1],
                "birth_date": date.fromisoformat(r[5]),
                "sex": "M" if int(r[0][16]) % 2 else "F",
                "township": r[2],
                "village": r[3],
                "hukou": "rural" if r[4] == "农业" else "urban",
                "mental_illness": False,
                "registered_poor": r[6] == "是",
                "related_users": [],
                "created_at": NOW,
            }
            for r in rows
        ]
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(Person.__table__), params)
        t_base = time.perf_counter() - t0
        engine.dispose()
        drop(cleanup)
    a, b = args.rows / t_aidflow, args.rows / t_base
    kind = "PostgreSQL" if args.db else "SQLite"
    print(f"{args.rows} rows, {args.format}, {kind}")
    print(
        f"aidflow import  {a:10,.0f} rows/s  ({t_aidflow:.2f} s, "
        "validation + provenance + batches of 1000)"
    )
    print(f"raw executemany {b:10,.0f} rows/s  ({t_base:.2f} s)")
    print(f"ratio           {a / b:10.2f}x  (goal >= 0.3x)")


if __name__ == "__main__":
    main()
