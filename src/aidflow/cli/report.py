"""`aidflow report`: the county report, as text, JSON, a self-contained HTML page or XLSX."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from aidflow.cli.app import App, emit_json, pass_app
from aidflow.i18n import _


@click.command("report")
@click.option("--township", help="Only this township (inside your area).")
@click.option(
    "--from", "start", metavar="YYYY-MM-DD", help="First day of the period [default: 1 January]."
)
@click.option(
    "--to", "end", metavar="YYYY-MM-DD", help="Last day of the period, included [default: today]."
)
@click.option(
    "--format",
    "fmt",
    default="text",
    show_default=True,
    metavar="text|json|html|xlsx",
    help="What to write.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="File to write [default: standard output; xlsx: report-FROM-TO.xlsx].",
)
@pass_app
def report(
    app: App,
    township: str | None,
    start: str | None,
    end: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Per township and for your area: cases by programme and state; opened, approved,
    rejected and closed in the period; overdue now; emergency response times against the
    24-hour goal; care visits made against required; the centralized-support rate against
    the 50% goal; look-back gaps found and closed; payments by kind. The notes say where
    each figure comes from.
    """
    from aidflow.cli.files import write_file
    from aidflow.files import report as render
    from aidflow.services.report import check_format

    check_format(fmt)
    result = app.call(
        "report.county", township=township, start=_day(start, "--from"), end=_day(end, "--to")
    )
    if fmt == "json":
        if output is None:
            emit_json(result)
            return
        import json

        text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
        write_file(output, text.encode("utf-8"))
    elif fmt == "xlsx":
        target = output or Path(f"report-{result['period']['from']}-{result['period']['to']}.xlsx")
        write_file(target, render.xlsx_bytes(result))
    else:
        text = render.render_html(result) if fmt == "html" else render.render_text(result)
        if output is None:
            click.echo(text, nl=False)
            return
        write_file(output, text.encode("utf-8"))
    click.echo(_("report written to {file}", file=output or target))


def _day(text: str | None, option: str) -> str | None:
    """The date as ISO text, or a clear refusal (exit 3) naming the option."""
    if text is None:
        return None
    from aidflow.errors import InvalidInputError

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InvalidInputError(
            _("{option} {text!r} is not a date", option=option, text=text),
            hint=_("write it like 2023-08-01"),
        ) from None
