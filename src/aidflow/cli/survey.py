"""The survey campaign: `aidflow person import`, `aidflow ledger export`, `aidflow lookback`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from aidflow.cli.app import App, emit_json, local, pass_app
from aidflow.i18n import _, pick


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--source",
    required=True,
    metavar="SOURCE",
    help="Which department's list: civil_affairs, health or disabled_federation "
    "(the sources in workflows/policy/import_mappings.yaml).",
)
@click.option(
    "--mapping", metavar="NAME", help="Column mapping to use instead of the source's default."
)
@click.option("--skip-bad", is_flag=True, help="Import the good rows and list the skipped ones.")
@click.option(
    "--sheet",
    metavar="NAME",
    help="The workbook's sheet to read (default: the first whose header names the columns).",
)
@click.option(
    "--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True, hidden=True
)
@pass_app
def person_import(
    app: App,
    file: Path,
    source: str,
    mapping: str | None,
    skip_bad: bool,
    sheet: str | None,
    batch_size: int,
) -> None:
    """Import a survey list (CSV or XLSX); every row is checked, duplicates merge by ID number.

    A list with bad rows imports nothing (exit 3, every problem listed) unless --skip-bad.
    Importing the same file again does nothing; an interrupted import resumes.
    """
    from aidflow.cli.files import send_file

    result = app.call(
        "person.import",
        source=source,
        mapping=mapping,
        skip_bad=skip_bad,
        batch_size=batch_size,
        sheet=sheet,
        **send_file(file),
    )
    from aidflow.policy.mappings import source_label

    shown = pick(source, source_label(source))  # 民政 in Chinese; the code typed in English
    if result["already_done"]:
        click.echo(
            _(
                "{file} was already imported from {source} (run {run}, {rows} rows); nothing to do",
                file=file,
                source=shown,
                run=result["run_id"],
                rows=result["rows_total"],
            )
        )
        return
    if result["resumed_after"]:
        click.echo(
            _(
                "resumed run {run} after line {line}",
                run=result["run_id"],
                line=result["resumed_after"],
            )
        )
    click.echo(
        _(
            "imported {file} from {source} (run {run}): {rows} rows, {created} new persons, "
            "{merged} merged into known persons",
            file=file,
            source=shown,
            run=result["run_id"],
            rows=result["imported"],
            created=result["created"],
            merged=result["merged"],
        )
    )
    if result["skipped"]:
        lines = sorted({p["line"] for p in result["skipped"]})
        click.echo(
            _(
                "skipped {n} bad rows (lines {lines}):",
                n=len(lines),
                lines=", ".join(map(str, lines)),
            )
        )
        for p in result["skipped"]:
            click.echo(f"  {p['text']}")
    if result["disagreements"]:
        click.echo(
            _(
                "{n} disagreements between sources (existing values kept):",
                n=len(result["disagreements"]),
            )
        )
        for d in result["disagreements"]:
            click.echo(f"  {d}")


@click.group("ledger")
def ledger_group() -> None:
    """The survey ledger (工作台账): one row per person."""


@ledger_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), required=True)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="File to write [default: ledger-DATE.xlsx; CSV goes to standard output].",
)
@click.option("--township", help="Only this township.")
@click.option("--show-id", is_flag=True, help="Full ID numbers (county and admin roles only).")
@pass_app
def ledger_export(
    app: App, fmt: str, output: Path | None, township: str | None, show_id: bool
) -> None:
    """Export the ledger: programmes and states, deadlines, payments and this month's visits.

    XLSX has one sheet per township; CSV has a township column. ID numbers are masked
    unless --show-id is given by a user allowed to see them.
    """
    import base64

    from aidflow.cli.files import write_file

    result = app.call("ledger.export", format=fmt, township=township, show_id=show_id)
    data = base64.b64decode(result["content_b64"])
    counts: dict[str, int] = result["counts"]
    if fmt == "xlsx":
        target = output or Path(f"ledger-{result['today']}.xlsx")
        write_file(target, data)
    elif output is None:
        sys.stdout.write(data.decode("utf-8"))
        return
    else:
        target = output
        write_file(target, data)  # with the BOM the operation wrote: spreadsheets read it
    total = sum(counts.values())
    per = ", ".join(f"{t} {n}" for t, n in counts.items())
    written = _("ledger written to {target}: {total} persons", target=target, total=total)
    click.echo(written + (_(" ({per})", per=per) if per else ""))


@click.command("lookback")
@click.option("--township", help="Only this township.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--open-cases", is_flag=True, help="Open a discovery case for every gap found.")
@pass_app
def lookback(app: App, township: str | None, as_json: bool, open_cases: bool) -> None:
    """The look-back (回头看): listed persons in a target group with no open case, and late cases.

    Target groups and the workflow each gap opens in are in workflows/policy/target_groups.yaml.
    """
    report = app.call("lookback.open" if open_cases else "lookback.find", township=township)
    if as_json:
        emit_json(report)
        return
    _print_report(app, report, open_cases)


def _print_report(app: App, report: dict[str, Any], open_cases: bool) -> None:
    from datetime import datetime

    if not report["townships"]:
        click.echo(_("no listed persons or open cases in your area"))
        return
    for town, s in report["townships"].items():
        click.echo(
            _(
                "{township}: {persons} listed persons, {in_groups} in target groups, "
                "{gaps} without a case; {overdue} overdue, {stalled} stalled cases",
                township=town,
                persons=s["persons"],
                in_groups=s["in_groups"],
                gaps=s["gaps"],
                overdue=s["overdue"],
                stalled=s["stalled"],
            )
        )
        for g in (g for g in report["gaps"] if g["township"] == town):
            line = _(
                "  gap: {name} {idn} {village} [{groups}] -> {workflow}",
                name=g["name"],
                idn=g["id_number"],
                village=g["village"],
                groups=pick(", ".join(g["groups"]), "、".join(g.get("group_labels") or [])),
                workflow=pick(g["workflow"], g.get("workflow_label") or ""),
            )
            if g["opened_case"] is not None:
                line += _(": opened case {case}", case=g["opened_case"])
            elif g["not_opened"] is not None:
                line += _(": not opened ({why})", why=g["not_opened"])
            click.echo(line)
        for c in (c for c in report["late"] if c["township"] == town):
            values = {
                "case": c["case_id"],
                "workflow": c["workflow"],
                "state": c["state"],
                "village": c["village"],
                "since": local(datetime.fromisoformat(c["since"]), app),
            }
            if c["kind"] == "overdue":
                click.echo(
                    _(
                        "  overdue: case {case} {workflow} {state} ({village}), deadline {since}",
                        **values,
                    )
                )
            else:
                click.echo(
                    _(
                        "  stalled: case {case} {workflow} {state} ({village}), last activity "
                        "{since}",
                        **values,
                    )
                )
    if open_cases:
        opened = sum(1 for g in report["gaps"] if g["opened_case"] is not None)
        click.echo(
            _("opened {opened} cases for {gaps} gaps", opened=opened, gaps=len(report["gaps"]))
        )
