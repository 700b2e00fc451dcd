"""The survey ledger (工作台账) as a file: XLSX with a sheet per township, or one CSV table.

A format module: it writes rows it is given (dicts keyed by KEYS, ordered by township,
as aidflow.services.ledger produces them) and knows nothing of the database. Every text
cell is written so that no spreadsheet program runs it as a formula (aidflow.files.cells).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

from aidflow.files.cells import XlsxWriter, csv_row

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


def write_xlsx(rows: Iterable[dict[str, Any]], out: IO[bytes], lang: str) -> dict[str, int]:
    """One sheet per township (rows arrive ordered by township); persons per township."""
    book = XlsxWriter(out)
    counts: dict[str, int] = {}
    used: set[str] = set()
    current: str | None = None
    head = headers(lang)
    for row in rows:
        township: str = row["township"]
        if township != current:
            current = township
            book.sheet(sheet_title(township, used))
            book.append(head)
            counts[township] = 0
        book.append([row[k] for k in KEYS])
        counts[township] += 1
    if not counts:
        book.sheet("ledger")
        book.append(head)
    book.close()
    return counts


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str], lang: str) -> dict[str, int]:
    """One table with a header row; persons per township."""
    counts: dict[str, int] = {}
    writer = csv.writer(out)
    writer.writerow(headers(lang))
    for row in rows:
        writer.writerow(csv_row(row[k] for k in KEYS))
        counts[row["township"]] = counts.get(row["township"], 0) + 1
    return counts
