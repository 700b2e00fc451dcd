"""What every command and every request shares: the settings and what is made from them.

`Runtime` is made once per CLI invocation (as `aidflow.cli.app.App`) or once per server
process (aidflow.server) from the `Settings`; it opens the database, reads the county's files,
makes the clock and the mailer, each on first use, and opens the unit of work a use case runs
in (`transaction` for writes, `reading` for reads). Imports of SQLAlchemy and the engine happen
inside methods, so a command that never touches the database never loads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aidflow.i18n import _

if TYPE_CHECKING:
    from aidflow.clock import Clock
    from aidflow.errors import ForbiddenError
    from aidflow.language.calendar import WorkCalendar
    from aidflow.notify.email import SMTPMailer
    from aidflow.notify.render import Templates
    from aidflow.policy.county import County
    from aidflow.policy.standards import Policy
    from aidflow.services.cases import Service
    from aidflow.settings import Settings
    from aidflow.store.database import Database

_DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}


@dataclass
class Runtime:
    """The settings and the things made from them, each on first use."""

    settings: Settings
    _database: Database | None = field(default=None, repr=False)
    _clock: Clock | None = field(default=None, repr=False)
    _calendar: WorkCalendar | None = field(default=None, repr=False)
    _county: County | None = field(default=None, repr=False)
    _announced: bool = field(default=False, repr=False)
    # the standards as last read, keyed by the file's modification time: every case command
    # consults them (amount rules, exclusivity), and an edited file is read again
    _standards: tuple[int, Policy] | None = field(default=None, repr=False)

    @property
    def lang(self) -> str:
        return self.settings.lang

    @property
    def tz(self) -> str:
        return self.settings.tz

    @property
    def now(self) -> str | None:
        return self.settings.now

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            from aidflow.clock import FrozenClock, SystemClock

            self._clock = FrozenClock(parse_time(self.now, self.tz)) if self.now else SystemClock()
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._clock = clock

    @property
    def county(self) -> County:
        """Where the workflows, policy files and templates are (settings, else shipped)."""
        if self._county is None:
            from aidflow.policy.county import County

            s = self.settings
            self._county = County.of(
                s.workflows_dir, s.notifications_dir, s.calendar_file, s.care_visits_file
            )
        return self._county

    @property
    def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            from aidflow.language.calendar import WorkCalendar

            path = self.county.calendar_file
            # read when a command first needs it: most reads compute no deadline
            self._calendar = (
                WorkCalendar.from_file_when_needed(path, tz=self.tz)
                if path.exists()
                else WorkCalendar(self.tz)
            )
        return self._calendar

    @property
    def templates(self) -> Templates:
        """The county's email templates, times printed in the county's zone (--tz)."""
        from zoneinfo import ZoneInfo

        from aidflow.notify.render import Templates

        return Templates(self.county.notifications, ZoneInfo(self.tz), self.settings.public_url)

    @property
    def database(self) -> Database:
        """The database the settings name (--db / AIDFLOW_DATABASE_URL / database_url)."""
        if self._database is None:
            from aidflow.store.database import Database

            self._database = Database.open(
                self.settings.database_url, self.settings.sqlite_busy_timeout_ms
            )
        return self._database

    def over(self, database: Database, clock: Clock) -> Runtime:
        """The same county, calendar and settings over another database and clock (the
        scratch copies of a simulation)."""
        return Runtime(
            replace(self.settings, now=None, database_url=database.url),
            _database=database,
            _clock=clock,
            _calendar=self.calendar,
            _county=self.county,
        )

    def use_database(self, url: str) -> None:
        """Work on the database at `url` instead of the configured one (`aidflow demo`)."""
        self.close()
        self.settings = replace(self.settings, database_url=url)

    @property
    def simulated(self) -> bool:
        """Whether this runtime's time is a claim (--now, AIDFLOW_NOW, a clock set by a
        caller) rather than the system clock."""
        from aidflow.clock import SystemClock

        return not isinstance(self.clock, SystemClock)

    def check_clock(self, writing: bool) -> None:
        """The rule on time: writes take the system clock, except on a training database.

        Called before a unit of work opens (and by writers that use the database directly,
        such as the scheduler's round), so a refused write leaves the database as it was.
        On a training database `announce_training` is told once per runtime.
        """
        database = self.database
        if database.training:
            if not self._announced:
                self._announced = True
                self.announce_training(self.clock.now() if self.simulated else None)
        elif writing and self.simulated:
            raise _simulated_write(database.describe())

    def upgrade_database(
        self, *, training: bool = False, actor: str | None = None
    ) -> tuple[str | None, str | None]:
        """Create or migrate the database (`aidflow db upgrade`); (revision before, after).

        `training` makes a database created from empty a training database; the time of
        its creation is this runtime's clock, so a simulated one only with `training` or on
        a database that already is one."""
        database = self.database
        if self.simulated and not training and not database.stored_training():
            if database.stored_revision() is None:
                from aidflow.errors import ForbiddenError

                raise ForbiddenError(
                    _(
                        "the database {database} would be created as a production database: "
                        "--now is only for training databases; writes take the system clock",
                        database=database.describe(),
                    ),
                    hint=_("add --training to create a training database, or leave out --now"),
                )
            raise _simulated_write(database.describe())
        before, after = database.upgrade(
            training=training, at=self.clock.now(), actor=actor or "system"
        )
        self.check_clock(writing=False)
        return before, after

    def announce_training(self, at: datetime | None) -> None:
        """Say that this command works on a training database, with its simulated time (the
        CLI prints a line; the server adds it to its answers)."""

    @contextmanager
    def transaction(self, check: bool = True) -> Iterator[Service]:
        """One transaction around one command: all of it is written, or none of it.

        A simulated time (--now) is refused here unless the database is a training one."""
        from aidflow.services.cases import Service
        from aidflow.store.events import EventOrderError

        self.check_clock(writing=True)
        try:
            with self.database.transaction(check) as session:
                yield Service(session, self.clock, self.calendar, self.load_standards)
        except EventOrderError as exc:  # said in the county's time, as --now is given
            raise exc.in_zone(self.tz) from None

    @contextmanager
    def reading(self) -> Iterator[Service]:
        """A read-only unit of work (rolled back at the end); reads may take --now anywhere."""
        from aidflow.services.cases import Service

        self.check_clock(writing=False)
        with self.database.reading() as session:
            yield Service(session, self.clock, self.calendar, self.load_standards)

    def load_standards(self) -> Policy:
        """The county's standards (policy/standards.yaml): for guards reading policy.<name>,
        the amount rules and the programmes' exclusivity; the Service calls this when first
        needed in a unit of work."""
        from aidflow.policy.standards import POLICY_FILE, load_policy

        try:
            stamp = (Path(self.county.policy) / POLICY_FILE).stat().st_mtime_ns
        except OSError:
            stamp = -1  # load_policy names the missing file
        if self._standards is None or self._standards[0] != stamp:
            self._standards = (stamp, load_policy(self.county.policy))
        return self._standards[1]

    def mailer(self) -> SMTPMailer | None:
        """The SMTP mailer the smtp_* settings describe, or None without smtp_host."""
        from aidflow.errors import InvalidInputError
        from aidflow.notify.email import SMTPMailer

        s = self.settings
        if not s.smtp_host:
            return None
        if not s.smtp_from:
            raise InvalidInputError(
                _("AIDFLOW_SMTP_FROM is not set"),
                hint=_(
                    "set it (or smtp_from in the config file) to the sender address, "
                    "e.g. aidflow@county.example"
                ),
            )
        return SMTPMailer(
            s.smtp_host,
            s.smtp_port or _DEFAULT_PORTS[s.smtp_security],
            security=s.smtp_security,
            username=s.smtp_user,
            password=s.smtp_password,
            sender=s.smtp_from,
        )

    @property
    def message_domain(self) -> str:
        """The domain of Message-IDs: the sender's (smtp_from), else aidflow.local."""
        domain = (self.settings.smtp_from or "").rpartition("@")[2].strip(" >")
        return domain if domain and domain.isascii() else "aidflow.local"

    def close(self) -> None:
        """Close the database connections this command opened (called when the command ends)."""
        if self._database is not None:
            self._database.dispose()
            self._database = None


def _simulated_write(database: str) -> ForbiddenError:
    from aidflow.errors import ForbiddenError

    return ForbiddenError(
        _(
            "the database {database} is a production database: "
            "--now is only for training databases; writes take the system clock",
            database=database,
        ),
        hint=_(
            "leave out --now (and unset AIDFLOW_NOW) to write; to practise with a "
            "simulated time, create a training database: "
            "`aidflow --db training.db db upgrade --training`"
        ),
    )


def parse_time(text: str, tz: str) -> datetime:
    """ISO time; without an offset it is the county's local time."""
    from zoneinfo import ZoneInfo

    from aidflow.errors import InvalidInputError

    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            _("--now {text} is not a time", text=repr(text)),
            hint=_("write it like 2023-08-01T09:00 (county time) or 2023-08-01T01:00+00:00"),
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(tz))
    if not 1900 <= at.year <= 9998:  # times near year 1 or 9999 overflow when moved to UTC
        raise InvalidInputError(
            _("--now {text} is out of range", text=repr(text)),
            hint=_("aidflow handles times from the year 1900 to 9998"),
        )
    return at
