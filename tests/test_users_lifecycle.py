"""User lifecycle, the area registry and local-mode identity (aidflow.services.users).

The attacks of the issue performed here: a caseworker at the terminal acting as someone
else with --as or AIDFLOW_USER, an account without an operating-system binding acting at
all, a plain-SQL change of a user's roles, area, disabled flag or password hash (the audit
log names it), and mistyped roles and areas (refused with a suggestion).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from aidflow.errors import InvalidInputError
from aidflow.services import users
from aidflow.store.models import AuditEntry, CaseEvent

from .conftest import OS_LOGIN, PERSON_ID, Cli, World

# the account the subprocess tests act from: any login other than the test runner's
OTHER = "nobody"


def log(world: World) -> list[tuple[str, str, str]]:
    """(kind, actor, subject key) of every audit log entry, in order."""
    with world.session() as s:
        return [
            (e.kind, e.actor, e.subject_key)
            for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))
        ]


def sql(world: World, statement: str, **params: object) -> None:
    with world.engine.begin() as conn:
        conn.execute(text(statement), params)


def ok(result: object) -> str:
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]


def test_each_lifecycle_command_is_audited_with_its_actor(world: World, run_cli: Cli) -> None:
    before = len(log(world))
    ok(run_cli("user", "disable", "zhao"))
    ok(run_cli("user", "enable", "zhao"))
    assert ok(run_cli("user", "set-roles", "zhao", "--role", "village_officer")) == (
        "user zhao: roles village_officer\n"
    )
    assert ok(run_cli("user", "set-area", "zhao", "河西镇")) == "user zhao: area 河西镇\n"
    ok(run_cli("user", "set-login", "zhao", "zhao_os"))
    out = ok(run_cli("user", "reset-password", "zhao"))
    assert out.startswith("password of zhao reset; their tokens are revoked\n")
    assert "initial password for zhao: " in out
    assert ok(run_cli("user", "revoke-tokens", "zhao")) == "0 token(s) of zhao revoked\n"
    assert ok(
        run_cli("user", "add", "qian", "--role", "auditor", "--area", "*", "--email", "q@c.example")
    ).startswith("user qian added: roles auditor; area *\ninitial password for qian: ")
    assert log(world)[before:] == [
        ("user_disabled", "admin", "zhao"),
        ("user_enabled", "admin", "zhao"),
        ("user_roles_set", "admin", "zhao"),
        ("user_area_set", "admin", "zhao"),
        ("user_login_set", "admin", "zhao"),
        ("user_password_reset", "admin", "zhao"),
        ("user_tokens_revoked", "admin", "zhao"),
        ("user_added", "admin", "qian"),
    ]
    assert world.verify_log() == []
    listed = {u["name"]: u for u in json.loads(ok(run_cli("user", "list", "--json")))}
    assert listed["zhao"] == {
        "name": "zhao",
        "display_name": None,
        "roles": ["village_officer"],
        "area": "河西镇",
        "email": "zhao@county.example",
        "os_login": "zhao_os",
        "disabled": False,
        "must_change_password": True,
    }


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("roles", '["admin"]'),
        ("area", "*"),
        ("disabled", True),
        ("password_hash", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$forged"),
        ("os_login", "mallory"),
        ("must_change_password", True),
    ],
)
def test_a_plain_sql_change_of_a_users_security_columns_is_detected(
    world: World, column: str, value: object
) -> None:
    assert world.verify_log() == []
    new = "CAST(:v AS JSON)" if column == "roles" else ":v"
    sql(world, f"UPDATE users SET {column} = {new} WHERE name = 'li'", v=value)
    entry = next(seq for seq, (_, _, key) in enumerate(log(world), 1) if key == "li")
    assert world.verify_log() == [f"user li (log entry #{entry}): changed after it was logged"]


def test_disabling_in_sql_and_back_is_still_detected_after_a_logged_disable(
    world: World, run_cli: Cli
) -> None:
    ok(run_cli("user", "disable", "li"))
    sql(world, "UPDATE users SET disabled = :v WHERE name = 'li'", v=False)
    found = world.verify_log()
    assert len(found) == 1 and found[0].startswith("user li (log entry #")


def test_role_and_area_typos_are_refused_with_a_suggestion(world: World) -> None:
    def add(role: str, area: str) -> None:
        world.run(lambda svc: svc.add_user("admin", "bob", [role], area, "bob@county.example"))

    with pytest.raises(InvalidInputError) as info:
        add("township_casewroker", "城关镇")
    assert str(info.value) == (
        "unknown role 'township_casewroker': no deployed workflow declares it and it is not "
        "built in (admin, auditor)\n  hint: did you mean 'township_caseworker'?"
    )
    with pytest.raises(InvalidInputError) as info:
        add("township_caseworker", "城关镇/东寸")
    assert str(info.value) == "unknown area '城关镇/东寸'\n  hint: did you mean '城关镇/东村'?"
    with pytest.raises(InvalidInputError) as info:
        world.run(
            lambda svc: users.set_roles(svc.session, svc.clock.now(), "admin", "li", ["admn"])
        )
    assert str(info.value).endswith("hint: did you mean 'admin'?")
    with pytest.raises(InvalidInputError) as info:
        world.run(lambda svc: users.set_area(svc.session, svc.clock.now(), "admin", "li", "河东镇"))
    assert str(info.value) == "unknown area '河东镇'\n  hint: did you mean '河西镇'?"
    # the roles every deployed workflow declares are known, and the built-in ones
    known = world.run(lambda svc: users.declared_roles(svc.session))
    assert {"admin", "auditor", "township_caseworker", "village_rep", "county_officer"} <= known


def test_an_empty_registry_refuses_any_area_but_the_county(engine: object, clock: object) -> None:
    from sqlalchemy.orm import Session

    from aidflow.language.calendar import WorkCalendar
    from aidflow.services.cases import Service

    with Session(engine) as s, s.begin():  # type: ignore[call-overload]
        svc = Service(s, clock, WorkCalendar("Asia/Shanghai"))  # type: ignore[arg-type]
        svc.add_user(None, "admin", ["admin"], "*", "admin@county.example", os_login=OS_LOGIN)
        with pytest.raises(InvalidInputError) as info:
            svc.add_user("admin", "qian", ["auditor"], "城关镇", "q@county.example")
        assert str(info.value) == (
            "area '城关镇' is not registered: the area registry is empty\n"
            "  hint: import the county's townships and villages with `aidflow area import FILE`"
        )
        assert svc.add_user("admin", "qian", ["auditor"], "*", "q@county.example").area == "*"


def test_admin_entering_for_a_user_records_both_names(world: World, run_cli: Cli) -> None:
    case_id = world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    ok(run_cli("case", "note", str(case_id), "-n", "phoned the applicant", user="li"))
    with world.session() as s:
        event = s.scalars(select(CaseEvent).order_by(CaseEvent.seq.desc())).first()
        assert event is not None
        assert (event.actor, event.entered_by, event.note) == (
            "li",
            "admin",
            "phoned the applicant",
        )
    assert log(world)[-1] == ("case_event", "li (entered by admin)", f"{case_id}/2")
    assert world.verify_log() == []
    # the event's record of who entered it is covered by the log
    sql(world, "UPDATE case_events SET entered_by = NULL WHERE case_id = :c AND seq = 2", c=case_id)
    assert world.verify_log() == [
        f"case {case_id} event #2 (log entry #{len(log(world))}): changed after it was logged"
    ]


def test_a_disabled_user_cannot_be_acted_for(world: World, run_cli: Cli) -> None:
    ok(run_cli("user", "disable", "li"))
    result = run_cli("case", "list", user="li")
    assert result.exit_code == 5
    assert result.stderr == (
        "error: user li is disabled\n  hint: ask an administrator to `aidflow user enable li`\n"
    )


# -- as another operating-system account ------------------------------------------------------


def as_other(
    db: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`aidflow --db DB ARGS` in a process whose real uid is `OTHER`'s.

    The account is what `os.getuid()` names; the effective uid stays the test runner's only
    so that the interpreter, installed under a directory `OTHER` may not read, can load."""
    import pwd

    uid = pwd.getpwnam(OTHER).pw_uid
    code = (
        "import os, sys\n"
        f"os.setreuid({uid}, os.geteuid())\n"
        "from aidflow.cli.main import cli\n"
        "cli(sys.argv[1:], prog_name='aidflow')\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")}
    return subprocess.run(
        [sys.executable, "-c", code, "--db", str(db), "--now", "2023-08-01T10:00", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture
def local_db(world: World, db_url: str) -> Path:
    if not db_url.startswith("sqlite"):
        pytest.skip("local mode is the embedded SQLite database")
    return Path(db_url.removeprefix("sqlite:///"))


def test_an_unbound_os_account_cannot_act(local_db: Path) -> None:
    result = as_other(local_db, "case", "list")
    assert result.returncode == 10, result.stderr
    assert result.stderr == (
        f"error: operating-system login '{OTHER}' is not bound to an aidflow user\n"
        f"  hint: an administrator binds it: `aidflow user add NAME ... --os-login {OTHER}` "
        f"or `aidflow user set-login NAME {OTHER}`\n"
    )


def test_a_non_admin_os_account_cannot_act_as_someone_else(
    local_db: Path, run_cli: Cli, world: World
) -> None:
    ok(run_cli("user", "set-login", "li", OTHER))
    case_id = world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    before = log(world)
    refusal = (
        f"error: li (operating-system login '{OTHER}') may not act as sun: only an "
        "administrator enters on someone's behalf\n"
        "  hint: run the command without --as / AIDFLOW_USER\n"
    )
    by_option = as_other(local_db, "--as", "sun", "case", "note", str(case_id), "-n", "x")
    by_variable = as_other(
        local_db, "case", "note", str(case_id), "-n", "x", env={"AIDFLOW_USER": "sun"}
    )
    for result in (by_option, by_variable):
        assert result.returncode == 5, result.stderr
        assert result.stderr == refusal
    assert log(world) == before
    # as themselves, the account's user acts
    mine = as_other(local_db, "case", "note", str(case_id), "-n", "visited")
    assert mine.returncode == 0, mine.stderr
    assert log(world)[-1] == ("case_event", "li", f"{case_id}/2")


def test_a_database_without_bindings_lets_only_an_admin_bind_themselves(
    world: World, run_cli: Cli
) -> None:
    """As after the upgrade that added logins: no user is bound to one yet."""
    sql(world, "UPDATE users SET os_login = NULL")
    world.run(lambda svc: None)
    refused = run_cli("case", "list", user="li")
    assert refused.exit_code == 10
    assert refused.stderr == (
        "error: no user is bound to an operating-system login yet\n"
        "  hint: an administrator binds themselves first: "
        f"`aidflow --as ADMIN user set-login ADMIN {OS_LOGIN}`\n"
    )
    ok(run_cli("user", "set-login", "admin", OS_LOGIN, user="admin"))
    assert ok(run_cli("case", "list", user="li")) == "(none)\n"


def test_passwd_sets_a_first_password_then_needs_the_old_one(world: World, run_cli: Cli) -> None:
    assert ok(run_cli("user", "passwd", "--password-stdin", input="\nfirst long password\n")) == (
        "password of admin changed\n"
    )
    wrong = run_cli("user", "passwd", "--password-stdin", input="guess\nsecond long password\n")
    assert wrong.exit_code == 10
    assert wrong.stderr.startswith("error: wrong user name or password\n")
    ok(
        run_cli(
            "user", "passwd", "--password-stdin", input="first long password\nsecond one, longer\n"
        )
    )
    assert [k for k, a, key in log(world) if key == "admin"][-2:] == [
        "user_password_set",
        "user_password_changed",
    ]
    assert world.verify_log() == []


def test_rows_logged_before_the_security_columns_existed_still_verify() -> None:
    """A user row as 0007 logged it digests as the same row with the new columns at their
    defaults; any other value of them changes the digest."""
    from aidflow.store import auditlog

    old = {"name": "li", "email": "li@x.org", "roles": ["a"], "area": "*", "created_at": "t"}
    defaults = dict(
        old, os_login=None, password_hash=None, must_change_password=False, disabled=False
    )
    assert auditlog.digest("users", old) == auditlog.digest("users", defaults)
    for column, value in (
        ("os_login", "li"),
        ("password_hash", "$argon2id$..."),
        ("must_change_password", True),
        ("disabled", True),
    ):
        assert auditlog.digest("users", dict(defaults, **{column: value})) != auditlog.digest(
            "users", old
        ), column


def test_area_import_reads_a_workbook_and_logs_each_new_area(
    world: World, run_cli: Cli, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["乡镇", "村"], ["新城镇", "北村"], ["城关镇", "东村"], ["新城镇", None]):
        sheet.append(row)
    path = tmp_path / "areas.xlsx"
    book.save(path)
    before = len(log(world))
    assert ok(run_cli("area", "import", str(path))) == (
        f"1 area(s) registered from 3 row(s) of {path}\n"
    )
    assert log(world)[before:] == [("area_added", "admin", "新城镇/北村")]
    assert "新城镇/北村\n" in ok(run_cli("area", "list"))
    assert world.verify_log() == []
    sql(world, "DELETE FROM areas WHERE village = '北村'")
    assert world.verify_log() == [f"area 新城镇/北村 (log entry #{before + 1}): deleted"]
