"""`aidflow user` and `aidflow area`: accounts, their roles, areas, logins and passwords,
and the county's registry of townships and villages (administrators; `user passwd` is
everyone's own)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from aidflow.cli.app import App, emit_json, pass_app
from aidflow.cli.server import user_shown
from aidflow.i18n import _


@click.group("user")
def user_group() -> None:
    """Manage users: roles, areas, logins, passwords (administrators)."""


def _read_password(prompt: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


def _initial(result: dict[str, Any]) -> None:
    if result.get("initial_password"):
        click.echo(
            _(
                "initial password for {name}: {initial_password}\n  (shown once; it must be "
                "changed at the first login)",
                name=result["name"],
                initial_password=result["initial_password"],
            )
        )


@user_group.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="A role (repeat for several).")
@click.option("--area", required=True, help="'*' for the county, TOWNSHIP or TOWNSHIP/VILLAGE.")
@click.option("--email", required=True)
@click.option("--os-login", help="The operating-system account that acts as this user locally.")
@click.option(
    "--display-name", help="The name emails greet the user by (e.g. 张建国); default: NAME."
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the initial password from standard input."
)
@pass_app
def user_add(
    app: App,
    name: str,
    roles: tuple[str, ...],
    area: str,
    email: str,
    os_login: str | None,
    display_name: str | None,
    password_stdin: bool,
) -> None:
    """Add a user with an initial password that must be changed at the first login (a
    random one is printed once unless --password-stdin gives it). The first user of an
    empty database becomes an administrator bound to this operating-system account."""
    import os
    import pwd

    if app.user is None and os_login is None:  # the bootstrap: bound to whoever runs it
        os_login = pwd.getpwuid(os.getuid()).pw_name
    password = _read_password(_("initial password"), True) if password_stdin else None
    result = app.call(
        "user.add",
        user=name,
        roles=list(roles),
        area=area,
        email=email,
        os_login=os_login,
        password=password,
        display_name=display_name,
    )
    login = _("; os login {os_login}", os_login=result["os_login"]) if result["os_login"] else ""
    click.echo(
        _(
            "user {name} added: roles {roles}; area {area}{login}",
            name=user_shown(result["name"], result["display_name"]),
            roles=", ".join(result["roles"]),
            area=result["area"],
            login=login,
        )
    )
    _initial(result)


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def user_list(app: App, as_json: bool) -> None:
    """List users (any known user may; staff emails are not for outsiders)."""
    rows = app.call("user.list")
    if as_json:  # the accounts; the roles' names are for the table
        emit_json([{k: v for k, v in r.items() if k != "role_labels"} for r in rows])
        return
    from aidflow.cli.admin import _pad, _width

    header = [_("User"), _("Display name"), _("Roles"), _("Area"), _("Email")]
    table = [
        [
            r["name"],
            r["display_name"] or "-",
            # the codes --role takes; in Chinese, the roles' names
            "、".join(r["role_labels"]) if app.lang == "zh" else ",".join(r["roles"]),
            r["area"],
            r["email"] + (_(" (disabled)") if r["disabled"] else ""),
        ]
        for r in rows
    ]
    widths = [max(_width(row[i]) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        click.echo("  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip())


@user_group.command("disable")
@click.argument("name")
@pass_app
def user_disable(app: App, name: str) -> None:
    """Disable a user: nothing can be done as them; their tokens are revoked."""
    app.call("user.disable", user=name)
    click.echo(_("user {name} disabled", name=name))


@user_group.command("enable")
@click.argument("name")
@pass_app
def user_enable(app: App, name: str) -> None:
    """Enable a user again (this also lifts a lockout after failed logins)."""
    app.call("user.enable", user=name)
    click.echo(_("user {name} enabled", name=name))


@user_group.command("set-roles")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="A role (repeat for several).")
@pass_app
def user_set_roles(app: App, name: str, roles: tuple[str, ...]) -> None:
    """Replace a user's roles."""
    result = app.call("user.set_roles", user=name, roles=list(roles))
    click.echo(_("user {name}: roles {roles}", name=name, roles=", ".join(result["roles"])))


