"""The daily checkpoint by email: the scheduler's round signs one and mails its file's text
to every auditor over real SMTP (aiosmtpd); the auditor's saved copy is what `audit verify`
holds the database against, so a log rewritten later is caught by the mailed checkpoint.
(SQLite and PostgreSQL.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from aidflow.engine import checkpoints
from aidflow.services.cases import Service

from .conftest import Cli, World
from .smtp import SMTPServer
from .test_auditlog import keygen, relog
from .test_engine import open_case

TICK_AT = "2023-08-01T09:00"


@pytest.fixture
def mailed(
    world: World,
    run_cli: Cli,
    smtp_server: SMTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[World, Cli, SMTPServer, Path]:
    def add(svc: Service) -> None:
        svc.add_user("admin", "qian", ["auditor"], "*", "qian@audit.example")
        svc.add_user("admin", "zhou", ["auditor"], "*", "zhou@audit.example")

    world.run(add)
    cid = open_case(world)
    world.fire("li", cid, "accept")
    key = tmp_path / "signing.key"
    public = tmp_path / "signing.pub"
    public.write_text(keygen(run_cli, key) + "\n")
    monkeypatch.setenv("AIDFLOW_SIGNING_KEY", str(key))
    monkeypatch.setenv("AIDFLOW_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("AIDFLOW_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("AIDFLOW_SMTP_SECURITY", "none")
    monkeypatch.setenv("AIDFLOW_SMTP_FROM", "aidflow@county.example")
    return world, run_cli, smtp_server, public


def saved(body: str, directory: Path) -> Path:
    """What the auditor does: save the text between the scissors lines as the named file."""
    inside = body.split("-----8<-----\n")[1]
    name = next(w for w in body.split() if w.startswith("checkpoint-") and w.endswith(".json"))
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(inside, encoding="utf-8")
    return path


def test_every_auditor_receives_the_days_signed_checkpoint_once(
    mailed: tuple[World, Cli, SMTPServer, Path], tmp_path: Path
) -> None:
    world, cli, smtp, public = mailed
    result = cli("scheduler", "tick", now=TICK_AT)
    assert result.exit_code == 0, result.output
    assert "checkpoint: 2 email(s) queued to auditors" in result.stdout.splitlines()
    got = {m.rcpt_tos[0]: m.message for m in smtp.messages}
    assert sorted(got) == ["qian@audit.example", "zhou@audit.example"]
    with world.engine.connect() as conn:
        size = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    assert got["qian@audit.example"]["Subject"] == (
        f"[Audit checkpoint] 2023-08-01: {size} log entries signed"
    )
    body = got["qian@audit.example"].get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert "  aidflow --as qian audit verify --checkpoints DIR --public-key FILE\n" in body
    # the mailed text is the checkpoint, signed by the county's key, of the log as it was
    path = saved(body, tmp_path / "qian")
    checkpoint = checkpoints.from_json(path.read_text(encoding="utf-8"))
    assert checkpoint is not None
    assert checkpoint.size == size
    assert checkpoints.signed_by(checkpoint, public.read_text().strip())
    result = cli("audit", "verify", "--checkpoints", str(path.parent), "--public-key", str(public))
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"audit log ok: {size} entries, 1 signed checkpoint(s) match\n")
    # the same day again: nothing new; the next day: a new one
    result = cli("scheduler", "tick", now="2023-08-01T18:00")
    assert "checkpoint: 0 email(s) queued to auditors" in result.stdout.splitlines()
    result = cli("scheduler", "tick", now="2023-08-02T09:00")
    assert "checkpoint: 2 email(s) queued to auditors" in result.stdout.splitlines()
    assert len(smtp.messages) == 4


def test_a_log_rewritten_after_the_mail_is_caught_by_the_mailed_checkpoint(
    mailed: tuple[World, Cli, SMTPServer, Path], tmp_path: Path
) -> None:
    world, cli, smtp, public = mailed
    assert cli("scheduler", "tick", now=TICK_AT).exit_code == 0
    (mail,) = [m.message for m in smtp.messages if m.rcpt_tos == ("zhou@audit.example",)]
    body = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    path = saved(body, tmp_path / "zhou")
    # someone with SQL changes a user's roles and recomputes the whole log to match
    with world.engine.begin() as conn:
        conn.execute(text("""UPDATE users SET roles = '["admin"]' WHERE name = 'li'"""))
        relog(conn)
    result = cli("audit", "verify")  # the database alone agrees with itself
    assert result.exit_code == 0, result.output
    result = cli("audit", "verify", "--checkpoints", str(path.parent), "--public-key", str(public))
    assert result.exit_code == 8, result.output
    size = checkpoints.from_json(path.read_text(encoding="utf-8")).size  # type: ignore[union-attr]
    assert result.stdout == (
        f"checkpoint {path.name} (size {size}, 2023-08-01T01:00:00+00:00): the log differs "
        f"from what was signed: an entry between #1 and #{size} was edited, removed or "
        "reordered\n"
    )


def test_no_signing_key_no_checkpoint_line(
    mailed: tuple[World, Cli, SMTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, cli, smtp, _ = mailed
    monkeypatch.delenv("AIDFLOW_SIGNING_KEY")
    result = cli("scheduler", "tick", now=TICK_AT)
    assert result.exit_code == 0, result.output
    assert not [line for line in result.stdout.splitlines() if line.startswith("checkpoint")]
    assert [m.rcpt_tos for m in smtp.messages if "audit" in m.rcpt_tos[0]] == []
