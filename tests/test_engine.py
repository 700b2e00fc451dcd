"""The engine through its service API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from aidflow.errors import (
    ConflictError,
    ForbiddenError,
    IdNumberError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
)
from aidflow.language.loader import load_workflow_text
from aidflow.store.models import Case, Vote, WorkflowVersion

from .conftest import PERSON_ID, WORKFLOWS, World, local


def open_case(world: World, user: str = "li") -> int:
    return int(world.run(lambda svc: svc.open_case(svc.actor(user), PERSON_ID, "dibao").id))


def to_village_review(world: World) -> int:
    cid = open_case(world)
    world.fire("li", cid, "accept")
    world.fire("li", cid, "start_investigation", investigators="li,zhao")
    world.fire(
        "li", cid, "submit_findings", note="visited", monthly_income="120.50", income_stable="no"
    )
    return cid


def vote(world: World, user: str, cid: int, choice: str) -> None:
    world.run(lambda svc: svc.vote(svc.actor(user), cid, choice))


def case(world: World, cid: int) -> Case:
    return world.run(lambda svc: svc.session.get_one(Case, cid))  # type: ignore[no-any-return]


def test_open_sets_state_deadline_and_first_event(world: World) -> None:
    cid = open_case(world)
    c = case(world, cid)
    assert c.state == "discovery"
    assert c.workflow_name == "dibao"
    # 3 working days from Tue 2023-08-01: Wed, Thu, Fri -> end of Friday 08-04
    assert c.deadline_at == local(2023, 8, 5, 0, 0)
    assert (c.township, c.village, c.assigned_to, c.last_seq) == ("城关镇", "东村", "li", 1)


def test_full_path_with_votes_dwell_and_separation_of_duties(world: World) -> None:
    cid = to_village_review(world)
    for i in range(1, 5):
        vote(world, f"rep{i}", cid, "yes")
    with pytest.raises(RefusedError, match=r"vote has 4 of the 5 votes needed for a quorum"):
        world.fire("chen", cid, "review_passed")
    vote(world, "rep5", cid, "no")
    # 4 yes of 5 = 80% >= 2/3
    world.fire("chen", cid, "review_passed")
    events = world.run(
        lambda svc: [(e.kind, e.fields) for e in svc.view(svc.actor("li"), cid).events]
    )
    assert events[-1] == (
        "transition",
        {"vote": {"yes": 4, "no": 1, "abstain": 0, "dissent": ["rep5"]}},
    )

    world.clock.advance(timedelta(days=6, hours=23))
    with pytest.raises(RefusedError) as info:
        world.fire("li", cid, "close_notice")
    assert info.value.message == (
        "cannot close_notice case 1: 'public_notice' must run until 2023-08-08 09:00 (7d minimum); "
        "before then only object is allowed"
    )
    world.clock.advance(timedelta(hours=1))
    world.fire("li", cid, "close_notice")

    # the amount is computed by the engine, never typed (issue 11)
    with pytest.raises(InvalidInputError) as typed:
        world.fire("sun", cid, "approve", amount="650.00", home_visit_note="visited")
    assert typed.value.message == "'approve' computes field 'amount'; it cannot be given"
    world.fire("sun", cid, "approve", home_visit_note="visited")  # related to rep7 (L21 §11)
    c = case(world, cid)
    assert c.state == "active"
    # a single-person rural household in 2023: 560.00 - 120.50 = 439.50, rounded up to the yuan
    assert (c.data["amount"], c.data["members_covered"], c.data["per_capita_income"]) == (
        "440.00",
        1,
        "120.50",
    )
    assert c.deadline_at == local(2024, 2, 8, 9, 0)  # 6 months: income not stable (L21 §31)
    assert world.verify() == []


def test_separation_of_duties_refuses_the_investigator(world: World) -> None:
    cid = to_village_review(world)
    for i in range(1, 6):
        vote(world, f"rep{i}", cid, "yes")
    world.fire("chen", cid, "review_passed")
    world.clock.advance(timedelta(days=8))
    world.fire("li", cid, "close_notice")

    def add_dual_role(svc: object) -> None:
        from aidflow.store.models import User

        u = svc.session.get_one(User, "li")  # type: ignore[attr-defined]
        u.roles = ["county_officer", "township_caseworker"]
        u.area = "*"

    world.run(add_dual_role)
    with pytest.raises(RefusedError) as info:
        world.fire("li", cid, "approve", home_visit_note="visited")
    assert info.value.message == (
        "cannot approve case 1: li fired 'submit_findings' on this case; 'approve' must be done by "
        "someone else (separation of duties)"
    )


def test_out_of_role_and_out_of_area_are_refused(world: World) -> None:
    cid = open_case(world)
    with pytest.raises(RefusedError) as info:
        world.fire("chen", cid, "accept")
    assert (
        info.value.message
        == "cannot accept case 1: needs role township_caseworker; chen has village_officer"
    )
    with pytest.raises(ForbiddenError) as finfo:
        world.fire("wu", cid, "accept")
    assert finfo.value.message == "case 1 is in 城关镇/东村, outside wu's area (河西镇)"


def test_vote_rules(world: World) -> None:
    cid = to_village_review(world)
    vote(world, "rep1", cid, "yes")
    with pytest.raises(RefusedError, match="rep1 already voted in this review"):
        vote(world, "rep1", cid, "no")
    with pytest.raises(
        RefusedError, match="rep7 is related to the applicant and is excluded from this vote"
    ):
        vote(world, "rep7", cid, "yes")
    with pytest.raises(
        ForbiddenError, match="voting on case 1 needs role village_rep; li has township_caseworker"
    ):
        vote(world, "li", cid, "yes")
    for i in range(2, 6):
        vote(world, f"rep{i}", cid, "no")
    with pytest.raises(
        RefusedError,
        match=r"vote failed \(1 yes, 4 no, 0 abstain\); 'review_passed' needs it passed",
    ):
        world.fire("chen", cid, "review_passed")
    world.fire("chen", cid, "review_failed")
    assert case(world, cid).state == "rejection_notice"
    n_votes = world.run(lambda svc: svc.session.scalar(select(func.count()).select_from(Vote)))
    assert n_votes == 5


def test_objection_reopens_investigation_and_a_new_vote_round(world: World) -> None:
    cid = to_village_review(world)
    for i in range(1, 6):
        vote(world, f"rep{i}", cid, "yes")
    world.fire("chen", cid, "review_passed")
    world.clock.advance(timedelta(days=2))
    ev = world.run(
        lambda svc: svc.object(svc.actor("chen"), cid, "neighbour says she has rental income")
    )
    assert (ev.kind, ev.from_state, ev.to_state) == ("objection", "public_notice", "investigation")
    world.fire(
        "li",
        cid,
        "submit_findings",
        note="rental income checked: none",
        monthly_income="120",
        income_stable="yes",
    )
    # votes of the first round do not count in the second
    view = world.run(lambda svc: svc.view(svc.actor("li"), cid))
    assert view.tally is not None and view.tally.total == 0
    vote(world, "rep1", cid, "yes")  # rep1 may vote again in the new round


def test_required_fields_notes_and_bad_values(world: World) -> None:
    cid = open_case(world)
    world.fire("li", cid, "accept")
    with pytest.raises(InvalidInputError) as missing:  # invalid input (exit 3), not refused
        world.fire("li", cid, "start_investigation")
    assert (
        missing.value.message
        == "cannot start_investigation case 1: missing field --field investigators=..."
    )
    with pytest.raises(RefusedError) as info:
        world.fire("li", cid, "start_investigation", investigators="li")
    assert info.value.message == (
        "cannot start_investigation case 1: not allowed yet: "
        "Investigators must number at least 2 (now 1)"
    )
    with pytest.raises(InvalidInputError) as binfo:
        world.fire("li", cid, "start_investigation", investigators="li,zhao", amount="3")
    assert str(binfo.value) == (
        "'start_investigation' does not take field 'amount'\n"
        "  hint: 'start_investigation' takes: investigators"
    )
    world.fire("li", cid, "start_investigation", investigators="li、zhao")
    with pytest.raises(InvalidInputError) as binfo:
        world.fire("li", cid, "submit_findings", note="x", monthly_income="12o", income_stable="no")
    assert str(binfo.value) == (
        "field monthly_income='12o': not a valid decimal\n"
        "  hint: write it like --field monthly_income=1234.50"
    )
    with pytest.raises(RefusedError, match="'submit_findings' needs a note: add --note TEXT"):
        world.fire("li", cid, "submit_findings", monthly_income="12", income_stable="no")
    with pytest.raises(RefusedError) as info:
        world.fire("li", cid, "approve")
    assert str(info.value) == (
        "'approve' cannot be fired from state 'investigation'\n"
        "  hint: from 'investigation' you can fire: "
        "withdraw, submit_findings, request_materials, reject"
    )
    with pytest.raises(RefusedError) as info:
        world.fire("li", cid, "aprove")
    assert info.value.hint == "did you mean 'approve'?"


def test_refused_commands_change_nothing(world: World) -> None:
    cid = open_case(world)

    def dump() -> list[object]:
        with world.engine.connect() as conn:
            return [
                list(conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")))
                for t in ("cases", "case_events", "votes", "persons", "users", "workflow_versions")
            ]

    before = dump()
    for call in (
        lambda: world.fire("chen", cid, "accept"),
        lambda: world.fire("li", cid, "start_investigation", investigators="a,b"),
        lambda: world.fire("li", cid, "withdraw"),
        lambda: vote(world, "rep1", cid, "yes"),
        lambda: world.run(lambda svc: svc.object(svc.actor("li"), cid, "x")),
        lambda: world.run(
            lambda svc: svc.open_case(svc.actor("li"), "110105194912310021", "dibao")
        ),
        lambda: world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibaoo")),
    ):
        with pytest.raises((RefusedError, ForbiddenError, InvalidInputError, NotFoundError)):
            call()
    assert dump() == before


def test_stale_version_is_a_conflict(world: World) -> None:
    cid = open_case(world)
    seen = case(world, cid).version
    world.fire("li", cid, "accept")
    with pytest.raises(ConflictError) as info:
        world.run(
            lambda svc: svc.fire(
                svc.actor("zhao"), cid, "withdraw", {}, "dup", expected_version=seen
            )
        )
    assert info.value.message.startswith(f"case {cid} changed since you loaded it")


def test_concurrent_fires_one_wins_the_rest_get_clear_errors(world: World) -> None:
    """Eight threads fire `accept` on one case at once: exactly one is applied."""
    import threading

    from aidflow.services.cases import Service

    cid = open_case(world)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def worker(user: str) -> None:
        barrier.wait()
        try:
            with world.session() as s, s.begin():
                svc = Service(s, world.clock, world.calendar)
                svc.fire(svc.actor(user), cid, "accept")
            outcomes.append("ok")
        except ConflictError as exc:
            outcomes.append(exc.message)
        except RefusedError as exc:  # it lost the race and then saw the new state
            outcomes.append(exc.message)

    threads = [threading.Thread(target=worker, args=("li" if i % 2 else "zhao",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    for o in outcomes:
        assert o in (
            "ok",
            f"case {cid} changed since you loaded it; reload and retry",
            "'accept' cannot be fired from state 'accepted'",
        )
    c = case(world, cid)
    assert (c.state, c.last_seq, c.version) == (
        "accepted",
        2,
        3,
    )  # open (insert + head update), accept
    assert world.verify() == []


def test_editing_a_workflow_creates_a_version_and_running_cases_keep_theirs(world: World) -> None:
    cid = open_case(world)
    source = (WORKFLOWS / "dibao.yaml").read_text()
    edited = source.replace(
        "deadline: 3wd              # investigation", "deadline: 5wd              # investigation"
    ).replace("\nversion: 1\n", "\nversion: 2\n")  # deploy refuses any other number
    assert edited != source
    wv, created = world.run(
        lambda svc: svc.deploy("admin", load_workflow_text(edited, "dibao.yaml"))
    )
    assert (wv.version, created) == (2, True)
    again, created = world.run(
        lambda svc: svc.deploy("admin", load_workflow_text(edited, "dibao.yaml"))
    )
    assert (again.version, created) == (2, False)
    world.fire("li", cid, "accept")
    old = case(world, cid)
    assert old.deadline_at == local(2023, 8, 5, 0, 0)  # still 3wd: pinned to version 1
    new_id = open_case(world)
    world.fire("li", new_id, "accept")
    assert case(world, new_id).deadline_at == local(2023, 8, 9, 0, 0)  # 5wd on version 2
    versions = world.run(
        lambda svc: svc.session.scalars(
            select(WorkflowVersion.version)
            .where(WorkflowVersion.name == "dibao")
            .order_by(WorkflowVersion.version)
        ).all()
    )
    assert versions == [1, 2]


def test_register_person_validates_id_numbers(world: World) -> None:
    with pytest.raises(IdNumberError) as info:
        world.run(
            lambda svc: svc.register_person("110105194912310021", "张三", "城关镇", "东村", "rural")
        )
    assert info.value.message == "ID number 110***********0021: check digit should be X, not 1"
    with pytest.raises(InvalidInputError, match="already registered"):
        world.run(lambda svc: svc.register_person(PERSON_ID, "王秀英", "城关镇", "东村", "rural"))
    p = world.run(
        lambda svc: svc.register_person("110105500101001", "李四", "城关镇", "西村", "urban")
    )
    assert (p.id_number, p.birth_date.isoformat(), p.sex) == (
        "110105195001010012",
        "1950-01-01",
        "M",
    )


def test_audit_verify_names_edited_and_deleted_events(world: World) -> None:
    cid = to_village_review(world)
    other = open_case(world)
    assert world.verify() == []
    with world.engine.begin() as conn:
        conn.execute(
            text("UPDATE case_events SET note = 'nothing found' WHERE case_id = :c AND seq = 4"),
            {"c": cid},
        )
        conn.execute(text("DELETE FROM case_events WHERE case_id = :c AND seq = 1"), {"c": other})
    assert world.verify() == [
        f"case {cid} event #4 (row id 4): content does not match its hash: the row was edited",
        f"case {other}: all 1 events are missing",
    ]
