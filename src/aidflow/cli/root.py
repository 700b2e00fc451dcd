"""The root `aidflow` group: global options, the command groups, and error-to-exit-code mapping."""

from __future__ import annotations

import os

import click

from aidflow.cli.admin import audit_group, db_group, person_group
from aidflow.cli.app import App
from aidflow.cli.caseimport import case_import
from aidflow.cli.cases import case_group
from aidflow.cli.county import county_group, init
from aidflow.cli.demo import demo
from aidflow.cli.households import household_group
from aidflow.cli.notice import notice
from aidflow.cli.notifications import notify_group
from aidflow.cli.payments import payments_group
from aidflow.cli.report import report
from aidflow.cli.sampling import sample_group
from aidflow.cli.scheduler import escalation_group, outbox_group, scheduler_group
from aidflow.cli.server import login, logout, serve, whoami
from aidflow.cli.speech import speak
from aidflow.cli.survey import ledger_group, lookback, person_import
from aidflow.cli.users import area_group, user_group
from aidflow.cli.visits import visit_group
from aidflow.cli.workflows import workflow_group
from aidflow.errors import AidflowError, ExitCode
from aidflow.i18n import _

# ctx.meta key: --verbose was given (an error's detail is printed below it)
VERBOSE = "aidflow.verbose"


class AidflowGroup(click.Group):
    """Turns AidflowError (and database errors) into a message and a documented exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Text that no database column can hold is a usage error (exit 2) at the door: a NUL
        # byte (PostgreSQL refuses it) or bytes that are not UTF-8 (argv decodes them to lone
        # surrogates, which the SQLite driver cannot store).
        if ctx.parent is None:
            for arg in args:
                if "\x00" in arg:
                    raise click.UsageError(
                        _("argument {arg!r} contains a NUL byte; remove it", arg=arg), ctx
                    )
                try:
                    arg.encode("utf-8")
                except UnicodeEncodeError:
                    shown = arg.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                    raise click.UsageError(
                        _(
                            "argument {shown!r} is not valid UTF-8 text; "
                            "check the terminal's encoding",
                            shown=shown,
                        ),
                        ctx,
                    ) from None
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # `aidflow case list | head`: the reader left, nothing is wrong
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            ctx.exit(ExitCode.OK)
        except AidflowError as exc:
            click.echo(_("error: {message}", message=exc), err=True)
            if exc.detail and ctx.meta.get(VERBOSE):
                click.echo(_("  detail: {detail}", detail=exc.detail), err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:
            translated = _translate(exc, ctx.obj)
            if translated is not None:
                click.echo(_("error: {message}", message=translated), err=True)
                ctx.exit(translated.exit_code)
            if getattr(getattr(ctx.obj, "settings", None), "debug", False):
                import traceback

                traceback.print_exc()
            click.echo(
                _(
                    "internal error: {kind}: {message}\n"
                    "  hint: this is a bug in aidflow; rerun with AIDFLOW_DEBUG=1 and report it",
                    kind=type(exc).__name__,
                    message=exc,
                ),
                err=True,
            )
            ctx.exit(ExitCode.INTERNAL)


@click.group(
    cls=AidflowGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    metavar="URL",
    help="Database URL or SQLite file path [env AIDFLOW_DATABASE_URL; default ./aidflow.db].",
)
@click.option("--as", "user", metavar="USER", help="Acting user [env AIDFLOW_USER].")
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    help="Language of labels [env AIDFLOW_LANG; default en].",
)
@click.option(
    "--now",
    metavar="TIME",
    help="Act as of this time, e.g. 2023-08-01T09:00 (county time) [env AIDFLOW_NOW].",
)
@click.option(
    "--tz",
    metavar="ZONE",
    help="The county's time zone [env AIDFLOW_TZ; default Asia/Shanghai].",
)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="Settings file [env AIDFLOW_CONFIG; default ./aidflow.toml if present].",
)
@click.option(
    "--server",
    metavar="URL",
    help="Client mode: the aidflow server [env AIDFLOW_SERVER; default the saved login's].",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Print the details behind an error (the rule's expression and its values).",
)
@click.version_option(package_name="aidflow")
@click.pass_context
def cli(
    ctx: click.Context,
    db: str | None,
    user: str | None,
    lang: str | None,
    now: str | None,
    tz: str | None,
    config_file: str | None,
    server: str | None,
    verbose: bool,
) -> None:
    """aidflow: workflows and approvals for social-assistance casework.

    Administrators deploy workflows (aidflow workflow), caseworkers move cases
    (aidflow case), supervisors check the audit trail (aidflow audit). Settings come from
    these options, then AIDFLOW_* variables, then the config file (see the README).
    """
    from aidflow import failpoints
    from aidflow.settings import load_settings

    ctx.meta[VERBOSE] = verbose

    settings = load_settings(
        {
            "database_url": db,
            "user": user,
            "lang": lang,
            "now": now,
            "tz": tz,
            "config_file": config_file,
            "server": server,
        }
    )
    failpoints.arm(settings.failpoint)  # crash tests only; see aidflow.failpoints
    speak(settings.lang, ctx.find_root().command)
    ctx.obj = App(settings)
    ctx.call_on_close(ctx.obj.close)  # no pooled connection outlives the command


for group in (
    workflow_group,
    case_group,
    user_group,
    area_group,
    person_group,
    db_group,
    audit_group,
    scheduler_group,
    escalation_group,
    outbox_group,
    notify_group,
    demo,
    init,
    serve,
    login,
    logout,
    whoami,
):
    cli.add_command(group)
cli.add_command(visit_group)
cli.add_command(payments_group)
cli.add_command(sample_group)
cli.add_command(ledger_group)
cli.add_command(household_group)
cli.add_command(lookback)
cli.add_command(report)
cli.add_command(notice)
cli.add_command(county_group)
person_group.add_command(person_import)
case_group.add_command(case_import)


def _translate(exc: Exception, app: object = None) -> AidflowError | None:
    """A database error the environment causes, as store.failures translates it."""
    from aidflow.store.failures import translate

    database = getattr(app, "_database", None)
    return translate(exc, database.describe() if database is not None else None)
