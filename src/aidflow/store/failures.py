"""Database errors the environment causes, as aidflow's UnavailableError: the one translation.

A dropped PostgreSQL connection (a server restart), a locked SQLite file or a full disk is
not a bug in aidflow: the driver's OperationalError becomes an UnavailableError (exit 9)
that names the database (password hidden, as an operator may run several) and says what
to check. The CLI translates what a command raises here, and a scheduler round raises
it already translated, so one scheduler process logs one line and retries next round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aidflow.errors import UnavailableError
from aidflow.i18n import _


def translate(exc: BaseException, where: str | None = None) -> UnavailableError | None:
    """The UnavailableError for a driver error the environment causes, else None.

    `where` names the database (its URL with the password hidden), if known.
    """
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    text = " ".join(
        str(getattr(exc, "orig", exc)).split()
    )  # libpq's message spans tab-indented lines
    if "locked" in text or "busy" in text:
        return UnavailableError(
            _("the database is busy: {text}", text=text), hint=_("another writer holds it; retry")
        )
    shown = f" ({where})" if where else ""
    return UnavailableError(
        _("database error: {text}", text=text),
        hint=_(
            "check --db / AIDFLOW_DATABASE_URL{shown}, that the server is up and the "
            "disk is not full; then retry",
            shown=shown,
        ),
    )


@contextmanager
def unavailable_on_driver_errors(where: Callable[[], str] | None = None) -> Iterator[None]:
    """Raise what `translate` makes of a driver error inside the block (others pass through)."""
    try:
        yield
    except Exception as exc:
        translated = translate(exc, where() if where is not None else None)
        if translated is None:
            raise
        raise translated from exc
