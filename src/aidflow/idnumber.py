"""Resident ID numbers (GB 11643): validation, birth date and sex, masking.

python-stdnum computes the ISO 7064 MOD 11-2 check character. Its `validate` also
refuses region codes it does not know for the birth year; ours never does (codes are
renamed and retired while people keep their numbers), so we call the parts we need
instead. The birth date is read from characters 7-14 here: stdnum's `get_birth_date`
re-cleans the number first, which cost more than the rest of a survey import's row check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from aidflow.errors import IdNumberError
from aidflow.i18n import _

_EIGHTEEN = re.compile(r"^[0-9]{17}[0-9X]$")
_FIFTEEN = re.compile(r"^[0-9]{15}$")


def _check_digit(body: str) -> str:
    """stdnum's check character of the 17 characters before it (the last one is ignored)."""
    from stdnum.cn import ric  # most commands only mask numbers and never need stdnum

    digit: str = ric.calc_check_digit(body)
    return digit


@dataclass(frozen=True)
class IdNumber:
    number: str  # 18 characters, upper-case X
    birth_date: date
    sex: str  # 'M' or 'F'
    converted_from_15: bool = False

    @property
    def masked(self) -> str:
        return mask(self.number)


def mask(number: str) -> str:
    """Keep the region's first 3 and the last 4 characters: 110***********002X."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


# what looks like a full ID number inside free text: 18 characters (the last may be X) or
# an old 15-digit number, not inside a longer run of digits
FULL_ID_IN_TEXT = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")


def mask_in_text(text: str) -> str:
    """Free text (a name as another department typed it) with every ID-like number masked."""
    return FULL_ID_IN_TEXT.sub(lambda m: mask(m.group()), text)


def looks_like_id_number(text: str) -> bool:
    """Whether `text` is meant as an ID number (it holds a digit) rather than a name, so that
    a mistyped number is reported as one instead of being looked up as a name."""
    return any(ch.isdigit() for ch in text)


def parse_id_number(text: str, *, today: date | None = None) -> IdNumber:
    """Validate an ID number; 15-digit numbers from old records are upgraded to 18."""
    return IdNumber(*id_number_parts(text, today=today))


def id_number_parts(text: str, *, today: date | None = None) -> tuple[str, date, str, bool]:
    """parse_id_number's checks, returning (number, birth date, sex, converted from 15) without
    building an IdNumber: the survey import calls this once per row."""
    raw = text.strip().replace(" ", "").upper()
    converted = False
    if len(raw) == 15 and _FIFTEEN.match(raw):
        # 15-digit numbers (before 1999) have a 2-digit year (19xx) and no check character
        body = raw[:6] + "19" + raw[6:]
        raw = body + _check_digit(body + "0")  # stdnum drops the last character
        converted = True
    if len(raw) != 18:
        raise IdNumberError(
            _(
                "ID number {number} has {n} characters; it needs 18 (or 15 on old records)",
                number=mask(raw),
                n=len(raw),
            ),
            hint=_("check for missing or extra digits"),
        )
    if not _EIGHTEEN.match(raw):
        raise IdNumberError(
            _("ID number {number} may only contain digits, with X allowed last", number=mask(raw)),
            hint=_("check for letters or punctuation typed by mistake"),
        )
    try:
        born = date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14]))
    except ValueError:
        raise IdNumberError(
            _(
                "ID number {number} holds no valid birth date ({date})",
                number=mask(raw),
                date="-".join((raw[6:10], raw[10:12], raw[12:14])),
            ),
            hint=_("characters 7-14 are the birth date YYYYMMDD"),
        ) from None
    if today is not None and born > today:
        raise IdNumberError(
            _(
                "ID number {number} gives a birth date in the future ({date})",
                number=mask(raw),
                date=born,
            )
        )
    if born.year < 1880:
        raise IdNumberError(
            _(
                "ID number {number} gives an impossible birth year {year}",
                number=mask(raw),
                year=born.year,
            )
        )
    expected = _check_digit(raw)
    if raw[17] != expected:
        raise IdNumberError(
            _(
                "ID number {number}: check digit should be {expected}, not {found}",
                number=mask(raw),
                expected=expected,
                found=raw[17],
            ),
            hint=_("one of the digits was probably mistyped"),
        )
    return raw, born, "M" if int(raw[16]) % 2 == 1 else "F", converted
