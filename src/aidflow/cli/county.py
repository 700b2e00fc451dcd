"""`aidflow init DIR`: a county's own copy of the shipped workflows, policy files and templates."""

from __future__ import annotations

from pathlib import Path

import click


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
        click.echo(f"created {path}{'/' if path.is_dir() else ''}")
    config = directory / "aidflow.toml"
    click.echo(f"next: aidflow --config {config} workflow validate")
    click.echo(
        f"then: aidflow --config {config} db upgrade "
        "(add --training for a training database, where writes may take --now)"
    )
