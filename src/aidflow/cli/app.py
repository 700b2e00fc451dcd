"""What every command shares: the settings, the county's files, the clock, the database,
the mailer, and helpers for printing.

`App` is made once per invocation from the `Settings` (aidflow.settings) and passed to
every command; commands take what they need from it and hand the values down as
parameters. Imports of SQLAlchemy and the engine happen inside methods, so `aidflow --help`
and click's parsing stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click

from aidflow.services.runtime import Runtime, parse_time

__all__ = ["App", "ROW_ID", "emit_json", "local", "parse_time", "pass_app", "training_banner"]


@dataclass
class App(Runtime):
    """One invocation's runtime and its acting user (--as / AIDFLOW_USER)."""

    user: str | None = None

    def __post_init__(self) -> None:
        if self.user is None:
            self.user = self.settings.user

    def call(self, name: str, key: str | None = None, **params: Any) -> Any:
        """Run the operation `name` (aidflow.operations) with `params` and the idempotency
        `key` of a writing command; its JSON-able result.

        In local mode it runs in this process, in one unit of work on this runtime's
        database. The same operation runs on the server for a client (aidflow.server).
        """
        from aidflow.operations import Caller, execute

        caller = Caller(user=self.user, lang=self.lang, key=key)
        return execute(self, name, caller, params)

    def announce_training(self, at: datetime | None) -> None:
        """One line on stderr, so that no output of a training database passes for real."""
        click.echo(training_banner(self.lang, local(at, self) if at else None), err=True)


def training_banner(lang: str, at: str | None) -> str:
    """The line every command on a training database prints: the mode and the simulated time."""
    if lang == "zh":
        return f"[训练数据库：模拟时间 {at}]" if at else "[训练数据库]"
    return f"[training database: simulated time {at}]" if at else "[training database]"


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
