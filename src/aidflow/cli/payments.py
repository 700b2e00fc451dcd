"""`aidflow payments run|export|reconcile`: the monthly payment run, the bank file,
the bank's answer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from aidflow.cli.app import App, emit_json, pass_app

if TYPE_CHECKING:
    from aidflow.policy.standards import Policy


def load_county_policy(app: App) -> Policy:
    """The county's standards and payment rules (policy/standards.yaml)."""
    return app.load_standards()


def _current_period(app: App) -> str:
    from zoneinfo import ZoneInfo

    local = app.clock.now().astimezone(ZoneInfo(app.tz))
    return f"{local.year:04d}-{local.month:02d}"


@click.group("payments")
def payments_group() -> None:
    """Monthly payments: run them, export the bank file, record the bank's answer."""


@payments_group.command("run")
@click.option("--period", metavar="YYYY-MM", help="The month to pay (default: the current month).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def payments_run(app: App, period: str | None, as_json: bool) -> None:
    """Create the period's payments, and any missed earlier months as arrears (county roles only).

    Running it again creates nothing twice. Amounts are those in force for each month
    (workflows/policy/standards.yaml and the cases' approved amounts).
    """
    from zoneinfo import ZoneInfo

    from aidflow.services.payments import run_payments

    policy = load_county_policy(app)
    with app.transaction() as svc:
        result = run_payments(
            svc.session,
            app.clock,
            policy,
            period or _current_period(app),
            actor=app.user or "",
            tz=ZoneInfo(app.tz),
        )
    if as_json:
        emit_json(
            {
                "run_id": result.run_id,
                "period": result.period,
                "created": result.created,
                "arrears": result.arrears,
                "total_fen": result.total_fen,
                "by_kind": result.by_kind,
                "skipped": result.skipped,
            }
        )
        return
    click.echo(result.summary())
    for line in result.skipped:
        click.echo(f"skipped: {line}", err=True)


@payments_group.command("export")
@click.option("--period", metavar="YYYY-MM", required=True, help="The month to export.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: payments-PERIOD.csv|xlsx in the current directory).",
)
@pass_app
def payments_export(app: App, period: str, fmt: str, output: Path | None) -> None:
    """Write the bank file for a period and mark its payments exported (county roles only).

    It holds full names and ID numbers: keep it where bank files are kept. Pending and
    already exported payments are included, so a lost file can be written again.
    """
    from aidflow.services.payments import export_payments, yuan

    out = output or Path(f"payments-{period}.{fmt}")
    with app.transaction() as svc:
        result = export_payments(svc.session, app.clock, period, fmt, out, actor=app.user or "")
    click.echo(
        f"exported {result.rows} payment(s) for {result.period}, {yuan(result.total_fen)} yuan, "
        f"to {result.file}"
    )


@payments_group.command("reconcile")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def payments_reconcile(app: App, file: Path) -> None:
    """Record paid/failed from the bank's returned FILE (CSV or XLSX; county roles only).

    Columns: reference (the payment id), status (paid|failed), reason, optional bank_ref.
    Any bad or unmatched line is reported with its line number and nothing is recorded.
    """
    from aidflow.services.payments import reconcile

    with app.transaction() as svc:
        result = reconcile(svc.session, app.clock, file, actor=app.user or "")
    click.echo(
        f"{result.file}: {result.paid} paid, {result.failed} failed, "
        f"{result.unchanged} already recorded"
    )
