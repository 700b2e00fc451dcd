"""Payment runs, the bank file and reconciliation, on SQLite and PostgreSQL.

The tekun and temporary_assistance workflows here are small stand-ins with the shipped
field and state names (self_care, amount; supported, approved), so these tests do not
depend on the full workflows; dibao is a stand-in too, to skip its vote and notice.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aidflow.clock import FrozenClock
from aidflow.errors import ForbiddenError, InvalidInputError
from aidflow.language.calendar import WorkCalendar
from aidflow.language.loader import load_workflow_text
from aidflow.policy.standards import Policy, load_policy
from aidflow.services.cases import Service
from aidflow.services.payments import RunResult, parse_period, run_payments, to_fen, yuan
from aidflow.store import auditlog
from aidflow.store.models import Payment, PaymentRun

from .conftest import WORKFLOWS, bootstrap, without_banner

TZ = ZoneInfo("Asia/Shanghai")
POLICY = load_policy(WORKFLOWS / "policy")

_ROLES = """roles:
  township_caseworker: {zh: 乡镇经办人, en: Township caseworker}
  county_officer: {zh: 县民政局审核人, en: County officer}
"""

DIBAO = (
    """workflow: dibao
labels: {zh: 低保, en: Dibao}
"""
    + _ROLES
    + """fields:
  amount: {type: decimal}
states:
  county_review: {labels: {zh: 审核, en: Review}, initial: true, owner: county_officer,
    deadline: 30d}
  active: {labels: {zh: 享受, en: Active}, owner: township_caseworker, deadline: 12mo}
  periodic_review: {labels: {zh: 复核, en: Review}, owner: township_caseworker, deadline: 10d}
  exited: {labels: {zh: 退出, en: Exited}, final: true}
transitions:
  - {trigger: approve, source: county_review, dest: active, roles: [county_officer],
     fields: {amount: {}}}
  - {trigger: start_review, source: active, dest: periodic_review, roles: [township_caseworker]}
  - {trigger: keep, source: periodic_review, dest: active, roles: [township_caseworker]}
  - {trigger: adjust, source: periodic_review, dest: active, roles: [township_caseworker],
     fields: {amount: {}}}
  - {trigger: exit, source: [county_review, active, periodic_review], dest: exited,
     roles: [township_caseworker]}
"""
)

TEKUN = (
    """workflow: tekun
labels: {zh: 特困, en: Tekun}
"""
    + _ROLES
    + """fields:
  self_care: {type: str, choices: [full, partial, none]}
states:
  confirmation: {labels: {zh: 认定, en: Confirmation}, initial: true, owner: county_officer,
    deadline: 30d}
  supported: {labels: {zh: 供养, en: Supported}, owner: township_caseworker, deadline: 12mo}
  reassessment: {labels: {zh: 重新评估, en: Reassessment}, owner: county_officer, deadline: 10d}
  periodic_review: {labels: {zh: 年度复核, en: Periodic review}, owner: township_caseworker,
    deadline: 10d}
  termination_notice: {labels: {zh: 终止公示, en: Termination notice}, owner: township_caseworker,
    deadline: 7d}
  termination_objection: {labels: {zh: 终止异议, en: Termination objection}, owner: county_officer,
    deadline: 15d}
  terminated: {labels: {zh: 终止, en: Terminated}, final: true}
transitions:
  - {trigger: confirm, source: confirmation, dest: supported, roles: [county_officer],
     fields: {self_care: {}}}
  - {trigger: reassess, source: supported, dest: supported, roles: [township_caseworker],
     fields: {self_care: {}}}
  - {trigger: start_reassessment, source: supported, dest: reassessment,
     roles: [township_caseworker]}
  - {trigger: start_review, source: supported, dest: periodic_review, roles: [township_caseworker]}
  - {trigger: propose_termination, source: supported, dest: termination_notice,
     roles: [county_officer]}
  - {trigger: object, source: termination_notice, dest: termination_objection,
     roles: [township_caseworker]}
  - {trigger: keep, source: [reassessment, periodic_review, termination_objection], dest: supported,
     roles: [county_officer]}
  - {trigger: terminate, source: [confirmation, supported, termination_notice], dest: terminated,
     roles: [county_officer]}
