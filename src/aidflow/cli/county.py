"""`aidflow init DIR`: a county's own copy of the shipped workflows, policy files and templates."""

from __future__ import annotations

from pathlib import Path

import click

from aidflow.i18n import _


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Copy the shipped workflows/, workflows/policy/ and notifications/ into DIRECTORY
    (new or empty) and write DIRECTORY/aidflow.toml naming them.

    Edit the copies, then run commands with --config DIRECTORY/aidflow.toml (or
    AIDFLOW_CONFIG); `aidflow workflow validate` checks the county's workflows.
    """
    from aidflow.policy.county import create_county_directory

    for path in create_county_directory(directory):
        click.echo(_("created {path}", path=str(path) + ("/" if path.is_dir() else "")))
    config = directory / "aidflow.toml"
    click.echo(_("next: aidflow --config {config} workflow validate", config=config))
    click.echo(
        _(
            "then: aidflow --config {config} db upgrade "
            "(add --training for a training database, where writes may take --now)",
            config=config,
        )
    )


@click.group("county")
def county_group() -> None:
    """A synthetic county to try aidflow on."""


@county_group.command("generate")
@click.option("--persons", type=click.IntRange(10, 10_000_000), default=1000, show_default=True)
@click.option("--townships", type=click.IntRange(1, 16), default=4, show_default=True)
@click.option("--seed", default="1", show_default=True, help="Same seed, same files.")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=Path("county-data"),
    show_default=True,
    help="Directory to write the files into.",
)
def county_generate(persons: int, townships: int, seed: str, output: Path) -> None:
    """Write a synthetic county's survey lists: areas.csv, civil_affairs.csv (with household,
    income and bank-account columns), health.csv, disabled_federation.csv, and county.json
    (the mix drawn and the deliberately bad rows the import must refuse).

    Valid GB 11643 ID numbers with birth dates matching each target group's ages;
    deterministic from the seed. Import them with `aidflow area import` and
    `aidflow person import FILE --source civil_affairs|health|disabled_federation --skip-bad`.
    """
    from aidflow.files.synthetic import generate, write_county

    county = generate(persons, townships, seed)
    written = write_county(county, output)
    for path in written.values():
        click.echo(_("wrote {path}", path=path))
    mix = ", ".join(f"{g} {n}" for g, n in county.mix().items())
    click.echo(
        _(
            "{persons} persons in {townships} townships ({mix})",
            persons=len(county.persons),
            townships=townships,
            mix=mix,
        )
    )
    for bad in county.bad_rows:
        click.echo(
            _(
                "deliberately bad: {file} line {line}: {reason}",
                file=bad.file,
                line=bad.line,
                reason=bad.reason,
            )
        )
