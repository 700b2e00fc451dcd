"""Three rules of issue 4 the first shipped workflows missed, on SQLite and PostgreSQL:

- tekun county confirmation spot-checks at least 30% of cases, drawn reproducibly and
  recorded (T21 §16): `aidflow sample draw` (aidflow.sampling);
- dibao periodic review every 12 months, or 6 for unstable income (L21 §31): a state's
  `deadline_when`;
- dibao acceptance flags relatives of staff for separate registration (L21 §11): a
  transition's `computes`, and county approval of a flagged case needs a home-visit note.
"""

from __future__ import annotations

import json
import math
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from aidflow.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
    WorkflowInvalidError,
)
from aidflow.language.loader import load_workflow_text
from aidflow.services.sampling import Sample, draw
from aidflow.store.models import Case, CaseEvent, Person

from .conftest import PERSON_ID, Cli, World, local
from .test_programmes import POLICY, add_person, case, fire, id_number, open_case, run, to_notice

# -- loader: the two new constructs ----------------------------------------------------------

SMALL = """\
workflow: small
version: 1
labels: {zh: 小, en: Small}
roles:
  clerk: {zh: 经办, en: Clerk}
fields:
  stable: {type: bool}
  flagged: {type: bool}
states:
  open:
    labels: {zh: 开, en: Open}
    initial: true
    owner: clerk
    deadline: 12mo
    deadline_when:
      - {when: case.stable == False, deadline: 6mo}
  done: {labels: {zh: 完, en: Done}, final: true}
transitions:
  - trigger: close
    source: open
    dest: done
    roles: [clerk]
    computes:
      flagged: len(person.related_users) > 0
"""


def problems(text: str) -> list[str]:
    with pytest.raises(WorkflowInvalidError) as info:
        load_workflow_text(text, "small.yaml")
    return [str(p) for p in info.value.problems]


def test_deadline_when_and_computes_load_and_are_validated() -> None:
    wf = load_workflow_text(SMALL, "small.yaml").definition
    assert wf.states["open"].deadline_when[0].when == "case.stable == False"
    assert wf.transitions[0].computes == {"flagged": "len(person.related_users) > 0"}

    assert problems(
        SMALL.replace("deadline: 6mo", "deadline: 6 months")
        .replace("case.stable == False", "case.stabel == False")
        .replace("flagged: len", "flaged: len")
    ) == [
        (
            "small.yaml:16:16: states.open.deadline_when[0].when: deadline_when 'case.stabel == "
            "False': unknown field 'case.stabel'; did you mean 'case.stable'?"
        ),
        (
            "small.yaml:16:48: states.open.deadline_when[0].deadline: invalid duration '6 months': "
            "write a whole number followed by h (hours), d (days), wd (working days) or mo "
            "(months), e.g. 24h, 7d, 10wd, 12mo; did you mean '6mo'?"
        ),
        (
            "small.yaml:24:7: transitions[0].computes.flaged: computes undeclared field 'flaged'; "
            "did you mean 'flagged'?"
        ),
    ]
    assert problems(SMALL.replace("len(person.related_users) > 0", "person.related_user")) == [
        (
            "small.yaml:24:16: transitions[0].computes.flagged: computes 'person.related_user': "
            "unknown field 'person.related_user'; did you mean 'person.related_users'?"
        )
    ]
    # a deadline_when reads the case only: the person is not loaded when a state is entered
    assert problems(SMALL.replace("case.stable == False", "person.age > 60")) == [
        (
            "small.yaml:16:16: states.open.deadline_when[0].when: deadline_when 'person.age > 60': "
            "unknown name 'person': expressions may read case.* (column 1)"
        )
    ]


# -- dibao: review every 12 months, 6 for unstable income; relatives of staff ----------------


def to_county_review(world: World, number: str, income_stable: str) -> int:
    cid = open_case(world, number, "dibao")
    fire(world, "li", cid, "accept")
    fire(world, "li", cid, "start_investigation", investigators="li,zhao")
    fire(
        world,
        "li",
        cid,
        "submit_findings",
        "visited",
        monthly_income="120.50",
        income_stable=income_stable,
    )
    for i in range(1, 6):
        run(world, lambda svc, i=i: svc.vote(svc.actor(f"rep{i}"), cid, "yes"))
    fire(world, "chen", cid, "review_passed")
    world.clock.advance(timedelta(days=7))
    fire(world, "li", cid, "close_notice")
    return cid


UNRELATED = id_number("19500402", "051")


