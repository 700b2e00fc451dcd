"""Administration: `aidflow db`, `aidflow person`, `aidflow audit` (users: aidflow.cli.users)."""

from __future__ import annotations

from pathlib import Path

import click

from aidflow.cli.app import ROW_ID, App, pass_app


@click.group("db")
def db_group() -> None:
    """Create or upgrade the database schema."""


@db_group.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Create the tables or migrate them to this version (safe to repeat)."""
    before, after = app.database.upgrade()
    url = app.database.describe()
    click.echo(
        f"{url}: schema at revision {after}"
        + ("" if before == after else f" (was {before or 'empty'})")
    )


@click.group("person")
def person_group() -> None:
    """Register and look up persons."""


@person_group.command("add")
@click.argument("id_number")
@click.option("--name", required=True)
@click.option("--township", required=True)
@click.option("--village", required=True)
@click.option("--hukou", type=click.Choice(["rural", "urban"]), required=True)
@click.option("--disability-grade", type=click.IntRange(1, 4))
@click.option(
    "--disability-type",
    type=click.Choice(
        ["physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple"]
    ),
)
@click.option("--mental-illness", is_flag=True)
@click.option("--registered-poor", is_flag=True)
@click.option("--living-alone/--not-living-alone", default=None)
@click.option("--supporter-able/--supporter-unable", default=None)
@click.option(
    "--related-user",
    "related",
    multiple=True,
    help="A user related to this person (excluded from votes on their cases).",
)
@pass_app
def person_add(
    app: App,
    id_number: str,
    name: str,
    township: str,
    village: str,
    hukou: str,
    disability_grade: int | None,
    disability_type: str | None,
    mental_illness: bool,
    registered_poor: bool,
    living_alone: bool | None,
    supporter_able: bool | None,
    related: tuple[str, ...],
) -> None:
    """Register a person by resident ID number (checked, birth date and sex derived)."""
    from aidflow.idnumber import mask

    with app.transaction() as svc:
        person = svc.add_person(
            svc.actor(app.user),
            id_number,
            name,
            township,
            village,
            hukou,
            related_users=related,
            disability_grade=disability_grade,
            disability_type=disability_type,
            living_alone=living_alone,
            supporter_able=supporter_able,
            mental_illness=mental_illness,
            registered_poor=registered_poor,
        )
    click.echo(
        f"person {person.id} registered: {person.name}, {mask(person.id_number)}, born "
        f"{person.birth_date}, {'male' if person.sex == 'M' else 'female'}, "
        f"{person.township}/{person.village}"
    )


@click.group("audit")
def audit_group() -> None:
    """Check the tamper-evident audit trail; sign checkpoints of the audit log."""


@audit_group.command("verify")
@click.option("--case", "case_ids", type=ROW_ID, multiple=True, help="Only these cases.")
@click.option(
    "--checkpoints",
    "checkpoints_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory of signed checkpoints (default: the checkpoints_dir setting).",
)
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File with the public key checkpoints must be signed by (default: the signing key's own).",
)
@pass_app
def audit_verify(
    app: App,
    case_ids: tuple[int, ...],
    checkpoints_dir: Path | None = None,
    public_key: Path | None = None,
) -> None:
    """Recompute every case's event hash chain and the global audit log; name each event
    or entry edited, removed or reordered, and check the log against every checkpoint."""
    from aidflow.errors import AuditError, NotFoundError
    from aidflow.services import auditlog

    directory = checkpoints_dir or app.settings.checkpoints_dir
    key = auditlog.trusted_key(public_key, app.settings.signing_key_file if directory else None)
    with app.reading() as svc:
        cases, events, findings, unknown = svc.verify_audit(list(case_ids))
        log = auditlog.check_log(svc.session, directory, key)
    # an event the case's own chain already names is not named twice
    named = {(f.case_id, f.seq) for f in findings} | {(f.case_id, None) for f in findings}
    log_findings = [
        f
        for f in log.findings
        if f.case_id is None or ((f.case_id, f.seq) not in named and (f.case_id, None) not in named)
    ]
    for f in findings:
        click.echo(str(f))
    for lf in log_findings:
        click.echo(str(lf))
    if findings:
        raise AuditError(
            f"audit chain broken: {len(findings)} finding(s) in {cases} case(s), {events} events"
        )
    if log_findings:
        raise AuditError(
            f"audit log does not verify: {len(log_findings)} finding(s) in {log.entries} "
            f"entries, checked against {log.checkpoints} valid checkpoint(s)"
        )
    if unknown:
        raise NotFoundError(
            f"no case {', '.join(map(str, unknown))}",
            hint="`aidflow case list --all` shows the cases you can see",
        )
    click.echo(f"audit ok: {cases} case(s), {events} events verified")
    if directory is not None:
        click.echo(
            f"audit log ok: {log.entries} entries, {log.checkpoints} signed checkpoint(s) match"
        )


@audit_group.command("keygen")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def audit_keygen(file: Path) -> None:
    """Write a new Ed25519 signing key to FILE (mode 0600, never over an existing file) and
    print its public key: give that to whoever runs `audit verify --public-key`."""
    from aidflow.services import auditlog

    public = auditlog.keygen(file)
    click.echo(f"signing key written to {file}\npublic key: {public}")


@audit_group.command("checkpoint")
@pass_app
def audit_checkpoint(app: App) -> None:
    """Sign the audit log's current size and head hash and write the checkpoint file to the
    checkpoints_dir setting (the time signed is the system clock's, never --now)."""
    from aidflow.clock import SystemClock
    from aidflow.services import auditlog

    with app.reading() as svc:
        checkpoint, path = auditlog.make_checkpoint(
            svc.session,
            app.settings.signing_key_file,
            app.settings.checkpoints_dir,
            SystemClock().now(),
        )
    click.echo(
        f"checkpoint of {checkpoint.size} entries, head {checkpoint.head[:16]}..., "
        f"written to {path}"
    )
