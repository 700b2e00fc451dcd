"""What every command shares: the settings, the county's files, the clock, the database,
the mailer, and helpers for printing.

`App` is made once per invocation from the `Settings` (aidflow.settings) and passed to
every command; commands take what they need from it and hand the values down as
parameters. Imports of SQLAlchemy and the engine happen inside methods, so `aidflow --help`
and click's parsing stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from aidflow.i18n import _
from aidflow.services.runtime import Runtime, parse_time

if TYPE_CHECKING:
    from aidflow.client.credentials import Login
    from aidflow.services.cases import Service
    from aidflow.store.database import Database

__all__ = ["App", "ROW_ID", "emit_json", "local", "parse_time", "pass_app", "training_banner"]


@dataclass
class App(Runtime):
    """One invocation's runtime and its acting user.

    In local mode the acting user is the one bound to this process's operating-system
    account (not an environment variable, which anyone can set). --as / AIDFLOW_USER names
    someone else only for an administrator entering on their behalf: then the command is
    checked against that user's roles and area, and every event records both names. It is
    resolved on first use, so commands that need no user open no database for it.

    Client mode: when the settings name a server (--server / AIDFLOW_SERVER, or a login
    saved by `aidflow login`) and no database was named (--db, AIDFLOW_DATABASE_URL or the
    config file), `call` sends each operation to the server with the saved token (the acting
    user is the token's), and a command that works on the database itself says that it runs
    on the server host.
    """

    claimed: str | None = None  # --as / AIDFLOW_USER
    _identity: tuple[str | None, str | None] | None = None  # (user, entered_by)
    server: str | None = None  # client mode: the server's URL (set from the settings)

    def __post_init__(self) -> None:
        if self.claimed is None:
            self.claimed = self.settings.user
        if self.server is None and not self.settings.explicit("database_url"):
            self.server = self.settings.server
            if self.server is None:
                from aidflow.errors import InvalidInputError

                try:
                    saved = self.saved_login()
                except InvalidInputError:
                    # still client mode: each command that needs the login says what is wrong
                    # with it, and `aidflow login` (which does not read it) replaces it
                    self.server = "(the saved login's server)"
                else:
                    self.server = saved.url if saved is not None else None

    def saved_login(self) -> Login | None:
        """The login `aidflow login` saved, if any."""
        from aidflow.client import credentials

        path = self.settings.credentials_file
        return credentials.load(path) if path is not None else None

    def _resolve(self) -> tuple[str | None, str | None]:
        if self._identity is None:
            if self.server is not None:  # the token's user; the server checks the token
                saved = self.saved_login()
                self._identity = (saved.user if saved is not None else None, None)
                return self._identity
            from aidflow.services.users import local_identity

            with self.database.reading() as session:
                found = local_identity(session, self.os_login, self.claimed)
            self._identity = (found.user, found.entered_by)
        return self._identity

    @property
    def os_login(self) -> str:
        """The operating-system account running this command (from the kernel's user id,
        not from an environment variable anyone can set)."""
        import os
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name

    @property
    def user(self) -> str | None:
        """The acting user (None only before the first user of an empty database exists)."""
        return self._resolve()[0]

    @user.setter
    def user(self, name: str | None) -> None:
        self._identity = (name, None)

    @property
    def entered_by(self) -> str | None:
        """The administrator entering this command for `user`, if --as named someone else."""
        return self._resolve()[1]

    @contextmanager
    def transaction(self, check: bool = True) -> Iterator[Service]:
        # entered_by is set only with --as, so only then is the user resolved up front
        entered_by = self._resolve()[1] if self.claimed else None
        with super().transaction(check) as svc:
            svc.entered_by = entered_by
            yield svc

    @contextmanager
    def reading(self) -> Iterator[Service]:
        entered_by = self._resolve()[1] if self.claimed else None
        with super().reading() as svc:
            svc.entered_by = entered_by
            yield svc

    def call(self, name: str, key: str | None = None, **params: Any) -> Any:
        """Run the operation `name` (aidflow.operations) with `params` and the idempotency
        `key` of a writing command; its JSON-able result.

        In local mode it runs in this process, in one unit of work on this runtime's
        database. In client mode the server runs it for the token's user (aidflow.server).
        """
        if self.server is not None:
            return self.call_server(name, key, params)
        from aidflow.operations import Caller, execute

        user, entered_by = self._resolve()
        caller = Caller(user=user, lang=self.lang, entered_by=entered_by, key=key)
        return execute(self, name, caller, params)

    def announce_training(self, at: datetime | None) -> None:
        """One line on stderr, so that no output of a training database passes for real."""
        click.echo(training_banner(self.lang, local(at, self) if at else None), err=True)

    def call_server(self, name: str, key: str | None, params: dict[str, Any]) -> Any:
        from aidflow.client.api import call
        from aidflow.errors import AuthenticationError, InvalidInputError

        if self.settings.explicit("user"):
            raise InvalidInputError(
                _(
                    "--as (or AIDFLOW_USER) is for local mode only: in client mode you act as "
                    "the user you logged in as"
                ),
                hint=_("drop --as; `aidflow whoami` shows who you are logged in as"),
            )
        saved = self.saved_login()
        if saved is None or saved.url.rstrip("/") != (self.server or "").rstrip("/"):
            raise AuthenticationError(
                _("not logged in to {server}", server=self.server),
                hint=_("run `aidflow login {server}`", server=self.server),
            )
        return call(
            saved.url, saved.token, name, params, self.lang, key, self.settings.now, self.told
        )

    def told(self, at: str | None) -> None:
        """The server said it works on a training database: say so, once per command."""
        if not self._announced:
            self._announced = True
            self.announce_training(datetime.fromisoformat(at) if at else None)

    @property
    def database(self) -> Database:
        """The database (local mode); in client mode, an error naming where the command runs."""
        if self.server is not None:
            command = click.get_current_context(silent=True)
            path = command.command_path if command is not None else _("this command")
            raise click.UsageError(
                _(
                    "`{command}` works on the database directly, so it runs on the server "
                    "host with --db URL; this terminal is in client mode (server {server})",
                    command=path,
                    server=self.server,
                )
            )
        return super().database


def training_banner(lang: str, at: str | None) -> str:
    """The line every command on a training database prints: the mode and the simulated time."""
    from aidflow.i18n import use_language

    with use_language(lang):
        if at:
            return _("[training database: simulated time {at}]", at=at)
        return _("[training database]")


pass_app = click.make_pass_decorator(App)

# Case, escalation and outbox ids: a positive 64-bit integer, so a huge number is a usage
# error (exit 2) instead of an overflow inside the database driver.
ROW_ID = click.IntRange(1, 2**63 - 1)


def emit_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def local(at: datetime | None, app: App) -> str:
    if at is None:
        return "-"
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(app.tz)).strftime("%Y-%m-%d %H:%M")
