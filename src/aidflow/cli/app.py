"""What every command shares: settings, the clock, the database, and error printing.

Imports of SQLAlchemy and the engine happen inside methods, so `aidflow --help` and
click's parsing stay fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from aidflow.clock import Clock
    from aidflow.language.calendar import WorkCalendar
    from aidflow.policy.standards import Policy
    from aidflow.services.cases import Service

SHIPPED = Path(__file__).resolve().parents[1] / "shipped"


def default_workflows_dir() -> Path:
    return Path(os.environ.get("AIDFLOW_WORKFLOWS") or SHIPPED / "workflows")


def load_default_policy() -> Policy:
    """The county's standards ($AIDFLOW_WORKFLOWS/policy/standards.yaml), for guards reading
    policy.<name>; the Service calls this only when such a guard is evaluated."""
    from aidflow.policy.standards import load_policy

    return load_policy(default_workflows_dir() / "policy")


@dataclass
class App:
    db: str | None = None
    user: str | None = None
    lang: str = "en"
    now: str | None = None
    tz: str = "Asia/Shanghai"
    _engine: Any = field(default=None, repr=False)
    _clock: Any = field(default=None, repr=False)
    _calendar: Any = field(default=None, repr=False)

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            from aidflow.clock import FrozenClock, SystemClock

            self._clock = FrozenClock(parse_time(self.now, self.tz)) if self.now else SystemClock()
        return self._clock  # type: ignore[no-any-return]

    @property
    def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            from aidflow.language.calendar import WorkCalendar

            path = Path(
                os.environ.get("AIDFLOW_CALENDAR")
                or default_workflows_dir() / "policy" / "calendar.yaml"
            )
            # read when a command first needs it: most reads compute no deadline
            self._calendar = (
                WorkCalendar.from_file_when_needed(path, tz=self.tz)
                if path.exists()
                else WorkCalendar(self.tz)
            )
        return self._calendar  # type: ignore[no-any-return]

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from sqlalchemy.exc import ArgumentError, NoSuchModuleError

            from aidflow.errors import InvalidInputError
            from aidflow.store.database import database_url, make_engine

            url = database_url(self.db)
            scheme = url.split("://", 1)[0]
            hint = "write sqlite:///FILE, a file path, or postgresql://USER@HOST/DB"
            if not (scheme == "sqlite" or scheme.startswith("postgresql")):
                raise InvalidInputError(
                    f"--db {scheme}://...: aidflow supports SQLite and PostgreSQL only", hint=hint
                )
            try:
                self._engine = make_engine(url)
            except InvalidInputError:  # a bad AIDFLOW_SQLITE_BUSY_TIMEOUT_MS says so itself
                raise
            except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
                raise InvalidInputError(
                    f"--db {scheme}://... is not a usable database URL ({exc})", hint=hint
                ) from None
        return self._engine  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self, check: bool = True) -> Iterator[Service]:
        """One transaction around one command: all of it is written, or none of it."""
        from sqlalchemy.orm import Session

        from aidflow.services.cases import Service
        from aidflow.store.database import check_schema

        if check:
            check_schema(self.engine)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield Service(session, self.clock, self.calendar, load_default_policy)

    @contextmanager
    def reading(self) -> Iterator[Service]:
        """A read-only unit of work (rolled back at the end)."""
        from sqlalchemy.orm import Session

        from aidflow.services.cases import Service
        from aidflow.store.database import check_schema, reader

        check_schema(self.engine)
        with Session(reader(self.engine), expire_on_commit=False) as session:
            yield Service(session, self.clock, self.calendar, load_default_policy)

    def close(self) -> None:
        """Close the database connections this command opened (called when the command ends)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def session(self) -> Session:
        from sqlalchemy.orm import Session

        return Session(self.engine, expire_on_commit=False)


def parse_time(text: str, tz: str) -> datetime:
    """ISO time; without an offset it is the county's local time."""
    from zoneinfo import ZoneInfo

    from aidflow.errors import InvalidInputError

    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"--now {text!r} is not a time",
            hint="write it like 2023-08-01T09:00 (county time) or 2023-08-01T01:00+00:00",
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(tz))
    if not 1900 <= at.year <= 9998:  # year 1 overflowed in UTC conversion (found by test_hostile)
        raise InvalidInputError(
            f"--now {text!r} is out of range",
            hint="aidflow handles times from the year 1900 to 9998",
        )
    return at


pass_app = click.make_pass_decorator(App)

# Case, escalation and outbox ids: a positive 64-bit integer, so a huge number is a usage
# error (exit 2) instead of an overflow inside the database driver (found by test_hostile).
ROW_ID = click.IntRange(1, 2**63 - 1)


def emit_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def local(at: datetime | None, app: App) -> str:
    if at is None:
        return "-"
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(app.tz)).strftime("%Y-%m-%d %H:%M")
