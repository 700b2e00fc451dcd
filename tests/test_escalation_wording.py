"""What escalation emails say: a warning before the rule's limit, a breach after it, lateness
counted from the limit, and the reason given when the case was opened."""

from __future__ import annotations

from datetime import timedelta

from aidflow.notify.mailer import Message
from aidflow.notify.memory import MemoryMailer
from aidflow.services import delivery
from aidflow.services import escalations as jobs

from .conftest import World
from .test_programmes import PATIENT, add_person, county, run

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
