"""Limits on the free text people give: notes, text fields, names and imported cells.

One home for them, so the CLI, the server and imports refuse the same things with the same
words (exit 3, `InvalidInputError`, nothing stored):

- a note or a text field holds at most `NOTE_LIMIT` (4,000) characters: a case history is
  read on a screen and printed in files, not a store for documents;
- a spreadsheet cell holds at most `CELL_LIMIT` (128 KB) of text;
- names and other one-line values hold no control characters at all (a NUL byte or an
  escape sequence in a name corrupts lists, exports and terminals); notes may hold line
  breaks and tabs, but no other control character.
"""

from __future__ import annotations

import re

from aidflow.errors import InvalidInputError
from aidflow.i18n import _

NOTE_LIMIT = 4000
CELL_LIMIT = 128 * 1024

_CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, LF, CR allowed


def control_character(text: str, *, multiline: bool = False) -> str | None:
    """The first control character of `text` as U+XXXX, or None (`multiline`: line breaks
    and tabs are allowed)."""
    found = (_CONTROL_IN_TEXT if multiline else _CONTROL_IN_LINE).search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def check_text(
    text: str, what: str, *, limit: int = NOTE_LIMIT, multiline: bool = True, where: str = ""
) -> str:
    """`text` if it is within `limit` characters and holds no forbidden control character;
    else InvalidInputError naming `what` (and `where`, e.g. "file.csv:12: ")."""
    if len(text) > limit:
        raise InvalidInputError(
            _(
                "{where}{what} is {n} characters long; the limit is {limit}",
                where=where,
                what=what,
                n=len(text),
                limit=limit,
            ),
            hint=_("shorten it; attach long documents to the case file outside aidflow"),
        )
    bad = control_character(text, multiline=multiline)
    if bad is not None:
        raise InvalidInputError(
            _(
                "{where}{what} holds a control character ({character})",
                where=where,
                what=what,
                character=bad,
            ),
            hint=_(
                "retype the text; control characters often come from copying out of other programs"
            ),
        )
    return text
