"""Temporary assistance: the same cause once a year unless the county overrides (once_per_person);
dibao: the staff flag reads the roles of the person's related users (person.related_roles).

Case tests run on SQLite and PostgreSQL through the `world` fixture.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from aidflow.errors import RefusedError, WorkflowInvalidError
from aidflow.services.cases import Service
from aidflow.store.models import CaseEvent, Person

from .conftest import PERSON_ID, World
from .test_programmes import add_person, case, fire, id_number, open_case, run

PATIENT = id_number("19700405", "051")
REFUSAL_HINT = (
    "county_leader or county_officer may approve it again with "
    "--field override_once_a_year=true and a note"
)


@pytest.fixture
def county(world: World) -> World:
    run(
        world,
        lambda svc: svc.add_user("admin", "lin", ["county_leader"], "*", "lin@county.example"),
    )
    add_person(world, PATIENT)
    return world


def approved_case(world: World, cause: str = "medical_expense") -> int:
    """A new case for PATIENT approved by the township (3x the urban standard) and closed."""
    cid = to_decision(world, cause)
    fire(world, "li", cid, "approve", tier_multiple="3", amount="2340.00")
    fire(world, "li", cid, "close", referral="none")
    assert case(world, cid).state == "closed"
    return cid


def to_decision(world: World, cause: str = "medical_expense") -> int:
    cid = open_case(world, PATIENT, "temporary_assistance")
    fire(world, "chen", cid, "register_application", cause=cause)
    fire(world, "li", cid, "submit_findings", "bills checked", investigators="li,zhao")
    return cid


def refusal(
    world: World, user: str, cid: int, trigger: str, note: str | None = None, **fields: str
) -> tuple[str, str | None]:
    with pytest.raises(RefusedError) as info:
        fire(world, user, cid, trigger, note, **fields)
    return info.value.message, info.value.hint


def test_the_same_cause_within_twelve_months_is_refused(county: World) -> None:
    world = county
    first = approved_case(world)
    world.clock.advance(timedelta(days=200))
    second = to_decision(world)
    assert refusal(world, "li", second, "approve", tier_multiple="3", amount="2340.00") == (
        (
            f"cannot approve case {second}: cause 'medical_expense' was already approved "
            f"for this person in case {first} on 2023-08-01 (once per 12mo)"
        ),
        REFUSAL_HINT,
    )
    assert case(world, second).state == "township_decision"  # nothing changed
    fire(
        world,
        "li",
        second,
        "refer_to_county",
        "second illness",
        tier_multiple="3",
        amount="2340.00",
    )
    assert refusal(world, "sun", second, "approve", "approved") == (
        (
            f"cannot approve case {second}: cause 'medical_expense' was already approved "
            f"for this person in case {first} on 2023-08-01 (once per 12mo)"
        ),
        REFUSAL_HINT,
    )
    assert refusal(world, "sun", second, "approve", "approved", override_once_a_year="false")[
        0
    ] == (
        f"cannot approve case {second}: cause 'medical_expense' was already approved "
        f"for this person in case {first} on 2023-08-01 (once per 12mo)"
    )


def test_the_county_override_allows_it_with_a_note(county: World) -> None:
    world = county
    approved_case(world)
    world.clock.advance(timedelta(days=30))
    second = to_decision(world)
    fire(
        world,
        "li",
        second,
        "refer_to_county",
        "second illness",
        tier_multiple="3",
        amount="2340.00",
    )
    assert refusal(world, "sun", second, "approve", override_once_a_year="true")[0] == (
        f"cannot approve case {second}: 'approve' needs a note: add --note TEXT"
    )
    fire(
        world,
        "sun",
        second,
        "approve",
        "relapse after surgery; county override",
        override_once_a_year="true",
    )
    c = case(world, second)
    assert (c.state, c.data["override_once_a_year"]) == ("approved", True)
    with world.session() as s:
        ev = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == second, CaseEvent.trigger == "approve")
        ).one()
        assert (ev.note, ev.fields) == (
            "relapse after surgery; county override",
            {"override_once_a_year": True},
        )


def test_a_county_leader_decision_is_held_to_the_same_rule(county: World) -> None:
    world = county
    first = approved_case(world)
    second = to_decision(world)
    fire(
        world,
        "li",
        second,
        "refer_to_county",
        "major illness",
        tier_multiple="12",
        amount="20000.00",
    )
    fire(world, "sun", second, "refer_to_leader", "beyond 12x")
    message, _ = refusal(world, "lin", second, "approve", "one by one")
    assert message == (
        f"cannot approve case {second}: cause 'medical_expense' was already approved for this "
        f"person in case {first} on 2023-08-01 (once per 12mo)"
    )
    fire(world, "lin", second, "approve", "one by one; override", override_once_a_year="true")
    assert case(world, second).state == "approved"


def test_twelve_months_later_the_same_cause_is_allowed(county: World) -> None:
    world = county
    approved_case(world)  # 2023-08-01 09:00
    world.clock.advance(timedelta(days=365, hours=-1))  # 2024-07-31 08:00: still inside
    second = to_decision(world)
    assert refusal(world, "li", second, "approve", tier_multiple="3", amount="2340.00")[
        0
    ].startswith(f"cannot approve case {second}: cause 'medical_expense' was already approved")
    world.clock.advance(timedelta(days=1, hours=1))  # 2024-08-01 09:00: 12 months later
    fire(world, "li", second, "approve", tier_multiple="3", amount="2340.00")
    assert case(world, second).state == "approved"


def test_a_different_cause_is_allowed(county: World) -> None:
    world = county
    approved_case(world, "medical_expense")
    second = to_decision(world, "fire")
    fire(world, "li", second, "approve", tier_multiple="3", amount="2340.00")
    assert case(world, second).state == "approved"


def test_a_rejected_earlier_case_does_not_count(county: World) -> None:
    world = county
    first = to_decision(world)
    fire(world, "li", first, "reject", rejection_reason="income above the line")
    second = to_decision(world)
    fire(world, "li", second, "approve", tier_multiple="3", amount="2340.00")
    assert case(world, second).state == "approved"


def test_another_persons_approval_does_not_count(county: World) -> None:
    world = county
    approved_case(world)
    cid = open_case(world, PERSON_ID, "temporary_assistance")
    fire(world, "chen", cid, "register_application", cause="medical_expense")
    fire(world, "li", cid, "submit_findings", "bills checked", investigators="li,zhao")
    fire(world, "li", cid, "approve", tier_multiple="3", amount="2340.00")
    assert case(world, cid).state == "approved"


# -- the dibao staff flag ------------------------------------------------------------------


def accepted_flag(world: World, related: list[str]) -> object:
    def relate(svc: Service) -> None:
        person = svc.session.scalars(select(Person).where(Person.id_number == PERSON_ID)).one()
        person.related_users = related

    run(world, relate)
    cid = open_case(world, PERSON_ID, "dibao")
    fire(world, "li", cid, "accept")
    return case(world, cid).data["related_to_staff"]


@pytest.mark.parametrize(
    ("related", "flag"),
    [
        (["zhao"], True),  # a township caseworker
        (["chen"], True),  # the village assistance officer
        (["rep7"], False),  # a village representative only
        (["rep7", "zhao"], True),
        ([], False),
        (["nobody"], False),  # a name that is no user
    ],
)
def test_the_staff_flag_reads_the_roles_of_related_users(
    world: World, related: list[str], flag: bool
) -> None:
    assert accepted_flag(world, related) is flag


def test_related_roles_is_the_sorted_union_and_read_only_when_needed(world: World) -> None:
    def scope(svc: Service) -> tuple[list[str], list[str]]:
        person = svc.session.scalars(select(Person).where(Person.id_number == PERSON_ID)).one()
        person.related_users = ["zhao", "rep7", "chen", "li"]
        svc.session.flush()
        return (
            svc.person_scope(person.id, roles=True)["related_roles"],
            svc.person_scope(person.id)["related_roles"],
        )

    assert run(world, scope) == (["township_caseworker", "village_officer", "village_rep"], [])


# -- loader validation ----------------------------------------------------------------------

SMALL = """\
workflow: small
version: 1
labels: {zh: 小, en: Small}
roles:
  clerk: {zh: 经办, en: Clerk}
