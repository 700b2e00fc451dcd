"""Person operations: register a person, import a survey list (`aidflow person ...`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from aidflow.i18n import N_, _
from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
from aidflow.services.ledger import PERSON_WORDS
from aidflow.services.runtime import Runtime


@operation("person.add", write=True)
def add(
    svc: Service,
    caller: Caller,
    id_number: str,
    full_name: str,
    township: str,
    village: str,
    hukou: str,
    disability_grade: int | None = None,
    disability_type: str | None = None,
    mental_illness: bool = False,
    registered_poor: bool = False,
    living_alone: bool | None = None,
    supporter_able: bool | None = None,
    related_users: list[str] | None = None,
) -> dict[str, Any]:
    """Register a person by resident ID number (checked; birth date and sex derived)."""
    from aidflow.idnumber import mask

    person = svc.add_person(
        svc.actor(caller.user),
        id_number,
        full_name,
        township,
        village,
        hukou,
        related_users=tuple(related_users or ()),
        disability_grade=disability_grade,
        disability_type=disability_type,
        living_alone=living_alone,
        supporter_able=supporter_able,
        mental_illness=mental_illness,
        registered_poor=registered_poor,
    )
    return {
        "id": person.id,
        "name": person.name,
        "id_number_masked": mask(person.id_number),
        "birth_date": person.birth_date.isoformat(),
        "sex": person.sex,
        "township": person.township,
        "village": person.village,
    }


# The importer writes in batches, each a transaction of its own, so an interrupted import
# keeps what it wrote and the next run resumes after it.
@operation("person.import", write=True, runtime=True, own_units=True)
def import_list(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    content_b64: str,
    file_name: str,
    source: str,
    mapping: str | None = None,
    skip_bad: bool = False,
    batch_size: int = 1000,
    sheet: str | None = None,
) -> dict[str, Any]:
    """Import a survey list (CSV or XLSX) sent as bytes; every row is checked, duplicates
    merge by ID number. A list with bad rows imports nothing unless `skip_bad`."""
    from aidflow.errors import InvalidInputError
    from aidflow.operations.uploads import received
    from aidflow.policy.mappings import load_import_policy
    from aidflow.services.survey import Importer

    if not 1 <= batch_size <= 100_000:
        raise InvalidInputError(
            _("batch_size {batch_size} is not between 1 and 100000", batch_size=batch_size)
        )
    policy = load_import_policy(rt.county.import_mappings_file)
    actor = svc.actor(caller.user)
    today = svc.local_today()
    with received(content_b64, file_name) as path:
        importer = Importer(
            rt.database.session,
            policy,
            actor,
            path,
            source,
            mapping=mapping,
            skip_bad=skip_bad,
            sheet=sheet,
            now=svc.clock.now(),
            today=today,
            batch_size=batch_size,
        )
        result = importer.run()
    return {
        "run_id": result.run_id,
        "file": result.file,
        "source": result.source,
        "rows_total": result.rows_total,
        "imported": result.imported,
        "created": result.created,
        "merged": result.merged,
        "already_done": result.already_done,
        "resumed_after": result.resumed_after,
        "skipped": [{"line": p.line, "text": str(p)} for p in result.skipped],
        "disagreements": [str(d) for d in result.disagreements],
    }


FIND_LIMIT = 50  # the most persons one `person find` lists
FIND_MIN_DIGITS = 4  # a shorter run of digits would match half the county's ID numbers

# disability types as the person register writes them -> their words
DISABILITY_TYPES = PERSON_WORDS["disability_type"]


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@operation("person.find", write=False)
def find(svc: Service, caller: Caller, text: str, limit: int = FIND_LIMIT) -> dict[str, Any]:
    """Persons in the caller's area by name, part of a name or part of an ID number (at
    least 4 digits); ID numbers masked, at most `limit`, by name."""
    from aidflow.errors import InvalidInputError
    from aidflow.idnumber import mask
    from aidflow.store import persons

    actor = svc.actor(caller.user)
    wanted = text.strip()
    if not wanted:
        raise InvalidInputError(
            _("give a name, part of a name or part of an ID number to search for")
        )
    if len(wanted) > 100:
        raise InvalidInputError(_("the search text is longer than 100 characters"))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in wanted):  # no name holds one (nor NUL)
        raise InvalidInputError(_("the search text holds a control character"))
    if wanted.isascii() and wanted.upper().rstrip("X").isdigit() and len(wanted) < FIND_MIN_DIGITS:
        raise InvalidInputError(
            _(
                "{text!r} is too short to search ID numbers by",
                text=wanted,
            ),
            hint=_("give at least {n} digits of the ID number, or a name", n=FIND_MIN_DIGITS),
        )
    if not 1 <= limit <= 1000:
        raise InvalidInputError(_("limit {limit} is not between 1 and 1000", limit=limit))
    found = persons.search_persons(svc.session, wanted, actor.scope, limit + 1)
    shown = found[:limit]
    open_cases = persons.open_case_counts(svc.session, [p.id for p in shown])
    today = svc.local_today()
    return {
        "text": wanted,
        "user": actor.name,
        "area": actor.area,
        "more": len(found) > limit,
        "limit": limit,
        "persons": [
            {
                "name": p.name,
                "id_number_masked": mask(p.id_number),
                "sex": p.sex,
                "age": _age(p.birth_date, today),
                "township": p.township,
                "village": p.village,
                "open_cases": open_cases.get(p.id, 0),
            }
            for p in shown
        ],
    }


@operation("person.show", write=False, runtime=True)
def show(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    person_id: int | None = None,
    person: str | None = None,
    show_id: bool = False,
) -> dict[str, Any]:
    """A person with their household, the target groups they meet and their cases in the
    caller's area: by row id (the web page) or by `person`, an ID number or a name in the
    caller's area (`aidflow person show`).

    The full ID number goes only to those who may see full numbers on one of the person's
    cases: admins and the roles that own a step of its workflow (`case show --show-id`'s
    rule); by `person`, only when `show_id` asks for it (as `case show` masks by default).
    The birth date, which a masked number must never stand beside, goes to them and to
    whoever named the person by the full ID number (they hold it already); the others see
    the age.
    """
    from aidflow.engine.access import require_area
    from aidflow.errors import ForbiddenError, InvalidInputError
    from aidflow.idnumber import looks_like_id_number, mask
    from aidflow.operations.cases import may_see_id
    from aidflow.policy.households import relationship_label
    from aidflow.policy.target_groups import load_target_groups
    from aidflow.services.lookback import person_scope
    from aidflow.store import households
    from aidflow.store.persons import person_by_id

    actor = svc.actor(caller.user)
    by_number = False
    if (person_id is None) == (person is None):
        raise InvalidInputError(_("give either a person's row id or their ID number or name"))
    if person_id is not None:
        record = person_by_id(svc.session, person_id)
        what = _("person {id}", id=person_id)
    else:
        assert person is not None
        by_number = looks_like_id_number(person)
        record = svc.person(person) if by_number else svc.person_for(actor, person)
        what = _("person {id_number}", id_number=mask(record.id_number))
    require_area(actor, record.township, record.village, what, say_where=False)
    listed, _total = svc.list_cases(actor, person_id=record.id, include_closed=True, limit=None)
    views = [svc.view(actor, item.case.id) for item in listed]
    allowed = actor.is_admin or any(may_see_id(v, actor.roles) for v in views)
    if show_id and not allowed:
        raise ForbiddenError(
            _(
                "{user} may not see the full ID number of {what}",
                user=actor.name,
                what=what,
            ),
            hint=_("administrators and the roles that handle the person's cases may"),
        )
    full = allowed and (person_id is not None or show_id)
    today = svc.local_today()

    policy = load_target_groups(rt.county.target_groups_file)
    scope = {"person": person_scope(record, today)}
    categories = [
        {"code": g.name, "label": g.zh if caller.lang == "zh" else g.en}
        for g in policy.groups
        if g.when.evaluate(scope)
    ]
    if record.disability_grade is not None:
        kind = record.disability_type
        categories.append(
            {
                "code": "disability",
                "label": _(
                    "disability grade {grade} ({kind})",
                    grade=record.disability_grade,
                    kind=_(DISABILITY_TYPES.get(kind, kind)),
                )
                if kind
                else _("disability grade {grade}", grade=record.disability_grade),
            }
        )
    for code, flag, label in (
        ("mental_illness", record.mental_illness, N_("mental illness")),
        ("registered_poor", record.registered_poor, N_("registered poor household")),
        ("living_alone", record.living_alone, N_("living alone")),
        ("supporter_unable", record.supporter_able is False, N_("supporters unable to support")),
        ("dibao", record.dibao_status == "active", N_("receives dibao")),
        ("tekun", record.tekun_status == "active", N_("receives tekun support")),
    ):
        if flag:
            categories.append({"code": code, "label": _(label)})

    household: dict[str, Any] | None = None
    household_id = households.household_of_person(svc.session, record.id)
    if household_id is not None:
        members = households.members(svc.session, household_id)
        head = households.get_household(svc.session, household_id).head_person_id
        me = next((m for m in members if m.person_id == record.id), None)
        head_name = next((m.name for m in members if m.person_id == head), "")
        household = {
            "id": household_id,
            "head": head_name,
            "relationship": me.relationship if me else None,
            "relationship_label": relationship_label(me.relationship, caller.lang) if me else None,
            "members": len(members),
        }
    return {
        "id": record.id,
        "name": record.name,
        "id_number": record.id_number if full else mask(record.id_number),
        "id_masked": not full,
        "birth_date": record.birth_date.isoformat() if allowed or by_number else None,
        "age": _age(record.birth_date, today),
        "sex": record.sex,
        "township": record.township,
        "village": record.village,
        "hukou": record.hukou,
        "categories": categories,
        "household": household,
        "cases": [
            {
                "id": v.case.id,
                "workflow": v.workflow.name,
                "workflow_label": v.workflow.labels.get(caller.lang),
                "state": v.case.state,
                "state_label": v.workflow.states[v.case.state].labels.get(caller.lang),
                "closed": v.case.closed_at is not None,
            }
            for v in views
        ],
    }


# The persons are written by the survey importer in batches of their own, the cases in one
# transaction after every row was checked.
@operation("case.import", write=True, runtime=True, own_units=True)
def import_cases(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    content_b64: str,
    file_name: str,
    workflow: str,
    mapping_text: str | None = None,
    mapping_name: str | None = None,
    dry_run: bool = False,
    skip_bad: bool = False,
) -> dict[str, Any]:
    """Bring a county ledger's open cases in (CSV or XLSX), each row checked against the
    workflow and the policy; a ledger with bad rows imports nothing unless `skip_bad`."""
    from aidflow.operations.uploads import received
    from aidflow.policy.casemapping import case_mapping_from_text, load_case_mapping
    from aidflow.policy.mappings import load_import_policy
    from aidflow.services.caseimport import CaseImporter
    from aidflow.services.payments import yuan

    mapping = (
        case_mapping_from_text(mapping_text, mapping_name or "mapping.yaml")
        if mapping_text is not None
        else load_case_mapping(rt.county.case_import_file)
    )
    with received(content_b64, file_name) as path:
        result = CaseImporter(
            rt.database.session,
            load_import_policy(rt.county.import_mappings_file),
            mapping,
            rt.load_standards(),
            svc.actor(caller.user),
            path,
            workflow,
            now=svc.clock.now(),
            calendar=svc.calendar,
            deadline_for=svc.deadline_for,
            file_name=file_name,
            skip_bad=skip_bad,
            dry_run=dry_run,
        ).run()
    return {
        "file": result.file,
        "sha256": result.sha256,
        "workflow": result.workflow,
        "dry_run": result.dry_run,
        "rows": result.rows,
        "imported": result.imported,
        "corrected": result.corrected,
        "unchanged": result.unchanged,
        "problems": [{"line": p.line, "text": f"{result.file}:{p}"} for p in result.problems],
        "townships": {
            name: {
                "states": dict(sorted(t.states.items())),
                "monthly": {
                    k: {"count": t.count[k], "yuan": yuan(t.fen[k])} for k in sorted(t.count)
                },
                "ledger": {
                    k: {"count": t.ledger_count[k], "yuan": yuan(t.ledger_fen[k])}
                    for k in sorted(t.ledger_count)
                },
                "reviews": [{"date": d, "line": line, "person": who} for d, line, who in t.reviews],
            }
            for name, t in sorted(result.townships.items())
        },
        "deadlines": {str(k): v for k, v in sorted(result.deadlines.items())},
        "case_ids": {str(k): v for k, v in sorted(result.case_ids.items())},
        "corrections": result.corrections,
        "differences": result.differences,
    }
