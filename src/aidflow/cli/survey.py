"""The survey campaign: `aidflow person import`, `aidflow ledger export`, `aidflow lookback`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aidflow.cli.app import App, emit_json, local, pass_app

if TYPE_CHECKING:
    from aidflow.policy.mappings import ImportPolicy


def _import_policy(app: App) -> ImportPolicy:
    from aidflow.policy.mappings import load_import_policy

    return load_import_policy(app.county.import_mappings_file)


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
    "--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True, hidden=True
)
@pass_app
def person_import(
    app: App, file: Path, source: str, mapping: str | None, skip_bad: bool, batch_size: int
) -> None:
    """Import a survey list (CSV or XLSX); every row is checked, duplicates merge by ID number.

    A list with bad rows imports nothing (exit 3, every problem listed) unless --skip-bad.
    Importing the same file again does nothing; an interrupted import resumes.
    """
    from aidflow.services.survey import Importer

    policy = _import_policy(app)
    app.database.check()
    app.check_clock(writing=True)  # the import writes through sessions of its own
    with app.reading() as svc:
        actor = svc.actor(app.user)
        today = svc.local_today()
    importer = Importer(
        app.database.session,
        policy,
        actor,
        file,
        source,
        mapping=mapping,
        skip_bad=skip_bad,
        now=app.clock.now(),
        today=today,
        batch_size=batch_size,
    )
    if sys.stderr.isatty():
        bar = _Bar()
        try:
            result = importer.run(progress=bar.update, on_total=bar.start)
        finally:
            bar.close()
    else:
        result = importer.run()
    if result.already_done:
        click.echo(
            f"{file} was already imported from {source} "
            f"(run {result.run_id}, {result.rows_total} rows); nothing to do"
        )
        return
    if result.resumed_after:
        click.echo(f"resumed run {result.run_id} after line {result.resumed_after}")
    click.echo(
        f"imported {file} from {source} (run {result.run_id}): {result.imported} rows, "
        f"{result.created} new persons, {result.merged} merged into known persons"
    )
    if result.skipped:
        lines = sorted({p.line for p in result.skipped})
        click.echo(f"skipped {len(lines)} bad rows (lines {', '.join(map(str, lines))}):")
        for p in result.skipped:
            click.echo(f"  {p}")
    if result.disagreements:
        click.echo(
            f"{len(result.disagreements)} disagreements between sources (existing values kept):"
        )
        for d in result.disagreements:
            click.echo(f"  {d}")


class _Bar:
    """click's progress bar on stderr, started once the number of rows is known."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, total: int) -> None:
        self.bar = click.progressbar(length=total, label="importing", file=sys.stderr)
        self.bar.__enter__()

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


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
    from aidflow.errors import ForbiddenError
    from aidflow.files.ledger import write_csv, write_xlsx
    from aidflow.services.ledger import LedgerOptions, ledger_rows

    policy = _import_policy(app)
    with app.reading() as svc:
        actor = svc.actor(app.user)
        if show_id and not set(actor.roles) & set(policy.show_id_roles):
            raise ForbiddenError(
                f"full ID numbers need one of the roles {', '.join(policy.show_id_roles)}; "
                f"{actor.name} has {', '.join(actor.roles)}",
                hint="drop --show-id",
            )
        opts = LedgerOptions(app.clock.now(), svc.calendar.tz, township, show_id)
        rows = ledger_rows(svc.session, actor, opts)
        if fmt == "xlsx":
            target = output or Path(f"ledger-{svc.local_today()}.xlsx")
            counts = write_xlsx(rows, target, app.lang)
        elif output is None:
            write_csv(rows, sys.stdout, app.lang)
            return
        else:
            target = output
            with target.open("w", encoding="utf-8-sig", newline="") as f:
                counts = write_csv(rows, f, app.lang)
    total = sum(counts.values())
    per = ", ".join(f"{t} {n}" for t, n in counts.items())
    click.echo(f"ledger written to {target}: {total} persons" + (f" ({per})" if per else ""))


@click.command("lookback")
@click.option("--township", help="Only this township.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--open-cases", is_flag=True, help="Open a discovery case for every gap found.")
@pass_app
def lookback(app: App, township: str | None, as_json: bool, open_cases: bool) -> None:
    """The look-back (回头看): listed persons in a target group with no open case, and late cases.

    Target groups and the workflow each gap opens in are in workflows/policy/target_groups.yaml.
    """
    from aidflow.policy.target_groups import load_target_groups
    from aidflow.services import lookback as lb

    policy = load_target_groups(app.county.target_groups_file)
    with app.reading() as svc:
        actor = svc.actor(app.user)
        report = lb.find(svc.session, actor, policy, app.clock.now(), svc.local_today(), township)
    if open_cases:

        def open_one(gap: lb.Gap) -> int:
            groups = ", ".join(gap.groups)
            with app.transaction() as tx:
                case = tx.open_case(
                    tx.actor(app.user),
                    gap.id_number,
                    gap.workflow,
                    note=f"look-back: target group {groups}",
                )
                return case.id

        lb.open_gaps(report, open_one)
    if as_json:
        emit_json(
            {
                "townships": {t: vars(s) for t, s in sorted(report.townships.items())},
                "gaps": [g.as_json() for g in report.gaps],
                "late": [
                    {
                        "case_id": c.case_id,
                        "workflow": c.workflow,
                        "state": c.state,
                        "township": c.township,
                        "village": c.village,
                        "kind": c.kind,
                        "since": c.since.isoformat(),
                    }
                    for c in report.late
                ],
            }
        )
        return
    _print_report(app, report, open_cases)


def _print_report(app: App, report: Any, open_cases: bool) -> None:
    from aidflow.idnumber import mask

    if not report.townships:
        click.echo("no listed persons or open cases in your area")
        return
    for town, s in sorted(report.townships.items()):
        click.echo(
            f"{town}: {s.persons} listed persons, {s.in_groups} in target groups, "
            f"{s.gaps} without a case; {s.overdue} overdue, {s.stalled} stalled cases"
        )
        for g in (g for g in report.gaps if g.township == town):
            line = (
                f"  gap: {g.name} {mask(g.id_number)} {g.village} [{', '.join(g.groups)}] "
                f"-> {g.workflow}"
            )
            if g.opened_case is not None:
                line += f": opened case {g.opened_case}"
            elif g.not_opened is not None:
                line += f": not opened ({g.not_opened})"
            click.echo(line)
        for c in (c for c in report.late if c.township == town):
            what = "deadline" if c.kind == "overdue" else "last activity"
            click.echo(
                f"  {c.kind}: case {c.case_id} {c.workflow} {c.state} ({c.village}), {what} "
                f"{local(c.since, app)}"
            )
    if open_cases:
        opened = sum(1 for g in report.gaps if g.opened_case is not None)
        click.echo(f"opened {opened} cases for {len(report.gaps)} gaps")