fields:
  cause: {type: str}
  again: {type: bool}
  note_text: {type: str}
states:
  open: {labels: {zh: 开, en: Open}, initial: true, owner: clerk, deadline: 3wd}
  done: {labels: {zh: 完, en: Done}, final: true}
transitions:
  - trigger: approve
    source: open
    dest: done
    roles: [clerk]
    once_per_person: RULE
"""


def problems(rule: str) -> list[str]:
    from aidflow.language.loader import load_workflow_text

    with pytest.raises(WorkflowInvalidError) as info:
        load_workflow_text(SMALL.replace("RULE", rule), "small.yaml")
    return [str(p) for p in info.value.problems]


def test_a_valid_rule_loads() -> None:
    from aidflow.language.definition import OncePerPerson, workflow_from_json, workflow_to_json
    from aidflow.language.loader import load_workflow_text

    wf = load_workflow_text(
        SMALL.replace("RULE", "{field: cause, within: 12mo, unless: again}"), "small.yaml"
    ).definition
    assert wf.transitions[0].once_per_person == OncePerPerson("cause", "12mo", "again")
    assert workflow_from_json(workflow_to_json(wf)).transitions[0].once_per_person == OncePerPerson(
        "cause", "12mo", "again"
    )


def test_the_rule_names_a_declared_field() -> None:
    assert problems("{field: caus, within: 12mo}") == [
        (
            "small.yaml:18:30: transitions[0].once_per_person.field: once_per_person field 'caus' "
            "is not declared under fields; did you mean 'cause'?"
        )
    ]


def test_the_rule_needs_a_valid_duration() -> None:
    assert problems("{field: cause, within: 12y}") == [
        (
            "small.yaml:18:45: transitions[0].once_per_person.within: invalid duration '12y': "
            "write a whole number followed by h (hours), d (days), wd (working days) or mo "
            "(months), e.g. 24h, 7d, 10wd, 12mo"
        )
    ]


def test_the_unless_field_is_a_declared_bool() -> None:
    assert problems("{field: cause, within: 12mo, unless: agian}") == [
        (
            "small.yaml:18:59: transitions[0].once_per_person.unless: once_per_person unless-field "
            "'agian' is not declared under fields; did you mean 'again'?"
        )
    ]
    assert problems("{field: cause, within: 12mo, unless: note_text}") == [
        (
            "small.yaml:18:59: transitions[0].once_per_person.unless: once_per_person unless-field "
            "'note_text' is of type str, not bool; declare it with type: bool"
        )
    ]
