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