@user_group.command("set-area")
@click.argument("name")
@click.argument("area")
@pass_app
def user_set_area(app: App, name: str, area: str) -> None:
    """Move a user to another area ('*', TOWNSHIP or TOWNSHIP/VILLAGE)."""
    result = app.call("user.set_area", user=name, area=area)
    click.echo(_("user {name}: area {area}", name=name, area=result["area"]))


@user_group.command("set-login")
@click.argument("name")
@click.argument("os_login", required=False)
@pass_app
def user_set_login(app: App, name: str, os_login: str | None) -> None:
    """Bind a user to an operating-system login (none given: unbind)."""
    app.call("user.set_login", user=name, os_login=os_login)
    click.echo(_("user {name}: os login {os_login}", name=name, os_login=os_login or _("none")))


@user_group.command("reset-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@pass_app
def user_reset_password(app: App, name: str, password_stdin: bool) -> None:
    """Give a user a new initial password (must be changed; their tokens are revoked)."""
    password = _read_password(_("new password"), True) if password_stdin else None
    result = app.call("user.reset_password", user=name, password=password)
    click.echo(_("password of {name} reset; their tokens are revoked", name=name))
    _initial(result)


@user_group.command("revoke-tokens")
@click.argument("name")
@pass_app
def user_revoke_tokens(app: App, name: str) -> None:
    """Revoke every login token of a user (they must log in again)."""
    result = app.call("user.revoke_tokens", user=name)
    click.echo(_("{revoked} token(s) of {name} revoked", revoked=result["revoked"], name=name))


@user_group.command("passwd")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the old and the new password from standard input, one per line.",
)
@pass_app
def user_passwd(app: App, password_stdin: bool) -> None:
    """Change your own password."""
    if password_stdin:
        stdin = sys.stdin
        old, new = stdin.readline().rstrip("\r\n"), stdin.readline().rstrip("\r\n")
    else:
        old = click.prompt(
            _("current password (empty if you have none)"), hide_input=True, default=""
        )
        new = _read_password(_("new password"), False)
    app.call("user.passwd", old=old or None, new=new)
    click.echo(_("password of {user} changed", user=app.user))


@click.group("area")
def area_group() -> None:
    """The county's townships and villages: users' areas must be among them."""


@area_group.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@pass_app
def area_import(app: App, file: Path) -> None:
    """Register the townships and villages of a CSV or XLSX file with columns township
    (乡镇) and village (村); a row without a village registers the township."""
    from aidflow.errors import InvalidInputError
    from aidflow.files.table import cell_text, is_blank, read_rows

    rows: list[list[str]] = []
    columns: tuple[int, int | None] | None = None
    for line, cells in read_rows(file):
        if is_blank(cells):
            continue
        texts = [cell_text(c) for c in cells]
        if columns is None:
            names = [t.lower() for t in texts]
            town = next((i for i, t in enumerate(names) if t in ("township", "乡镇")), None)
            village = next((i for i, t in enumerate(names) if t in ("village", "村")), None)
            if town is None:
                raise InvalidInputError(
                    _("{file}:{line}: no township column", file=file, line=line),
                    hint=_("name the columns township (乡镇) and village (村)"),
                )
            columns = (town, village)
            continue
        town_text = texts[columns[0]] if columns[0] < len(texts) else ""
        village_text = (
            texts[columns[1]] if columns[1] is not None and columns[1] < len(texts) else ""
        )
        rows.append([town_text, village_text])
    result = app.call("area.import", rows=rows)
    click.echo(
        _(
            "{n} area(s) registered from {rows} row(s) of {file}",
            n=len(result["added"]),
            rows=len(rows),
            file=file,
        )
    )


@area_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def area_list(app: App, as_json: bool) -> None:
    """List the registered townships and villages."""
    rows = app.call("area.list")
    if as_json:
        emit_json(rows)
        return
    for township, village in rows:
        click.echo(f"{township}/{village}" if village else township)
