"""The bank files: the payment list aidflow writes, and the answer the bank sends back.

The payment list has one row per payment: reference (the payment id), name, full ID
number, amount in yuan with two decimals (text, so no spreadsheet turns it into a float),
kind, period. CSV is written as UTF-8 with a BOM, so spreadsheet programs show the Chinese
names correctly; XLSX is streamed row by row, so memory stays flat.

The answer is a table (read by aidflow.files.table) whose header names `reference`,
`status` (paid or failed) and `reason` (required for failed), in any case and order;
`bank_ref` is optional. Every bad or duplicated line is reported with its line number.
What the lines mean for the payments is the caller's to check.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aidflow.errors import InvalidInputError
from aidflow.files.table import cell_text, read_rows

FORMATS = ("csv", "xlsx")
EXPORT_COLUMNS = ("reference", "name", "id_number", "amount_yuan", "kind", "period")
ANSWER_COLUMNS = ("reference", "status", "reason")
_ANSWER_HINT = "the first row names the columns: reference,status,reason"


def write_payments(out: BinaryIO, fmt: str, rows: Iterable[Sequence[str]]) -> None:
    """The payment list in `fmt` (csv or xlsx) into `out`: the header, then `rows` as they come."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"--format {fmt!r} is not csv or xlsx")
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow(EXPORT_COLUMNS)
        writer.writerows(rows)
        text.detach()  # `out` stays open for the caller
        return
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("payments")
    ws.append(list(EXPORT_COLUMNS))
    for row in rows:
        ws.append(list(row))
    wb.save(out)


@dataclass(frozen=True)
class AnswerLine:
    line: int
    payment_id: int
    status: str  # "paid" or "failed"
    reason: str | None
    bank_ref: str | None


def read_answer(path: Path) -> tuple[list[AnswerLine], list[tuple[int, str]]]:
    """The answer's good lines, and (line, message) for each bad one.

    A missing header column or an empty file is an InvalidInputError at once.
    """
    problems: list[tuple[int, str]] = []
    rows = read_rows(path)
    first = next(rows, None)
    if first is None:
        raise InvalidInputError(
            f"{path}: the file is empty; nothing was recorded", hint=_ANSWER_HINT
        )
    number, cells = first[0], [cell_text(c) for c in first[1]]
    names = [c.lower() for c in cells]
    missing = [c for c in ANSWER_COLUMNS if c not in names]
    if missing:
        raise InvalidInputError(
            f"{path}:{number}: the header lacks column(s) {', '.join(missing)} "
            f"(found: {', '.join(cells) or 'nothing'}); nothing was recorded",
            hint=_ANSWER_HINT,
        )
    header = {n: names.index(n) for n in (*ANSWER_COLUMNS, "bank_ref") if n in names}
    seen: dict[int, int] = {}
    out: list[AnswerLine] = []
    for number, raw in rows:
        cells = [cell_text(c) for c in raw]

        def get(name: str, cells: list[str] = cells) -> str:
            i = header.get(name)
            return cells[i] if i is not None and i < len(cells) else ""

        where = f"{path}:{number}"
        ref, status, reason = get("reference"), get("status").lower(), get("reason")
        bad = False
        if not ref.isdecimal():
            problems.append(
                (
                    number,
                    f"{where}: reference {ref!r} is not a payment id "
                    "(a whole number from the export)",
                )
            )
            bad = True
        if status not in ("paid", "failed"):
            problems.append((number, f"{where}: status {get('status')!r} is not paid or failed"))
            bad = True
        elif status == "failed" and not reason:
            problems.append((number, f"{where}: a failed payment needs a reason"))
            bad = True
        if bad:
            continue
        pid = int(ref)
        if pid in seen:
            problems.append((number, f"{where}: payment {pid} is also on line {seen[pid]}"))
            continue
        seen[pid] = number
        out.append(AnswerLine(number, pid, status, reason or None, get("bank_ref") or None))
    return out, problems
