"""Administration: `aidflow db`, `aidflow person`, `aidflow audit` (users: aidflow.cli.users)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aidflow.cli.app import ROW_ID, App, emit_json, pass_app
from aidflow.i18n import _, pick


def _sex(code: str) -> str:
    return _("male") if code == "M" else _("female")


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
    if before is None:
        mode = _("training") if app.database.mode == "training" else _("production")
        click.echo(
            _(
                "{url}: schema at revision {after} (was empty); {mode} database",
                url=url,
                after=after,
                mode=mode,
            )
        )
    elif before == after:
        click.echo(_("{url}: schema at revision {after}", url=url, after=after))
    else:
        click.echo(
            _(
                "{url}: schema at revision {after} (was {before})",
                url=url,
                after=after,
                before=before,
            )
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
        + ["肢体", "视力", "听力", "言语", "智力", "精神", "多重"]
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
        _(
            "person {id} registered: {name}, {id_number_masked}, born {birth_date}, "
            "{sex}, {township}/{village}",
            id=p["id"],
            name=p["name"],
            id_number_masked=p["id_number_masked"],
            birth_date=p["birth_date"],
            sex=_sex(p["sex"]),
            township=p["township"],
            village=p["village"],
        )
    )


def _width(text: str) -> int:
    """Columns `text` takes in a terminal: Chinese characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


@person_group.command("find")
@click.argument("text")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="List at most this many persons.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def person_find(app: App, text: str, limit: int, as_json: bool) -> None:
    """Find persons in your area by name, part of a name or part of an ID number.

    ID numbers are masked. Exits 0 when no one is found, saying so; the name or the full
    ID number of a person found opens a case (`aidflow case open`).
    """
    result = app.call("person.find", text=text, limit=limit)
    if as_json:
        emit_json(result)
        return
    rows = result["persons"]
    if not rows:
        click.echo(
            _(
                "no one found matching {text!r} in {user}'s area ({area})",
                text=result["text"],
                user=result["user"],
                area=result["area"],
            )
        )
        return
    header = [_("Name"), _("ID number"), _("Sex"), _("Age"), _("Area"), _("Open cases")]
    table = [
        [
            r["name"],
            r["id_number_masked"],
            _sex(r["sex"]),
            str(r["age"]),
            f"{r['township']}/{r['village']}",
            str(r["open_cases"]),
        ]
        for r in rows
    ]
    widths = [max(_width(row[i]) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        click.echo("  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if result["more"]:
        click.echo(
            _(
                "showing the first {shown} persons found; give more of the name or the ID "
                "number, or --limit N",
                shown=len(rows),
            )
        )


@person_group.command("show")
@click.argument("person", metavar="ID_NUMBER")
@click.option(
    "--show-id", is_flag=True, help="The full ID number (roles that handle the person's cases)."
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def person_show(app: App, person: str, show_id: bool, as_json: bool) -> None:
    """Show a person: details, household, target groups and cases (ID number or name)."""
    p = app.call("person.show", person=person, show_id=show_id)
    if as_json:
        emit_json(p)
        return
    hukou = {"rural": _("rural"), "urban": _("urban")}.get(p["hukou"], p["hukou"])
    rows = [
        (_("Name"), p["name"]),
        (_("ID number"), p["id_number"]),
        (_("Sex"), _sex(p["sex"])),
        (
            _("Born"),
            _("{date} (age {age})", date=p["birth_date"], age=p["age"])
            if p["birth_date"]
            else _("age {age}", age=p["age"]),
        ),
        (_("Area"), f"{p['township']}/{p['village']}"),
        (_("Hukou"), hukou),
        (
            _("Categories"),
            pick(", ", "、").join(c["label"] for c in p["categories"]) or _("(none)"),
        ),
    ]
    h = p["household"]
    if h is not None:
        rows.append(
            (
                _("Household"),
                _(
                    "household {id}, head {head}, {members} member(s); {relationship}",
                    id=h["id"],
                    head=h["head"],
                    members=h["members"],
                    relationship=h["relationship_label"] or "-",
                ),
            )
        )
    else:
        rows.append((_("Household"), _("(none)")))
    width = max(_width(label) for label, _value in rows)
    for label, value in rows:
        click.echo(f"{_pad(label, width)}  {value}")
    click.echo(_("Cases:"))
    if not p["cases"]:
        click.echo("  " + _("(none)"))
    for c in p["cases"]:
        closed = _(" (closed)") if c["closed"] else ""
        click.echo(f"  #{c['id']}  {c['workflow_label']}  {c['state_label']}{closed}")


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
            raise InvalidInputError(
                _("cannot read public key {public_key}: {exc}", public_key=public_key, exc=exc)
            ) from None
        sent["public_key_file"] = str(public_key)
    r = app.call("audit.verify", case_ids=list(case_ids), **sent)
    for line in r["findings"] + r["log_findings"]:
        click.echo(line)
    if r["findings"]:
        raise AuditError(
            _(
                "audit chain broken: {n} finding(s) in {cases} case(s), {events} events",
                n=len(r["findings"]),
                cases=r["cases"],
                events=r["events"],
            )
        )
    if r["log_findings"]:
        raise AuditError(
            _(
                "audit log does not verify: {n} finding(s) in {log_entries} entries, checked "
                "against {log_checkpoints} valid checkpoint(s)",
                n=len(r["log_findings"]),
                log_entries=r["log_entries"],
                log_checkpoints=r["log_checkpoints"],
            )
        )
    if r["unknown_cases"]:
        raise NotFoundError(
            _("no case {cases}", cases=", ".join(map(str, r["unknown_cases"]))),
            hint=_("`aidflow case list --all` shows the cases you can see"),
        )
    click.echo(
        _(
            "audit ok: {cases} case(s), {events} events verified",
            cases=r["cases"],
            events=r["events"],
        )
    )
    if r["checked_checkpoints"]:
        click.echo(
            _(
                "audit log ok: {log_entries} entries, {log_checkpoints} signed checkpoint(s) match",
                log_entries=r["log_entries"],
                log_checkpoints=r["log_checkpoints"],
            )
        )


def _read_checkpoints(directory: Path) -> dict[str, str]:
    """The checkpoint files (NAME.json) of an auditor's directory, by name, to send."""
    from aidflow.errors import InvalidInputError

    try:
        files = sorted(p for p in directory.iterdir() if p.suffix == ".json" and p.is_file())
        return {p.name: p.read_text(encoding="utf-8", errors="replace") for p in files}
    except FileNotFoundError:
        raise InvalidInputError(
            _("checkpoint directory {directory} does not exist", directory=directory)
        ) from None
    except OSError as exc:
        raise InvalidInputError(
            _("cannot read checkpoint directory {directory}: {exc}", directory=directory, exc=exc)
        ) from None


@audit_group.command("keygen")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def audit_keygen(file: Path) -> None:
    """Write a new Ed25519 signing key to FILE (mode 0600, never over an existing file) and
    print its public key: give that to whoever runs `audit verify --public-key`."""
    from aidflow.services import auditlog

    public = auditlog.keygen(file)
    click.echo(_("signing key written to {file}\npublic key: {public}", file=file, public=public))


@audit_group.command("checkpoint")
@pass_app
def audit_checkpoint(app: App) -> None:
    """Sign the audit log's current size and head hash and write the checkpoint file to the
    checkpoints_dir setting (the time signed is the system clock's, never --now)."""
    made = app.call("audit.checkpoint")
    click.echo(
        _(
            "checkpoint of {size} entries, head {head}..., written to {file}",
            size=made["size"],
            head=made["head"][:16],
            file=made["file"],
        )
    )
