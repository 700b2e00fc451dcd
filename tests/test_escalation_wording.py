"""What escalation emails say: a warning before the rule's limit, a breach after it, lateness
counted from the limit, and the reason given when the case was opened."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from aidflow.notify.mailer import Message
from aidflow.notify.memory import MemoryMailer
from aidflow.services import delivery
from aidflow.services import escalations as jobs
from aidflow.services.cases import Service
from aidflow.store.models import Escalation, OutboxMessage

from .conftest import WORKFLOWS, Cli, World
from .test_programmes import PATIENT, add_person, county, id_number, run

__all__ = ["county"]


def tick(world: World) -> list[Message]:
    """One sweep and one delivery round; the messages sent."""
    mailer = MemoryMailer()

    def both(svc: object) -> None:
        session = svc.session  # type: ignore[attr-defined]
        jobs.escalate(session, world.clock, world.calendar)
        delivery.deliver_outbox(session, world.clock, mailer, calendar=world.calendar)

    run(world, both)
    return mailer.sent


def test_the_20_hour_rung_warns_before_the_24_hour_limit_and_the_24_hour_rung_reports_a_breach(
    county: World,
) -> None:
    world = county
    add_person(world, PATIENT)
    cid = run(
        world,
        lambda svc: (
            svc.open_case(
                svc.actor("li"), PATIENT, "temporary_assistance", emergency=True, note="住房失火"
            ).id
        ),
    )
    world.clock.advance(timedelta(hours=20))
    sent = tick(world)
    (warning,) = [m for m in sent if m.to == ("ma@county.example",)]
    assert warning.subject == (
        f"[URGENT] Emergency assistance not given yet: 城关镇/东村 case #{cid} must be "
        "assisted within 24 hours, 4 hours left"
    )
    assert "was passed" not in warning.text and "breach" not in warning.text
    assert "the limit is reached in 4 hours" in warning.text
    assert "Time left:   4 hours (limit 24 hours)" in warning.text
    assert "(住房失火)" in warning.text and "Reason:      住房失火" in warning.text

    world.clock.advance(timedelta(hours=5))
    (breach,) = tick(world)
    assert breach.to == ("qian@county.example",)
    assert breach.subject == (
        f"[URGENT] Emergency assistance not given: 城关镇/东村 case #{cid} is 1 hour past "
        "the limit of 24 hours"
    )
    assert "This breach has been recorded." in breach.text

    # the repeat a day later: late from the 24-hour limit, not from the repeat's own time
    world.clock.advance(timedelta(hours=24))
    (repeat,) = tick(world)
    assert repeat.subject.endswith("is 1 day 1 hour past the limit of 24 hours")
    assert "Overdue by:  1 day 1 hour (limit 24 hours)" in repeat.text


def test_migration_0014_adds_display_names_and_keeps_users(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    import aidflow.store.database as database
    from aidflow.store.database import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))

    def migrate(to: str, down: bool = False) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, to)

    try:
        migrate("0012")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (name, email, roles, area, created_at, "
                    "must_change_password, disabled, failed_logins) VALUES "
                    "('ma', 'ma@county.example', '[\"township_supervisor\"]', '城关镇', "
                    "'2023-08-01 01:00:00', 0, 0, 0)"
                )
            )
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name, display_name FROM users")).all() == [
                ("ma", None)
            ]
        columns = {c["name"] for c in inspect(engine).get_columns("escalations")}
        assert {"meant_for", "rerouted"} <= columns
        migrate("0012", down=True)
        assert "display_name" not in {c["name"] for c in inspect(engine).get_columns("users")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM users")).scalars().all() == ["ma"]
    finally:
        engine.dispose()


def test_emails_greet_people_by_their_display_names(county: World, db_url: str) -> None:
    world = county
    cli = Cli(db_url)
    added = cli(
        "user", "add", "zhang", "--role", "township_supervisor", "--area", "城关镇",
        "--email", "zhang@county.example", "--display-name", "张建国", user="admin",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = json.loads(cli("user", "list", "--json", user="admin").output)
    assert {u["name"]: u["display_name"] for u in listed}["zhang"] == "张建国"
    bad = cli(
        "user", "add", "wang", "--role", "township_supervisor", "--area", "城关镇",
        "--email", "wang@county.example", "--display-name", "王\x07五", user="admin",
    )  # fmt: skip
    assert bad.exit_code == 3, bad.output
    add_person(world, PATIENT)
    run(
        world,
        lambda svc: svc.open_case(svc.actor("li"), PATIENT, "temporary_assistance", emergency=True),
    )
    world.clock.advance(timedelta(hours=20))
    greetings = {m.to[0]: m.text.splitlines()[0] for m in tick(world)}
    assert greetings["zhang@county.example"] == "张建国,"
    assert greetings["ma@county.example"] == "ma,"  # no display name: the login name


def test_an_emergency_whose_20_and_24_hour_roles_have_no_users_still_reaches_someone(
    world: World, db_url: str
) -> None:
    """The plain world has no township or county supervisor: both rungs go up to the admin."""
    cli = Cli(db_url)
    deployed = cli("workflow", "deploy", str(WORKFLOWS / "temporary_assistance.yaml"), user="admin")
    assert deployed.exit_code == 0, deployed.output
    assert (
        "warning: temporary_assistance: ladder emergency_24h rung 2 (after 20h) goes to "
        "township_supervisor, which no user holds; its escalations go to admin instead "
        "(add a user with `aidflow user add NAME --role township_supervisor ...`)\n"
    ) in deployed.stderr
    assert "rung 3 (after 24h) goes to county_supervisor, which no user holds" in deployed.stderr

    add_person(world, PATIENT)
    cid = run(
        world,
        lambda svc: (
            svc.open_case(svc.actor("li"), PATIENT, "temporary_assistance", emergency=True).id
        ),
    )
    world.clock.advance(timedelta(hours=20))
    (warning,) = [m for m in tick(world) if m.to == ("admin@county.example",)]
    assert "must be assisted within 24 hours, 4 hours left" in warning.subject
    world.clock.advance(timedelta(hours=5))
    (breach,) = tick(world)
    assert breach.to == ("admin@county.example",)
    assert "1 hour past the limit of 24 hours" in breach.subject

    def rows(svc: object) -> list[tuple[int, str, str, str | None, str | None]]:
        session = svc.session  # type: ignore[attr-defined]
        return [
            (e.rung, e.role, e.recipient, e.meant_for, e.rerouted)
            for e in session.scalars(
                select(Escalation).where(Escalation.case_id == cid).order_by(Escalation.id)
            )
        ]

    assert run(world, rows) == [
        (0, "township_caseworker", "li", None, None),
        (0, "township_caseworker", "zhao", None, None),
        (
            1,
            "admin",
            "admin",
            "township_supervisor",
            "no user holds township_supervisor over 城关镇/东村; sent to admin",
        ),
        (
            2,
            "admin",
            "admin",
            "county_supervisor",
            "no user holds county_supervisor over 城关镇/东村; sent to admin",
        ),
    ]
    listed = cli("escalation", "list", user="admin", now="2023-08-02T10:30")
    assert "(meant for township_supervisor: no user holds township_supervisor" in listed.output


CASES = 3000


def test_3000_overdue_cases_for_one_supervisor_make_one_email_per_tick(
    county: World,
) -> None:
    world = county

    def open_many(svc: Service) -> None:
        li = svc.actor("li")
        for i in range(CASES):
            number = id_number(f"19{50 + i // 999}0101", f"{i % 999 + 1:03d}")
            svc.register_person(number, "张三", "城关镇", "东村", "rural")
            svc.open_case(li, number, "temporary_assistance", emergency=True)

    run(world, open_many)
    world.clock.advance(timedelta(hours=20))
    sent = tick(world)
    # li and zhao (the 12-hour reminders) and ma (the 20-hour warnings): one email each
    assert sorted(m.to[0] for m in sent) == [
        "li@county.example",
        "ma@county.example",
        "zhao@county.example",
    ]
    (ma,) = [m for m in sent if m.to == ("ma@county.example",)]
    assert ma.subject == f"[Escalations] {CASES} cases need your follow-up"
    assert ma.text.startswith("Dear ma,\n\n3000 cases in your area were escalated to you")
    assert ma.text.count('"Reported": emergency, 4 hours left') == 50  # the first 50 listed
    assert f"... and {CASES - 50} more." in ma.text
    assert "aidflow --as ma escalation list" in ma.text
    # the next tick: the 24-hour rung, one email to the county supervisor
    world.clock.advance(timedelta(hours=5))
    (qian,) = tick(world)
    assert (qian.to, qian.subject) == (
        ("qian@county.example",),
        f"[Escalations] {CASES} cases need your follow-up",
    )
    assert "emergency, overdue by 1 hour" in qian.text
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(Escalation)) == 4 * CASES
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 4
