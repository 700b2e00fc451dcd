"""The clock: writes take the system clock; --now is for training databases; events in order.

A production database refuses a simulated time (--now, AIDFLOW_NOW) on every write, through
the CLI and through the operations a server runs, and writes nothing; reads take --now
anywhere. A training database is made so when it is created (`db upgrade --training`), says
so on every command, and cannot be switched; its mode row is in the audit log, so a switch
made with SQL is found. No event of a case may be dated before the case's last event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine, text

from aidflow.clock import FrozenClock
from aidflow.errors import ExitCode, ForbiddenError
from aidflow.language.calendar import WorkCalendar
from aidflow.operations import Caller, execute
from aidflow.services.runtime import Runtime
from aidflow.settings import Settings
from aidflow.store.database import Database, make_engine, upgrade
from aidflow.store.models import SCHEMA_REVISION, Base

from .conftest import PERSON_ID, REPO, START, Cli, World, populate

NOW = "2023-08-05T09:00"
BANNER = "[training database: simulated time 2023-08-01 09:00]\n"
HINT = (
    "  hint: leave out --now (and unset AIDFLOW_NOW) to write; to practise with a simulated "
    "time, create a training database: `aidflow --db training.db db upgrade --training`\n"
)


def described(url: str) -> str:
    """The database at `url` as messages name it."""
    database = Database.open(url)
    try:
        return database.describe()
    finally:
        database.dispose()


def refused_now(url: str) -> str:
    """What a write with --now on the production database at `url` says on stderr."""
    return (
        f"error: the database {described(url)} is a production database: "
        "--now is only for training databases; writes take the system clock\n" + HINT
    )


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every aidflow table, in a stable order."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t.name} ORDER BY 1"))]
                for t in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
    return result.stdout


@pytest.fixture
def production(db_url: str, calendar: WorkCalendar) -> Iterator[World]:
    """A production database (created without --training) with users, the shipped
    workflows, one person and case 1 in the village review, written through the services
    (the rule on time lives in the runtime, above them)."""
    engine = make_engine(db_url)
    upgrade(engine)
    w = World(engine, FrozenClock(START), calendar)
    populate(w)
    walk_to_review(w)
    yield w
    engine.dispose()


def walk_to_review(w: World) -> int:
    cid: int = w.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    w.fire("li", cid, "accept")
    w.fire("li", cid, "start_investigation", investigators="li,zhao")
    w.clock.advance(timedelta(hours=2))
    w.fire("li", cid, "submit_findings", "visited", monthly_income="120", income_stable="false")
    return cid


def mode(engine: Engine) -> str:
    with engine.connect() as conn:
        value: str = conn.execute(text("SELECT mode FROM database_info")).scalar_one()
        return value


# -- production ------------------------------------------------------------------------------

WRITES = [
    ("li", ("case", "open", PERSON_ID, "--workflow", "tekun")),
    ("chen", ("case", "fire", "1", "review_passed")),
    ("rep1", ("case", "vote", "1", "yes")),
    ("li", ("case", "note", "1", "--note", "called the applicant")),
    ("admin", ("scheduler", "tick")),
]


def test_production_refuses_now_on_writes_and_writes_nothing(
    production: World, db_url: str
) -> None:
    run = Cli(db_url, now=NOW, banner=True)
    before = dump(db_url)
    for user, argv in WRITES:
        result = run(*argv, user=user)
        assert result.exit_code == ExitCode.FORBIDDEN, (argv, result.output)
        assert result.stderr == refused_now(db_url), argv
        assert result.stdout == ""
    assert dump(db_url) == before


def test_production_refuses_aidflow_now_from_the_environment(
    production: World, db_url: str
) -> None:
    from click.testing import CliRunner

    from aidflow.cli.main import cli

    before = dump(db_url)
    result = CliRunner().invoke(
        cli,
        ["--db", db_url, "--as", "li", "case", "note", "1", "--note", "late call"],
        env={"AIDFLOW_NOW": NOW, "AIDFLOW_USER": None, "AIDFLOW_DATABASE_URL": None},
    )
    assert result.exit_code == ExitCode.FORBIDDEN
    assert result.stderr == refused_now(db_url)
    assert dump(db_url) == before


def test_production_reads_take_now_and_writes_take_the_system_clock(
    production: World, db_url: str
) -> None:
    run = Cli(db_url, now=NOW, banner=True)
    shown = run("case", "show", "1", user="li")
    assert ok(shown).startswith("Case 1  Minimum living guarantee")
    assert "\nState: village_review " in shown.stdout
    assert shown.stderr == ""  # no banner on a production database
    listed = run("case", "list", user="li")
    assert ok(listed).count("village_review") == 1
    assert listed.stderr == ""

    # the same vote without --now is taken, at the system clock's time
    from click.testing import CliRunner

    from aidflow.cli.main import cli

    env = {k: None for k in ("AIDFLOW_NOW", "AIDFLOW_USER", "AIDFLOW_DATABASE_URL")}
    argv = ["--db", db_url, "--as", "rep1", "case", "vote", "1", "yes"]
    voted = CliRunner().invoke(cli, argv, env=env)
    assert voted.exit_code == 0, voted.output
    assert voted.stderr == ""
    from aidflow.store.events import events_of_case

    last = production.run(lambda svc: events_of_case(svc.session, 1))[-1]
    assert (last.kind, last.actor) == ("vote", "rep1")
    assert last.at > START + timedelta(days=365)  # the system clock, not the case's 2023


def test_a_server_request_with_a_simulated_time_is_refused_on_production(
    production: World, db_url: str
) -> None:
    """The server runs an operation on the runtime with the request's time in its settings
    (and no clock of its own yet): the same check refuses it."""
    runtime = Runtime(Settings(database_url=db_url))
    runtime.database.check()  # the server's database is open before its first request
    at = replace(runtime, settings=replace(runtime.settings, now=NOW), _clock=None)
    try:
        before = dump(db_url)
        with pytest.raises(ForbiddenError) as refused:
            execute(at, "case.note", Caller(user="li", lang="en"), {"case_id": 1, "note": "x"})
        assert f"error: {refused.value}\n" == refused_now(db_url)
        assert dump(db_url) == before
        # reads take the simulated time
        with at.reading() as svc:
            assert svc.case(1).state == "village_review"
    finally:
        runtime.close()


# -- training --------------------------------------------------------------------------------


def test_a_training_database_takes_now_and_says_so_on_every_command(db_url: str) -> None:
    run = Cli(db_url, banner=True)
    created = run("db", "upgrade", "--training")
    assert ok(created).endswith(
        f": schema at revision {SCHEMA_REVISION} (was empty); training database\n"
    )
    assert created.stderr == BANNER
    steps: list[tuple[str | None, tuple[str, ...]]] = [
        (None, ("user", "add", "admin", "--role", "admin", "--area", "*", "--email", "a@c.cn")),
        ("admin", ("workflow", "deploy", str(REPO / "src" / "aidflow" / "shipped" / "workflows"))),
        ("admin", ("area", "import", str(REPO / "tests" / "data" / "areas.csv"))),
        (
            "admin",
            ("user", "add", "li", "--role", "township_caseworker", "--area", "城关镇")
            + ("--email", "li@c.cn"),
        ),
        (
            "li",
            ("person", "add", PERSON_ID, "--name", "王秀英", "--township", "城关镇")
            + ("--village", "东村", "--hukou", "rural"),
        ),
        ("li", ("case", "open", PERSON_ID, "--workflow", "dibao")),
        ("li", ("case", "fire", "1", "accept")),
        ("admin", ("scheduler", "tick")),
        ("li", ("case", "show", "1")),
    ]
    for user, argv in steps:
        result = run(*argv, user=user)
        assert result.exit_code == 0, (argv, result.output)
        assert result.stderr.startswith(BANNER), argv
        # deployed before any user holds the ladders' roles: a warning per rung, nothing else
        rest = result.stderr[len(BANNER) :].splitlines()
        assert all(line.startswith("warning: ") for line in rest), argv
        assert not rest or argv[0] == "workflow", argv
        assert result.output.startswith(BANNER)  # before the command's own output
    zh = run("--lang", "zh", "case", "show", "1", user="li")
    assert zh.stderr == "[训练数据库：模拟时间 2023-08-01 09:00]\n"

    from click.testing import CliRunner

    from aidflow.cli.main import cli

    env = {k: None for k in ("AIDFLOW_NOW", "AIDFLOW_USER", "AIDFLOW_DATABASE_URL")}
    argv = ["--db", db_url, "--as", "li", "case", "show", "1"]
    real_time = CliRunner().invoke(cli, argv, env=env)
    assert real_time.exit_code == 0
    assert real_time.stderr == "[training database]\n"


def test_the_mode_is_set_at_creation_and_cannot_be_switched(
    production: World, db_url: str, tmp_path: Path
) -> None:
    run = Cli(db_url, banner=True)
    url = described(db_url)
    switched = run("db", "upgrade", "--training")
    assert switched.exit_code == ExitCode.REFUSED
    assert switched.stderr == (
        f"error: the database {url} is a production database; its mode is set when it is "
        "created and cannot be changed\n"
        "  hint: create a training database from empty: "
        "`aidflow --db training.db db upgrade --training`\n"
    )
    assert mode(production.engine) == "production"

    # a new database given --now without --training is not created at all
    new = tmp_path / "new.db"
    refused = Cli(f"sqlite:///{new}", banner=True)("db", "upgrade")
    assert refused.exit_code == ExitCode.FORBIDDEN
    assert refused.stderr == (
        f"error: the database sqlite:///{new} would be created as a production database: "
        "--now is only for training databases; writes take the system clock\n"
        "  hint: add --training to create a training database, or leave out --now\n"
    )
    assert not new.exists()


def test_a_training_database_stays_one_when_upgraded_again(engine: Engine, db_url: str) -> None:
    again = Cli(db_url, banner=True)("db", "upgrade")
    assert ok(again).endswith(f": schema at revision {SCHEMA_REVISION}\n")
    assert again.stderr == BANNER
    assert mode(engine) == "training"


def test_a_mode_switched_with_sql_is_found_by_audit_verify(production: World, db_url: str) -> None:
    with production.engine.begin() as conn:
        conn.execute(text("UPDATE database_info SET mode = 'training'"))
    # the switch takes effect (--now is taken now) but is not hidden
    assert Cli(db_url, now=NOW)("case", "note", "1", "--note", "x", user="li").exit_code == 0
    found = "the database's mode (log entry #1): changed after it was logged"
    assert production.verify_log() == [found]
    result = Cli(db_url)("audit", "verify", user="admin")
    assert result.exit_code == ExitCode.AUDIT_FAILED
    assert result.stdout == found + "\n"


def test_a_deleted_mode_row_reads_as_production_and_is_found(
    production: World, db_url: str
) -> None:
    with production.engine.begin() as conn:
        conn.execute(text("DELETE FROM database_info"))
    assert production.verify_log() == ["the database's mode (log entry #1): deleted"]
    result = Cli(db_url, now=NOW)("case", "note", "1", "--note", "x", user="li")
    assert result.exit_code == ExitCode.FORBIDDEN
    assert result.stderr == refused_now(db_url)


# -- events in time order --------------------------------------------------------------------


def test_an_event_dated_before_the_case_s_last_event_is_refused(world: World, db_url: str) -> None:
    run = Cli(db_url)
    cid = world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    assert cid == 1
    ok(run("case", "fire", "1", "accept", user="li", now="2023-08-01T11:00"))
    before = dump(db_url)
    hint = (
        "  hint: the events of a case are in time order; give a --now at or after the case's "
        "last event\n"
    )
    for argv in (
        ("case", "fire", "1", "start_investigation", "--field", "investigators=li,zhao"),
        ("case", "note", "1", "--note", "backdated"),
    ):
        result = run(*argv, user="li", now="2023-08-01T10:59:59")
        assert result.exit_code == ExitCode.REFUSED, result.output
        assert result.stderr == (
            "error: case 1's last event is at 2023-08-01 11:00:00+08:00; an event cannot be "
            "dated before it (this one is at 2023-08-01 10:59:59+08:00)\n" + hint
        )
    assert dump(db_url) == before
    # the same instant is not before it
    ok(run("case", "note", "1", "--note", "same minute", user="li", now="2023-08-01T11:00"))


def test_a_backdated_vote_is_refused_and_leaves_no_vote(world: World, db_url: str) -> None:
    cid = walk_to_review(world)  # the findings are in at 2023-08-01 11:00
    before = dump(db_url)
    result = Cli(db_url)("case", "vote", str(cid), "yes", user="rep1", now="2023-08-01T10:00")
    assert result.exit_code == ExitCode.REFUSED
    assert result.stderr.startswith(
        f"error: case {cid}'s last event is at 2023-08-01 11:00:00+08:00; an event cannot be "
        "dated before it (this one is at 2023-08-01 10:00:00+08:00)\n"
    )
    assert dump(db_url) == before  # the vote row went with the refused event


def test_the_services_refuse_a_backdated_event_too(world: World) -> None:
    """The rule is in the one writer of events, so every caller keeps it (sweeps too)."""
    from aidflow.errors import RefusedError

    cid = world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    world.clock.advance(timedelta(hours=1))
    world.fire("li", cid, "accept")
    world.clock.advance(timedelta(minutes=-1))
    with pytest.raises(RefusedError) as refused:
        world.run(lambda svc: svc.add_note(svc.actor("li"), cid, "a minute early"))
    assert refused.value.message == (
        f"case {cid}'s last event is at 2023-08-01 02:00:00+00:00; an event cannot be dated "
        "before it (this one is at 2023-08-01 01:59:00+00:00)"
    )
