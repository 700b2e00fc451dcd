"""Access: every CLI command, run by an unknown user, a user without the role or outside the area.

The command tree is walked (click), so a new command fails test_every_command_has_an_access_row
until it gets a row in PROBES (refusals to check) or OPEN (needs no acting user, with why).
Exit codes (README): 4 unknown user, 5 forbidden (the command's role or the area), 6 refused
by the workflow's rules (a transition's `roles` are rules of the workflow, as in test_cli).
Every refusal leaves the database unchanged (a full dump before and after).

Also: ID numbers are masked in the default output of case show/list/history, in the
emails the scheduler renders (notify), and never reach the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import click
import pytest
from sqlalchemy import select

from aidflow.cli.main import cli as root
from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.notify.memory import MemoryMailer
from aidflow.services import delivery
from aidflow.services import escalations as jobs
from aidflow.store.database import make_engine, upgrade
from aidflow.store.models import OutboxMessage

from .conftest import PERSON_ID, START, WORKFLOWS, Cli, World, _pg_schema_url
from .test_cli import dump
from .test_concurrency import dibao_world, world  # noqa: F401 - the dibao-only world fixture

CALENDAR = WorkCalendar.from_file(WORKFLOWS / "policy" / "calendar.yaml")

MASKED = "110***********002X"
GHOST = ("ghost", 4, "no user named 'ghost'")
FINDINGS = ["-n", "visited", "-f", "monthly_income=1", "-f", "income_stable=no"]
PERSON = ["--name", "李四", "--township", "城关镇", "--village", "东村", "--hukou", "rural"]

# command -> [(user, arguments, exit code, text in the error)]. Cases: 1 in investigation,
# 2 in village_review, 3 in public_notice (all 城关镇/东村); escalation 1 and outbox 1 exist.
PROBES: dict[str, list[tuple[str | None, list[str], int, str]]] = {
    "case open": [
        (
            "rep1",
            [PERSON_ID, "-w", "dibao"],
            5,
            "opening a dibao case needs role township_caseworker",
        ),
        ("wu", [PERSON_ID, "-w", "dibao"], 5, "城关镇/东村 is outside wu's area (河西镇)"),
    ],
    "case fire": [
        (
            "wu",
            ["1", "submit_findings", *FINDINGS],
            5,
            "case 1 is in 城关镇/东村, outside wu's area",
        ),
        (
            "rep1",
            ["1", "submit_findings", *FINDINGS],
            6,
            "needs role township_caseworker; rep1 has village_rep",
        ),
        (
            "sun",
            ["1", "submit_findings", *FINDINGS],
            6,
            "needs role township_caseworker; sun has county_officer",
        ),
    ],
    "case vote": [
        (
            "li",
            ["2", "yes"],
            5,
            "voting on case 2 needs role village_rep; li has township_caseworker",
        ),
        ("wu", ["2", "yes"], 5, "case 2 is in 城关镇/东村, outside wu's area"),
    ],
    "case object": [
        ("wu", ["3", "-n", "x"], 5, "case 3 is in 城关镇/东村, outside wu's area"),
        ("rep1", ["3", "-n", "x"], 6, "needs role township_caseworker or village_officer"),
    ],
    "case note": [("wu", ["1", "-n", "x"], 5, "case 1 is in 城关镇/东村, outside wu's area")],
    "case show": [
        ("wu", ["1"], 5, "case 1 is outside wu's area (河西镇)"),
        ("rep1", ["1", "--show-id"], 5, "rep1 may not see full ID numbers on dibao cases"),
    ],
    "case history": [("wu", ["1"], 5, "case 1 is outside wu's area (河西镇)")],
    "case list": [("wu", [], 0, "(none)")],  # filtered to the user's area: nothing to see
    "person add": [
        ("wu", ["110105194912310011", *PERSON], 5, "城关镇/东村 is outside wu's area (河西镇)")
    ],
    # filtered to the user's area: nothing to find
    "person find": [("wu", ["王秀"], 0, "no one found matching '王秀' in wu's area (河西镇)")],
    "person show": [
        ("wu", [PERSON_ID], 5, f"person {MASKED} is outside wu's area (河西镇)"),
        ("rep1", [PERSON_ID, "--show-id"], 5, "rep1 may not see the full ID number of person"),
    ],
    "household add": [("wu", [PERSON_ID], 5, "城关镇/东村 is outside wu's area (河西镇)")],
    "user add": [
        (
            "li",
            ["bob", "--role", "admin", "--area", "*", "--email", "b@c.d"],
            5,
            "admin may not administer users as li",
        ),
        (
            None,
            ["bob", "--role", "township_caseworkr", "--area", "*", "--email", "b@c.d"],
            3,
            "did you mean 'township_caseworker'?",
        ),
        (
            None,
            ["bob", "--role", "admin", "--area", "城关真/东村", "--email", "b@c.d"],
            3,
            "did you mean '城关镇/东村'?",
        ),
    ],
    **{
        f"user {command}": [(user, args, 5, "admin may not administer users as li")]
        for command, user, args in (
            ("disable", "li", ["zhao"]),
            ("enable", "li", ["zhao"]),
            ("set-roles", "li", ["zhao", "--role", "admin"]),
            ("set-area", "li", ["zhao", "*"]),
            ("set-login", "li", ["zhao", "nobody"]),
            ("reset-password", "li", ["zhao"]),
            ("revoke-tokens", "li", ["zhao"]),
        )
    },
    "user passwd": [
        ("li", ["--password-stdin"], 5, "admin may not change li's password"),
    ],
    "area list": [("rep1", [], 0, "城关镇/东村")],
    "workflow deploy": [("li", [str(WORKFLOWS / "dibao.yaml")], 5, "li is not an administrator")],
    "workflow migrate": [
        ("li", ["dibao", "--to", "1", "--dry-run"], 5, "li is not an administrator")
    ],
    "workflow simulate": [
        (
            "li",
            [str(WORKFLOWS / "dibao.yaml"), "--against-database"],
            5,
            "li is not an administrator",
        )
    ],
    "escalation list": [("wu", [], 0, "no open escalations")],
    "escalation ack": [
        (
            "wu",
            ["1"],
            5,
            "wu is neither the recipient nor a township_caseworker covering 城关镇/东村",
        ),
        ("rep1", ["1"], 5, "rep1 is neither the recipient"),
    ],
    "outbox list": [("li", [], 5, "li is not an administrator")],
    "user list": [("rep1", [], 0, "admin")],
    "outbox retry": [("li", ["1"], 5, "li is not an administrator")],
    "sample draw": [
        (
            "li",
            ["-w", "dibao", "--state", "county_review", "--ratio", "0.3", "--seed", "s"],
            5,
            "drawing a sample of 'county_review' needs role county_officer; li has "
            "township_caseworker",
        )
    ],
    "notice print": [
        ("wu", ["--village", "城关镇/东村"], 5, "village 城关镇/东村 is outside wu's area (河西镇)")
    ],
}
for _rows in PROBES.values():  # and an unknown user everywhere a user is read
    args = _rows[0][1]
    _rows.append((GHOST[0], args, GHOST[1], GHOST[2]))

# Other engineers' commands (payments, imports, visits, ledger, look-back): the unknown user only;
# their owners' tests check their roles.
LATER = {
    "area import": ["nonexistent.csv"],
    # tests/test_case_import.py checks the import roles and the area on a real ledger
    "case import": ["x.csv", "-w", "dibao"],
    # tests/test_households.py checks their areas on a household the fixture does not have
    "household income": ["1", PERSON_ID, "100"],
    "household member": ["1", PERSON_ID, "--relationship", "spouse"],
    "household show": ["1"],
    "ledger export": ["--format", "csv"],
    "lookback": [],
    "payments export": ["--period", "2023-08"],
    "payments reconcile": ["nonexistent.csv"],
    "payments run": [],
    "person import": ["x.csv", "--source", "x"],
    # tests/test_report.py checks a township user's refusal for another township
    "report": ["--format", "json"],
    "visit due": [],
    "visit log": ["1", "--kind", "visit"],
}

# commands that need no acting user, and why that is safe
OPEN = {
    "workflow validate": "reads files only",
    "workflow schema": "prints a JSON Schema",
    "workflow reference": "prints the language reference from the package",
    "workflow list": "workflow definitions hold no personal data",
    "workflow show": "same",
    "workflow diagram": "same",
    "notify preview": "sample data only",
    "notify check": "templates only",
    "db upgrade": "needs the database credentials, which are the boundary",
    "demo": "a new demo file",
    "init": "copies the shipped files into a new directory; no database",
    "county generate": "writes a synthetic county's files; no database",
    "scheduler tick": "system jobs (cron); database credentials",
    "scheduler run": "same",
    "audit verify": "prints case ids, sequence numbers and hashes only",
    "audit keygen": "writes a new key file only; no database",
    "audit checkpoint": "signs the log's size and head hash; needs the signing key file, "
    "which is the boundary",
    "serve": "needs the database credentials; every request then proves its user by a token",
    "login": "proves the user by the password (tests/test_server.py)",
    "logout": "revokes the saved token only",
    "whoami": "asks the server who the saved token's user is",
}


def commands(group: click.Group = root, prefix: str = "") -> Iterator[str]:
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}".strip()
        if isinstance(cmd, click.Group):
            yield from commands(cmd, path)
        else:
            yield path


def test_every_command_has_an_access_row() -> None:
    missing = [c for c in commands() if c not in PROBES and c not in OPEN and c not in LATER]
    assert missing == [], (
        f"add these commands to PROBES, OPEN or LATER in tests/test_access.py: {missing}"
    )
    stale = [c for c in (*PROBES, *OPEN, *LATER) if c not in set(commands())]
    assert stale == []


def build_county(world: World, url: str) -> Cli:  # noqa: F811
    """Case 1 in investigation with a fired reminder rung and its email; 2 in village_review;
    3 in notice."""

    def case_to(steps: int) -> int:
        cid = int(world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id))
        world.fire("li", cid, "accept")
        world.fire("li", cid, "start_investigation", investigators="li,zhao")
        if steps > 2:
            world.fire(
                "li",
                cid,
                "submit_findings",
                note="visited",
                monthly_income="120",
                income_stable="no",
            )
        if steps > 3:
            for i in range(1, 6):
                world.run(lambda svc, i=i: svc.vote(svc.actor(f"rep{i}"), cid, "yes"))
            world.fire("chen", cid, "review_passed")
        return cid

    assert case_to(2) == 1
    world.clock.advance(timedelta(days=13))  # case 1 past its 12-day reminder rung
    world.run(lambda svc: jobs.sweep_deadlines(svc.session, world.clock, world.calendar))
    assert [case_to(3), case_to(4)] == [2, 3]
    return Cli(url, now=world.clock.now().strftime("%Y-%m-%dT%H:%M"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def county(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cli]:
    """One county per backend for all refusals: each must leave it unchanged,
    which each test checks."""
    urls = (
        iter([f"sqlite:///{tmp_path_factory.mktemp('access') / 'aidflow.db'}"])
        if request.param == "sqlite"
        else _pg_schema_url()
    )
    url = next(urls)
    engine = make_engine(url)
    try:
        upgrade(engine, training=True)  # the county's clock is simulated (--now)
        yield build_county(dibao_world(engine, FrozenClock(START), CALENDAR), url)
    finally:
        engine.dispose()
        for _ in urls:  # drops the PostgreSQL schema
            pass


def _probes() -> list[tuple[str, str | None, list[str], int, str]]:
    return [(cmd, *row) for cmd, rows in PROBES.items() for row in rows]


@pytest.mark.parametrize(
    ("command", "user", "args", "code", "text"),
    _probes(),
    ids=[f"{c}-{u}" for c, u, *_ in _probes()],
)
def test_refused_and_nothing_changes(
    county: Cli, command: str, user: str | None, args: list[str], code: int, text: str
) -> None:
    before = dump(county.url)
    result = county(*command.split(), *args, user=user)
    assert result.exit_code == code, (result.exit_code, result.output)
    assert text in (result.stdout if code == 0 else result.stderr)
    assert "Traceback" not in result.output
    assert dump(county.url) == before


@pytest.mark.parametrize("command", sorted(LATER))
def test_later_commands_refuse_an_unknown_user(county: Cli, command: str) -> None:
    before = dump(county.url)
    result = county(*command.split(), *LATER[command], user="ghost")
    assert result.exit_code in (2, 3, 4), (
        result.exit_code,
        result.output,
    )  # never run for an unknown user
    assert "Traceback" not in result.output
    assert dump(county.url) == before


def test_id_numbers_are_masked_in_output_emails_and_logs(
    world: World,  # noqa: F811 - the fixture imported above
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    county = build_county(world, db_url)
    caplog.set_level(logging.DEBUG, logger="aidflow")
    outputs = {}
    for argv in (
        ["case", "show", "1"],
        ["case", "show", "1", "--json"],
        ["case", "list"],
        ["case", "list", "--json"],
        ["case", "history", "1"],
        ["case", "history", "1", "--json"],
        ["escalation", "list"],
    ):
        result = county(*argv, user="li")
        assert result.exit_code == 0, result.output
        outputs[" ".join(argv)] = result.output
    for cmd in ("case show 1", "case show 1 --json", "case list", "case list --json"):
        assert MASKED in outputs[cmd], cmd
    for cmd, text in outputs.items():
        assert PERSON_ID not in text, cmd
    # the full number only on request, for a role that owns a step
    assert PERSON_ID in county("case", "show", "1", "--show-id", user="li").output
    # emails: the sweep queued them, delivery renders them through notify and keeps the text
    # on the row
    mailer = MemoryMailer()
    with world.session() as s, s.begin():
        delivery.deliver_outbox(s, world.clock, mailer)
    assert mailer.sent
    mails = world.run(
        lambda svc: [
            (m.subject, m.text, m.html) for m in svc.session.scalars(select(OutboxMessage))
        ]
    )
    assert mails, "the sweep queued no email"
    for subject, text, html in mails:
        assert PERSON_ID not in subject + text + html
        assert MASKED in text and MASKED in html
    tick = county("scheduler", "tick")
    assert tick.exit_code == 0, tick.output
    assert PERSON_ID not in caplog.text and PERSON_ID not in tick.output
