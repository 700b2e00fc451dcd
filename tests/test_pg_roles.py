"""PostgreSQL's role split (migration 0010): the server's role may append to the audit log
but never change or remove an entry, and everything else it does works under that role.

Every test here runs on PostgreSQL only. The database is upgraded by the superuser (the
owner's part); the world, the CLI and the services then connect as `aidflow_app`, the role
the server's login is a member of (`options=-crole=aidflow_app` in the URL).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

from aidflow.store.database import make_engine, upgrade

from .conftest import Cli, World, _pg_schema_url
from .test_auditlog import Signed, relog, signed  # noqa: F401
from .test_engine import open_case
from .test_payments import County, cli, county, id_number, paid_county  # noqa: F401

APP = "aidflow_app"


def as_app(url: str) -> str:
    """The same database and schema, connected with the application role."""
    head, _, options = url.partition("options=")
    return f"{head}options={quote(unquote(options) + f' -crole={APP}')}"


@pytest.fixture
def db_url() -> Iterator[str]:
    """PostgreSQL only, as the application role; the owner's URL is `owner_url`."""
    for url in _pg_schema_url():
        yield as_app(url)


@pytest.fixture
def owner(db_url: str) -> Iterator[Engine]:
    """The database as the superuser that ran the migrations (the owner's side)."""
    eng = make_engine(db_url.replace(quote(f" -crole={APP}"), ""))
    yield eng
    eng.dispose()


@pytest.fixture
def engine(db_url: str, owner: Engine) -> Iterator[Engine]:
    upgrade(owner, training=True)  # the CLI below writes at a simulated time
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def refused(eng: Engine, statement: str) -> str:
    with pytest.raises(ProgrammingError) as caught, eng.begin() as conn:
        conn.execute(text(statement))
    return str(caught.value.orig).splitlines()[0]


def test_the_app_role_can_append_and_read_but_not_change_the_log(world: World) -> None:
    with world.engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == APP
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() > 0
    for statement in (
        "UPDATE audit_log SET actor = 'nobody' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
        "TRUNCATE audit_log",
    ):
        assert refused(world.engine, statement) == "permission denied for table audit_log"
    # nor move the schema's revision
    assert (
        refused(world.engine, "UPDATE alembic_version SET version_num = '0001'")
        == "permission denied for table alembic_version"
    )


def test_the_trigger_refuses_changes_even_to_the_tables_owner(world: World, owner: Engine) -> None:
    for statement, op in (
        ("UPDATE audit_log SET actor = 'nobody' WHERE seq = 1", "UPDATE"),
        ("DELETE FROM audit_log WHERE seq = 1", "DELETE"),
        ("TRUNCATE audit_log", "TRUNCATE"),
    ):
        assert refused(owner, statement) == f"audit_log is append-only: {op} refused"
    assert world.verify_log() == []


def test_the_application_works_under_the_app_role(world: World, run_cli: Cli) -> None:
    """The world was set up (users, workflows, a person) as the app role; cases move too."""
    cid = open_case(world)
    world.fire("li", cid, "accept")
    result = run_cli("case", "show", str(cid), user="li")
    assert result.exit_code == 0, result.output
    # a bulk path: persons and their log entries go in by COPY
    data = Path(__file__).parent / "data" / "civil_affairs.csv"
    result = run_cli("person", "import", str(data), "--source", "civil_affairs", user="sun")
    assert result.exit_code == 0, result.output
    result = run_cli("audit", "verify")
    assert (result.exit_code, result.stdout) == (0, "audit ok: 1 case(s), 2 events verified\n")
    assert world.verify_log() == []


def test_payments_run_export_and_reconcile_under_the_app_role(
    paid_county: tuple[County, str, list[int]],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The payment run (done by the fixture through the CLI), the bank file and the bank's
    answer, all as aidflow_app: bulk inserts, updates and their log entries."""
    county_, url, _ = paid_county
    out = tmp_path / "bank.csv"
    result = cli(url, "payments", "export", "--period", "2023-08", "--output", str(out))
    assert result.exit_code == 0, result.output
    answer = tmp_path / "answer.csv"
    answer.write_text(
        "reference,status,reason,amount_yuan,id_number\n"
        f"1,paid,,650.00,{id_number(1)}\n2,paid,,1020.00,{id_number(2)}\n"
        f"3,paid,,100.00,{id_number(2)}\n",
        encoding="utf-8",
    )
    result = cli(url, "payments", "reconcile", str(answer), now="2023-08-10T09:00")
    assert (result.exit_code, result.stdout) == (
        0,
        f"{answer}: 3 paid, 0 failed, 0 already recorded\n",
    )
    with county_.engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == APP
        kinds = conn.execute(
            text(
                "SELECT kind, count(*) FROM audit_log "
                "WHERE subject_table IN ('payments', 'payment_sets') GROUP BY kind ORDER BY kind"
            )
        ).all()
    assert [tuple(k) for k in kinds] == [  # the run's pages (dibao, tekun): an entry each
        ("payment_exported", 3),
        ("payment_settled", 3),
        ("payments_created", 2),
    ]
    result = cli(url, "audit", "verify")
    assert result.exit_code == 0, result.output


def test_the_owner_who_disables_the_trigger_is_caught_by_the_checkpoint(
    signed: Signed,  # noqa: F811
    owner: Engine,
) -> None:
    entry = signed.entry("votes", f"{signed.case_id}/4/rep4")
    with owner.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        conn.execute(text("UPDATE audit_log SET actor = 'rep1' WHERE seq = :s"), {"s": entry})
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
    result = signed.verify()
    assert result.exit_code == 8, result.output
    edited, signed_head = result.stdout.splitlines()
    assert edited == f"log entry #{entry}: does not match its hash: the entry was edited"
    assert signed_head.endswith(f"and #{signed.size()} was edited, removed or reordered")
    # and with the whole log recomputed, only the checkpoint knows
    with owner.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE votes SET choice = 'yes' WHERE voter = 'rep4'"))
        relog(conn)
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
    result = signed.verify()
    assert result.exit_code == 8, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith("checkpoint checkpoint-")
    assert ": the log differs from what was signed: an entry between #" in line


def test_the_roles_are_made_once_per_cluster(owner: Engine) -> None:
    """A second schema (another test, another county) upgrades with the roles already made."""
    upgrade(owner)
    for url in _pg_schema_url():
        other = make_engine(url)
        try:
            upgrade(other)
            with other.connect() as conn:
                roles = conn.execute(
                    text(
                        "SELECT rolname, rolcanlogin FROM pg_roles "
                        "WHERE rolname IN ('aidflow_owner', 'aidflow_app') ORDER BY rolname"
                    )
                ).all()
                grants = conn.execute(
                    text(
                        "SELECT privilege_type FROM information_schema.role_table_grants "
                        "WHERE grantee = 'aidflow_app' AND table_name = 'audit_log' "
                        "AND table_schema = current_schema() ORDER BY privilege_type"
                    )
                ).scalars()
                assert [tuple(r) for r in roles] == [
                    ("aidflow_app", False),
                    ("aidflow_owner", False),
                ]
                assert list(grants) == ["INSERT", "SELECT"]
        finally:
            other.dispose()
