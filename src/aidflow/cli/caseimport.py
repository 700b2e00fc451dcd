"""`aidflow case import`: a county ledger's open cases, with the dry run's and the
reconciliation's figures per township."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aidflow.cli.app import App, emit_json, pass_app


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
    head = "dry run of" if result["dry_run"] else "imported"
    click.echo(
        f"{head} {result['file']} ({result['workflow']}, {result['rows']} rows, "
        f"sha256 {result['sha256'][:12]})"
    )
    for name, t in result["townships"].items():
        states = ", ".join(f"{s} {n}" for s, n in t["states"].items())
        click.echo(f"{name}: {states}")
        for kind, m in t["monthly"].items():
            click.echo(f"  {kind}: {m['count']} case(s), {m['yuan']} yuan a month")
        for r in t["reviews"]:
            click.echo(f"  review due {r['date']}: line {r['line']} {r['person']}")
    if result["problems"]:
        lines = sorted({p["line"] for p in result["problems"]})
        verb = "would be refused" if result["dry_run"] else "skipped"
        click.echo(f"{len(lines)} row(s) {verb}:")
        for p in result["problems"]:
            click.echo(f"  {p['text']}")
    if result["dry_run"]:
        return
    click.echo(
        f"{result['imported']} case(s) imported, {result['corrected']} corrected, "
        f"{result['unchanged']} unchanged"
    )
    for c in result["corrections"]:
        click.echo(f"  line {c['line']}: case {c['case_id']} {', '.join(c['changed'])}")
    if result["differences"]:
        click.echo(f"reconciliation: {len(result['differences'])} difference(s):")
        for d in result["differences"]:
            click.echo(f"  {d}")
    else:
        click.echo("reconciliation: aidflow's counts and monthly totals match the ledger's")
