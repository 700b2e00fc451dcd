"""Person operations: register a person, import a survey list (`aidflow person ...`)."""

from __future__ import annotations

from typing import Any

from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
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
        raise InvalidInputError(f"batch_size {batch_size} is not between 1 and 100000")
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


@operation("person.show", write=False)
def show(svc: Service, caller: Caller, person_id: int) -> dict[str, Any]:
    """A person as the web page shows them, with their cases in the caller's area.

    The full ID number (and the birth date, which a masked number must never stand beside)
    goes only to those who may see full numbers on one of the person's cases: admins and
    the roles that own a step of its workflow (`case show --show-id`'s rule).
    """
    from aidflow.engine.access import require_area
    from aidflow.idnumber import mask
    from aidflow.operations.cases import may_see_id
    from aidflow.store.persons import person_by_id

    actor = svc.actor(caller.user)
    person = person_by_id(svc.session, person_id)
    require_area(actor, person.township, person.village, f"person {person_id}", say_where=False)
    listed, _total = svc.list_cases(actor, person_id=person_id, include_closed=True, limit=None)
    views = [svc.view(actor, item.case.id) for item in listed]
    full = actor.is_admin or any(may_see_id(v, actor.roles) for v in views)
    return {
        "id": person.id,
        "name": person.name,
        "id_number": person.id_number if full else mask(person.id_number),
        "id_masked": not full,
        "birth_date": person.birth_date.isoformat() if full else None,
        "sex": person.sex,
        "township": person.township,
        "village": person.village,
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
