"""`aidflow case import`: a county ledger's open cases, with the dry run's and the
reconciliation's figures per township."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aidflow.cli.app import App, emit_json, pass_app
from aidflow.i18n import _


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--workflow", "-w", required=True, help="The programme the ledger lists (dibao, tekun)."
)
@click.option(
    "--mapping",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Column mapping file instead of workflows/policy/case_import.yaml.",
)
@click.option(
    "--dry-run", is_flag=True, help="Check every row and print the figures; write nothing."
)
@click.option("--skip-bad", is_flag=True, help="Import the good rows and list the skipped ones.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def case_import(
    app: App,
    file: Path,
    workflow: str,
    mapping: Path | None,
    dry_run: bool,
    skip_bad: bool,
    as_json: bool,
) -> None:
    """Bring a county ledger's open cases in (CSV or XLSX), in the states they are in today.

    Every row is checked (state, required fields, amount ceiling, dates, one open case per
    programme); a ledger with bad rows imports nothing (exit 3, every row listed with its
    line) unless --skip-bad. Importing the same file again changes nothing; a corrected
    file changes only the rows that changed, each audited.
    """
    from aidflow.cli.files import send_file

    result = app.call(
        "case.import",
        workflow=workflow,
        mapping_text=mapping.read_text(encoding="utf-8") if mapping else None,
        mapping_name=str(mapping) if mapping else None,
        dry_run=dry_run,
        skip_bad=skip_bad,
        **send_file(file),
    )
    if as_json:
        emit_json(result)
        return
    _print(result)


def _print(result: dict[str, Any]) -> None:
    from aidflow.services.payments import kind_label

    values = {
        "file": result["file"],
        "workflow": result["workflow"],
        "rows": result["rows"],
        "sha": result["sha256"][:12],
    }
    if result["dry_run"]:
        click.echo(_("dry run of {file} ({workflow}, {rows} rows, sha256 {sha})", **values))
    else:
        click.echo(_("imported {file} ({workflow}, {rows} rows, sha256 {sha})", **values))
    for name, t in result["townships"].items():
        states = ", ".join(f"{s} {n}" for s, n in t["states"].items())
        click.echo(f"{name}: {states}")
        for kind, m in t["monthly"].items():
            click.echo(
                _(
                    "  {kind}: {count} case(s), {yuan} yuan a month",
                    kind=kind_label(kind),
                    count=m["count"],
                    yuan=m["yuan"],
                )
            )
        for r in t["reviews"]:
            click.echo(
                _(
                    "  review due {date}: line {line} {person}",
                    date=r["date"],
                    line=r["line"],
                    person=r["person"],
                )
            )
    if result["problems"]:
        n = len({p["line"] for p in result["problems"]})
        if result["dry_run"]:
            click.echo(_("{n} row(s) would be refused:", n=n))
        else:
            click.echo(_("{n} row(s) skipped:", n=n))
        for p in result["problems"]:
            click.echo(f"  {p['text']}")
    if result["dry_run"]:
        return
    click.echo(
        _(
            "{imported} case(s) imported, {corrected} corrected, {unchanged} unchanged",
            imported=result["imported"],
            corrected=result["corrected"],
            unchanged=result["unchanged"],
        )
    )
    for c in result["corrections"]:
        click.echo(
            _(
                "  line {line}: case {case} {changed}",
                line=c["line"],
                case=c["case_id"],
                changed=", ".join(c["changed"]),
            )
        )
    if result["differences"]:
        click.echo(_("reconciliation: {n} difference(s):", n=len(result["differences"])))
        for d in result["differences"]:
            click.echo(f"  {d}")
    else:
        click.echo(_("reconciliation: aidflow's counts and monthly totals match the ledger's"))
