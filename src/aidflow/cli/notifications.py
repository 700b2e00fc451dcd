"""`aidflow notify ...`: preview and check the email templates."""

from __future__ import annotations

import click

from aidflow.cli.app import App, pass_app
from aidflow.i18n import _, ngettext


@click.group("notify")
def notify_group() -> None:
    """Preview and check the email templates in notifications/."""


@notify_group.command("preview")
@click.argument("template")
@click.option("--part", type=click.Choice(["text", "html"]), default="text", show_default=True)
@pass_app
def notify_preview(app: App, template: str, part: str) -> None:
    """Render TEMPLATE with sample data in --lang (subject, then the body)."""
    from aidflow.errors import InvalidInputError, did_you_mean
    from aidflow.notify.render import render
    from aidflow.notify.templates import TEMPLATES, sample_context

    if template not in TEMPLATES:
        raise InvalidInputError(
            _("no email template named '{template}'", template=template),
            hint=did_you_mean(template, TEMPLATES)
            or _("templates: {names}", names=", ".join(sorted(TEMPLATES))),
        )
    msg = render(
        template,
        app.lang,
        sample_context(template, app.lang),
        to=["supervisor@county.example"],
        message_id="<preview@aidflow.local>",
        directory=app.templates.directory,
        tz=app.templates.tz,
    )
    click.echo(_("Subject: {subject}", subject=msg.subject) + "\n")
    click.echo(msg.text if part == "text" else msg.html)


@notify_group.command("check")
@pass_app
def notify_check(app: App) -> None:
    """Compile every template and compare its variables with what the code provides."""
    from aidflow.errors import ExitCode
    from aidflow.notify.render import check_templates

    directory = app.county.notifications
    problems = check_templates(directory)
    for p in problems:
        click.echo(p)
    if problems:
        click.echo(
            ngettext(
                "{n} problem(s) in the templates", "{n} problem(s) in the templates", len(problems)
            ),
            err=True,
        )
        raise SystemExit(ExitCode.INVALID_INPUT)
    click.echo(_("templates ok: {directory}", directory=directory))
