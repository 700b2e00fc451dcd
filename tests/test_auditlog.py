"""The global audit log against someone with SQL on the database (SECURITY.md, "A log nobody
can rewrite unseen"): each attack is done with plain SQL, the strongest ones with every hash
chain recomputed as the attacker can, and `aidflow audit verify` must name what happened
against the signed checkpoints; an untouched database verifies."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Connection, text

from aidflow.store import audit, auditlog

from .conftest import Cli, World
from .test_engine import open_case, to_village_review, vote


@dataclass
class Signed:
    """A county's data with two signed checkpoints, the key that signed them and its public key."""

    world: World
    cli: Cli
    key: Path
    public: Path
    checkpoints: Path
    case_id: int  # through the village vote (events #1..#9, 5 votes)
    other: int  # opened and accepted before it

    def verify(self, *args: str) -> Result:
        return self.cli("audit", "verify", *args)

    def entry(self, table: str, key: str) -> int:
        with self.world.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT max(seq) FROM audit_log "
                        "WHERE subject_table = :t AND subject_key = :k"
                    ),
                    {"t": table, "k": key},
                ).scalar_one()
            )

    def size(self) -> int:
        with self.world.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one())


def keygen(cli: Cli, path: Path) -> str:
    result = cli("audit", "keygen", str(path))
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert first == f"signing key written to {path}"
    return second.removeprefix("public key: ")


