"""`aidflow serve`, `aidflow login`, `aidflow logout`, `aidflow whoami`: the server and the
client's saved login."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from aidflow.cli.app import App, local, pass_app
from aidflow.i18n import _


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--ssl-certfile", metavar="FILE", help="TLS certificate chain (PEM), for HTTPS.")
@click.option("--ssl-keyfile", metavar="FILE", help="TLS private key (PEM), for HTTPS.")
@click.option(
    "--with-scheduler",
    is_flag=True,
    help="Also run the scheduler's rounds in this process (instead of `scheduler run`).",
)
@click.option(
    "--every",
    type=click.IntRange(1, 86400),
    default=60,
    show_default=True,
    help="With --with-scheduler: seconds between rounds.",
)
@pass_app
def serve(
    app: App,
    host: str,
    port: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    with_scheduler: bool,
    every: int,
) -> None:
    """Run the HTTP API (the only holder of the database credentials) on uvicorn.

    Clients log in with `aidflow login URL`. Serve HTTPS with --ssl-certfile and
    --ssl-keyfile, or behind a reverse proxy that terminates TLS (see the README). The
    deadlines and the mail need the scheduler: `--with-scheduler` runs its rounds in this
    process, or run `aidflow scheduler run` beside it.
    """
    import logging

    import uvicorn

    from aidflow.server.app import create_app

    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise click.UsageError(_("--ssl-certfile and --ssl-keyfile go together"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from aidflow.services.runtime import Runtime

    if app.server is not None:
        app.database  # noqa: B018 - says that serve needs a database named with --db
    # one runtime for every request: the settings and what is made from them, no acting user
    stop = _start_scheduler(app, every) if with_scheduler else None
    # uvicorn ends the process by raising the signal that stopped it again, so the rounds
    # stop in the application's shutdown, not after `run` returns
    asgi = create_app(Runtime(app.settings), on_shutdown=stop)  # opens the database here
    uvicorn.run(
        asgi,
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_config=None,  # uvicorn's loggers go through the logging set up above
    )


def _start_scheduler(app: App, every: int) -> Callable[[], None]:
    """The scheduler's rounds in a thread of the server (as `aidflow scheduler run` does
    beside it), on a runtime of their own; the function that stops them."""
    import logging

    from aidflow.cli.scheduler import run_round_for
    from aidflow.clock import SystemClock
    from aidflow.errors import InvalidInputError
    from aidflow.scheduler.adapter import run_in_background

    if app.now:
        raise InvalidInputError(
            _("--now cannot be used with `serve --with-scheduler`"),
            hint=_("the server's rounds take the system clock"),
        )
    rounds = App(app.settings)
    log = logging.getLogger("aidflow.scheduler")

    def job() -> None:
        rounds.clock = SystemClock()  # re-read the system clock each round
        for line in run_round_for(rounds):
            log.info("%s", line)

    return run_in_background(job, every)


@click.command("login")
@click.argument("url")
@click.option("--user", "name", metavar="NAME", help="Your user name [default: your OS login].")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@pass_app
def login(app: App, url: str, name: str | None, password_stdin: bool) -> None:
    """Log in to the aidflow server at URL and save the token for the commands that follow.

    The token is saved in your config directory (setting credentials_file), readable by you
    only; `aidflow logout` revokes it.
    """
    import getpass
    from datetime import datetime

    from aidflow.client import credentials
    from aidflow.client.api import Connection

    if not url.startswith(("https://", "http://")):
        raise click.UsageError(_("URL {url!r} must start with https:// (or http://)", url=url))
    if url.startswith("http://") and not url.startswith(
        ("http://127.0.0.1", "http://localhost", "http://[::1]")
    ):
        click.echo(
            _(
                "warning: http:// sends the password and the token unencrypted; use https:// "
                "for a server on another machine"
            ),
            err=True,
        )
    name = name or getpass.getuser()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(_("password for {name}", name=name), hide_input=True)
    with Connection(url, lang=app.lang) as connection:
        issued = connection.login(name, password)
    path = app.settings.credentials_file
    assert path is not None, "load_settings always names the credentials file"
    saved = credentials.Login(
        url=url.rstrip("/"),
        user=issued["user"],
        token=issued["token"],
        expires_at=issued["expires_at"],
    )
    credentials.save(path, saved)
    until = local(datetime.fromisoformat(saved.expires_at), app)
    click.echo(
        _(
            "logged in to {url} as {user} until {until}; token saved in {path}",
            url=saved.url,
            user=saved.user,
            until=until,
            path=path,
        )
    )
    if issued["must_change_password"]:
        click.echo(_("you must change your initial password first: aidflow user passwd"))


@click.command("logout")
@pass_app
def logout(app: App) -> None:
    """Revoke the saved token on the server and remove it from this machine."""
    from aidflow.client import credentials
    from aidflow.client.api import Connection
    from aidflow.errors import AuthenticationError, InvalidInputError, UnavailableError

    path = app.settings.credentials_file
    try:
        saved = app.saved_login()
    except InvalidInputError:  # nothing to revoke with: remove what cannot be read
        assert path is not None
        credentials.delete(path)
        click.echo(_("removed the saved login {path}, which could not be read", path=path))
        return
    if saved is None or path is None:
        click.echo(_("not logged in"))
        return
    note = _("token revoked")
    try:
        with Connection(saved.url, saved.token, app.lang) as connection:
            connection.logout()
    except AuthenticationError as exc:  # expired or revoked already: nothing left to revoke
        note = _("token no longer valid ({reason})", reason=exc.message)
    except UnavailableError:
        credentials.delete(path)
        raise UnavailableError(
            _("logged out here, but the server at {url} could not revoke the token", url=saved.url),
            hint=_(
                "it stays valid until {expires_at}; run `aidflow login {url}` and `aidflow "
                "logout` again when the server is back",
                expires_at=saved.expires_at,
                url=saved.url,
            ),
        ) from None
    credentials.delete(path)
    click.echo(
        _(
            "logged out of {url} ({user}): {note}; removed {path}",
            url=saved.url,
            user=saved.user,
            note=note,
            path=path,
        )
    )


@click.command("whoami")
@pass_app
def whoami(app: App) -> None:
    """Who you act as: the saved login's user as the server sees it, or the local user."""
    from aidflow.client.api import Connection
    from aidflow.errors import AuthenticationError

    if app.server is None:
        shown = "-"
        if app.user is not None:
            mine = app.call("user.me")
            shown = user_shown(mine["name"], mine["display_name"])
        click.echo(
            _(
                "{user} (local mode, database {database_url})",
                user=shown,
                database_url=app.settings.database_url,
            )
        )
        return
    saved = app.saved_login()
    if saved is None or saved.url != app.server.rstrip("/"):
        raise AuthenticationError(
            _("not logged in to {server}", server=app.server),
            hint=_("run `aidflow login {server}`", server=app.server),
        )
    with Connection(saved.url, saved.token, app.lang) as connection:
        me = connection.whoami()
    from datetime import datetime

    flag = _(" (must change the password)") if me["must_change_password"] else ""
    until = local(datetime.fromisoformat(saved.expires_at), app)
    click.echo(
        _(
            "{user} at {url}{flag}; token valid until {until}",
            user=user_shown(me["user"], me.get("display_name")),
            url=saved.url,
            flag=flag,
            until=until,
        )
    )


def user_shown(name: str, display_name: str | None) -> str:
    """A user as `whoami` shows them: the login name, and the display name beside it."""
    if not display_name or display_name == name:
        return name
    return _("{name} ({display_name})", name=name, display_name=display_name)
