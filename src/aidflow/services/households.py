"""Households (户): register one, add members, record incomes; the figures dibao reads.

A household groups persons under a head, each with the relationship to the head and
whether they live together (共同生活); the monthly incomes recorded at investigation (in
fen, with who recorded them and when) give the per-capita income of the members who live
together, from which the policy's amount rule computes the dibao amount
(aidflow.policy.households). `figures` is what a workflow reads as `household.*`; the
exclusivity checks refuse a case that the policy's `exclusivity:` rules forbid, naming the
other case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from aidflow.engine.access import Actor, require_area
from aidflow.errors import AidflowError, InvalidInputError, RefusedError
from aidflow.i18n import _, pgettext, pick
from aidflow.policy.households import check_relationship, compute
from aidflow.store import households as store
from aidflow.store import persons
from aidflow.store.households import HouseholdRecord, MemberRecord
from aidflow.store.session import Session

if TYPE_CHECKING:
    from aidflow.policy.households import AmountRule
    from aidflow.policy.standards import Policy
    from aidflow.store.records import CaseRecord, PersonRecord

_YUAN = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # ASCII digits only: no 1e3, no full-width digits
MAX_INCOME_FEN = 10**12  # a monthly income beyond ten billion yuan is a typing mistake


@dataclass(frozen=True)
class HouseholdView:
    """What `aidflow household show` prints."""

    household: HouseholdRecord
    members: list[MemberRecord]
    figures: dict[str, Any] | None  # household.* on the day, None when not computable
    problem: str | None  # why the figures cannot be computed


def _programme(session: Session, workflow: str, state: str) -> tuple[str, str]:
    """A programme and one of its states as the reader calls them: codes in English,
    labels in Chinese."""
    from aidflow.store import workflows

    try:
        definition = workflows.definition_of(workflows.latest_version(session, workflow))
    except AidflowError:
        return workflow, state
    st = definition.states.get(state)
    return (
        pick(workflow, definition.labels.zh),
        pick(state, st.labels.zh) if st is not None else state,
    )


def _no_rule(file: str, workflow: str) -> str:
    return _("{file} has no amounts rule for workflow {workflow}", file=file, workflow=workflow)


def parse_income(text: str) -> int:
    """A monthly income in yuan ("1234.50") as integer fen; no float, at most 2 decimals."""
    raw = text.strip()
    hint = _("write the monthly income in yuan with at most 2 decimals, e.g. 1234.50")
    if not _YUAN.match(raw):
        raise InvalidInputError(_("income {text!r} is not a number", text=text), hint=hint)
    if raw.startswith("-"):
        raise InvalidInputError(_("income {text!r} is negative", text=text), hint=hint)
    whole, _dot, cents = raw.partition(".")
    if len(cents) > 2:
        raise InvalidInputError(
            _("income {text!r} has more than 2 decimal places", text=text), hint=hint
        )
    fen = int(whole) * 100 + int(cents.ljust(2, "0"))
    if fen > MAX_INCOME_FEN:
        raise InvalidInputError(_("income {text!r} is implausibly large", text=text), hint=hint)
    return fen


def _person(session: Session, id_number: str, today: date) -> PersonRecord:
    """The registered person; an unregistered one is bad input to a household command."""
    from aidflow.idnumber import parse_id_number

    idn = parse_id_number(id_number, today=today)
    person = persons.find_person(session, idn.number)
    if person is None:
        raise InvalidInputError(
            _("no person with ID number {idn}", idn=idn.masked),
            hint=_("register them with `aidflow person add`"),
        )
    return person


def _not_in_household(session: Session, person: PersonRecord) -> None:
    from aidflow.idnumber import mask

    other = store.household_of_person(session, person.id)
    if other is not None:
        raise RefusedError(
            _(
                "{name} ({idn}) is already a member of household {other}",
                name=person.name,
                idn=mask(person.id_number),
                other=other,
            ),
            hint=_(
                "a person belongs to one household; `aidflow household show {other}` "
                "lists its members",
                other=other,
            ),
        )


def _person_in_area(actor: Actor, person: PersonRecord) -> None:
    where = f"{person.township}/{person.village}"
    require_area(actor, person.township, person.village, where, say_where=False)


def _household_in_area(session: Session, actor: Actor, household_id: int) -> HouseholdRecord:
    household = store.get_household(session, household_id)
    require_area(actor, household.township, household.village, _("household {id}", id=household_id))
    return household


def add_household(
    session: Session, actor: Actor, now: datetime, today: date, head_id_number: str
) -> tuple[HouseholdRecord, PersonRecord]:
    """Register a household headed by a registered person, in the head's township and village."""
    head = _person(session, head_id_number, today)
    _person_in_area(actor, head)
    _not_in_household(session, head)
    household = store.add_household(session, actor.name, now, head.id, head.township, head.village)
    return household, head


def add_member(
    session: Session,
    actor: Actor,
    now: datetime,
    today: date,
    household_id: int,
    id_number: str,
    relationship: str,
    lives_together: bool,
) -> PersonRecord:
    check_relationship(relationship)
    _household_in_area(session, actor, household_id)
    person = _person(session, id_number, today)
    _person_in_area(actor, person)
    _not_in_household(session, person)
    store.add_member(
        session, actor.name, now, household_id, person.id, relationship, lives_together
    )
    return person


