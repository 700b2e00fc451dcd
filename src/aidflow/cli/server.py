"""`aidflow serve`, `aidflow login`, `aidflow logout`, `aidflow whoami`: the server and the
client's saved login."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from aidflow.cli.app import App, local, pass_app


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
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together")
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
            "--now cannot be used with `serve --with-scheduler`",
            hint="the server's rounds take the system clock",
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
        raise click.UsageError(f"URL {url!r} must start with https:// (or http://)")
    if url.startswith("http://") and not url.startswith(
        ("http://127.0.0.1", "http://localhost", "http://[::1]")
    ):
        click.echo(
            "warning: http:// sends the password and the token unencrypted; "
            "use https:// for a server on another machine",
            err=True,
        )
    name = name or getpass.getuser()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"password for {name}", hide_input=True)
    with Connection(url) as connection:
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
    click.echo(f"logged in to {saved.url} as {saved.user} until {until}; token saved in {path}")
    if issued["must_change_password"]:
        click.echo("you must change your initial password first: aidflow user passwd")


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
        click.echo(f"removed the saved login {path}, which could not be read")
        return
    if saved is None or path is None:
        click.echo("not logged in")
        return
    note = "token revoked"
    try:
        with Connection(saved.url, saved.token) as connection:
            connection.logout()
    except AuthenticationError as exc:  # expired or revoked already: nothing left to revoke
        note = f"token no longer valid ({exc.message})"
    except UnavailableError:
        credentials.delete(path)
        raise UnavailableError(
            f"logged out here, but the server at {saved.url} could not revoke the token",
            hint=f"it stays valid until {saved.expires_at}; run `aidflow login {saved.url}` "
            "and `aidflow logout` again when the server is back",
        ) from None
    credentials.delete(path)
    click.echo(f"logged out of {saved.url} ({saved.user}): {note}; removed {path}")


@click.command("whoami")
@pass_app
def whoami(app: App) -> None:
    """Who you act as: the saved login's user as the server sees it, or the local user."""
    from aidflow.client.api import Connection
    from aidflow.errors import AuthenticationError

    if app.server is None:
        click.echo(f"{app.user or '-'} (local mode, database {app.settings.database_url})")
        return
    saved = app.saved_login()
    if saved is None or saved.url != app.server.rstrip("/"):
        raise AuthenticationError(
            f"not logged in to {app.server}", hint=f"run `aidflow login {app.server}`"
        )
    with Connection(saved.url, saved.token) as connection:
        me = connection.whoami()
    from datetime import datetime

    flag = " (must change the password)" if me["must_change_password"] else ""
    until = local(datetime.fromisoformat(saved.expires_at), app)
    click.echo(f"{me['user']} at {saved.url}{flag}; token valid until {until}")
