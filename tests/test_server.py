"""The HTTP API on a real uvicorn server on loopback, and the CLI in client mode against it.

Each attack the issue names is performed: a wrong password, an expired token, a revoked
token, a disabled user's token, a caseworker acting outside their role or area through the
API, two clients racing on one case, `--as` in client mode. The client-mode CLI runs as a
separate process that must not import SQLAlchemy.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from aidflow.client.api import Connection
from aidflow.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
)
from aidflow.services import auth
from aidflow.services.runtime import Runtime
from aidflow.settings import Settings
from aidflow.store import users as user_store

from .conftest import PERSON_ID, START, World
from .server import running

PASSWORD = "correct horse battery"
API = "/api/v1"


@pytest.fixture
def url(world: World, db_url: str) -> Iterator[str]:
    """A server over the world's database, with passwords for li, wu, rep1 and one case."""

    def setup(svc: Any) -> None:
        for name in ("li", "wu", "rep1", "zhao"):
            auth.set_password(svc.session, "admin", name, PASSWORD, START, must_change=False)
        svc.open_case(svc.actor("li"), PERSON_ID, "dibao")

    world.run(setup)
    runtime = Runtime(Settings(database_url=db_url), _clock=world.clock)
    with running(runtime) as base:
        yield base


def login(url: str, user: str = "li", password: str = PASSWORD) -> httpx.Response:
    return httpx.post(f"{url}{API}/login", json={"user": user, "password": password})


def token_of(url: str, user: str = "li") -> str:
    answer = login(url, user)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


def op(url: str, token: str, name: str, **params: Any) -> httpx.Response:
    return httpx.post(
        f"{url}{API}/ops/{name}",
        json={"params": params, "lang": "en", "key": None},
        headers={"Authorization": f"Bearer {token}"},
    )


