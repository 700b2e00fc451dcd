"""The one exception tree of aidflow.

Library code raises these; only the CLI prints them and turns them into exit codes.
Every message says what was found, where, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aidflow.i18n import _, ngettext


def closest(word: str, options: Iterable[str]) -> str | None:
    """The known name most like `word`, if one is close enough to be what was meant."""
    import difflib  # only a mistake needs it

    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, options: Iterable[str], *, prefix: str = "") -> str | None:
    """A "did you mean 'x'?" hint for the closest known name, if one is close enough.

    `prefix` goes before the name in the hint (a namespace: 'person.' gives 'person.age').
    """
    match = closest(word, options)
    return _("did you mean '{name}'?", name=prefix + match) if match is not None else None


class ExitCode:
    """Process exit codes, documented in the README."""

    OK = 0
    INTERNAL = 1  # a bug: please report it
    USAGE = 2  # click: bad command line
    INVALID_INPUT = 3  # a file, field or value is wrong; nothing was written
    NOT_FOUND = 4
    FORBIDDEN = 5  # the acting user lacks the role or the area
    REFUSED = 6  # the case's rules do not allow this now
    CONFLICT = 7  # someone else changed the case first; reload and retry
    AUDIT_FAILED = 8  # the audit chain does not verify
    UNAVAILABLE = 9  # database, SMTP or calendar data not available
    UNAUTHENTICATED = 10  # no valid credential: wrong password, locked, token expired or revoked


class AidflowError(Exception):
    """Root of every error aidflow raises on purpose."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # what a programmer or a workflow's author reads: the raw guard expression and its
        # values, behind the message in words; the CLI prints it with --verbose only
        self.detail = detail

    def __str__(self) -> str:
        if self.hint:
            return _("{message}\n  hint: {hint}", message=self.message, hint=self.hint)
        return self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, with where it is and how to fix it."""

    file: str
    line: int
    column: int
    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: "
        if self.path:
            where += f"{self.path}: "
        text = where + self.message
        if self.hint:
            text += f"; {self.hint}"
        return text


class InvalidInputError(AidflowError, ValueError):
    """A value given by a user or a file is not acceptable."""

    exit_code = ExitCode.INVALID_INPUT


class WorkflowInvalidError(InvalidInputError):
    """A workflow or policy file has problems; all of them are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        lines = [ngettext("{n} problem found:", "{n} problems found:", count)]
        lines += [str(p) for p in problems]
        super().__init__("\n".join(lines))


class IdNumberError(InvalidInputError):
    """A resident ID number fails its format, date or check-character test."""


class DurationError(InvalidInputError):
    """A duration such as `24h`, `7d` or `10wd` is malformed."""


class ExpressionError(InvalidInputError):
    """A guard expression is malformed or tries to leave its sandbox."""

    def __init__(
        self, message: str, *, column: int = 0, hint: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, detail=detail)
        self.column = column


class CalendarError(AidflowError):
    """Working-day arithmetic reached a year with no calendar data."""

    exit_code = ExitCode.UNAVAILABLE


class NotFoundError(AidflowError, LookupError):
    exit_code = ExitCode.NOT_FOUND


class ForbiddenError(AidflowError, PermissionError):
    """The acting user lacks the role or the area for this action."""

    exit_code = ExitCode.FORBIDDEN


class RefusedError(AidflowError):
    """The case's rules (state, guards, dwell, votes, duties) refuse the action."""

    exit_code = ExitCode.REFUSED


class ConflictError(AidflowError):
    """Another user changed the case between load and save."""

    exit_code = ExitCode.CONFLICT


class DuplicateError(ConflictError):
    """A row that must be unique was written by a concurrent command first (the store
    translates the database's unique-key violation into this)."""


class AuditError(AidflowError):
    """The event chain of one or more cases does not verify."""

    exit_code = ExitCode.AUDIT_FAILED


class UnavailableError(AidflowError):
    """A database, SMTP server or other dependency cannot be reached or is not set up."""

    exit_code = ExitCode.UNAVAILABLE


class AuthenticationError(AidflowError):
    """The credential (a name and password, or a token) does not prove who is acting."""

    exit_code = ExitCode.UNAUTHENTICATED
