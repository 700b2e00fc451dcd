"""A simulated month: `aidflow scheduler tick` every morning from 2023-09-15 to 2023-10-14.

The month crosses National Day (2023-09-29 to 10-06 off, Sat 10-07 and Sun 10-08 worked).
Five dibao cases in different states; caseworkers act between the ticks; the test
asserts exactly which escalations fire (rung, recipient, day), which public notices the
system closes, which emails the SMTP server receives (each once) and where the working-day
clocks end up.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.policy.workflows import load_workflow_file
from aidflow.services.cases import Service
from aidflow.store.models import CaseEvent, Escalation, OutboxMessage

from .conftest import USERS, WORKFLOWS, World, bootstrap, local, without_banner
from .smtp import SMTPServer

SUPERVISORS = [("tsup", ["township_supervisor"], "城关镇"), ("csup", ["county_supervisor"], "*")]
FIRST_TICK = local(2023, 9, 15, 9, 0)
DAYS = 30


def id_number(born: date, seq: int) -> str:
    """A valid GB 11643 number in Beijing Xicheng (110102) with the ISO 7064 MOD 11-2 check."""
    body = f"110102{born:%Y%m%d}{seq:03d}"
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


PERSONS = {  # name -> (id number, township, village)
    "A": (id_number(date(1940, 3, 1), 12), "城关镇", "东村"),
    "B": (id_number(date(1941, 4, 2), 22), "城关镇", "东村"),
    "C": (id_number(date(1942, 5, 3), 32), "城关镇", "东村"),
    "D": (id_number(date(1943, 6, 4), 42), "河西镇", "南村"),
    "E": (id_number(date(1944, 7, 5), 52), "城关镇", "东村"),
}


@pytest.fixture
def mworld(engine: Engine, calendar: WorkCalendar) -> World:
    w = World(engine, FrozenClock(local(2023, 9, 1, 9, 0)), calendar)

    def setup(svc: Service) -> None:
        bootstrap(svc, deploy=False)
        svc.deploy("admin", load_workflow_file(WORKFLOWS / "dibao.yaml"))
        for name, roles, area in (USERS + SUPERVISORS)[1:]:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")
        for key, (number, town, village) in PERSONS.items():
            svc.register_person(number, f"申请人{key}", town, village, "rural", disability_grade=1)

    w.run(setup)
    return w


class Month:
    """The cases of the simulation and the steps caseworkers take on them."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.ids: dict[str, int] = {}

    def at(self, when: datetime) -> Month:
        self.w.clock.set(when)
        return self

    def open(self, key: str, user: str) -> None:
        self.ids[key] = self.w.run(
            lambda svc: svc.open_case(svc.actor(user), PERSONS[key][0], "dibao").id
        )

    def fire(
        self, key: str, user: str, trigger: str, note: str | None = None, **fields: str
    ) -> None:
        self.w.fire(user, self.ids[key], trigger, note, **fields)

    def investigate(self, key: str, user: str = "li") -> None:
        self.fire(key, user, "accept")
        self.fire(key, user, "start_investigation", investigators=f"{user},zhao")

    def to_notice(self, key: str) -> None:
        self.fire(
            key,
            "li",
            "submit_findings",
            note="visited",
            monthly_income="120.50",
            income_stable="no",
        )
        for i in range(1, 6):
            self.w.run(lambda svc, i=i: svc.vote(svc.actor(f"rep{i}"), self.ids[key], "yes"))
        self.fire(key, "chen", "review_passed")


def tick(url: str, when: datetime, smtp: SMTPServer) -> str:
    from aidflow.cli.main import cli

    env = {
        "AIDFLOW_USER": None,
        "AIDFLOW_LANG": None,
        "AIDFLOW_NOW": None,
        "AIDFLOW_DATABASE_URL": None,
        "AIDFLOW_SMTP_HOST": smtp.host,
        "AIDFLOW_SMTP_PORT": str(smtp.port),
        "AIDFLOW_SMTP_SECURITY": "none",
        "AIDFLOW_SMTP_FROM": "aidflow@county.example",
    }
    now = when.strftime("%Y-%m-%dT%H:%M")
    result = without_banner(
        CliRunner().invoke(
            cli, ["--db", url, "--now", now, "scheduler", "tick"], env=env, catch_exceptions=False
        )
    )
    assert result.exit_code == 0, result.output
    return result.output


