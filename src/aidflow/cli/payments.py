"""`aidflow payments run|export|reconcile`: the monthly payment run, the bank file,
the bank's answer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from aidflow.cli.app import App, emit_json, pass_app
from aidflow.i18n import _

if TYPE_CHECKING:
    from aidflow.policy.standards import Policy


def load_county_policy(app: App) -> Policy:
    """The county's standards and payment rules (policy/standards.yaml)."""
    return app.load_standards()


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
    result = app.call("payments.run", period=period)
    if as_json:
        del result["summary"]
        emit_json(result)
        return
    summary: str = result["summary"]  # in the caller's language, as the operation wrote it
    click.echo(summary)

    for line in result["skipped"]:
        click.echo(_("skipped: {line}", line=line), err=True)


@payments_group.command("export")
@click.option("--period", metavar="YYYY-MM", help="The month whose new payments to export.")
@click.option(
    "--batch",
    type=click.IntRange(1),
    help="Write the file of this export batch again (instead of --period); it is logged.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: payments-PERIOD.csv|xlsx in the current directory).",
)
@pass_app
def payments_export(
    app: App, period: str | None, batch: int | None, fmt: str, output: Path | None
) -> None:
    """Write the bank file of a period's payments not exported yet, as a new export batch
    (county roles only).

    It holds full names and ID numbers: keep it where bank files are kept. A payment is in
    one batch only, so sending every file pays each once; `--batch N` writes batch N's file
    again (a lost file), and says so.
    """
    import base64

    from aidflow.cli.files import write_file
    from aidflow.errors import InvalidInputError

    if (period is None) == (batch is None):
        raise InvalidInputError(
            _("give --period (new payments) or --batch (a batch's file again), not both"),
            hint=_("e.g. aidflow payments export --period 2023-09"),
        )
    out = output or Path(f"payments-{period or f'batch-{batch}'}.{fmt}")
    result = app.call("payments.export", period=period, format=fmt, file_name=str(out), batch=batch)
    write_file(out, base64.b64decode(result["content_b64"]))
    what = (
        _("batch {batch} again", batch=result["batch"])
        if result["again"]
        else _("batch {batch}", batch=result["batch"])
    )
    click.echo(
        _(
            "exported {rows} payment(s) for {period}, {yuan} yuan, to {out} ({what})",
            rows=result["rows"],
            period=result["period"],
            yuan=result["total_yuan"],
            out=out,
            what=what,
        )
    )


@payments_group.command("reconcile")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--encoding",
    metavar="NAME",
    help="A CSV's encoding, e.g. gb18030 or gbk (default: UTF-8 or GB18030, detected).",
)
@pass_app
def payments_reconcile(app: App, file: Path, encoding: str | None) -> None:
    """Record paid/failed from the bank's returned FILE (CSV or XLSX; county roles only).

    Columns: reference (the payment id), status (paid|failed), reason, amount_yuan and
    id_number as exported, optional name and bank_ref. Any bad, unmatched or mismatched
    line is reported with its line number and nothing is recorded.
    """
    from aidflow.cli.files import send_file

    result = app.call("payments.reconcile", **send_file(file), encoding=encoding)
    click.echo(
        _(
            "{file}: {paid} paid, {failed} failed, {unchanged} already recorded",
            file=result["file"],
            paid=result["paid"],
            failed=result["failed"],
            unchanged=result["unchanged"],
        )
    )
