"""Persons and money in the global audit log, against someone with SQL on the database.

A county pays two persons for a month (three payments), exports the bank file and records
the bank's answer, all through the CLI, then signs a checkpoint. Each attack changes the
money or who gets it with plain SQL, and `aidflow audit verify` must name the row against
the signed checkpoint; the trail itself says who did what.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import text

from .conftest import Cli
from .test_auditlog import checkpoint, keygen, relog, tampered
from .test_payments import County, cli, county, id_number, paid_county  # noqa: F401


@dataclass
class Books:
    county: County
    url: str
    bank_file: Path
    checkpoints: Path

    def verify(self) -> Result:
        return Cli(self.url)("audit", "verify")

    def entry(self, table: str, key: str) -> int:
        with self.county.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT max(seq) FROM audit_log "
                        "WHERE subject_table = :t AND subject_key = :k"
                    ),
                    {"t": table, "k": key},
                ).scalar_one()
            )

    def trail(self, table: str, key: str) -> list[tuple[str, str]]:
        with self.county.engine.connect() as conn:
            return [
                (kind, actor)
                for kind, actor in conn.execute(
                    text(
                        "SELECT kind, actor FROM audit_log "
                        "WHERE subject_table = :t AND subject_key = :k ORDER BY seq"
                    ),
                    {"t": table, "k": key},
                )
            ]


@pytest.fixture
def books(
    paid_county: tuple[County, str, list[int]],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Books:
    county_, url, _ = paid_county
    out = tmp_path / "bank.csv"
    result = cli(url, "payments", "export", "--period", "2023-08", "--output", str(out))
    assert result.exit_code == 0, result.output
    answer = tmp_path / "answer.csv"
    answer.write_text(
        "reference,status,reason,bank_ref,amount_yuan,id_number\n"
        f"1,paid,,B-1,650.00,{id_number(1)}\n2,failed,account closed,,1020.00,{id_number(2)}\n"
        f"3,paid,,,100.00,{id_number(2)}\n",
        encoding="utf-8",
    )
    result = cli(url, "payments", "reconcile", str(answer), now="2023-08-10T09:00")
    assert result.exit_code == 0, result.output
    key = tmp_path / "signing.key"
    keygen(Cli(url), key)
    checkpoints = tmp_path / "checkpoints"
    monkeypatch.setenv("AIDFLOW_SIGNING_KEY", str(key))
    monkeypatch.setenv("AIDFLOW_CHECKPOINTS", str(checkpoints))
    checkpoint(Cli(url))
    return Books(county_, url, out, checkpoints)


def sql(books: Books, statement: str, **params: object) -> None:
    with books.county.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_the_trail_names_who_paid_exported_and_reconciled(books: Books) -> None:
    result = books.verify()
    assert result.exit_code == 0, result.output
    # the run's page of payments is one entry; each later change of a payment its own
    assert books.trail("payment_sets", "1/1..1") == [("payments_created", "sun")]  # dibao
    assert books.trail("payment_sets", "1/2..3") == [("payments_created", "sun")]  # tekun
    assert books.trail("payments", "1") == [("payment_exported", "sun"), ("payment_settled", "sun")]
    assert books.trail("payment_runs", "1") == [("payment_run", "sun"), ("payment_run", "sun")]
    assert books.trail("payment_exports", "1") == [("payment_export", "sun")]
    assert books.trail("reconciliations", "1") == [("reconciliation", "sun")]
    assert books.trail("persons", "1") == [("person_added", "system")]
    with books.county.engine.connect() as conn:
        export = conn.execute(
            text("SELECT period, rows, total_fen, file_hash, actor, file FROM payment_exports")
        ).one()
        answer = conn.execute(
            text("SELECT paid, failed, unchanged, actor FROM reconciliations")
        ).one()
    assert tuple(export) == (
        "2023-08",
        3,
        177000,
        hashlib.sha256(books.bank_file.read_bytes()).hexdigest(),
        "sun",
        str(books.bank_file),  # the file the user keeps, not the operation's temporary one
    )
    assert tuple(answer) == (2, 1, 0, "sun")


def test_a_payments_amount_changed(books: Books) -> None:
    sql(books, "UPDATE payments SET amount_fen = 6500000 WHERE id = 1")
    entry = books.entry("payments", "1")
    tampered(books.verify(), f"payment 1 (log entry #{entry}): changed after it was logged")


def test_a_payments_payee_changed(books: Books) -> None:
    sql(books, "UPDATE payments SET person_id = 2 WHERE id = 1")
    entry = books.entry("payments", "1")
    tampered(books.verify(), f"payment 1 (log entry #{entry}): changed after it was logged")


def test_a_payees_id_number_and_name_changed(books: Books) -> None:
    # the bank file takes the ID number and name from the person: the payee is the person
    sql(
        books,
        "UPDATE persons SET id_number = :n, name = '王五' WHERE id = 1",
        n=id_number(99),
    )
    entry = books.entry("persons", "1")
    tampered(books.verify(), f"person 1 (log entry #{entry}): changed after it was logged")


def test_a_payment_deleted(books: Books) -> None:
    sql(books, "DELETE FROM payments WHERE id = 3")
    entry = books.entry("payments", "3")
    tampered(books.verify(), f"payment 3 (log entry #{entry}): deleted")


def test_a_payment_inserted_behind_the_logs_back(books: Books) -> None:
    sql(
        books,
        "INSERT INTO payments (case_id, person_id, run_id, kind, period, amount_fen, basis, "
        "status, created_at) SELECT case_id, person_id, run_id, kind, '2023-09', amount_fen, "
        "basis, 'pending', created_at FROM payments WHERE id = 1",
    )
    tampered(books.verify(), "payment 4: not in the audit log: written behind its back")


def test_an_exports_recorded_total_changed(books: Books) -> None:
    sql(books, "UPDATE payment_exports SET total_fen = total_fen - 65000, rows = 2")
    entry = books.entry("payment_exports", "1")
    tampered(
        books.verify(),
        f"payment export 1 (log entry #{entry}): changed after it was logged",
    )


def test_an_amount_changed_with_the_log_recomputed_fails_the_checkpoint(books: Books) -> None:
    with books.county.engine.begin() as conn:
        conn.execute(text("UPDATE payments SET amount_fen = 6500000 WHERE id = 1"))
        relog(conn)
    with books.county.engine.connect() as conn:
        size = int(conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one())
    result = books.verify()
    assert result.exit_code == 8, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith("checkpoint checkpoint-")
    assert line.endswith(
        f"the log differs from what was signed: an entry between #1 and #{size} "
        "was edited, removed or reordered"
    )


def test_an_import_run_and_its_persons_are_logged_with_the_importer(
    county: County,  # noqa: F811
    tmp_path: Path,
    db_url: str,
) -> None:
    data = Path(__file__).parent / "data" / "civil_affairs.csv"
    result = Cli(db_url)("person", "import", str(data), "--source", "civil_affairs", user="sun")
    assert result.exit_code == 0, result.output
    with county.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT subject_table, kind, actor, count(*) FROM audit_log "
                "WHERE subject_table IN ('persons', 'person_sets', 'import_runs') "
                "GROUP BY subject_table, kind, actor ORDER BY subject_table, kind"
            )
        ).all()
    # the run logged when started, when its batch was counted and when done; the batch's
    # three persons as one entry
    assert [tuple(r) for r in rows] == [
        ("import_runs", "import_run", "sun", 3),
        ("person_sets", "person_added", "sun", 1),
    ]
    result = Cli(db_url)("audit", "verify")
    assert result.exit_code == 0, result.output
    sql(
        Books(county, db_url, data, tmp_path),
        "UPDATE import_runs SET file_hash = :h",
        h="0" * 64,
    )
    result = Cli(db_url)("audit", "verify")
    assert result.exit_code == 8, result.output
    assert result.stdout.splitlines()[-1].startswith("import run 1 (log entry #")
    assert result.stdout.splitlines()[-1].endswith("): changed after it was logged")


def test_the_upgrade_logs_the_money_a_database_already_holds(
    paid_county: tuple[County, str, list[int]],  # noqa: F811
) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.orm import Session

    from aidflow.store import auditlog
    from aidflow.store.database import upgrade

    county_, _, _ = paid_county
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(auditlog.__file__).parent / "migrations"))
    with county_.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    upgrade(county_.engine)
    with Session(county_.engine) as s:
        check = auditlog.check(s)
        kinds = dict(
            s.execute(
                text("SELECT subject_table, count(*) FROM audit_log GROUP BY subject_table")
            ).all()
        )
    assert check.findings == []
    assert {t: kinds.get(t) for t in ("persons", "payment_runs", "payments")} == {
        "persons": 2,
        "payment_runs": 1,
        "payments": 3,
    }


@pytest.mark.parametrize(
    ("statement", "finding"),
    [
        ("UPDATE payments SET amount_fen = 6500000 WHERE id = 2", "set"),
        ("UPDATE payments SET person_id = 1 WHERE id = 3", "set"),
        ("DELETE FROM payments WHERE id = 2", "set"),
        ("UPDATE payments SET status = 'paid', bank_ref = 'B-9' WHERE id = 1", "payment 1"),
    ],
)
def test_a_payment_edited_after_the_run_before_any_export(
    paid_county: tuple[County, str, list[int]],  # noqa: F811
    statement: str,
    finding: str,
) -> None:
    """The run logs its page of payments as one entry: a payment of it edited, removed or
    marked paid behind the log's back, before anything else logged it again, is found."""
    county_, url, _ = paid_county
    assert Cli(url)("audit", "verify").exit_code == 0
    with county_.engine.begin() as conn:
        conn.execute(text(statement))
        entries = dict(
            conn.execute(
                text("SELECT subject_key, seq FROM audit_log WHERE subject_table = 'payment_sets'")
            ).all()
        )
    expected = {  # the run's pages: dibao (payment 1), tekun (payments 2 and 3)
        "set": f"payments 2 to 3 of payment run 1 (log entry #{entries['1/2..3']}): a row was "
        "changed, added or removed after they were logged",
        "payment 1": f"payment 1 (log entry #{entries['1/1..1']}): changed after it was logged",
    }
    tampered(Cli(url)("audit", "verify"), expected[finding])