def checkpoint(cli: Cli) -> str:
    result = cli("audit", "checkpoint")
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def signed(world: World, run_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Signed:
    key = tmp_path / "keys" / "signing.key"
    key.parent.mkdir()
    public_key = keygen(run_cli, key)
    public = tmp_path / "signing.pub"
    public.write_text(public_key + "\n")
    checkpoints = tmp_path / "checkpoints"
    monkeypatch.setenv("AIDFLOW_SIGNING_KEY", str(key))
    monkeypatch.setenv("AIDFLOW_CHECKPOINTS", str(checkpoints))
    other = open_case(world)
    world.fire("li", other, "accept")
    checkpoint(run_cli)  # users, workflows and the first case
    cid = to_village_review(world)
    for i, choice in enumerate(["yes", "yes", "yes", "no", "yes"], start=1):
        vote(world, f"rep{i}", cid, choice)
    out = checkpoint(run_cli)
    size = Signed(world, run_cli, key, public, checkpoints, cid, other).size()
    assert out.startswith(f"checkpoint of {size} entries, head ")
    return Signed(world, run_cli, key, public, checkpoints, cid, other)


def tampered(result: Result, *lines: str) -> None:
    """`audit verify` failed with exit 8 (tampering), naming exactly `lines`."""
    assert result.exit_code == 8, result.output
    assert result.stdout.splitlines() == list(lines)
    assert result.stderr.startswith("error: audit log does not verify: ")


# --- what the attacker runs ----------------------------------------------------------------


def rechain_case(conn: Connection, case_id: int) -> None:
    """Recompute the case's own hash chain and head, as anyone who read aidflow's code can."""
    rows = conn.execute(
        text(
            "SELECT id, seq, at, actor, kind, trigger, from_state, to_state, fields, note "
            "FROM case_events WHERE case_id = :c ORDER BY seq"
        ),
        {"c": case_id},
    ).all()
    prev = audit.GENESIS
    for id_, seq, at, actor, kind, trigger, from_state, to_state, fields, note in rows:
        if isinstance(fields, str):  # SQLite hands JSON back as text
            fields = json.loads(fields)
        at = at if isinstance(at, str) else at.isoformat()
        digest = audit.event_hash(
            case_id, seq, _aware(at), actor, kind, trigger, from_state, to_state, fields, note, prev
        )
        conn.execute(
            text("UPDATE case_events SET prev_hash = :p, hash = :h WHERE id = :i"),
            {"p": prev, "h": digest, "i": id_},
        )
        prev = digest
    conn.execute(
        text("UPDATE cases SET last_seq = :s, head_hash = :h WHERE id = :c"),
        {"s": rows[-1][1] if rows else 0, "h": prev if rows else "", "c": case_id},
    )


def _aware(at: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(at).replace(tzinfo=UTC)


def past_the_guard(conn: Connection) -> None:
    """On PostgreSQL, step past audit_log's append-only trigger for this transaction, as
    the superuser or the table's owner can (the application role cannot: test_pg_roles)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))


def relog(conn: Connection) -> None:
    """Recompute every entry's digest from the rows as they are now, renumber the entries
    without gaps, and recompute the whole chain: a log consistent with the tampered rows."""
    from sqlalchemy.orm import Session

    past_the_guard(conn)

    from aidflow.store.tables import AUDIT_LOG

    with Session(bind=conn) as s:
        now = {table: auditlog._rows(s, table) for table in auditlog.SUBJECTS}
        entries = s.execute(AUDIT_LOG.select().order_by(AUDIT_LOG.c.seq)).all()
        sets = {  # a page of a payment run, logged as one entry
            e.subject_key: auditlog.current_set_digest(s, e.subject_table, e.subject_key)
            for e in entries
            if e.subject_table in auditlog.ROW_SETS
        }
    conn.execute(text("DELETE FROM audit_log"))
    prev = auditlog.GENESIS
    for seq, e in enumerate(entries, start=1):
        if e.subject_table in auditlog.ROW_SETS:
            digest = sets[e.subject_key]
        else:
            digest = now[e.subject_table].get(e.subject_key, e.digest)
        h = auditlog.entry_hash(
            seq, e.at, e.actor, e.kind, e.subject_table, e.subject_key, digest, prev
        )
        conn.execute(
            AUDIT_LOG.insert().values(
                seq=seq,
                at=e.at,
                actor=e.actor,
                kind=e.kind,
                subject_table=e.subject_table,
                subject_key=e.subject_key,
                digest=digest,
                prev_hash=prev,
                hash=h,
            )
        )
        prev = h


# --- the tests -------------------------------------------------------------------------------


def test_an_untouched_database_verifies_against_its_checkpoints(signed: Signed) -> None:
    size = signed.size()
    events = 2 + 9
    assert signed.verify().stdout == (
        f"audit ok: 2 case(s), {events} events verified\n"
        f"audit log ok: {size} entries, 2 signed checkpoint(s) match\n"
    )
    # the public key alone is enough to check: the verifier need not hold the private key
    result = signed.verify("--public-key", str(signed.public))
    assert result.exit_code == 0, result.output
    # without a checkpoint directory the output is the chain check's alone
    result = signed.cli("audit", "verify", "--checkpoints", str(signed.checkpoints))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(signed.key).st_mode) == 0o600
    assert len(list(signed.checkpoints.glob("checkpoint-*.json"))) == 2


def test_keygen_never_overwrites_a_key(signed: Signed) -> None:
    before = signed.key.read_bytes()
    result = signed.cli("audit", "keygen", str(signed.key))
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"error: {signed.key} already exists; a signing key is never overwritten\n"
    )
    assert signed.key.read_bytes() == before


def test_an_event_edited_with_the_case_chain_recomputed_is_named(signed: Signed) -> None:
    cid = signed.case_id
    with signed.world.engine.begin() as conn:
        conn.execute(
            text("UPDATE case_events SET note = 'nothing found' WHERE case_id = :c AND seq = 4"),
            {"c": cid},
        )
        rechain_case(conn, cid)
    entry = signed.entry("case_events", f"{cid}/4")
    tampered(
        signed.verify(), f"case {cid} event #4 (log entry #{entry}): changed after it was logged"
    )


def test_an_event_edited_with_both_chains_recomputed_fails_the_checkpoint(signed: Signed) -> None:
    cid = signed.case_id
    first = int(
        json.loads(sorted(signed.checkpoints.glob("*.json"))[0].read_text())["size"]
    )  # the checkpoint before the case
    size = signed.size()
    with signed.world.engine.begin() as conn:
        conn.execute(
            text("UPDATE case_events SET note = 'nothing found' WHERE case_id = :c AND seq = 4"),
            {"c": cid},
        )
        rechain_case(conn, cid)
        relog(conn)
    result = signed.verify()
    assert result.exit_code == 8, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith("checkpoint checkpoint-")
    assert line.endswith(
        f"the log differs from what was signed: an entry between #{first + 1} and #{size} "
        "was edited, removed or reordered"
    )


def test_the_last_events_of_a_case_deleted(signed: Signed) -> None:
    cid = signed.case_id
    size = signed.size()
    with signed.world.engine.begin() as conn:
        conn.execute(
            text("DELETE FROM case_events WHERE case_id = :c AND seq > 7"),
            {"c": cid},
        )
        rechain_case(conn, cid)
    first, last = signed.entry("case_events", f"{cid}/8"), signed.entry("case_events", f"{cid}/9")
    tampered(
        signed.verify(),
        f"case {cid} events #8..#9 (log entries #{first}..#{last}): "
        "removed from the end of the case",
    )
    # and with their entries cut from the end of the log too (and the last two votes, whose
    # entries were among them): only the checkpoint knew them
    with signed.world.engine.begin() as conn:
        past_the_guard(conn)
        conn.execute(text("DELETE FROM audit_log WHERE seq >= :s"), {"s": first - 1})
        conn.execute(text("DELETE FROM votes WHERE voter IN ('rep4', 'rep5')"))
    result = signed.verify()
    assert result.exit_code == 8, result.output
    (line,) = result.stdout.splitlines()
    assert line.endswith(
        f"the log has {first - 2} entries but {size} were signed: "
        f"entries #{first - 1}..#{size} were removed from the end"
    )


def test_a_case_deleted_with_its_events(signed: Signed) -> None:
    other = signed.other
    first, last = (
        signed.entry("case_events", f"{other}/1"),
        signed.entry("case_events", f"{other}/2"),
    )
    with signed.world.engine.begin() as conn:
        conn.execute(text("DELETE FROM case_events WHERE case_id = :c"), {"c": other})
        conn.execute(text("DELETE FROM cases WHERE id = :c"), {"c": other})
    tampered(
        signed.verify(),
        f"case {other} (log entries #{first}..#{last}): "
        "deleted with its events: 2 logged event(s) are gone",
    )


def test_events_reordered(signed: Signed) -> None:
    cid = signed.case_id
    with signed.world.engine.begin() as conn:
        for old, new in ((2, 100), (3, 2), (100, 3)):
            conn.execute(
                text("UPDATE case_events SET seq = :n WHERE case_id = :c AND seq = :o"),
                {"n": new, "o": old, "c": cid},
            )
        rechain_case(conn, cid)
    e2, e3 = signed.entry("case_events", f"{cid}/2"), signed.entry("case_events", f"{cid}/3")
    tampered(
        signed.verify(),
        f"case {cid} event #2 (log entry #{e2}): holds what was logged for case {cid} event #3: "
        "reordered",
        f"case {cid} event #3 (log entry #{e3}): holds what was logged for case {cid} event #2: "
        "reordered",
    )


def test_a_vote_changed(signed: Signed) -> None:
    cid = signed.case_id
    with signed.world.engine.begin() as conn:
        conn.execute(text("UPDATE votes SET choice = 'yes' WHERE voter = 'rep4'"))
    entry = signed.entry("votes", f"{cid}/4/rep4")
    tampered(
        signed.verify(),
        f"case {cid} round 4 vote of rep4 (log entry #{entry}): changed after it was logged",
    )


def test_a_users_roles_changed(signed: Signed) -> None:
    with signed.world.engine.begin() as conn:
        conn.execute(text("""UPDATE users SET roles = '["admin"]' WHERE name = 'li'"""))
    entry = signed.entry("users", "li")
    tampered(signed.verify(), f"user li (log entry #{entry}): changed after it was logged")


def test_a_deployed_workflows_source_replaced(signed: Signed) -> None:
    with signed.world.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE workflow_versions SET source = source || '\n# no vote' WHERE name = 'dibao'"
            )
        )
    entry = signed.entry("workflow_versions", "dibao/1")
    tampered(
        signed.verify(),
        f"workflow dibao version 1 (log entry #{entry}): changed after it was logged",
    )


def test_a_user_inserted_behind_the_logs_back(signed: Signed) -> None:
    with signed.world.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (name, email, roles, area, created_at) "
                """VALUES ('mallory', 'm@x.example', '["admin"]', '*', '2023-08-01 00:00:00')"""
            )
        )
    tampered(signed.verify(), "user mallory: not in the audit log: written behind its back")


def test_a_checkpoint_signed_by_another_key_is_refused(
    signed: Signed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = tmp_path / "stranger.key"
    keygen(signed.cli, stranger)
    monkeypatch.setenv("AIDFLOW_SIGNING_KEY", str(stranger))
    checkpoint(signed.cli)
    result = signed.verify("--public-key", str(signed.public))
    assert result.exit_code == 8, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith("checkpoint checkpoint-")
    assert ": not signed by the trusted key: refused (signed by key " in line


def test_a_checkpoint_needs_a_key_and_a_directory(
    signed: Signed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIDFLOW_SIGNING_KEY")
    result = signed.cli("audit", "checkpoint")
    assert (result.exit_code, result.stderr.splitlines()[0]) == (
        3,
        "error: no signing key configured",
    )
    # checkpoints to check and no key to check them with: refused, not skipped
    result = signed.verify()
    assert (result.exit_code, result.stderr.splitlines()[0]) == (
        3,
        "error: no public key to check the checkpoints against",
    )


def test_the_upgrade_logs_the_rows_a_database_already_holds(signed: Signed) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.orm import Session

    from aidflow.store.database import upgrade

    before = signed.size()
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(auditlog.__file__).parent / "migrations"))
    with signed.world.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    upgrade(signed.world.engine)
    with Session(signed.world.engine) as s:
        check = auditlog.check(s)
    assert check.findings == []
    # the database's mode, 13 users, 3 workflows, 11 events, 5 votes, 1 person: as many
    # entries as were written live, but for the 6 rows of the area registry, which the
    # downgrade below 0008 dropped
    assert len(check.heads) == signed.size() == before - 6 == 1 + 13 + 3 + 11 + 5 + 1