def error(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    answer: dict[str, Any] = response.json()
    return response.status_code, answer


# -- login and tokens ------------------------------------------------------------------------


def test_login_gives_a_token_that_runs_operations(url: str) -> None:
    answer = login(url)
    assert answer.status_code == 200
    issued = answer.json()
    assert issued["user"] == "li" and issued["must_change_password"] is False
    assert issued["expires_at"] == "2023-08-01T13:00:00+00:00"  # 12 hours after the login
    shown = op(url, issued["token"], "case.show", case_id=1)
    assert shown.status_code == 200, shown.text
    view = shown.json()["result"]["view"]
    assert (view["id"], view["state"], view["history"][0]["actor"]) == (1, "discovery", "li")
    assert httpx.get(f"{url}{API}/health").json() == {"status": "ok"}


def test_a_wrong_password_is_refused(url: str) -> None:
    assert error(login(url, password="not the password")) == (
        401,
        {
            "error": "wrong user name or password",
            "hint": "check both; after repeated failures the account locks",
            "exit_code": 10,
            "type": "AuthenticationError",
        },
    )
    # an unknown user gets the same answer
    assert error(login(url, user="nobody"))[1]["error"] == "wrong user name or password"


def test_a_request_without_a_token_is_refused(url: str) -> None:
    answer = httpx.post(f"{url}{API}/ops/case.show", json={"params": {"case_id": 1}})
    assert error(answer) == (
        401,
        {
            "error": "this request carries no token",
            "hint": "log in first: aidflow login URL",
            "exit_code": 10,
            "type": "AuthenticationError",
        },
    )
    assert error(op(url, "made-up", "case.show", case_id=1))[1]["error"] == "the token is not known"


def test_an_expired_token_is_refused(url: str, world: World) -> None:
    token = token_of(url)
    world.clock.advance(timedelta(hours=12))  # the server's clock: the token's lifetime is over
    status, answer = error(op(url, token, "case.show", case_id=1))
    assert (status, answer["type"], answer["exit_code"]) == (401, "AuthenticationError", 10)
    assert answer["error"] == "the token expired at 2023-08-01T13:00:00+00:00"
    assert answer["hint"] == "log in again with `aidflow login URL`"


def test_a_revoked_token_is_refused(url: str) -> None:
    token = token_of(url)
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{url}{API}/logout", headers=headers).json() == {"ok": True}
    status, answer = error(op(url, token, "case.show", case_id=1))
    assert (status, answer["error"]) == (401, "the token was revoked")


def test_a_disabled_users_token_is_refused(url: str, world: World) -> None:
    token = token_of(url)
    with world.session() as s, s.begin():
        user_store.update_user(
            s, "li", at=START, actor="admin", kind="user_disabled", disabled=True
        )
    status, answer = error(op(url, token, "case.show", case_id=1))
    assert (status, answer["error"]) == (401, "user li is disabled")
    assert error(login(url))[1]["error"] == "user li is disabled"


def test_a_user_who_must_change_the_password_may_do_nothing_else(url: str, world: World) -> None:
    with world.session() as s, s.begin():
        auth.set_password(s, "admin", "li", PASSWORD, START, must_change=True)
    answer = login(url)
    assert answer.json()["must_change_password"] is True
    status, refused = error(op(url, answer.json()["token"], "case.show", case_id=1))
    assert (status, refused["type"], refused["error"]) == (
        403,
        "ForbiddenError",
        "li must change the initial password first",
    )
    assert refused["hint"] == "change it with `aidflow user passwd`"


# -- the rules, through the API ------------------------------------------------------------


def test_role_and_area_are_enforced_through_the_api(url: str) -> None:
    rep = token_of(url, "rep1")  # a village representative may vote, not open cases
    status, answer = error(op(url, rep, "case.open", id_number=PERSON_ID, workflow="dibao"))
    assert (status, answer["exit_code"], answer["type"]) == (403, 5, "ForbiddenError")
    assert answer["error"] == (
        "opening a dibao case needs role township_caseworker; rep1 has village_rep"
    )
    wu = token_of(url, "wu")  # a caseworker of another township
    status, answer = error(op(url, wu, "case.show", case_id=1))
    assert (status, answer["exit_code"]) == (403, 5)
    assert answer["error"] == "case 1 is outside wu's area (河西镇)"


def test_errors_come_back_as_their_exit_codes(url: str) -> None:
    li = token_of(url)
    status, answer = error(op(url, li, "case.show", case_id=99))
    assert (status, answer["exit_code"], answer["type"]) == (404, 4, "NotFoundError")
    status, answer = error(op(url, li, "case.shwo", case_id=1))
    assert (status, answer["error"], answer["hint"]) == (
        404,
        "no operation named 'case.shwo'",
        "did you mean 'case.show'?",
    )
    status, answer = error(op(url, li, "case.show", case_id="one"))
    assert (status, answer["exit_code"]) == (400, 3)
    assert answer["error"].startswith("case.show: case_id: Input should be a valid integer")
    status, answer = error(op(url, li, "case.fire", case_id=1, trigger="approve"))
    assert (status, answer["exit_code"], answer["type"]) == (409, 6, "RefusedError")
    bad = httpx.post(
        f"{url}{API}/ops/case.show", content=b"[1]", headers={"Authorization": f"Bearer {li}"}
    )
    assert error(bad)[0:1] == (400,)
    assert bad.json()["error"] == "the request body is not a JSON object"


def test_two_clients_racing_on_one_case_one_wins(url: str) -> None:
    """Both read version N, then both fire with --expect-version N at once: one moves the
    case, the other gets the conflict (409, exit 7), whichever order the server runs them in."""
    clients = [Connection(url, token_of(url, "li")), Connection(url, token_of(url, "zhao"))]
    versions = [c.call("case.show", {"case_id": 1})["view"]["version"] for c in clients]
    assert versions[0] == versions[1]
    start = threading.Barrier(2)
    outcomes: list[Any] = [None, None]

    def fire(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = clients[i].call(
                "case.fire", {"case_id": 1, "trigger": "accept", "expect_version": versions[i]}
            )
        except ConflictError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert (won[0]["from"], won[0]["to"]) == ("discovery", "accepted")
    assert lost[0].exit_code == 7
    assert lost[0].message.startswith("case 1 changed since you loaded it")


# -- the CLI in client mode ----------------------------------------------------------------


def cli(creds: Path, *args: str, input: str | None = None) -> Result:
    from aidflow.cli.main import cli as root

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AIDFLOW_")}
    env["AIDFLOW_CREDENTIALS"] = str(creds)
    return CliRunner().invoke(root, list(args), input=input, env=env, catch_exceptions=False)


def test_login_saves_the_token_for_the_owner_only(url: str, tmp_path: Path) -> None:
    creds = tmp_path / "config" / "aidflow" / "credentials.json"
    done = cli(creds, "login", url, "--user", "li", "--password-stdin", input=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    assert done.output == (
        f"logged in to {url} as li until 2023-08-01 21:00; token saved in {creds}\n"
    )
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE(creds.parent.stat().st_mode) == 0o700
    saved = json.loads(creds.read_text())
    assert (saved["url"], saved["user"]) == (url, "li")
    assert cli(creds, "whoami").output == f"li at {url}; token valid until 2023-08-01 21:00\n"
    shown = cli(creds, "case", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(
        "Case 1  Minimum living guarantee (single-person household) (dibao v1)\n"
    )
    # the server works on a training database at its simulated time: the client says so
    assert shown.stderr == "[training database: simulated time 2023-08-01 09:00]\n"
    done = cli(creds, "logout")
    assert done.output == f"logged out of {url} (li): token revoked; removed {creds}\n"
    assert not creds.exists()
    # the revoked token no longer works, even if a copy was kept
    with Connection(url, saved["token"]) as c, pytest.raises(AuthenticationError) as exc:
        c.call("case.show", {"case_id": 1})
    assert exc.value.message == "the token was revoked"


def test_a_wrong_password_at_the_cli_exits_10(url: str, tmp_path: Path) -> None:
    creds = tmp_path / "credentials.json"
    done = cli(creds, "login", url, "--user", "li", "--password-stdin", input="wrong\n")
    assert (done.exit_code, done.output) == (
        10,
        "error: wrong user name or password\n"
        "  hint: check both; after repeated failures the account locks\n",
    )
    assert not creds.exists()


def logged_in(url: str, tmp_path: Path, user: str = "li") -> Path:
    creds = tmp_path / "credentials.json"
    done = cli(creds, "login", url, "--user", user, "--password-stdin", input=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    return creds


def test_client_mode_refuses_as_and_local_only_commands(url: str, tmp_path: Path) -> None:
    creds = logged_in(url, tmp_path)
    done = cli(creds, "--as", "sun", "case", "show", "1")
    assert (done.exit_code, done.output) == (
        3,
        "error: --as (or AIDFLOW_USER) is for local mode only: in client mode you act as the "
        "user you logged in as\n"
        "  hint: drop --as; `aidflow whoami` shows who you are logged in as\n",
    )
    done = cli(creds, "db", "upgrade")
    assert done.exit_code == 2
    assert done.output.endswith(
        "Error: `cli db upgrade` works on the database directly, so it runs on the server "
        f"host with --db URL; this terminal is in client mode (server {url})\n"
    )


def test_client_mode_errors_keep_their_exit_codes(url: str, tmp_path: Path) -> None:
    creds = logged_in(url, tmp_path, "wu")
    done = cli(creds, "case", "show", "1")
    assert (done.exit_code, done.output) == (5, "error: case 1 is outside wu's area (河西镇)\n")


def test_a_server_that_does_not_answer_is_unavailable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with Connection(f"http://127.0.0.1:{port}") as c, pytest.raises(UnavailableError) as exc:
            c.login("li", PASSWORD)
    assert exc.value.exit_code == 9
    assert exc.value.message.startswith(
        f"cannot reach the aidflow server at http://127.0.0.1:{port}"
    )
    assert exc.value.hint == (
        "check the URL (aidflow whoami shows it) and that `aidflow serve` runs there"
    )


CLIENT_RUN = """
import sys
from aidflow.cli.main import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("sqlalchemy", "pydantic", "alembic", "apscheduler", "psycopg")
    or m.startswith(("aidflow.store", "aidflow.services.cases", "aidflow.operations",
                     "aidflow.engine", "aidflow.language"))
)
print("HEAVY", heavy, file=sys.stderr)
sys.exit(code)
"""


def test_a_client_mode_cli_run_never_imports_sqlalchemy(url: str, tmp_path: Path) -> None:
    creds = logged_in(url, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")}
    env["AIDFLOW_CREDENTIALS"] = str(creds)
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_RUN, "case", "show", "1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "Case 1  Minimum living guarantee (single-person household) (dibao v1)\n"
    )
    assert "  #1   2023-08-01 09:00  li           opened in discovery\n" in done.stdout
    assert done.stderr == "[training database: simulated time 2023-08-01 09:00]\nHEAVY []\n"


def test_not_found_names_a_missing_case(url: str) -> None:
    with Connection(url, token_of(url)) as c, pytest.raises(NotFoundError) as exc:
        c.call("case.history", {"case_id": 42})
    assert exc.value.exit_code == 4
    with Connection(url, token_of(url, "wu")) as c, pytest.raises(ForbiddenError) as refused:
        c.call("case.history", {"case_id": 1})
    assert refused.value.exit_code == 5


def test_a_read_may_name_its_time(url: str) -> None:
    token = token_of(url)
    answer = httpx.post(
        f"{url}{API}/ops/case.show",
        json={"params": {"case_id": 1}, "lang": "zh", "now": "2023-08-20T09:00"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    shown = answer.json()["result"]
    assert shown["now"] == "2023-08-20T01:00:00+00:00"  # 09:00 county time
    assert shown["view"]["state_label"] == "主动发现"


def test_the_client_imports_only_httpx_and_the_errors() -> None:
    """The client package is the seam a client-mode command loads: nothing of the server."""
    import ast

    package = Path(__file__).resolve().parents[1] / "src" / "aidflow" / "client"
    imported: set[str] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
    assert {m for m in imported if m.startswith("aidflow")} == {"aidflow.errors", "aidflow.i18n"}
    assert {m.split(".")[0] for m in imported} - {"aidflow", "__future__"} <= {
        "collections",
        "httpx",
        "json",
        "os",
        "dataclasses",
        "pathlib",
        "typing",
    }


def test_a_huge_body_is_refused_before_it_is_parsed(url: str) -> None:
    token = token_of(url)
    answer = httpx.post(
        f"{url}{API}/ops/case.note",
        content=b"{" + b" " * (1 << 20) + b"}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert error(answer) == (
        400,
        {
            "error": "the request body is larger than 1048576 bytes",
            "hint": None,
            "exit_code": 3,
            "type": "InvalidInputError",
        },
    )


def test_the_saved_login_is_never_written_through_a_link(url: str, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    creds = tmp_path / "credentials.json"
    creds.symlink_to(target)
    done = cli(creds, "login", url, "--user", "li", "--password-stdin", input=PASSWORD + "\n")
    assert (done.exit_code, done.output) == (
        3,
        f"error: cannot save the login to {creds}: Too many levels of symbolic links\n"
        "  hint: set credentials_file (AIDFLOW_CREDENTIALS) to a file in a directory of yours\n",
    )
    assert target.read_text() == "{}"
    # a command in client mode says what is wrong with the saved login
    done = cli(creds, "case", "show", "1")
    assert (done.exit_code, done.output) == (
        3,
        f"error: the saved login {creds} is not one aidflow wrote\n"
        f"  hint: remove it and run `aidflow login URL` again: rm {creds}\n",
    )
    assert cli(creds, "logout").output == (
        f"removed the saved login {creds}, which could not be read\n"
    )
    assert not creds.is_symlink() and target.read_text() == "{}"