@pytest.mark.parametrize(
    ("stable", "months", "due"), [("no", 6, (2024, 2, 8)), ("yes", 12, (2024, 8, 8))]
)
def test_the_periodic_review_falls_due_after_6_months_for_unstable_income(
    world: World, stable: str, months: int, due: tuple[int, int, int]
) -> None:
    add_person(world, UNRELATED)
    cid = to_county_review(world, UNRELATED, stable)
    fire(world, "sun", cid, "approve")  # 2023-08-08 09:00; the amount is computed
    c = case(world, cid)
    assert (c.state, c.deadline_at) == ("active", local(*due, 9, 0))
    # the review itself, and back to active: the deadline is again decided on entry
    world.clock.advance(timedelta(days=30))
    fire(world, "li", cid, "start_review")
    fire(world, "li", cid, "keep")
    assert case(world, cid).deadline_at == local(
        2024, 9 - (12 - months), 7, 9, 0
    )  # from 2023-09-07
    assert world.verify() == []


def test_a_relative_of_staff_is_flagged_on_accept_and_needs_a_county_home_visit(
    world: World,
) -> None:
    # PERSON_ID is related to rep7 (conftest) and here also to zhao, a township caseworker;
    # UNRELATED to nobody (a relative of a village_rep only is not flagged: test_once_a_year.py)
    run(
        world,
        lambda svc: setattr(
            svc.session.scalars(select(Person).where(Person.id_number == PERSON_ID)).one(),
            "related_users",
            ["rep7", "zhao"],
        ),
    )
    add_person(world, UNRELATED)
    flagged = to_county_review(world, PERSON_ID, "yes")
    plain = to_county_review(world, UNRELATED, "yes")
    accepted = run(
        world,
        lambda svc: [
            e.fields
            for e in svc.session.scalars(
                select(CaseEvent).where(CaseEvent.trigger == "accept").order_by(CaseEvent.case_id)
            )
        ],
    )
    assert accepted == [{"related_to_staff": True}, {"related_to_staff": False}]
    assert case(world, flagged).data["related_to_staff"] is True
    assert case(world, plain).data["related_to_staff"] is False

    before = run(world, lambda svc: svc.session.get_one(Case, flagged).version)
    with pytest.raises(RefusedError) as info:
        fire(world, "sun", flagged, "approve")
    assert info.value.message == (
        f"cannot approve case {flagged}: not allowed yet: "
        "if Related to staff (separate registration) is yes, County home-visit note must be "
        "filled in"
    )
    assert run(world, lambda svc: svc.session.get_one(Case, flagged).version) == before
    fire(
        world,
        "sun",
        flagged,
        "approve",
        home_visit_note="county visit 2023-08-08: alone, no income",
    )
    fire(world, "sun", plain, "approve")
    assert [case(world, c).state for c in (flagged, plain)] == ["active", "active"]
    assert (
        case(world, flagged).data["home_visit_note"] == "county visit 2023-08-08: alone, no income"
    )
    assert world.verify() == []


def test_the_flag_cannot_be_set_by_hand(world: World) -> None:
    cid = open_case(world, PERSON_ID, "dibao")
    with pytest.raises(InvalidInputError) as info:
        fire(world, "li", cid, "accept", related_to_staff="false")
    assert info.value.message == "'accept' computes field 'related_to_staff'; it cannot be given"


# -- tekun: the county's reproducible 30% spot-check ----------------------------------------

ELDERS = [id_number(f"19{40 + i:02d}0101", f"{i:02d}1") for i in range(7)]


def confirmation_queue(world: World) -> list[int]:
    ids = []
    for number in ELDERS:
        add_person(world, number, supporter_able=False)
        cid = open_case(world, number, "tekun")
        to_notice(world, cid, "elderly")
        ids.append(cid)
    world.clock.advance(timedelta(days=7))
    for cid in ids:
        fire(world, "li", cid, "close_notice")
    return ids


def sample(
    world: World,
    user: str,
    ratio: str,
    seed: str,
    township: str | None = None,
    state: str = "county_confirmation",
) -> Sample:
    return run(
        world,
        lambda svc: draw(
            svc, POLICY, svc.actor(user), "tekun", state, Decimal(ratio), seed, township
        ),
    )  # type: ignore[no-any-return]


def confirm(world: World, cid: int, spot_checked: str) -> None:
    fire(
        world,
        "sun",
        cid,
        "confirm",
        spot_checked=spot_checked,
        sample_seed="2023-08",
        adl_not_done="0",
        self_care="full",
        support_mode="dispersed",
        care_card_no=f"ZL-{cid}",
    )


