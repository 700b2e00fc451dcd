"""Administration: `aidflow db`, `aidflow person`, `aidflow audit` (users: aidflow.cli.users)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aidflow.cli.app import ROW_ID, App, pass_app


@click.group("db")
def db_group() -> None:
    """Create or upgrade the database schema."""


@db_group.command("upgrade")
@click.option(
    "--training",
    is_flag=True,
    help="Create a training (simulation) database, where writes may take --now. "
    "Only when the database is created; a production database stays one.",
)
@pass_app
def db_upgrade(app: App, training: bool) -> None:
    """Create the tables or migrate them to this version (safe to repeat)."""
    # the schema's creator is whoever runs this on the host: no user exists before it
    before, after = app.upgrade_database(training=training, actor=app.claimed or app.os_login)
    url = app.database.describe()
    click.echo(
        f"{url}: schema at revision {after}"
        + ("" if before == after else f" (was {before or 'empty'})")
        + (f"; {app.database.mode} database" if before is None else "")
    )


@click.group("person")
def person_group() -> None:
    """Register and look up persons."""


@person_group.command("add")
@click.argument("id_number")
@click.option("--name", required=True)
@click.option("--township", required=True)
@click.option("--village", required=True)
@click.option("--hukou", type=click.Choice(["rural", "urban", "农村", "城镇"]), required=True)
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
    p = app.call(
        "person.add",
        id_number=id_number,
        full_name=name,
        township=township,
        village=village,
        hukou=hukou,
        related_users=list(related),
        disability_grade=disability_grade,
        disability_type=disability_type,
        living_alone=living_alone,
        supporter_able=supporter_able,
        mental_illness=mental_illness,
        registered_poor=registered_poor,
    )
    click.echo(
        f"person {p['id']} registered: {p['name']}, {p['id_number_masked']}, born "
        f"{p['birth_date']}, {'male' if p['sex'] == 'M' else 'female'}, "
        f"{p['township']}/{p['village']}"
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
    from aidflow.errors import AuditError, InvalidInputError, NotFoundError

    sent: dict[str, Any] = {}
    if checkpoints_dir is not None:
        sent["checkpoints"] = _read_checkpoints(checkpoints_dir)
    if public_key is not None:
        try:
            sent["public_key"] = public_key.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read public key {public_key}: {exc}") from None
        sent["public_key_file"] = str(public_key)
    r = app.call("audit.verify", case_ids=list(case_ids), **sent)
    for line in r["findings"] + r["log_findings"]:
        click.echo(line)
    if r["findings"]:
        raise AuditError(
            f"audit chain broken: {len(r['findings'])} finding(s) in {r['cases']} case(s), "
            f"{r['events']} events"
        )
    if r["log_findings"]:
        raise AuditError(
            f"audit log does not verify: {len(r['log_findings'])} finding(s) in "
            f"{r['log_entries']} entries, checked against {r['log_checkpoints']} valid "
            "checkpoint(s)"
        )
    if r["unknown_cases"]:
        raise NotFoundError(
            f"no case {', '.join(map(str, r['unknown_cases']))}",
            hint="`aidflow case list --all` shows the cases you can see",
        )
    click.echo(f"audit ok: {r['cases']} case(s), {r['events']} events verified")
    if r["checked_checkpoints"]:
        click.echo(
            f"audit log ok: {r['log_entries']} entries, {r['log_checkpoints']} signed "
            "checkpoint(s) match"
        )


def _read_checkpoints(directory: Path) -> dict[str, str]:
    """The checkpoint files (NAME.json) of an auditor's directory, by name, to send."""
    from aidflow.errors import InvalidInputError

    try:
        files = sorted(p for p in directory.iterdir() if p.suffix == ".json" and p.is_file())
        return {p.name: p.read_text(encoding="utf-8", errors="replace") for p in files}
    except FileNotFoundError:
        raise InvalidInputError(f"checkpoint directory {directory} does not exist") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read checkpoint directory {directory}: {exc}") from None


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
    made = app.call("audit.checkpoint")
    click.echo(
        f"checkpoint of {made['size']} entries, head {made['head'][:16]}..., "
        f"written to {made['file']}"
    )