"""
)

TEMPORARY = (
    """workflow: temporary_assistance
labels: {zh: 临时救助, en: Temporary assistance}
"""
    + _ROLES
    + """fields:
  amount: {type: decimal}
states:
  review: {labels: {zh: 审核, en: Review}, initial: true, owner: county_officer, deadline: 10d}
  approved: {labels: {zh: 已批准, en: Approved}, owner: township_caseworker, deadline: 30d}
  closed: {labels: {zh: 结案, en: Closed}, final: true}
transitions:
  - {trigger: approve, source: review, dest: approved, roles: [county_officer],
     fields: {amount: {}}}
  - {trigger: close, source: [review, approved], dest: closed, roles: [township_caseworker]}
"""
)


def id_number(seq: int) -> str:
    """A valid 18-character ID number (born 1950-01-01), distinct per `seq` (1..999)."""
    body = f"11010519500101{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


@dataclass
class County:
    engine: Engine
    clock: FrozenClock
    calendar: WorkCalendar
    persons: int = 0

    def run(self, fn):  # type: ignore[no-untyped-def]
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            return fn(Service(s, self.clock, self.calendar))

    def case(self, workflow: str, when: datetime, trigger: str, **fields: str) -> int:
        """A new person with a case of `workflow`, moved by `trigger` at `when`."""
        self.persons += 1
        idn = id_number(self.persons)
        self.clock.set(when)

        def go(svc: Service) -> int:
            svc.register_person(idn, f"居民{self.persons}", "城关镇", "东村", "rural")
            case = svc.open_case(svc.actor("sun"), idn, workflow)
            svc.fire(svc.actor("sun"), case.id, trigger, fields)
            return case.id

        return int(self.run(go))

    def fire(self, when: datetime, user: str, case_id: int, trigger: str, **fields: str) -> None:
        self.clock.set(when)
        self.run(lambda svc: svc.fire(svc.actor(user), case_id, trigger, fields))

    def pay(
        self, when: datetime, period: str, actor: str = "sun", policy: Policy = POLICY
    ) -> RunResult:
        self.clock.set(when)
        return self.run(
            lambda svc: run_payments(svc.session, svc.clock, policy, period, actor=actor, tz=TZ)
        )  # type: ignore[no-any-return]

    def rows(self, period: str | None = None) -> list[tuple[int, str, str, int, bool]]:
        with Session(self.engine) as s:
            stmt = select(Payment).order_by(Payment.case_id, Payment.kind, Payment.period)
            if period:
                stmt = stmt.where(Payment.period == period)
            return [
                (p.case_id, p.kind, p.period, p.amount_fen, bool(p.basis.get("arrears")))
                for p in s.scalars(stmt)
            ]


@pytest.fixture
def county(engine: Engine, calendar: WorkCalendar) -> County:
    c = County(engine, FrozenClock(at(2023, 6, 1, 9, 0)), calendar)

    def setup(svc: Service) -> None:
        bootstrap(svc, deploy=False)
        for text, name in ((DIBAO, "dibao"), (TEKUN, "tekun"), (TEMPORARY, "temporary_assistance")):
            svc.deploy("admin", load_workflow_text(text, f"{name}.yaml"))
        svc.add_user("admin", "sun", ["county_officer"], "*", "sun@county.example")
        svc.add_user("admin", "li", ["township_caseworker"], "城关镇", "li@county.example")

    c.run(setup)
    return c


# -- money ----------------------------------------------------------------------------------


def test_fen_conversion_is_exact_and_rounds_half_up_once() -> None:
    assert to_fen(Decimal("820.00")) == 82000
    assert to_fen(Decimal("2.675")) == 268  # float(2.675) * 100 would give 267
    assert to_fen(Decimal("0.005")) == 1
    assert to_fen(Decimal("0.0049")) == 0
    assert yuan(82000) == "820.00" and yuan(5) == "0.05" and yuan(-105) == "-1.05"
    assert parse_period("2023-09") == 2023 * 12 + 8
    for bad in ("2023-13", "2023-9", "23-09", "2023-00"):
        with pytest.raises(InvalidInputError) as exc:
            parse_period(bad)
        assert str(exc.value) == f"--period {bad!r} is not a month\n  hint: write it like 2023-09"


# -- the monthly runs -----------------------------------------------------------------------


def test_runs_over_months_with_approvals_exits_arrears_and_a_new_year(county: County) -> None:
    early = county.case(
        "dibao", at(2023, 6, 10, 10), "approve", amount="500.00"
    )  # first month July
    a = county.case("dibao", at(2023, 7, 15, 10), "approve", amount="650.00")
    b = county.case("tekun", at(2023, 7, 20, 10), "confirm", self_care="partial")
    same_month = county.case("dibao", at(2023, 7, 3, 10), "approve", amount="300.00")
    county.fire(
        at(2023, 7, 28, 10), "li", same_month, "exit"
    )  # approved and left in July: never paid

    first = county.pay(at(2023, 8, 1, 9), "2023-08")
    assert (first.created, first.arrears, first.total_fen, first.skipped) == (
        4,
        0,
        50000 + 65000 + 102000 + 40000,
        [],
    )
    assert county.rows() == [
        (early, "dibao", "2023-08", 50000, False),  # July was before the first run: not created
        (a, "dibao", "2023-08", 65000, False),
        (b, "basic_living_allowance", "2023-08", 102000, False),
        (b, "care_allowance", "2023-08", 40000, False),
    ]
    again = county.pay(at(2023, 8, 2, 9), "2023-08")
    assert (again.created, again.total_fen) == (0, 0)

    c = county.case("dibao", at(2023, 8, 10, 10), "approve", amount="700.00")
    d = county.case("temporary_assistance", at(2023, 8, 12, 10), "approve", amount="2340.00")
    sept = county.pay(at(2023, 8, 25, 9), "2023-09")  # run early, before the month
    assert (sept.created, sept.arrears) == (6, 0)
    e = county.case(
        "tekun", at(2023, 8, 28, 10), "confirm", self_care="none"
    )  # missed the September run
    county.fire(at(2023, 9, 15, 10), "li", a, "start_review")
    county.fire(at(2023, 9, 16, 10), "li", a, "adjust", amount="680.00")  # from October
    county.fire(at(2023, 9, 18, 10), "li", b, "reassess", self_care="none")  # from October

    octo = county.pay(at(2023, 10, 1, 9), "2023-10")
    assert (octo.created, octo.arrears) == (9, 2)
    assert octo.by_kind == {"dibao": 3, "basic_living_allowance": 3, "care_allowance": 3}
    assert county.rows("2023-09") == [
        (early, "dibao", "2023-09", 50000, False),
        (a, "dibao", "2023-09", 65000, False),  # the review month is still paid, at the old amount
        (b, "basic_living_allowance", "2023-09", 102000, False),
        (b, "care_allowance", "2023-09", 40000, False),
        (c, "dibao", "2023-09", 70000, False),
        (d, "temporary_assistance", "2023-09", 234000, False),
        (e, "basic_living_allowance", "2023-09", 102000, True),  # arrears from the October run
        (e, "care_allowance", "2023-09", 80000, True),
    ]
    assert county.rows("2023-10") == [
        (early, "dibao", "2023-10", 50000, False),
        (a, "dibao", "2023-10", 68000, False),
        (b, "basic_living_allowance", "2023-10", 102000, False),
        (b, "care_allowance", "2023-10", 80000, False),
        (c, "dibao", "2023-10", 70000, False),
        (e, "basic_living_allowance", "2023-10", 102000, False),
        (e, "care_allowance", "2023-10", 80000, False),
    ]  # temporary assistance is paid once
    county.fire(at(2023, 10, 20, 10), "li", a, "exit")  # October is still paid, November is not
    county.fire(at(2023, 10, 21, 10), "sun", b, "terminate")
    nov = county.pay(at(2023, 11, 1, 9), "2023-11")
    assert sorted({(r[0], r[1]) for r in county.rows("2023-11")}) == [
        (early, "dibao"),
        (c, "dibao"),
        (e, "basic_living_allowance"),
        (e, "care_allowance"),
    ]
    assert nov.created == 4
    county.pay(at(2023, 12, 1, 9), "2023-12")
    jan = county.pay(at(2024, 1, 1, 9), "2024-01")  # the 2024 standards are in force
    assert county.rows("2024-01") == [
        (early, "dibao", "2024-01", 50000, False),
        (c, "dibao", "2024-01", 70000, False),
        (e, "basic_living_allowance", "2024-01", 107000, False),
        (e, "care_allowance", "2024-01", 84000, False),
    ]
    assert jan.total_fen == 50000 + 70000 + 107000 + 84000
    # a late re-run of a past period keeps that period's standard and creates nothing new
    assert county.pay(at(2024, 1, 2, 9), "2023-12").created == 0
    assert county.rows("2023-12")[2] == (e, "basic_living_allowance", "2023-12", 102000, False)
    with Session(county.engine) as s:
        assert s.scalar(select(func.count()).select_from(PaymentRun)) == 8
        assert all(r.finished_at is not None for r in s.scalars(select(PaymentRun)))
        # every run and payment, arrears included, is in the audit log as the database holds it
        assert auditlog.check(s).findings == []


def test_months_start_at_local_midnight_and_pages_split_between_any_cases(county: County) -> None:
    """An approval's month is the county's local month (the database compares the instant with
    local midnights), and a run a case or two per page over interleaved workflows pays the same."""
    last_minute = county.case(
        "dibao", at(2023, 7, 31, 23, 59), "approve", amount="500.00"
    )  # July: from August
    t = county.case("tekun", at(2023, 7, 31, 23, 59, 30), "confirm", self_care="full")
    first_minute = county.case(
        "dibao", at(2023, 8, 1, 0, 0), "approve", amount="600.00"
    )  # July in UTC: from Sept.

    def pay(when: datetime, period: str, size: int) -> RunResult:
        def go(svc: Service) -> RunResult:
            return run_payments(
                svc.session, svc.clock, POLICY, period, actor="sun", tz=TZ, batch_size=size
            )

        county.clock.set(when)
        return county.run(go)  # type: ignore[no-any-return]

    def tekun(month: str) -> list[tuple[int, str, str, int, bool]]:
        on = datetime.strptime(month + "-01", "%Y-%m-%d").date()
        return [
            (
                t,
                "basic_living_allowance",
                month,
                to_fen(POLICY.value("basic_living_allowance", on)),
                False,
            ),
            (t, "care_allowance", month, to_fen(POLICY.value("care_allowance_full", on)), False),
        ]

    aug = pay(at(2023, 8, 1, 9), "2023-08", 2)
    assert county.rows("2023-08") == [
        (last_minute, "dibao", "2023-08", 50000, False),
        *tekun("2023-08"),
    ]
    assert (aug.created, aug.arrears) == (3, 0)
    late = county.case(
        "dibao", at(2023, 8, 31, 23, 59, 59), "approve", amount="700.00"
    )  # August: from September
    county.case(
        "dibao", at(2023, 9, 1, 0, 0), "approve", amount="800.00"
    )  # September: from October
    sept = pay(at(2023, 9, 1, 9), "2023-09", 1)
    assert county.rows("2023-09") == [
        (last_minute, "dibao", "2023-09", 50000, False),
        *tekun("2023-09"),
        (first_minute, "dibao", "2023-09", 60000, False),
        (late, "dibao", "2023-09", 70000, False),
    ]
    assert (sept.created, sept.arrears, sept.by_kind) == (
        5,
        0,
        {"dibao": 3, "basic_living_allowance": 1, "care_allowance": 1},
    )


def test_only_county_roles_run_payments_and_a_bad_case_is_skipped_not_fatal(county: County) -> None:
    with pytest.raises(ForbiddenError) as exc:
        county.pay(at(2023, 8, 1, 9), "2023-08", actor="li")
    assert (
        str(exc.value)
        == "a payment run needs role county_officer or admin; li has township_caseworker"
    )
    b = county.case("tekun", at(2023, 7, 20, 10), "confirm", self_care="partial")
    broken = Policy(
        POLICY.file,
        POLICY.standards,
        {
            "care_allowance": POLICY.payments["care_allowance"].__class__(
                "care_allowance",
                "tekun",
                ("supported",),
                tier_field="self_care",
                tiers=(("full", "care_allowance_full"),),
            )
        },
    )
    result = county.pay(at(2023, 8, 1, 9), "2023-08", policy=broken)
    assert result.created == 0
    assert result.skipped == [
        f"case {b} care_allowance 2023-08: self_care is 'partial', not one of full"
    ]


def test_policy_states_must_exist_in_the_deployed_workflow(county: County) -> None:
    kind = POLICY.payments["dibao"]
    wrong = Policy(
        POLICY.file,
        POLICY.standards,
        {"dibao": kind.__class__("dibao", "dibao", ("actve",), amount_field="amount")},
    )
    with pytest.raises(InvalidInputError) as exc:
        county.pay(at(2023, 8, 1, 9), "2023-08", policy=wrong)
    assert str(exc.value) == (
        "the policy's payments do not match the deployed workflows:\n"
        f"  {POLICY.file}: payments.dibao.paid_states: workflow dibao has no state 'actve'; "
        "did you mean 'active'?"
        "\n  hint: fix the policy file or deploy the workflow"
    )


def test_sums_of_many_payments_are_exact_fen(county: County) -> None:
    amounts = ["0.01", "123.45", "333.33", "999.99", "0.10", "2.675"]
    for i in range(36):
        county.case("dibao", at(2023, 7, 1, 10, i), "approve", amount=amounts[i % len(amounts)])
    result = county.pay(at(2023, 8, 1, 9), "2023-08")
    expected = sum(to_fen(Decimal(a)) for a in amounts) * 6
    assert (result.created, result.total_fen) == (36, expected)
    with Session(county.engine) as s:
        # a sum of BIGINT is NUMERIC on PostgreSQL (a Decimal): exact, made an int here
        total = int(s.scalar(select(func.sum(Payment.amount_fen))) or 0)
    assert total == expected
    assert yuan(total) == "8757.36"  # (0.01 + 123.45 + 333.33 + 999.99 + 0.10 + 2.68) * 6, exactly


# -- the CLI: run, export, reconcile ----------------------------------------------------------


def cli(
    url: str,
    *args: str,
    user: str = "sun",
    now: str = "2023-08-02T09:00",
    env: dict[str, str | None] | None = None,
) -> Result:
    from aidflow.cli.main import cli as main

    clean: dict[str, str | None] = {
        k: None
        for k in (
            "AIDFLOW_USER",
            "AIDFLOW_LANG",
            "AIDFLOW_NOW",
            "AIDFLOW_DATABASE_URL",
            "AIDFLOW_WORKFLOWS",
            "AIDFLOW_SMTP_HOST",
            "AIDFLOW_PAYMENT_DAY",
        )
    }
    clean.update(env or {})
    return without_banner(
        CliRunner().invoke(
            main,
            ["--db", url, "--now", now, "--as", user, *args],
            env=clean,
            catch_exceptions=False,
        )
    )


@pytest.fixture
def paid_county(county: County, db_url: str) -> tuple[County, str, list[int]]:
    a = county.case("dibao", at(2023, 7, 15, 10), "approve", amount="650.00")
    b = county.case("tekun", at(2023, 7, 20, 10), "confirm", self_care="full")
    result = cli(db_url, "payments", "run", "--period", "2023-08")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "payment run 1 for 2023-08: 3 payment(s) created (0 arrears), 1770.00 yuan; "
        "basic_living_allowance 1, care_allowance 1, dibao 1\n"
    )
    return county, db_url, [a, b]


def test_cli_run_is_for_county_roles_and_idempotent(
    paid_county: tuple[County, str, list[int]],
) -> None:
    _, url, _ = paid_county
    result = cli(url, "payments", "run", "--period", "2023-08", "--json")
    assert result.exit_code == 0
    assert '"created": 0' in result.stdout
    result = cli(url, "payments", "run", "--period", "2023-08", user="li")
    assert result.exit_code == 5
    assert result.stderr == (
        "error: a payment run needs role county_officer or admin; li has township_caseworker\n"
    )
    result = cli(url, "payments", "run", "--period", "2023-8")
    assert (result.exit_code, result.stderr) == (
        3,
        ("error: --period '2023-8' is not a month\n  hint: write it like 2023-09\n"),
    )
    # in Chinese: the summary, the refusal and the hint
    result = cli(url, "--lang", "zh", "payments", "run", "--period", "2023-08")
    assert result.stdout == "第 3 次发放（2023-08）：生成 0 笔发放（其中补发 0 笔），共 0.00 元\n"
    result = cli(url, "--lang", "zh", "payments", "run", "--period", "2023-8")
    assert (result.exit_code, result.stderr) == (
        3,
        "错误：--period “2023-8”不是月份\n  提示：请写成 2023-09 这样的格式\n",
    )


def test_export_csv_and_reconcile_with_every_problem_listed(
    paid_county: tuple[County, str, list[int]], tmp_path: Path
) -> None:
    county, url, _ = paid_county
    out = tmp_path / "bank.csv"
    result = cli(
        url, "payments", "export", "--period", "2023-08", "--format", "csv", "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"exported 3 payment(s) for 2023-08, 1770.00 yuan, to {out} (batch 1)\n"
    )
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["reference", "name", "id_number", "amount_yuan", "kind", "period"],
        ["1", "居民1", id_number(1), "650.00", "dibao", "2023-08"],
        ["2", "居民2", id_number(2), "1020.00", "basic_living_allowance", "2023-08"],
        ["3", "居民2", id_number(2), "100.00", "care_allowance", "2023-08"],
    ]
    assert {r[1] for r in county.rows()} == {"dibao", "basic_living_allowance", "care_allowance"}
    with Session(county.engine) as s:
        assert set(s.scalars(select(Payment.status))) == {"exported"}

    answer = tmp_path / "answer.csv"
    i1, i2 = id_number(1), id_number(2)
    answer.write_text(
        "reference,status,reason,amount_yuan,id_number\n"
        f"1,paid,,650.00,{i1}\n2,failed,,1020.00,{i2}\n3,ok,,100.00,{i2}\n99,paid,,1.00,{i1}\n"
        f"abc,paid,,1.00,{i1}\n1,paid,,650.00,{i1}\n",
        encoding="utf-8",
    )
    result = cli(url, "payments", "reconcile", str(answer))
    assert result.exit_code == 3
    assert result.stderr == (
        f"error: {answer}: 5 problem(s); nothing was recorded:\n"
        f"  {answer}:3: a failed payment needs a reason\n"
        f"  {answer}:4: status 'ok' is not paid or failed\n"
        f"  {answer}:5: reference 99 matches no payment (unmatched)\n"
        f"  {answer}:6: reference 'abc' is not a payment id (a whole number from the export, "
        "in ASCII digits 0-9)\n"
        f"  {answer}:7: payment 1 is also on line 2\n"
        "  hint: fix the file (or ask the bank for a corrected one) and run reconcile again\n"
    )
    with Session(county.engine) as s:
        assert set(s.scalars(select(Payment.status))) == {"exported"}  # nothing changed

    answer.write_text(
        "Reference,Status,Reason,bank_ref,Amount_Yuan,ID_number\n"
        f"1,paid,,B-1,650.00,{i1}\n2,failed,account closed,B-2,1020,{i2}\n3,PAID,,,100.0,{i2}\n",
        encoding="utf-8",
    )
    result = cli(url, "payments", "reconcile", str(answer), now="2023-08-10T09:00")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{answer}: 2 paid, 1 failed, 0 already recorded\n"
    with Session(county.engine) as s:
        got = [
            (p.id, p.status, p.failure_reason, p.bank_ref, p.settled_at)
            for p in s.scalars(select(Payment).order_by(Payment.id))
        ]
    settled = at(2023, 8, 10, 9).astimezone(ZoneInfo("UTC"))
    assert got == [
        (1, "paid", None, "B-1", settled),
        (2, "failed", "account closed", "B-2", settled),
        (3, "paid", None, None, settled),
    ]
    answer.write_text(
        f"reference,status,reason,amount_yuan,id_number\n1,paid,,650.00,{i1}\n"
        f"2,paid,,1020.00,{i2}\n",
        encoding="utf-8",
    )
    result = cli(url, "payments", "reconcile", str(answer))
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"error: {answer}: 1 problem(s); nothing was recorded:\n"
        f"  {answer}:3: payment 2 is already recorded as failed; the file says paid\n"
    )
    result = cli(
        url, "payments", "export", "--period", "2023-08", "--output", str(tmp_path / "again.csv")
    )
    assert result.exit_code == 4
    assert result.stderr == (
        "error: no payments for 2023-08 wait to be exported; batch(es) 1 hold the exported ones\n"
        "  hint: to write a batch's file again: aidflow payments export --batch 1\n"
    )
    assert not (tmp_path / "again.csv").exists()


def test_export_xlsx_and_reconcile_xlsx(
    paid_county: tuple[County, str, list[int]], tmp_path: Path
) -> None:
    from openpyxl import Workbook, load_workbook

    county, url, _ = paid_county
    out = tmp_path / "bank.xlsx"
    result = cli(
        url, "payments", "export", "--period", "2023-08", "--format", "xlsx", "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    wb = load_workbook(out, read_only=True)
    assert [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)] == [
        ["Payment list"],
        ["No.", "reference", "name", "id_number", "amount_yuan", "kind", "period"],
        [1, "1", "居民1", id_number(1), 650, "dibao", "2023-08"],  # money as numbers
        [2, "2", "居民2", id_number(2), 1020, "basic_living_allowance", "2023-08"],
        [3, "3", "居民2", id_number(2), 100, "care_allowance", "2023-08"],
    ]
    wb.close()
    # in Chinese: the headers people read, references and ID numbers as text, money 0.00
    zh = tmp_path / "bank-zh.xlsx"
    result = cli(
        url, "--lang", "zh", "payments", "export", "--batch", "1", "--format", "xlsx",
        "--output", str(zh),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    wb = load_workbook(zh)
    ws = wb.worksheets[0]
    assert ws["A1"].value == "社会救助资金发放清单" and ws["A1"].font.b
    assert [c.value for c in ws[2]] == [
        "序号",
        "业务编号",
        "姓名",
        "身份证号",
        "金额（元）",
        "类别",
        "所属期",
    ]
    assert ws["D3"].number_format == "@" and ws["B3"].number_format == "@"
    assert ws["E3"].number_format == "0.00" and ws["E3"].value == 650
    assert [ws[f"F{r}"].value for r in range(3, 6)] == ["低保金", "基本生活费", "照料护理费"]

    assert sum(ws[f"E{r}"].value for r in range(3, 6)) == 1770
    assert ws.freeze_panes == "A3" and ws.print_title_rows == "$1:$2"
    assert ws.page_setup.orientation == "landscape"
    wb.close()
    result = cli(url, "payments", "export", "--period", "2023-08", "--output", str(out), user="li")
    assert result.exit_code == 5

    answer = tmp_path / "answer.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (
        ["reference", "status", "reason", "amount_yuan", "id_number"],
        [1, "paid", None, 650, id_number(1)],
        [2.0, "paid", None, "1020.00", id_number(2)],
        [7, "paid", None, 1, id_number(2)],
    ):
        sheet.append(row)
    book.save(answer)
    result = cli(url, "payments", "reconcile", str(answer))
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"error: {answer}: 1 problem(s); nothing was recorded:\n"
        f"  {answer}:4: reference 7 matches no payment (unmatched)\n"
    )
    sheet.delete_rows(4)
    sheet.append([3, "paid", None, 100.0, id_number(2)])
    book.save(answer)
    result = cli(url, "payments", "reconcile", str(answer))
    assert result.exit_code == 0, result.output
    with Session(county.engine) as s:
        assert list(s.scalars(select(Payment.status).order_by(Payment.id))) == [
            "paid",
            "paid",
            "paid",
        ]

    bad = tmp_path / "bad.csv"
    bad.write_text("ref,state\n1,paid\n", encoding="utf-8")
    result = cli(url, "payments", "reconcile", str(bad))
    assert (result.exit_code, result.stderr) == (
        3,
        (
            f"error: {bad}:1: the header lacks column(s) reference, status, reason, "
            "amount_yuan, id_number (found: ref, state); nothing was recorded\n"
            "  hint: the first row names the columns: "
            "reference,status,reason,amount_yuan,id_number\n"
        ),
    )


def test_scheduled_run_on_or_after_the_payment_day_once(county: County, db_url: str) -> None:
    a = county.case("dibao", at(2023, 8, 15, 10), "approve", amount="650.00")
    env = {"AIDFLOW_PAYMENT_DAY": "5"}
    result = cli(db_url, "scheduler", "tick", now="2023-09-04T09:00", env=env)
    assert result.exit_code == 0, result.output
    assert "payment run" not in result.stdout
    result = cli(db_url, "scheduler", "tick", now="2023-09-05T09:00", env=env)
    assert (
        "payment run 1 for 2023-09: 1 payment(s) created (0 arrears), 650.00 yuan; dibao 1\n"
        in result.stdout
    ), result.stdout
    result = cli(db_url, "scheduler", "tick", now="2023-09-20T09:00", env=env)
    assert "payment run" not in result.stdout
    assert county.rows() == [(a, "dibao", "2023-09", 65000, False)]
    result = cli(
        db_url, "scheduler", "tick", now="2023-09-20T09:00", env={"AIDFLOW_PAYMENT_DAY": "31"}
    )
    assert (result.exit_code, result.stderr) == (
        3,
        "error: AIDFLOW_PAYMENT_DAY='31' is not a day from 1 to 28\n",
    )


def test_the_readme_payments_commands_work(
    county: County, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    from .test_readme import fenced, section

    county.case("dibao", at(2023, 8, 15, 10), "approve", amount="650.00")
    county.case("tekun", at(2023, 8, 16, 10), "confirm", self_care="none")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bank-answer-2023-09.csv").write_text(
        "reference,status,reason,amount_yuan,id_number\n"
        f"1,paid,,650.00,{id_number(1)}\n2,paid,,1020.00,{id_number(2)}\n"
        f"3,failed,account frozen,800.00,{id_number(2)}\n",
        encoding="utf-8",
    )
    (block,) = fenced(section("Payments"))
    outputs = []
    for line in block.splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[:3] == ["aidflow", "--as", "sun"], line
        result = cli(db_url, *argv[3:], now="2023-09-05T09:00")
        assert result.exit_code == 0, f"README command failed: {line}\n{result.output}"
        outputs.append(result.stdout)
    assert outputs == [
        "payment run 1 for 2023-09: 3 payment(s) created (0 arrears), 2470.00 yuan; "
        "basic_living_allowance 1, care_allowance 1, dibao 1\n",
        "exported 3 payment(s) for 2023-09, 2470.00 yuan, to bank-2023-09.xlsx (batch 1)\n",
        "bank-answer-2023-09.csv: 2 paid, 1 failed, 0 already recorded\n",
    ]
