"""The daily digest: once per supervisor per local day, only with something to report
(SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from aidflow.notify.email import SMTPMailer
from aidflow.services import delivery
from aidflow.services.cases import Service
from aidflow.services.digest import digest_message_id, send_digests
from aidflow.store.models import OutboxMessage

from .conftest import PERSON_ID, World, local
from .smtp import SMTPServer
from .test_visits import cworld, policy, policy_file  # noqa: F401 - fixtures


def digests(world: World) -> int:
    return world.run(lambda svc: send_digests(svc.session, world.clock, world.calendar))  # type: ignore[no-any-return]


def outbox(world: World) -> list[tuple[str, str]]:
    with world.session() as s:
        return [
            (m.to_addr, m.subject)
            for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


def add_quiet_supervisor(world: World) -> None:
    def add(svc: Service) -> None:
        svc.add_user("admin", "xsup", ["township_supervisor"], "新城镇", "xsup@county.example")

    world.run(add)


def test_one_digest_per_supervisor_per_day_and_only_with_something_to_report(cworld: World) -> None:  # noqa: F811
    add_quiet_supervisor(cworld)
    cworld.clock.set(local(2023, 8, 10, 9, 0))
    assert (
        digests(cworld) == 3
    )  # csup (county), hsup (河西镇), tsup (城关镇); xsup's township has no case
    assert digests(cworld) == 0
    assert (
        cworld.run(
            lambda svc: send_digests(
                svc.session, cworld.clock, cworld.calendar, domain="county.example"
            )
        )
        == 0
    )  # AIDFLOW_SMTP_FROM changed
    cworld.clock.set(local(2023, 8, 10, 23, 59))
    assert digests(cworld) == 0  # still the same local day
    assert outbox(cworld) == [
        ("csup@county.example", "[Daily digest] the county 2023-08-10: 0 overdue, 3 open on time"),
        ("hsup@county.example", "[Daily digest] 河西镇 2023-08-10: 0 overdue, 1 open on time"),
        ("tsup@county.example", "[Daily digest] 城关镇 2023-08-10: 0 overdue, 2 open on time"),
    ]
    cworld.clock.set(local(2023, 8, 11, 0, 0))
    assert digests(cworld) == 3
    with cworld.session() as s:
        ids = set(s.scalars(select(OutboxMessage.message_id)))
    assert digest_message_id("tsup", local(2023, 8, 11).date(), "aidflow.local") in ids


def test_the_digest_lists_overdue_cases_and_arrives_over_smtp(
    cworld: World,  # noqa: F811
    smtp_server: SMTPServer,
) -> None:
    # case 4: a new application in 城关镇 whose 15-working-day deadline is the end of 2023-08-22
    def open_late(svc: Service) -> int:
        svc.register_person("110105196001010017", "孙立", "城关镇", "西村", "rural")
        return svc.open_case(svc.actor("li"), "110105196001010017", "carework").id

    cid = cworld.run(open_late)
    with cworld.session() as s:
        from aidflow.store.models import Case

        deadline = s.get_one(Case, cid).deadline_at
    assert deadline == local(2023, 8, 23, 0, 0)
    cworld.clock.set(local(2023, 8, 23, 7, 30))
    assert digests(cworld) == 3
    assert outbox(cworld)[2] == (
        "tsup@county.example",
        "[Daily digest] 城关镇 2023-08-23: 1 overdue, 2 open on time",
    )
    cworld.run(
        lambda svc: delivery.deliver_outbox(
            svc.session,
            cworld.clock,
            SMTPMailer(
                smtp_server.host, smtp_server.port, security="none", sender="aidflow@county.example"
            ),
        )
    )
    got = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    assert sorted(got) == ["csup@county.example", "hsup@county.example", "tsup@county.example"]
    text = got["tsup@county.example"].get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    html = got["tsup@county.example"].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert (
        f'  #{cid} 孙立 (ID 110***********0017), "Applied", caseworker li, '
        "was due 2023-08-22 (Tue) end of day, "
        f"overdue by 1 working day\n      aidflow --as tsup case show {cid}\n"
    ) in text
    assert "  #1 王秀英 (ID 110***********002X)" in text
    for part in (text, html):
        assert PERSON_ID not in part and "110105196001010017" not in part
        assert "aidflow --as tsup case list --overdue" in part