def cli(url: str, when: datetime, user: str, *args: str) -> str:
    from aidflow.cli.main import cli as main

    env = {k: None for k in ("AIDFLOW_USER", "AIDFLOW_LANG", "AIDFLOW_NOW", "AIDFLOW_DATABASE_URL")}
    result = without_banner(
        CliRunner().invoke(
            main,
            ["--db", url, "--now", when.strftime("%Y-%m-%dT%H:%M"), "--as", user, *args],
            env=env,
            catch_exceptions=False,
        )
    )
    assert result.exit_code == 0, result.output
    return result.output


def day(at: datetime) -> str:
    return at.astimezone(local(2023, 1, 1).tzinfo).strftime("%m-%d %H:%M")


def test_a_month_of_ticks_across_national_day(
    mworld: World, db_url: str, smtp_server: SMTPServer
) -> None:
    w, m = mworld, Month(mworld)
    # before the month: A in investigation from Fri 09-15, C and D investigating earlier
    m.at(local(2023, 9, 12, 9, 0)).open("C", "li")
    m.investigate("C")
    m.at(local(2023, 9, 13, 9, 0)).open("A", "li")
    m.open("B", "li")
    m.open("E", "li")
    m.at(local(2023, 9, 14, 9, 0)).investigate("B")
    m.at(local(2023, 9, 15, 8, 0)).investigate("A")
    m.at(local(2023, 9, 15, 8, 30)).open("D", "wu")
    m.investigate("D", "wu")
    m.at(local(2023, 9, 15, 8, 40)).fire("E", "li", "accept")

    actions: dict[date, list[Any]] = {
        date(2023, 9, 18): [lambda: m.at(local(2023, 9, 18, 10, 0)).to_notice("C")],
        date(2023, 9, 21): [lambda: m.at(local(2023, 9, 20, 14, 0)).to_notice("B")],
        date(2023, 9, 26): [
            lambda: m.at(local(2023, 9, 25, 9, 30)).fire(
                "C", "li", "object", "neighbour says the son pays rent"
            ),
            lambda: m.at(local(2023, 9, 26, 8, 0)).fire(
                "D", "wu", "request_materials", "bank statements missing"
            ),
        ],
        date(2023, 10, 1): [
            lambda: m.at(local(2023, 9, 30, 14, 0)).fire(
                "E", "li", "start_investigation", investigators="li,zhao"
            ),
            lambda: m.at(local(2023, 9, 30, 15, 0)).to_notice("E"),
        ],
        date(2023, 10, 9): [
            lambda: cli(
                db_url,
                local(2023, 10, 8, 10, 0),
                "tsup",
                "escalation",
                "ack",
                str(escalation_id(w, m.ids["A"], 1, 1)),
                "--note",
                "called li",
            )
        ],
        date(2023, 10, 10): [
            lambda: m.at(local(2023, 10, 9, 9, 30)).fire("D", "wu", "materials_received")
        ],
    }
    outputs: dict[str, str] = {}
    for n in range(DAYS):
        now = FIRST_TICK + timedelta(days=n)
        for action in actions.pop(now.astimezone(FIRST_TICK.tzinfo).date(), []):
            action()
        outputs[day(now)] = tick(db_url, now, smtp_server)
        if n == 15:  # a second tick at the same instant finds nothing new
            again = tick(db_url, now, smtp_server)
            assert "sweep: 0 timed transition(s), 0 escalation(s)" in again
    assert actions == {}
    ids = m.ids

    # exactly these escalations, each fired at the first tick after it was due
    with w.session() as s:
        fired = [
            (k, e.state, e.rung, e.repeat_no, e.recipient, day(e.fired_at))
            for e in s.scalars(
                select(Escalation).order_by(
                    Escalation.fired_at, Escalation.case_id, Escalation.rung, Escalation.recipient
                )
            )
            for k in ids
            if ids[k] == e.case_id
        ]
    assert fired == [
        ("A", "investigation", 0, 0, "li", "09-27 09:00"),  # 12d after 09-15 08:00
        ("A", "investigation", 0, 0, "zhao", "09-27 09:00"),
        ("A", "investigation", 1, 0, "tsup", "09-30 09:00"),  # 15d
        ("A", "investigation", 1, 1, "tsup", "10-07 09:00"),  # every 7d until acknowledged (10-08)
        ("C", "investigation", 0, 0, "li", "10-08 09:00"),  # re-investigation after the objection
        ("C", "investigation", 0, 0, "zhao", "10-08 09:00"),
        ("C", "investigation", 1, 0, "tsup", "10-11 09:00"),
        ("B", "county_review", 0, 0, "csup", "10-13 09:00"),  # 15d after the notice closed itself
    ]

    # the system closed B's and E's notices at the first tick after 7 calendar days
    with w.session() as s:
        timed = [
            (k, ev.trigger, ev.from_state, ev.to_state, day(ev.at))
            for ev in s.scalars(
                select(CaseEvent).where(CaseEvent.actor == "system").order_by(CaseEvent.at)
            )
            for k in ids
            if ids[k] == ev.case_id
        ]
    assert timed == [
        ("B", "close_notice", "public_notice", "county_review", "09-28 09:00"),
        ("E", "close_notice", "public_notice", "county_review", "10-08 09:00"),
    ]
    assert outputs["09-28 09:00"].startswith("sweep: 1 timed transition(s), 0 escalation(s)\n")

    # every escalation email reached the SMTP server exactly once, to its recipient
    received = Counter(msg.message["Message-ID"] for msg in smtp_server.messages)
    assert [mid for mid, n in received.items() if n > 1] == []
    with w.session() as s:
        rows = s.execute(
            select(
                OutboxMessage.message_id,
                OutboxMessage.to_addr,
                OutboxMessage.status,
                Escalation.recipient,
                Escalation.case_id,
            )
            .join(Escalation, Escalation.id == OutboxMessage.escalation_id)
            .where(Escalation.ladder.in_(("investigation_late", "county_review_late")))
        ).all()
    assert len(rows) == 8
    by_id = {msg.message["Message-ID"]: msg for msg in smtp_server.messages}
    for mid, to, status, who, _ in rows:
        assert (status, to, received[mid], by_id[mid].rcpt_tos) == (
            "sent",
            f"{who}@county.example",
            1,
            (to,),
        )
    (reminder,) = [
        by_id[mid].message for mid, _, _, who, cid in rows if (who, cid) == ("li", ids["A"])
    ]
    text = reminder.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # A's investigation deadline: 10 WD from Fri 09-15 skips National Day and counts the
    # Saturday 10-07
    assert "Due:         2023-10-07 (Sat) end of day (" in text, text
    assert "2023-10-08 00:00" not in text

    # the statutory clocks, counted in PRC working days
    def clocks(key: str) -> dict[str, Any]:
        return w.run(lambda svc: svc.view(svc.actor("admin"), ids[key]).case.clocks["statutory"])  # type: ignore[no-any-return]

    utc = UTC
    # D: accepted Fri 09-15 (due 11-03 00:00); paused 09-26 with 23 WD left; resumed Mon 10-09
    assert clocks("D") == {
        "status": "running",
        "started_at": local(2023, 9, 15, 8, 30).astimezone(utc).isoformat(),
        "due_at": local(2023, 11, 10, 0, 0).astimezone(utc).isoformat(),
    }
    # C: accepted Tue 09-12, +15 WD for the objection: 30 WD end Mon 10-30, 45 WD end Mon 11-20
    assert clocks("C")["due_at"] == local(2023, 11, 21, 0, 0).astimezone(utc).isoformat()
    assert clocks("C")["extended"] == ["object"]
    shown = cli(db_url, local(2023, 10, 14, 9, 0), "li", "case", "show", str(ids["A"]))
    # A: accepted Fri 09-15 08:00; 30 WD end Thu 11-02; after Sat 10-14: Oct 16-27 and Oct 30-Nov 2
    assert (
        "Clock statutory (Statutory time limit, 30wd): running, due 2023-11-02 (Thu) end of day "
        "(14 working days left)\n" in shown
    )
    assert w.verify() == []


def escalation_id(w: World, case_id: int, rung: int, repeat: int) -> int:
    with w.session() as s:
        return int(
            s.scalars(
                select(Escalation.id).where(
                    Escalation.case_id == case_id,
                    Escalation.rung == rung,
                    Escalation.repeat_no == repeat,
                )
            ).one()
        )
