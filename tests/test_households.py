"""Households (户) and the dibao amount the engine computes, end to end through the CLI.

A three-member household with recorded incomes gets the computed amount (checked against
the same rule worked out here with fractions); an income change at review changes the
amount only after the county approves it, by someone other than the proposer; a second
dibao case for the household, and dibao for a person under extreme-poverty support, are
refused naming the other case; an amount above the policy's ceiling is refused when set
and not paid at the payment run; bad input changes nothing (exit 3).
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from click.testing import Result
from sqlalchemy import text
from sqlalchemy.orm import Session

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.policy.standards import load_policy
from aidflow.services.payments import run_payments
from aidflow.store.database import make_engine

from .conftest import WORKFLOWS, Cli
from .test_cli import dump, fails, ok, setup_county
from .test_programmes import id_number

TZ = ZoneInfo("Asia/Shanghai")
HEAD = id_number("19600304", "011")
SPOUSE = id_number("19620715", "022")
CHILD = id_number("20050101", "031")
APART = id_number("19850505", "041")  # a son who lives elsewhere: not counted
ELDER = id_number("19450203", "051")
RURAL_2023 = Fraction(560)  # standards.yaml: rural_dibao_standard from 2023-01-01
RURAL_2024 = Fraction(600)  # ... from 2024-01-01


def expected_amount(standard: Fraction, incomes_yuan: list[str]) -> str:
    """The rule, worked out independently: (standard - per-capita income) x members,
    rounded up to the whole yuan (standards.yaml `amounts.dibao`)."""
    incomes = [Fraction(Decimal(x)) for x in incomes_yuan]
    per_capita = sum(incomes, Fraction(0)) / len(incomes)
    return f"{math.ceil((standard - per_capita) * len(incomes))}.00"


def add_person(run_cli: Cli, number: str, name: str, *extra: str) -> None:
    args = ("--name", name, "--township", "城关镇", "--village", "东村", "--hukou", "rural")
    ok(run_cli("person", "add", number, *args, *extra, user="li"))


def fire(
    run_cli: Cli, user: str, cid: int, trigger: str, now: str, *fields: str, note: str = ""
) -> Result:
    args = ["case", "fire", str(cid), trigger]
    for f in fields:
        args += ["--field", f]
    if note:
        args += ["--note", note]
    return run_cli(*args, user=user, now=now)


def data(run_cli: Cli, cid: int, now: str) -> dict[str, Any]:
    view = json.loads(ok(run_cli("case", "show", str(cid), "--json", user="sun", now=now)))
    assert isinstance(view, dict)
    return dict(view["data"], state=view["state"])


def dibao_to_county_review(run_cli: Cli, number: str, cid: int, day: int) -> None:
    """Open case `cid` for `number` on 2023-08-`day` and take it to county review a week on."""
    at = f"2023-08-{day:02d}T"
    ok(run_cli("case", "open", number, "--workflow", "dibao", user="li", now=at + "09:00"))
    ok(fire(run_cli, "li", cid, "accept", at + "09:10"))
    ok(fire(run_cli, "li", cid, "start_investigation", at + "09:20", "investigators=li,zhao"))
    ok(
        fire(
            run_cli,
            "li",
            cid,
            "submit_findings",
            at + "09:30",
            "monthly_income=0",
            "income_stable=yes",
            note="household visit",
        )
    )
    for i in range(1, 6):
        ok(run_cli("case", "vote", str(cid), "yes", user=f"rep{i}", now=at + "10:00"))
    ok(fire(run_cli, "chen", cid, "review_passed", at + "10:30"))
    ok(fire(run_cli, "li", cid, "close_notice", f"2023-08-{day + 7:02d}T10:30"))


def household_of_three(run_cli: Cli) -> None:
    """The county, household 1 (head, spouse, child living together; a son living apart)
    with the incomes found at investigation, and a user holding both roles."""
    setup_county(run_cli)
    names = {HEAD: "张建国", SPOUSE: "李秀兰", CHILD: "张小明", APART: "张大明"}
    for number, name in names.items():
        add_person(run_cli, number, name)
    ok(
        run_cli(
            "user",
            "add",
            "qian",
            "--role",
            "township_caseworker",
            "--role",
            "county_officer",
            "--area",
            "*",
            "--email",
            "qian@county.example",
            user="admin",
        )
    )
    assert ok(run_cli("household", "add", HEAD, user="li")) == (
        f"household 1 registered in 城关镇/东村; head 张建国 ({mask(HEAD)})\n"
    )
    assert ok(
        run_cli("household", "member", "1", SPOUSE, "--relationship", "spouse", user="li")
    ) == (f"李秀兰 ({mask(SPOUSE)}) added to household 1 as spouse\n")
    ok(run_cli("household", "member", "1", CHILD, "--relationship", "child", user="li"))
    assert ok(
        run_cli("household", "member", "1", APART, "--relationship", "child", "--apart", user="li")
    ) == (f"张大明 ({mask(APART)}) added to household 1 as child (not living together)\n")
    for number, amount in ((HEAD, "300.00"), (SPOUSE, "200.50"), (CHILD, "0"), (APART, "5000")):
        ok(run_cli("household", "income", "1", number, amount, user="li", now="2023-08-01T09:05"))


def mask(number: str) -> str:
    return number[:3] + "*" * 11 + number[-4:]


def test_a_three_member_household_gets_the_computed_amount(run_cli: Cli) -> None:
    household_of_three(run_cli)
    expected = expected_amount(RURAL_2023, ["300.00", "200.50", "0"])
    assert expected == "1180.00"

    shown = ok(run_cli("household", "show", "1", user="li", now="2023-08-01T10:00"))
    assert shown == (
        "Household 1  城关镇/东村\n"
        "Members:\n"
        f"  张建国  {mask(HEAD)}  head of household  lives together  300.00 "
        "(recorded by li at 2023-08-01 09:05)\n"
        f"  李秀兰  {mask(SPOUSE)}  spouse  lives together  200.50 "
        "(recorded by li at 2023-08-01 09:05)\n"
        f"  张小明  {mask(CHILD)}  child  lives together  0.00 "
        "(recorded by li at 2023-08-01 09:05)\n"
        f"  张大明  {mask(APART)}  child  not living together  5000.00 "
        "(recorded by li at 2023-08-01 09:05)\n"
        "Dibao figures today: members covered 3, per-capita monthly income 166.83, "
        "standard 560.00, computed monthly amount 1180.00, ceiling 6000.00\n"
    )
    zh = ok(run_cli("--lang", "zh", "household", "show", "1", user="li", now="2023-08-01T10:00"))
    for label in ("家庭户 1", "家庭成员:", "户主", "配偶", "子女", "共同生活", "非共同生活"):
        assert label in zh
    assert "今日低保测算: 保障人数 3" in zh

    dibao_to_county_review(run_cli, HEAD, 1, 1)
    before = dump(run_cli.url)
    fails(
        fire(run_cli, "sun", 1, "approve", "2023-08-09T09:00", "amount=2000"),
        3,
        "error: 'approve' computes field 'amount'; it cannot be given\n"
        "  hint: leave out --field amount=...: the engine sets it from household.dibao_amount\n",
    )
    assert dump(run_cli.url) == before
    ok(fire(run_cli, "sun", 1, "approve", "2023-08-09T09:00"))
    got = data(run_cli, 1, "2023-08-09T10:00")
    assert (got["state"], got["amount"], got["members_covered"], got["per_capita_income"]) == (
        "active",
        expected,
        3,
        "166.83",
    )

    # the payment run pays it, and refuses (reporting the case) what exceeds the ceiling
    engine = make_engine(run_cli.url)
    try:
        policy = load_policy(WORKFLOWS / "policy")
        ceiling = policy.standards["dibao_household_ceiling"]
        low = dataclasses.replace(ceiling, values=((date(2023, 1, 1), Decimal("1000.00")),))
        lowered = dataclasses.replace(
            policy, standards={**policy.standards, "dibao_household_ceiling": low}
        )
        clock = FrozenClock(datetime(2023, 9, 1, 9, 0, tzinfo=TZ))
        with Session(engine) as s:
            result = run_payments(s, clock, lowered, "2023-09", actor="sun", tz=TZ)
            s.rollback()
        assert result.created == 0
        assert result.skipped == [
            "case 1 dibao 2023-09: amount 1180.00 is above the ceiling 1000.00 "
            "(dibao_household_ceiling); not paid"
        ]
        with Session(engine) as s, s.begin():
            result = run_payments(s, clock, policy, "2023-09", actor="sun", tz=TZ)
            assert (result.created, result.total_fen, result.skipped) == (1, 118000, [])
    finally:
        engine.dispose()


def test_an_income_change_at_review_takes_effect_only_when_another_person_approves_it(
    run_cli: Cli, calendar: WorkCalendar
) -> None:
    household_of_three(run_cli)
    dibao_to_county_review(run_cli, HEAD, 1, 1)
    ok(fire(run_cli, "sun", 1, "approve", "2023-08-09T09:00"))

    # next spring the child has found work; the standard has risen to 600.00
    ok(fire(run_cli, "li", 1, "start_review", "2024-03-01T09:00"))
    ok(run_cli("household", "income", "1", CHILD, "800.00", user="li", now="2024-03-01T10:00"))
    new = expected_amount(RURAL_2024, ["300.00", "200.50", "800.00"])
    assert new == "500.00"
    # the caseworker cannot set it alone: 'adjust' is gone, an amount is never typed
    fails(
        fire(run_cli, "li", 1, "adjust", "2024-03-01T11:00", "amount=88888.89", note="x"),
        6,
    )
    ok(fire(run_cli, "qian", 1, "propose_amount", "2024-03-01T11:00", note="child works"))
    got = data(run_cli, 1, "2024-03-01T11:30")
    assert (got["amount"], got["proposed_amount"], got["state"]) == (
        "1180.00",
        new,
        "periodic_review",
    )
    # the proposer, although a county officer too, may not approve it
    before = dump(run_cli.url)
    fails(
        fire(run_cli, "qian", 1, "approve_amount", "2024-03-02T09:00"),
        6,
        "error: cannot approve_amount case 1: qian fired 'propose_amount' on this case; "
        "'approve_amount' must be done by someone else (separation of duties)\n",
    )
    fails(
        fire(run_cli, "li", 1, "approve_amount", "2024-03-02T09:00"),
        6,
        "error: cannot approve_amount case 1: needs role county_officer; li has "
        "township_caseworker\n",
    )
    # nor can the review be closed past a pending proposal
    fails(fire(run_cli, "li", 1, "keep", "2024-03-02T09:00"), 6)
    assert dump(run_cli.url) == before
    assert data(run_cli, 1, "2024-03-02T09:30")["amount"] == "1180.00"

    ok(fire(run_cli, "sun", 1, "approve_amount", "2024-03-02T10:00"))
    got = data(run_cli, 1, "2024-03-02T10:30")
    assert (got["state"], got["amount"], got["proposed_amount"]) == ("active", new, None)


def test_an_amount_above_the_ceiling_is_refused_and_changes_nothing(run_cli: Cli) -> None:
    household_of_three(run_cli)
    dibao_to_county_review(run_cli, HEAD, 1, 1)
    ok(fire(run_cli, "sun", 1, "approve", "2023-08-09T09:00"))
    ok(fire(run_cli, "li", 1, "start_review", "2024-03-01T09:00"))
    before = dump(run_cli.url)
    err = fails(
        fire(
            run_cli,
            "li",
            1,
            "propose_other_amount",
            "2024-03-01T10:00",
            "proposed_amount=88888.89",
            "amount_reason=medical costs",
            note="asked by the family",
        ),
        6,
    )
    assert err.startswith(
        "error: cannot propose_other_amount case 1: proposed_amount 88888.89 is above the "
        "ceiling 6000.00 (dibao_household_ceiling in force on 2024-03-01, "
    )
    assert dump(run_cli.url) == before
    # within the ceiling, a different amount with its reason waits for the county
    ok(
        fire(
            run_cli,
            "li",
            1,
            "propose_other_amount",
            "2024-03-01T10:00",
            "proposed_amount=900.00",
            "amount_reason=medical costs",
            note="asked by the family",
        )
    )
    got = data(run_cli, 1, "2024-03-01T10:30")
    assert (got["amount"], got["proposed_amount"], got["computed_amount"]) == (
        "1180.00",
        "900.00",
        expected_amount(RURAL_2024, ["300.00", "200.50", "0"]),  # 1300.00 at the 2024 standard
    )
    ok(fire(run_cli, "sun", 1, "approve_amount", "2024-03-02T10:00"))
    assert data(run_cli, 1, "2024-03-02T10:30")["amount"] == "900.00"


def test_a_second_dibao_case_for_the_household_is_refused_naming_the_first(run_cli: Cli) -> None:
    household_of_three(run_cli)
    # two cases investigated side by side: the first approved, the second refused at approval
    dibao_to_county_review(run_cli, HEAD, 1, 1)
    dibao_to_county_review(run_cli, SPOUSE, 2, 2)
    ok(fire(run_cli, "sun", 1, "approve", "2023-08-10T09:00"))
    before = dump(run_cli.url)
    fails(
        fire(run_cli, "sun", 2, "approve", "2023-08-10T09:10"),
        6,
        "error: cannot approve case 2: household 1 already receives dibao in case 1 (state "
        "'active'); one dibao case per household (L21 §3 (dibao is granted to a household); "
        "extreme-poverty support replaces dibao for the person (T21; use the province's "
        "wording))\n"
        "  hint: change the amount of case 1 at its periodic review instead\n",
    )
    # and a new case for a member is refused when opened
    fails(
        run_cli("case", "open", CHILD, "--workflow", "dibao", user="li", now="2023-08-10T09:20"),
        6,
        "error: household 1 already receives dibao in case 1 (state 'active'); one dibao case "
        "per household (L21 §3 (dibao is granted to a household); extreme-poverty support "
        "replaces dibao for the person (T21; use the province's wording))\n"
        "  hint: change the amount of case 1 at its periodic review instead\n",
    )
    assert dump(run_cli.url) == before


def tekun_to_confirmation(run_cli: Cli, number: str, cid: int, day: int = 1) -> None:
    at = f"2023-08-{day:02d}T"
    ok(run_cli("case", "open", number, "--workflow", "tekun", user="li", now=at + "09:00"))
    ok(fire(run_cli, "li", cid, "accept", at + "09:10", "eligibility_group=elderly"))
    ok(fire(run_cli, "li", cid, "start_investigation", at + "09:20", "investigators=li,zhao"))
    ok(
        fire(
            run_cli,
            "li",
            cid,
            "submit_opinion",
            at + "09:30",
            "preliminary_opinion=eligible",
            note="meets the plan's conditions",
        )
    )
    ok(fire(run_cli, "li", cid, "close_notice", f"2023-08-{day + 7:02d}T09:30"))


def confirm(run_cli: Cli, cid: int, now: str) -> Result:
    return fire(
        run_cli,
        "sun",
        cid,
        "confirm",
        now,
        "spot_checked=true",
        "sample_seed=2023-08-county-7f3a",
        "adl_not_done=2",
        "self_care=partial",
        "support_mode=dispersed",
        "care_card_no=ZL-0001",
    )


def tekun_to_supported(run_cli: Cli, number: str, cid: int) -> None:
    tekun_to_confirmation(run_cli, number, cid)
    ok(
        fire(
            run_cli,
            "sun",
            cid,
            "confirm",
            "2023-08-08T10:00",
            "spot_checked=true",
            "sample_seed=2023-08-county-7f3a",
            "adl_not_done=2",
            "self_care=partial",
            "support_mode=dispersed",
            "care_card_no=ZL-0001",
        )
    )


def test_dibao_for_a_person_under_tekun_support_is_refused_naming_that_case(
    run_cli: Cli,
) -> None:
    setup_county(run_cli)
    add_person(run_cli, ELDER, "赵老汉", "--supporter-unable")
    tekun_to_supported(run_cli, ELDER, 1)
    assert data(run_cli, 1, "2023-08-08T11:00")["state"] == "supported"
    ok(run_cli("household", "add", ELDER, user="li"))
    ok(run_cli("household", "income", "1", ELDER, "0", user="li"))
    dibao_to_county_review(run_cli, ELDER, 2, 9)
    before = dump(run_cli.url)
    fails(
        fire(run_cli, "sun", 2, "approve", "2023-08-17T09:00"),
        6,
        "error: cannot approve case 2: the person receives tekun in case 1 (state 'supported'); "
        "dibao is excluded while they do (L21 §3 (dibao is granted to a household); "
        "extreme-poverty support replaces dibao for the person (T21; use the province's "
        "wording))\n"
        "  hint: exit case 1 first if dibao should replace it\n",
    )
    assert dump(run_cli.url) == before


def test_bad_household_input_is_refused_and_changes_nothing(run_cli: Cli) -> None:
    household_of_three(run_cli)
    before = dump(run_cli.url)
    unknown = id_number("19700101", "061")  # valid, never registered
    for args, message in (
        (
            ("member", "1", ELDER, "--relationship", "cousin"),
            "error: unknown relationship 'cousin'\n"
            "  hint: one of: spouse, child, parent, parent_in_law, child_in_law, grandchild, "
            "grandparent, sibling, other\n",
        ),
        (
            ("income", "1", SPOUSE, "--", "-10.00"),
            "error: income '-10.00' is negative\n"
            "  hint: write the monthly income in yuan with at most 2 decimals, e.g. 1234.50\n",
        ),
        (
            ("income", "1", SPOUSE, "120.505"),
            "error: income '120.505' has more than 2 decimal places\n"
            "  hint: write the monthly income in yuan with at most 2 decimals, e.g. 1234.50\n",
        ),
        (
            ("income", "1", SPOUSE, "1e3"),
            "error: income '1e3' is not a number\n"
            "  hint: write the monthly income in yuan with at most 2 decimals, e.g. 1234.50\n",
        ),
        (
            ("income", "1", unknown, "100"),
            f"error: no person with ID number {mask(unknown)}\n"
            "  hint: register them with `aidflow person add`\n",
        ),
        (
            ("member", "1", unknown, "--relationship", "child"),
            f"error: no person with ID number {mask(unknown)}\n"
            "  hint: register them with `aidflow person add`\n",
        ),
    ):
        fails(run_cli("household", *args, user="li"), 3, message)
    # a person is in one household only; the head cannot be named twice
    fails(
        run_cli("household", "member", "1", CHILD, "--relationship", "child", user="li"),
        6,
        f"error: 张小明 ({mask(CHILD)}) is already a member of household 1\n"
        "  hint: a person belongs to one household; `aidflow household show 1` lists its "
        "members\n",
    )
    # another township's caseworker may not touch it
    fails(run_cli("household", "income", "1", SPOUSE, "100", user="wu"), 5)
    fails(run_cli("household", "show", "1", user="wu"), 5)
    assert dump(run_cli.url) == before


def test_tekun_for_a_person_receiving_dibao_is_refused_naming_that_case(run_cli: Cli) -> None:
    setup_county(run_cli)
    add_person(run_cli, ELDER, "赵老汉", "--supporter-unable")
    dibao_to_county_review(run_cli, ELDER, 1, 1)  # a single-person household: monthly_income 0
    ok(fire(run_cli, "sun", 1, "approve", "2023-08-09T09:00"))
    assert data(run_cli, 1, "2023-08-09T09:30")["amount"] == "560.00"
    tekun_to_confirmation(run_cli, ELDER, 2, day=10)
    before = dump(run_cli.url)
    fails(
        confirm(run_cli, 2, "2023-08-17T10:00"),
        6,
        "error: cannot confirm case 2: the person receives dibao in case 1 (state 'active'); "
        "tekun is excluded while they do (extreme-poverty support replaces dibao for the "
        "person (T21; use the province's wording): exit the dibao case first)\n"
        "  hint: exit case 1 first if tekun should replace it\n",
    )
    assert dump(run_cli.url) == before
    ok(fire(run_cli, "li", 1, "exit", "2023-08-17T10:30", note="moves to tekun support"))
    ok(confirm(run_cli, 2, "2023-08-17T11:00"))


def test_households_and_incomes_changed_with_sql_are_named_by_audit_verify(run_cli: Cli) -> None:
    household_of_three(run_cli)
    assert ok(run_cli("audit", "verify", user="admin")).startswith("audit ok")
    engine = make_engine(run_cli.url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE household_incomes SET amount_fen = 0 WHERE id = 2"))
            conn.execute(text("UPDATE household_members SET lives_together = true WHERE id = 4"))
            entries = dict(
                conn.execute(
                    text(
                        "SELECT subject_table, seq FROM audit_log WHERE "
                        "(subject_table = 'household_incomes' AND subject_key = '2') OR "
                        "(subject_table = 'household_members' AND subject_key = '4')"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    result = run_cli("audit", "verify", user="admin")
    assert result.exit_code == 8
    assert (
        f"household income 2 (log entry #{entries['household_incomes']}): changed after it "
        "was logged"
    ) in result.output
    assert (
        f"household member 4 (log entry #{entries['household_members']}): changed after it "
        "was logged"
    ) in result.output


def test_no_amount_is_refused_with_the_reason(run_cli: Cli) -> None:
    setup_county(run_cli)
    add_person(run_cli, ELDER, "赵老汉")
    ok(run_cli("household", "add", ELDER, user="li"))
    ok(run_cli("household", "income", "1", ELDER, "600.00", user="li"))
    dibao_to_county_review(run_cli, ELDER, 1, 1)
    before = dump(run_cli.url)
    fails(
        fire(run_cli, "sun", 1, "approve", "2023-08-09T09:00"),
        6,
        "error: cannot approve case 1: amount is 0.00: the per-capita monthly income 600.00 of "
        "the 1 member(s) living together is not below the standard 560.00 in force on "
        "2023-08-09, so no dibao is due\n"
        "  hint: an amount above the ceiling needs the county to change the policy; a household "
        "whose income reaches the standard receives no dibao\n",
    )
    assert dump(run_cli.url) == before


def test_migration_0011_adds_the_household_tables_and_keeps_existing_rows(tmp_path: Any) -> None:
    from pathlib import Path

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    import aidflow.store.database as database
    from aidflow.store.database import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))

    def migrate(to: str, down: bool = False) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, to)

    try:
        migrate("0010")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO persons (id_number, name, birth_date, sex, township, village, "
                    "hukou, mental_illness, registered_poor, related_users, created_at) VALUES "
                    f"('{HEAD}', '张建国', '1960-03-04', 'M', '城关镇', '东村', 'rural', 0, 0, "
                    "'[]', '2023-08-01 01:00:00')"
                )
            )
        upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"households", "household_members", "household_incomes"} <= tables
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM persons")).scalars().all() == ["张建国"]
            assert conn.execute(text("SELECT count(*) FROM households")).scalar() == 0
        migrate("0010", down=True)
        assert "households" not in set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM persons")).scalars().all() == ["张建国"]
    finally:
        engine.dispose()
