"""The bank files: the payment list aidflow writes, and the answer the bank sends back.

The payment list has one row per payment: reference (the payment id), name, full ID
number (text), amount in yuan with two decimals (a Decimal: text in CSV, a number cell in
XLSX), kind, period. CSV is written as UTF-8 with a BOM, so spreadsheet programs show the Chinese
names correctly; XLSX is streamed row by row, so memory stays flat. Every cell is written
as text that no spreadsheet program runs as a formula (aidflow.files.cells).

The answer is a table (read by aidflow.files.table: UTF-8 or GB18030/GBK, detected or
declared) whose header names `reference`, `status` (paid or failed), `reason` (required for
failed), `amount_yuan` and `id_number`, in any case and order, as the bank echoes the lines
it was sent; `bank_ref` and `name` are optional. References and amounts are ASCII digits
only: a full-width or other Unicode digit is refused, never read as the digit it looks
like. Every bad or duplicated line is reported with its line number. Whether a line's
amount and payee match the payment it names is the caller's to check.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aidflow.errors import InvalidInputError
from aidflow.files.cells import Column, XlsxWriter, csv_row
from aidflow.files.table import cell_text, read_rows
from aidflow.i18n import N_, _, use_language

FORMATS = ("csv", "xlsx")
EXPORT_COLUMNS = ("reference", "name", "id_number", "amount_yuan", "kind", "period")
# the XLSX's columns for people: (header, width, kind) beside EXPORT_COLUMNS' names; the
# English header is the bank's column name, the catalog gives the words in Chinese
_XLSX_COLUMNS = (
    (N_("reference"), 12, "text"),
    (N_("name"), 10, ""),
    (N_("id_number"), 21, "text"),
    (N_("amount_yuan"), 12, "money"),
    (N_("kind"), 10, ""),
    (N_("period"), 10, ""),
)
ANSWER_COLUMNS = ("reference", "status", "reason", "amount_yuan", "id_number")
_ANSWER_HINT = N_("the first row names the columns: reference,status,reason,amount_yuan,id_number")


def write_payments(
    out: BinaryIO, fmt: str, rows: Iterable[Sequence[object]], lang: str = "en"
) -> None:
    """The payment list in `fmt` (csv or xlsx) into `out`: the header, then `rows` as they come.

    The CSV is the bank's machine format (EXPORT_COLUMNS as its header). The XLSX is also
    read by people: a title row, 序号, headers in `lang`, references and ID numbers as text,
    amounts as numbers formatted 0.00 (aidflow.files.cells.XlsxWriter.table)."""
    if fmt not in FORMATS:
        raise InvalidInputError(_("--format {format!r} is not csv or xlsx", format=fmt))
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow(EXPORT_COLUMNS)
        writer.writerows(csv_row(row) for row in rows)
        text.detach()  # `out` stays open for the caller
        return
    book = XlsxWriter(out)
    with use_language(lang):
        columns = [Column(_("No."), 6)] + [
            Column(_(head), width, kind) for head, width, kind in _XLSX_COLUMNS
        ]
        book.table(_("payments"), _("Payment list"), columns)
    for number, row in enumerate(rows, start=1):
        book.append([number, *row])
    book.close()


@dataclass(frozen=True)
class AnswerLine:
    line: int
    payment_id: int
    status: str  # "paid" or "failed"
    reason: str | None
    bank_ref: str | None
    amount_fen: int  # as the bank says it paid (or failed to pay)
    id_number: str  # the payee's, as the bank has it
    name: str | None  # the payee's, when the bank sends names


# ASCII digits: what the export wrote, never a digit of another script that looks like one
_REFERENCE = re.compile(r"[0-9]+")
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]{1,2})?")


def answer_fen(text: str) -> int | None:
    """'650.00' (or '650', '650.5') -> fen, exactly; None for anything else."""
    if not _AMOUNT.fullmatch(text):
        return None
    whole, _dot, cents = text.partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0"))


def read_answer(
    path: Path, encoding: str | None = None
) -> tuple[list[AnswerLine], list[tuple[int, str]]]:
    """The answer's good lines, and (line, message) for each bad one.

    A missing header column or an empty file is an InvalidInputError at once. `encoding`
    names a CSV's encoding (None: UTF-8 or GB18030, detected).
    """
    problems: list[tuple[int, str]] = []
    rows = read_rows(path, encoding)
    first = next(rows, None)
    if first is None:
        raise InvalidInputError(
            _("{path}: the file is empty; nothing was recorded", path=path), hint=_(_ANSWER_HINT)
        )
    number, cells = first[0], [cell_text(c) for c in first[1]]
    names = [c.lower() for c in cells]
    missing = [c for c in ANSWER_COLUMNS if c not in names]
    if missing:
        raise InvalidInputError(
            _(
                "{path}:{line}: the header lacks column(s) {missing} (found: {found}); "
                "nothing was recorded",
                path=path,
                line=number,
                missing=", ".join(missing),
                found=", ".join(cells) or _("nothing"),
            ),
            hint=_(_ANSWER_HINT),
        )
    header = {n: names.index(n) for n in (*ANSWER_COLUMNS, "bank_ref", "name") if n in names}
    seen: dict[int, int] = {}
    out: list[AnswerLine] = []
    for number, raw in rows:
        cells = [cell_text(c) for c in raw]

        def get(name: str, cells: list[str] = cells) -> str:
            i = header.get(name)
            return cells[i] if i is not None and i < len(cells) else ""

        where = f"{path}:{number}"
        ref, status, reason = get("reference"), get("status").lower(), get("reason")
        fen = answer_fen(get("amount_yuan"))
        bad = False
        if not _REFERENCE.fullmatch(ref):
            problems.append(
                (
                    number,
                    _(
                        "{where}: reference {ref!r} is not a payment id "
                        "(a whole number from the export, in ASCII digits 0-9)",
                        where=where,
                        ref=ref,
                    ),
                )
            )
            bad = True
        if status not in ("paid", "failed"):
            problems.append(
                (
                    number,
                    _(
                        "{where}: status {status!r} is not paid or failed",
                        where=where,
                        status=get("status"),
                    ),
                )
            )
            bad = True
        elif status == "failed" and not reason:
            problems.append((number, _("{where}: a failed payment needs a reason", where=where)))
            bad = True
        if fen is None:
            problems.append(
                (
                    number,
                    _(
                        "{where}: amount_yuan {amount!r} is not an amount in yuan "
                        "(ASCII digits, at most two decimals, like 650.00)",
                        where=where,
                        amount=get("amount_yuan"),
                    ),
                )
            )
            bad = True
        if bad or fen is None:
            continue
        pid = int(ref)
        if pid in seen:
            problems.append(
                (
                    number,
                    _(
                        "{where}: payment {payment} is also on line {other}",
                        where=where,
                        payment=pid,
                        other=seen[pid],
                    ),
                )
            )
            continue

        seen[pid] = number
        out.append(
            AnswerLine(
                number,
                pid,
                status,
                reason or None,
                get("bank_ref") or None,
                fen,
                get("id_number").upper(),
                get("name") if "name" in header else None,
            )
        )
    return out, problems