def record_income(
    session: Session,
    actor: Actor,
    now: datetime,
    today: date,
    household_id: int,
    id_number: str,
    amount: str,
) -> tuple[PersonRecord, int]:
    """Record a member's monthly income (yuan text); it supersedes their earlier records."""
    fen = parse_income(amount)
    _household_in_area(session, actor, household_id)
    person = _person(session, id_number, today)
    if store.household_of_person(session, person.id) != household_id:
        from aidflow.idnumber import mask

        raise InvalidInputError(
            _(
                "{name} ({idn}) is not a member of household {id}",
                name=person.name,
                idn=mask(person.id_number),
                id=household_id,
            ),
            hint=_(
                "add them first: `aidflow household member {id} ID_NUMBER --relationship ...`",
                id=household_id,
            ),
        )
    store.record_income(session, actor.name, now, household_id, person.id, fen)
    return person, fen


def view(
    session: Session, actor: Actor, policy: Policy | None, on: date, household_id: int
) -> HouseholdView:
    household = _household_in_area(session, actor, household_id)
    members = store.members(session, household_id)
    figures, problem = None, None
    if policy is not None:
        figures, problem = _figures(session, policy, "dibao", household, members, on)
    return HouseholdView(household, members, figures, problem)


def figures(
    session: Session, policy: Policy, workflow: str, case: CaseRecord, on: date
) -> tuple[dict[str, Any], str | None]:
    """household.* for `case` on day `on`, or (empty, why not): the household of the case's
    person, or the person alone (a single-person household) with the case's monthly_income."""
    household_id = store.household_of_person(session, case.person_id)
    if household_id is not None:
        household = store.get_household(session, household_id)
        return _figures(
            session, policy, workflow, household, store.members(session, household_id), on
        )
    rule = policy.amount_rule(workflow)
    if rule is None:
        return {}, _no_rule(policy.file, workflow)
    raw = case.data.get("monthly_income")
    if raw is None:
        return {}, _(
            "no income is recorded: the person is in no household (register one with "
            "`aidflow household add`) and the case has no monthly_income"
        )
    income = Decimal(raw)
    if income < 0:
        return {}, _("the case's monthly_income {raw} is negative", raw=raw)
    (hukou,) = persons.person_columns(session, case.person_id, ["hukou"])
    fen = int((income * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return _computed(policy, rule, hukou, on, [fen])


def _computed(
    policy: Policy, rule: AmountRule, hukou: str, on: date, incomes_fen: list[int]
) -> tuple[dict[str, Any], str | None]:
    """The figures, or why the policy cannot give them (no standard in force that day ...):
    a reason to refuse the transition that needs them, never a failure to show the case."""
    try:
        return compute(policy, rule, hukou, on, incomes_fen).scope(), None
    except AidflowError as exc:
        return {}, exc.message


def _figures(
    session: Session,
    policy: Policy,
    workflow: str,
    household: HouseholdRecord,
    members: list[MemberRecord],
    on: date,
) -> tuple[dict[str, Any], str | None]:
    rule = policy.amount_rule(workflow)
    if rule is None:
        return {}, _no_rule(policy.file, workflow)
    covered = [m for m in members if m.lives_together]
    missing = [m.name for m in covered if m.income_fen is None]
    if missing:
        return {}, _(
            "household {id}: no income recorded for {names} "
            "(`aidflow household income {id} ID_NUMBER AMOUNT`; 0 for none)",
            id=household.id,
            names=_(", ").join(missing),
        )
    head = next(m for m in members if m.person_id == household.head_person_id)
    incomes = [m.income_fen for m in covered if m.income_fen is not None]
    return _computed(policy, rule, head.hukou, on, incomes)


def check_exclusive(
    session: Session,
    policy: Policy,
    workflow: str,
    person_id: int,
    case_id: int | None,
    *,
    approving: bool,
) -> None:
    """Refuse a case of `workflow` for `person_id` that the policy's exclusivity forbids,
    naming the other case: one the household (or the person) already receives the programme
    by, and, when `approving`, one by which the person receives an excluding programme.

    "Receives" is an open case in a state the policy pays (`payments:`): several cases may
    be opened and investigated, but only one is ever approved, so no one is paid twice.
    """
    rule = policy.exclusivity.get(workflow)
    if rule is None:
        return
    paid = {(pk.workflow, st) for pk in policy.payments.values() for st in pk.paid_states}
    people = [person_id]
    household_id = store.household_of_person(session, person_id)
    if rule.one_open_per == "household" and household_id is not None:
        people = store.member_ids(session, household_id)
    for other, holder, _wf, state in store.open_cases_of(session, people, [workflow]):
        if other == case_id or (workflow, state) not in paid:
            continue
        whose = _("this person") if holder == person_id else _("household {id}", id=household_id)
        per = (
            pgettext("one open case per", "household")
            if rule.one_open_per == "household"
            else pgettext("one open case per", "person")
        )
        programme, shown = _programme(session, workflow, state)
        raise RefusedError(
            _(
                "{whose} already receives {workflow} in case {other} (state '{state}'); "
                "one {workflow} case per {per} ({source})",
                whose=whose,
                workflow=programme,
                other=other,
                state=shown,
                per=per,
                source=rule.source,
            ),
            hint=_("change the amount of case {other} at its periodic review instead", other=other),
        )
    if not approving or not rule.not_while:
        return
    for other, _holder, other_wf, state in store.open_cases_of(
        session, [person_id], rule.not_while
    ):
        if (other_wf, state) in paid:
            other_programme, shown = _programme(session, other_wf, state)
            programme = _programme(session, workflow, "")[0]
            raise RefusedError(
                _(
                    "the person receives {other_wf} in case {other} (state '{state}'); "
                    "{workflow} is excluded while they do ({source})",
                    other_wf=other_programme,
                    other=other,
                    state=shown,
                    workflow=programme,
                    source=rule.source,
                ),
                hint=_(
                    "exit case {other} first if {workflow} should replace it",
                    other=other,
                    workflow=programme,
                ),
            )
