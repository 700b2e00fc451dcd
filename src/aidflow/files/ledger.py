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
from aidflow.i18n import N_, _, use_language

# (key, header, width, kind) for every column, in order (kind: aidflow.files.cells.Column);
# the header is the catalog's message: XLSX and CSV read the same words
COLUMNS: tuple[tuple[str, str, float, str], ...] = (
    ("township", N_("Township"), 10, ""),
    ("village", N_("Village"), 10, ""),
    ("name", N_("Name"), 10, ""),
    ("id_number", N_("ID number"), 21, "text"),
    ("sex", N_("Sex"), 6, ""),
    ("age", N_("Age"), 6, ""),
    ("hukou", N_("Hukou"), 9, ""),
    ("disability", N_("Disability"), 10, ""),
    ("mental_illness", N_("Mental illness"), 9, ""),
    ("sources", N_("Sources"), 16, ""),
    ("programmes", N_("Programmes and states"), 30, ""),
    ("deadlines", N_("Deadlines"), 26, ""),
    ("overdue", N_("Overdue"), 8, ""),
    ("paid_total", N_("Paid in total (yuan)"), 14, "money"),
    ("last_paid_period", N_("Last paid period"), 12, ""),
    ("visits", N_("Visits this month"), 9, ""),
    ("cleanings", N_("Cleanings this month"), 9, ""),
    ("haircuts", N_("Haircuts this month"), 9, ""),
)
KEYS = tuple(c[0] for c in COLUMNS)
NUMBER = N_("No.")  # the row number a printed list is read by


def headers(lang: str) -> list[str]:
    """The header row in `lang`, for XLSX and CSV alike."""
    return [c.header for c in columns(lang)]


def columns(lang: str) -> list[Column]:
    with use_language(lang):
        return [Column(_(NUMBER), 6)] + [
            Column(_(header), width, kind) for _key, header, width, kind in COLUMNS
        ]


def heading(township: str, lang: str) -> str:
    with use_language(lang):
        return _("Survey ledger: {township}", township=township)


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
        with use_language(lang):
            book.table(_("ledger"), heading("", lang).strip(": "), cols)
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
