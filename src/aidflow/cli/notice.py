"""`aidflow notice print`: a village's public notice (公示) as a printable page or a PDF."""

from __future__ import annotations

from pathlib import Path

import click

from aidflow.cli.app import App, pass_app
from aidflow.i18n import _


@click.group("notice")
def notice() -> None:
    """Public notices (公示) of the cases in notice in a village."""


@notice.command("print")
@click.option("--village", required=True, metavar="TOWNSHIP/VILLAGE", help="The village.")
@click.option(
    "--format", "fmt", default="html", show_default=True, metavar="html|pdf", help="What to write."
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="File to write [default: html to standard output; pdf: notice-TOWNSHIP-VILLAGE.pdf].",
)
@pass_app
def print_(app: App, village: str, fmt: str, output: Path | None) -> None:
    """The cases in notice in the village with what may be published (name, masked ID
    number, village, programme, proposed amount), each one's notice period (both days
    included) and where to object (workflows/policy/notice.yaml)."""
    from aidflow.cli.files import write_file
    from aidflow.errors import InvalidInputError
    from aidflow.files import notice as render

    if fmt not in ("html", "pdf"):
        raise InvalidInputError(_("--format {fmt!r} is not one of html, pdf", fmt=fmt))
    township, sep, name = village.partition("/")
    if not sep or not township or not name or "/" in name:
        raise InvalidInputError(
            _("--village {village!r} is not TOWNSHIP/VILLAGE", village=village),
            hint=_("e.g. --village 城关镇/东村"),
        )
    result = app.call("notice.village", township=township, village=name)
    if fmt == "pdf":
        target = output or Path(f"notice-{township}-{name}.pdf")
        write_file(target, render.pdf_bytes(result))
        click.echo(_("notice written to {file}", file=target))
        return
    text = render.render_html(result)
    if output is None:
        click.echo(text, nl=False)
        return
    write_file(output, text.encode("utf-8"))
    click.echo(_("notice written to {file}", file=output))
