"""The survey ledger (工作台账) as a file: XLSX with a sheet per township, or one CSV table.

A format module: it writes rows it is given (dicts keyed by KEYS, ordered by township,
as aidflow.services.ledger produces them) and knows nothing of the database. Every text
cell is written so that no spreadsheet program runs it as a formula (aidflow.files.cells).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

from aidflow.files.cells import Column, XlsxWriter, csv_row

# (key, zh, en, width, kind) for every column, in order (kind: aidflow.files.cells.Column)
COLUMNS: tuple[tuple[str, str, str, float, str], ...] = (
    ("township", "乡镇", "Township", 10, ""),
    ("village", "村", "Village", 10, ""),
    ("name", "姓名", "Name", 10, ""),
    ("id_number", "身份证号", "ID number", 21, "text"),
    ("sex", "性别", "Sex", 6, ""),
    ("age", "年龄", "Age", 6, ""),
    ("hukou", "户籍性质", "Hukou", 9, ""),
    ("disability", "残疾", "Disability", 10, ""),
    ("mental_illness", "精神疾病", "Mental illness", 9, ""),
    ("sources", "来源", "Sources", 16, ""),
    ("programmes", "救助项目及状态", "Programmes and states", 30, ""),
    ("deadlines", "办理时限", "Deadlines", 26, ""),
    ("overdue", "超期", "Overdue", 8, ""),
    ("paid_total", "累计发放（元）", "Paid in total (yuan)", 14, "money"),
    ("last_paid_period", "最近发放月份", "Last paid period", 12, ""),
    ("visits", "本月探访", "Visits this month", 9, ""),
    ("cleanings", "本月保洁", "Cleanings this month", 9, ""),
    ("haircuts", "本月理发", "Haircuts this month", 9, ""),
)
KEYS = tuple(c[0] for c in COLUMNS)
NUMBER = ("序号", "No.")  # the row number a printed list is read by


def headers(lang: str) -> list[str]:
    return [NUMBER[lang != "zh"]] + [zh if lang == "zh" else en for _, zh, en, _, _ in COLUMNS]


def columns(lang: str) -> list[Column]:
    return [Column(NUMBER[lang != "zh"], 6)] + [
        Column(zh if lang == "zh" else en, width, kind) for _, zh, en, width, kind in COLUMNS
    ]


def heading(township: str, lang: str) -> str:
    return f"{township}社会救助工作台账" if lang == "zh" else f"Survey ledger: {township}"


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
    cols = columns(lang)
    for row in rows:
        township: str = row["township"]
        if township != current:
            current = township
            book.table(sheet_title(township, used), heading(township, lang), cols)
            counts[township] = 0
        counts[township] += 1
        book.append([counts[township], *(row[k] for k in KEYS)])
    if not counts:
        book.table("ledger", heading("", lang).strip(": "), cols)
    book.close()
    return counts


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str], lang: str) -> dict[str, int]:
    """One table with a header row; persons per township."""
    counts: dict[str, int] = {}
    writer = csv.writer(out)
    writer.writerow(headers(lang))
    for number, row in enumerate(rows, start=1):
        writer.writerow(csv_row([number, *(row[k] for k in KEYS)]))
        counts[row["township"]] = counts.get(row["township"], 0) + 1
    return counts