def test_a_draw_is_reproducible_recorded_once_and_binds_confirmation(world: World) -> None:
    ids = confirmation_queue(world)
    s = sample(world, "sun", "0.3", "2023-08-county")
    # ceil(0.3 x 7) = 3, drawn as documented: random.Random(seed).sample over the sorted ids
    assert (
        (s.population, len(s.drawn))
        == (tuple(ids), math.ceil(Decimal("0.3") * 7))
        == (tuple(ids), 3)
    )
    assert s.drawn == tuple(sorted(random.Random("2023-08-county").sample(sorted(ids), 3)))
    assert s.recorded == s.drawn
    events = run(
        world,
        lambda svc: [
            (e.case_id, e.kind, e.fields, e.note)
            for e in svc.session.scalars(
                select(CaseEvent).where(CaseEvent.kind == "note").order_by(CaseEvent.case_id)
            )
        ],
    )
    assert events == [
        (
            cid,
            "note",
            {
                "sample_seed": "2023-08-county",
                "sample_ratio": "0.3",
                "sample_size": 3,
                "population": 7,
                "sampled": True,
            },
            "drawn for the spot-check (3 of 7, seed 2023-08-county)",
        )
        for cid in s.drawn
    ]
    for cid in ids:
        c = case(world, cid)
        assert (c.state, c.data.get("sampled")) == (
            "county_confirmation",
            True if cid in s.drawn else None,
        )
        assert c.state_entered_at == local(2023, 8, 8, 9, 0)  # the draw is no state change

    again = sample(world, "sun", "0.3", "2023-08-county")
    assert (again.drawn, again.recorded) == (s.drawn, ())
    assert (
        run(
            world,
            lambda svc: len(
                list(svc.session.scalars(select(CaseEvent).where(CaseEvent.kind == "note")))
            ),
        )
        == 3
    )

    drawn, other = s.drawn[0], next(c for c in ids if c not in s.drawn)
    with pytest.raises(RefusedError) as info:
        confirm(world, drawn, "false")
    assert info.value.message == (
        f"cannot confirm case {drawn}: not allowed yet: "
        "if Drawn for the spot-check is yes, Drawn for the county spot-check must be yes (now no)"
    )
    confirm(world, drawn, "true")
    confirm(world, other, "false")  # not drawn: confirmed on the township's file
    assert (case(world, drawn).state, case(world, other).state) == ("supported", "supported")
    assert world.verify() == []


def test_a_draw_is_refused_below_the_minimum_outside_the_county_and_for_unknown_states(
    world: World,
) -> None:
    confirmation_queue(world)
    with pytest.raises(InvalidInputError) as bad:
        sample(world, "sun", "0.29", "s")
    assert bad.value.message == (
        "ratio 0.29 is below the minimum 0.30 for tekun (T21 §16: the county "
        "spot-checks at least 30% of the cases it confirms (aidflow sample draw --ratio))"
    )
    with pytest.raises(ForbiddenError) as forbidden:
        sample(world, "li", "0.5", "s")
    assert forbidden.value.message == (
        "drawing a sample of 'county_confirmation' needs role county_officer; "
        "li has township_caseworker"
    )
    with pytest.raises(NotFoundError) as missing:
        sample(world, "sun", "0.5", "s", state="supported_x")
    assert missing.value.message == "workflow 'tekun' has no open state 'supported_x'"
    assert (
        run(
            world,
            lambda svc: list(
                svc.session.scalars(select(CaseEvent).where(CaseEvent.kind == "note"))
            ),
        )
        == []
    )


def test_a_township_draw_and_an_empty_population(world: World) -> None:
    ids = confirmation_queue(world)
    assert sample(world, "sun", "1", "s", township="河西镇").population == ()
    s = sample(world, "sun", "1", "s", township="城关镇")
    assert s.drawn == s.recorded == tuple(ids)


def test_sample_draw_cli(run_cli: Cli, world: World) -> None:
    ids = confirmation_queue(world)
    now = "2023-08-09T10:00"
    result = run_cli(
        "sample",
        "draw",
        "-w",
        "tekun",
        "--state",
        "county_confirmation",
        "--ratio",
        "0.3",
        "--seed",
        "2023-08-county",
        "--json",
        user="sun",
        now=now,
    )
    assert result.exit_code == 0, result.output
    drawn = sorted(random.Random("2023-08-county").sample(ids, 3))
    assert json.loads(result.output) == {
        "workflow": "tekun",
        "state": "county_confirmation",
        "township": None,
        "seed": "2023-08-county",
        "ratio": "0.3",
        "population": 7,
        "drawn": drawn,
        "recorded": drawn,
    }
    again = run_cli(
        "sample",
        "draw",
        "-w",
        "tekun",
        "--state",
        "county_confirmation",
        "--ratio",
        "0.3",
        "--seed",
        "2023-08-county",
        user="sun",
        now=now,
    )
    assert (again.exit_code, again.output) == (
        0,
        (
            f"drew 3 of 7 tekun case(s) in county_confirmation (ratio 0.3, seed '2023-08-county'): "
            f"{', '.join(map(str, drawn))}\nrecorded on 0 case(s); 3 already drawn with this seed\n"
        ),
    )
    low = run_cli(
        "sample",
        "draw",
        "-w",
        "tekun",
        "--state",
        "county_confirmation",
        "--ratio",
        "1.5",
        "--seed",
        "x",
        user="sun",
        now=now,
    )
    assert (low.exit_code, low.output.splitlines()[0]) == (
        3,
        "error: ratio '1.5' is not a number above 0 and at most 1",
    )
