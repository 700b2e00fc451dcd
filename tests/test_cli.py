"""The `aidflow` command end to end, through the CLI alone, on SQLite and PostgreSQL.

Every step is a real command line run in-process by click's runner (`run_cli`); the only
direct database access is reading whole tables (to prove failed commands write nothing)
and one deliberate edit of an event row (to prove `audit verify` catches it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import inspect, text

from aidflow.store.database import make_engine
from aidflow.store.models import SCHEMA_REVISION, Base

from .conftest import AREAS, OS_LOGIN, PERSON_ID, REPO, Cli

BAD_ID = "110105194912310021"  # PERSON_ID with a mistyped check digit
MASKED = "110***********002X"
T0 = "2023-08-01T09:00"  # a Tuesday, county time
PERSON_ARGS = ("--name", "王秀英", "--township", "城关镇", "--village", "东村", "--hukou", "rural")

USERS = [
    ("li", "township_caseworker", "城关镇"),
    ("zhao", "township_caseworker", "城关镇"),
    ("wu", "township_caseworker", "河西镇"),
    ("chen", "village_officer", "城关镇/东村"),
    ("sun", "county_officer", "*"),
] + [(f"rep{i}", "village_rep", "城关镇/东村") for i in range(1, 7)]


# -- helpers ---------------------------------------------------------------------------------


def ok(result: Result) -> str:
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout


def fails(result: Result, code: int, stderr: str | None = None) -> str:
    """The command exited with `code`; `stderr`, if given, is its exact error output."""
    assert result.exit_code == code, (
        f"expected exit {code}, got {result.exit_code}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    assert "Traceback" not in result.output
    if stderr is not None:
        assert result.stderr == stderr
    return result.stderr


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every aidflow table, in a stable order."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t.name} ORDER BY 1"))]
                for t in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def bootstrap_cli(run_cli: Cli, *, deploy: bool = True) -> None:
    """Schema, the first user `admin` (bound to this OS login), the area registry and (with
    `deploy`) the shipped workflows, by command line."""
    import tempfile

    assert "schema at revision" in ok(run_cli("db", "upgrade", "--training"))
    assert ok(
        run_cli(
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--area",
            "*",
            "--email",
            "admin@county.example",
        )
    ).startswith("user admin added: roles admin; area *; os login ")
    with tempfile.TemporaryDirectory() as tmp:
        areas = Path(tmp) / "areas.csv"
        areas.write_text(
            "township,village\n" + "".join(f"{t},{v}\n" for t, v in AREAS), encoding="utf-8"
        )
        ok(run_cli("area", "import", str(areas)))
    if deploy:
        ok(
            run_cli(
                "workflow",
                "deploy",
                str(REPO / "src" / "aidflow" / "shipped" / "workflows"),
                user="admin",
            )
        )


def setup_county(run_cli: Cli) -> None:
    """Schema, users, the shipped workflows and one person, all by command line."""
    bootstrap_cli(run_cli)
    for name, role, area in USERS:
        ok(
            run_cli(
                "user",
                "add",
                name,
                "--role",
                role,
                "--area",
                area,
                "--email",
                f"{name}@county.example",
                user="admin",
            )
        )
    ok(run_cli("person", "add", PERSON_ID, *PERSON_ARGS, user="li"))


def show_json(run_cli: Cli, user: str = "li", now: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        ok(run_cli("case", "show", "1", "--json", user=user, now=now))
    )
    return data


def actions(view: dict[str, Any]) -> dict[str, list[str]]:
    return {a["trigger"]: a["blocked_by"] for a in view["actions"]}


# -- administration --------------------------------------------------------------------------


def test_db_upgrade_and_users(run_cli: Cli, tmp_path: Path) -> None:
    out = ok(run_cli("db", "upgrade", "--training"))
    assert out.endswith(f": schema at revision {SCHEMA_REVISION} (was empty); training database\n")
    assert ok(run_cli("db", "upgrade")).endswith(
        f": schema at revision {SCHEMA_REVISION}\n"
    )  # safe to repeat

    # the very first user bootstraps: an admin bound to this OS login, with a password to change
    out = ok(
        run_cli(
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--area",
            "*",
            "--email",
            "admin@county.example",
        )
    )
    first, second, third = out.splitlines()
    assert first == f"user admin added: roles admin; area *; os login {OS_LOGIN}"
    assert second.startswith("initial password for admin: ") and len(second) > 40
    assert third == "  (shown once; it must be changed at the first login)"
    li = ("user", "add", "li", "--role", "township_caseworker", "--area", "城关镇")
    li_email = ("--email", "li@county.example")
    # a role no deployed workflow declares, and an area while the registry is empty
    fails(
        run_cli(*li, *li_email),
        3,
        "error: unknown role 'township_caseworker': no deployed workflow declares it and it "
        "is not built in (admin, auditor)\n  hint: deploy the workflow that uses it first\n",
    )
    ok(run_cli("workflow", "deploy", str(REPO / "src" / "aidflow" / "shipped" / "workflows")))
    fails(
        run_cli(*li, *li_email),
        3,
        "error: area '城关镇' is not registered: the area registry is empty\n"
        "  hint: import the county's townships and villages with `aidflow area import FILE`\n",
    )
    areas = tmp_path / "areas.csv"
    areas.write_text("乡镇,村\n城关镇,东村\n城关镇,西村\n河西镇,\n", encoding="utf-8")
    assert ok(run_cli("area", "import", str(areas))) == (
        f"4 area(s) registered from 3 row(s) of {areas}\n"
    )
    assert ok(run_cli("area", "list")) == "城关镇\n城关镇/东村\n城关镇/西村\n河西镇\n"
    assert ok(run_cli(*li, *li_email, "--password-stdin", input="a long password\n")) == (
        "user li added: roles township_caseworker; area 城关镇\n"
    )
    ok(
        run_cli(
            "user",
            "add",
            "chen",
            "--role",
            "village_officer",
            "--role",
            "village_rep",
            "--area",
            "城关镇/东村",
            "--email",
            "chen@county.example",
        )
    )
    # a non-admin may not add users; an admin entering as someone else administers nothing
    before = dump(run_cli.url)
    bob = ("user", "add", "bob", "--role", "admin", "--area", "*", "--email", "b@county.example")
    fails(
        run_cli(*bob, user="li"),
        5,
        "error: admin may not administer users as li\n"
        "  hint: run user and area commands without --as / AIDFLOW_USER\n",
    )
    assert dump(run_cli.url) == before

    users = json.loads(ok(run_cli("user", "list", "--json", user="chen")))
    common = {"disabled": False, "must_change_password": True, "display_name": None}
    assert users == [
        {
            "name": "admin",
            "roles": ["admin"],
            "area": "*",
            "email": "admin@county.example",
            "os_login": OS_LOGIN,
            **common,
        },
        {
            "name": "chen",
            "roles": ["village_officer", "village_rep"],
            "area": "城关镇/东村",
            "email": "chen@county.example",
            "os_login": None,
            **common,
        },
        {
            "name": "li",
            "roles": ["township_caseworker"],
            "area": "城关镇",
            "email": "li@county.example",
            "os_login": None,
            **common,
        },
    ]


def test_workflow_deploy_list_show_diagram(run_cli: Cli) -> None:
    bootstrap_cli(run_cli, deploy=False)
    ok(
        run_cli(
            "user",
            "add",
            "li",
            "--role",
            "auditor",
            "--area",
            "城关镇",
            "--email",
            "li@county.example",
            user="admin",
        )
    )

    fails(
        run_cli(
            "workflow", "deploy", str(REPO / "src" / "aidflow" / "shipped" / "workflows"), user="li"
        ),
        5,
    )
    out = ok(
        run_cli(
            "workflow",
            "deploy",
            str(REPO / "src" / "aidflow" / "shipped" / "workflows"),
            user="admin",
        )
    )
    assert out.startswith("dibao version 1: deployed (")
    assert "unchanged" in ok(
        run_cli(
            "workflow",
            "deploy",
            str(REPO / "src" / "aidflow" / "shipped" / "workflows"),
            user="admin",
        )
    )

    listed = ok(run_cli("workflow", "list"))
    assert listed.splitlines()[0].split() == [
        "dibao",
        "v1",
        "2023-08-01",
        "09:00",
        "Minimum",
        "living",
        "guarantee",
        "(single-person",
        "household)",
    ]
    rows = json.loads(ok(run_cli("workflow", "list", "--json")))
    assert [(r["name"], r["version"], r["deployed_by"]) for r in rows] == [
        ("dibao", 1, "admin"),
        ("tekun", 1, "admin"),
        ("temporary_assistance", 1, "admin"),
    ]

    shown = ok(run_cli("workflow", "show", "dibao"))
    assert shown.startswith(
        "dibao v1 (Minimum living guarantee (single-person household)), "
        "deployed 2023-08-01 09:00 by admin\nstates:\n"
    )
    assert "  close_notice         public_notice -> county_review  (township_caseworker)\n" in shown
    assert "vote by village_rep, quorum 5, at_least 2/3" in shown
    assert "dwell 7d" in shown

    source = ok(run_cli("workflow", "show", "dibao", "--version", "1", "--source"))
    assert source == (REPO / "src" / "aidflow" / "shipped" / "workflows" / "dibao.yaml").read_text(
        encoding="utf-8"
    )
    fails(
        run_cli("workflow", "show", "dibao", "--version", "2"),
        4,
        "error: workflow 'dibao' has no version 2\n"
        "  hint: `aidflow workflow list` shows the deployed versions\n",
    )
    fails(
        run_cli("workflow", "show", "dibaoo"),
        4,
        "error: no deployed workflow named 'dibaoo'\n  hint: did you mean 'dibao'?\n",
    )

    diagram = ok(run_cli("workflow", "diagram", "dibao"))
    assert diagram.startswith("stateDiagram-v2\n")
    assert "  public_notice --> county_review: close_notice\n" in diagram
    assert "  [*] --> discovery\n" in diagram
    assert "公示" in ok(run_cli("--lang", "zh", "workflow", "diagram", "dibao"))


def test_person_add_rejects_a_bad_id_number(run_cli: Cli) -> None:
    bootstrap_cli(run_cli)
    ok(
        run_cli(
            "user",
            "add",
            "li",
            "--role",
            "township_caseworker",
            "--area",
            "城关镇",
            "--email",
            "li@county.example",
            user="admin",
        )
    )
    before = dump(run_cli.url)
    fails(
        run_cli("person", "add", BAD_ID, *PERSON_ARGS, user="li"),
        3,
        "error: ID number 110***********0021: check digit should be X, not 1\n"
        "  hint: one of the digits was probably mistyped\n",
    )
    assert dump(run_cli.url) == before
    assert ok(run_cli("person", "add", PERSON_ID, *PERSON_ARGS, user="li")) == (
        f"person 1 registered: 王秀英, {MASKED}, born 1949-12-31, female, 城关镇/东村\n"
    )
    fails(
        run_cli("person", "add", PERSON_ID, *PERSON_ARGS, user="li"),
        3,
        f"error: a person with ID number {MASKED} is already registered\n"
        "  hint: open a case for the existing person\n",
    )


# -- one dibao case from discovery to benefit ---------------------------------------------------


def test_full_dibao_path_through_the_cli(run_cli: Cli) -> None:
    setup_county(run_cli)

    assert ok(run_cli("case", "open", PERSON_ID, "--workflow", "dibao", user="li")) == (
        "case 1 opened: dibao, state discovery (Discovery), deadline 2023-08-04 (Fri) end of day\n"
    )
    assert ok(run_cli("case", "fire", "1", "accept", user="li", now="2023-08-01T10:00")) == (
        "case 1: discovery -> accepted (Accepted); deadline 2023-08-04 (Fri) end of day\n"
    )
    ok(
        run_cli(
            "case",
            "fire",
            "1",
            "start_investigation",
            "--field",
            "investigators=li,zhao",
            user="li",
            now="2023-08-01T11:00",
        )
    )
    out = ok(
        run_cli(
            "case",
            "fire",
            "1",
            "submit_findings",
            "--field",
            "monthly_income=120.50",
            "--field",
            "income_stable=yes",
            "--note",
            "household visit done",  # yearly review
            user="li",
            now="2023-08-03T11:00",
        )
    )
    assert out.startswith(
        "case 1: investigation -> village_review (Village democratic review); deadline "
    )

    for i, choice in enumerate(["yes", "yes", "yes", "no", "yes"], start=1):
        out = ok(run_cli("case", "vote", "1", choice, user=f"rep{i}", now="2023-08-03T14:00"))
        assert out.startswith(f"case 1: rep{i} voted {choice}; tally ")
    assert out == "case 1: rep5 voted yes; tally 4 yes, 1 no, 0 abstain (quorum met)\n"
    fails(
        run_cli("case", "vote", "1", "no", user="rep1", now="2023-08-03T14:00"),
        6,
        "error: rep1 already voted in this review\n",
    )

    # the caseworker may not conclude the village review: that is the village officer's step
    fails(
        run_cli("case", "fire", "1", "review_passed", user="li", now="2023-08-03T15:00"),
        6,
        "error: cannot review_passed case 1: needs role village_officer; li has "
        "township_caseworker\n",
    )
    assert ok(
        run_cli("case", "fire", "1", "review_passed", user="chen", now="2023-08-03T15:00")
    ) == (
        "case 1: village_review -> public_notice (Public notice); deadline 2023-08-10 (Thu) 15:00\n"
    )

    # the 7-day notice cannot be closed early
    fails(
        run_cli("case", "fire", "1", "close_notice", user="li", now="2023-08-10T14:59"),
        6,
        "error: cannot close_notice case 1: 'public_notice' must run until 2023-08-10 15:00 "
        "(7d minimum); before then only object is allowed\n",
    )
    during = show_json(run_cli, now="2023-08-05T09:00")
    assert during["state"] == "public_notice"
    assert during["dwell_until"].startswith("2023-08-10T07:00")  # 15:00 county time, stored as UTC
    assert actions(during) == {
        "object": [],
        "close_notice": [
            (
                "'public_notice' must run until 2023-08-10 15:00 (7d minimum); "
                "before then only object is allowed"
            )
        ],
    }
    text_view = ok(run_cli("case", "show", "1", user="li", now="2023-08-05T09:00"))
    assert "Notice runs until: 2023-08-10 15:00\n" in text_view
    assert (
        "  close_notice         Notice ended without objection [blocked: 'public_notice' must run"
        in text_view
    )

    assert ok(run_cli("case", "fire", "1", "close_notice", user="li", now="2023-08-10T15:00")) == (
        "case 1: public_notice -> county_review (County review); "
        "deadline 2023-08-24 (Thu) end of day\n"
    )
    fails(
        run_cli(
            "case",
            "fire",
            "1",
            "approve",
            user="li",
            now="2023-08-11T09:00",
        ),
        6,
        "error: cannot approve case 1: needs role county_officer; li has township_caseworker; "
        "li fired 'submit_findings' on this case; 'approve' must be done by someone else "
        "(separation of duties)\n",
    )
    # the applicant is related to rep7 (conftest): approval needs the county's home-visit note
    # (L21 §11)
    assert ok(
        run_cli(
            "case",
            "fire",
            "1",
            "approve",
            "--field",
            "home_visit_note=visited 2023-08-10",
            user="sun",
            now="2023-08-11T09:00",
        )
    ) == ("case 1: county_review -> active (Receiving dibao); deadline 2024-08-11 (Sun) 09:00\n")

    # case show: text, JSON, Chinese
    view = show_json(run_cli, now="2023-08-11T10:00")
    assert view["state"] == "active"
    assert view["state_label"] == "Receiving dibao"
    assert view["deadline_at"].startswith("2024-08-11T01:00")  # 09:00 county time
    assert view["overdue"] is False
    assert view["person"]["id_number"] == MASKED
    # computed, not typed: rural standard 560.00 - 120.50 income, rounded up to the yuan
    assert view["data"]["amount"] == "440.00"
    assert view["data"]["investigators"] == ["li", "zhao"]
    assert len(view["history"]) == 12
    assert [e["kind"] for e in view["history"]] == ["open"] + ["transition"] * 3 + ["vote"] * 5 + [
        "transition"
    ] * 3
    assert actions(view) == {"start_review": [], "exit": []}
    as_sun = show_json(run_cli, user="sun", now="2023-08-11T10:00")
    assert actions(as_sun) == {
        "start_review": ["needs role township_caseworker; sun has county_officer"],
        "exit": ["needs role township_caseworker; sun has county_officer"],
    }

    shown = ok(run_cli("case", "show", "1", user="li", now="2023-08-11T10:00"))
    assert shown.startswith(
        "Case 1  Minimum living guarantee (single-person household) (dibao v1)\n"
        f"Person: 王秀英 {MASKED}  Area: 城关镇/东村\n"
        "State: active Receiving dibao, entered 2023-08-11 09:00\n"
        "Deadline: 2024-08-11 (Sun) 09:00 (365 days 23 hours left)\n"
    )
    assert PERSON_ID not in shown
    assert "What you can do:\n  start_review         Start periodic review\n" in shown
    assert (
        "sun          approve: county_review -> active home_visit_note=visited 2023-08-10, "
        "amount=440.00, members_covered=1, per_capita_income=120.50\n"
    ) in shown

    zh = ok(run_cli("--lang", "zh", "case", "show", "1", user="li", now="2023-08-11T10:00"))
    assert zh.startswith("案件 1  最低生活保障（单人户）（第 1 版）\n")
    for label in (
        "对象: 王秀英",
        "状态: 享受低保",
        "时限: 2024-08-11（周日）09:00",
        "剩余 365 天 23 小时",
        "办理记录:",
        "可办理操作:",
        "开始复核",
    ):
        assert label in zh

    # lists
    assert ok(run_cli("case", "list", "--overdue", user="li", now="2023-08-11T10:00")) == "(none)\n"
    overdue = ok(run_cli("case", "list", "--overdue", user="li", now="2030-01-01T00:00"))
    assert overdue.splitlines()[1].split()[:5] == ["1", "dibao", "active", "王秀英", MASKED]
    assert "overdue by" in overdue
    rows = json.loads(
        ok(run_cli("case", "list", "--overdue", "--json", user="sun", now="2030-01-01T00:00"))
    )
    assert [(r["id"], r["overdue"]) for r in rows] == [(1, True)]
    assert ok(run_cli("case", "list", user="wu")) == "(none)\n"  # outside wu's area

    history = json.loads(ok(run_cli("case", "history", "1", "--json", user="li")))
    assert [e["seq"] for e in history] == list(range(1, 13))
    assert history[3]["trigger"] == "submit_findings"
    assert history[3]["note"] == "household visit done"
    assert history[9]["fields"]["vote"] == {"yes": 4, "no": 1, "abstain": 0, "dissent": ["rep4"]}
    assert [e["actor"] for e in history[-3:]] == ["chen", "li", "sun"]

    # the audit trail verifies, and an edited row is named
    assert ok(run_cli("audit", "verify")) == "audit ok: 1 case(s), 12 events verified\n"
    engine = make_engine(run_cli.url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE case_events SET note='x' WHERE seq=4"))
    finally:
        engine.dispose()
    result = run_cli("audit", "verify")
    assert result.exit_code == 8, result.output
    assert (
        result.stdout
        == "case 1 event #4 (row id 4): content does not match its hash: the row was edited\n"
    )
    assert result.stderr.startswith("error: audit chain broken: 1 finding(s)")


def test_objection_sends_the_case_back_and_starts_a_new_vote(run_cli: Cli) -> None:
    setup_county(run_cli)
    ok(run_cli("case", "open", PERSON_ID, "--workflow", "dibao", user="li"))
    ok(run_cli("case", "fire", "1", "accept", user="li"))
    ok(
        run_cli(
            "case", "fire", "1", "start_investigation", "-f", "investigators=li、zhao", user="li"
        )
    )
    fails(
        run_cli("case", "object", "1", "--note", "too early", user="chen"),
        6,
        "error: no objection can be raised in state 'investigation'\n"
        "  hint: objections are taken during a public notice\n",
    )
    ok(
        run_cli(
            "case",
            "fire",
            "1",
            "submit_findings",
            "-f",
            "monthly_income=120",
            "-f",
            "income_stable=yes",
            "-n",
            "visited",
            user="li",
        )
    )
    for i in range(1, 6):
        ok(run_cli("case", "vote", "1", "yes", user=f"rep{i}"))
    ok(run_cli("case", "fire", "1", "review_passed", user="chen"))

    assert ok(
        run_cli(
            "case",
            "object",
            "1",
            "--note",
            "neighbour reports rental income",
            user="chen",
            now="2023-08-03T09:00",
        )
    ) == ("case 1: objection recorded; public_notice -> investigation\n")
    view = show_json(run_cli, now="2023-08-03T09:00")
    assert view["state"] == "investigation"
    assert view["history"][-1]["kind"] == "objection"
    assert view["history"][-1]["note"] == "neighbour reports rental income"

    # a new round of the village review: earlier votes do not count, rep1 may vote again
    ok(
        run_cli(
            "case",
            "fire",
            "1",
            "submit_findings",
            "-f",
            "monthly_income=120",
            "-f",
            "income_stable=yes",
            "-n",
            "rental income checked: none",
            user="li",
            now="2023-08-04T09:00",
        )
    )
    assert show_json(run_cli, now="2023-08-04T09:00")["vote"] == {
        "yes": 0,
        "no": 0,
        "abstain": 0,
        "quorum_met": False,
        "passed": False,
    }
    assert ok(run_cli("case", "vote", "1", "yes", user="rep1", now="2023-08-04T10:00")) == (
        "case 1: rep1 voted yes; tally 1 yes, 0 no, 0 abstain (no quorum yet)\n"
    )
    assert ok(run_cli("audit", "verify")) == "audit ok: 1 case(s), 13 events verified\n"


# -- failures write nothing -------------------------------------------------------------------


def test_every_failing_command_leaves_the_database_unchanged(run_cli: Cli, tmp_path: Path) -> None:
    setup_county(run_cli)
    ok(run_cli("case", "open", PERSON_ID, "--workflow", "dibao", user="li"))
    ok(run_cli("case", "fire", "1", "accept", user="li"))
    ok(
        run_cli(
            "case",
            "fire",
            "1",
            "start_investigation",
            "--field",
            "investigators=li,zhao",
            user="li",
        )
    )
    version = show_json(run_cli)["version"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "workflow: broken\nversion: 1\nstates: {}\ntransitions: []\nextra: on\n", encoding="utf-8"
    )

    findings = "--field", "monthly_income=120", "--field", "income_stable=no", "--note", "visited"
    cases: list[tuple[tuple[str, ...], str | None, int, str | None]] = [
        # (argv, --as, exit code, exact stderr or None)
        (
            ("person", "add", BAD_ID, *PERSON_ARGS),
            "li",
            3,
            (
                "error: ID number 110***********0021: check digit should be X, not 1\n"
                "  hint: one of the digits was probably mistyped\n"
            ),
        ),
        (("case", "open", BAD_ID, "--workflow", "dibao"), "li", 3, None),
        (
            ("case", "fire", "1", "submit_findings", *findings),
            "nobody",
            4,
            (
                "error: no user named 'nobody'\n"
                "  hint: check --as / AIDFLOW_USER, or add one with `aidflow user add`\n"
            ),
        ),
        (
            # without --as the OS login's user acts: the admin, who holds no caseworker role
            ("case", "fire", "1", "withdraw", "--note", "x"),
            None,
            6,
            "error: cannot withdraw case 1: needs role township_caseworker; admin has admin\n",
        ),
        (
            ("case", "fire", "99", "submit_findings", *findings),
            "li",
            4,
            "error: no case 99\n  hint: `aidflow case list` shows the cases you can see\n",
        ),
        (
            ("case", "fire", "1", "submit_finding", *findings),
            "li",
            6,
            (
                "error: workflow 'dibao' has no trigger 'submit_finding'\n"
                "  hint: did you mean 'submit_findings'?\n"
            ),
        ),
        (
            ("case", "fire", "1", "approve", "--field", "amount=650"),
            "li",
            6,
            (
                "error: 'approve' cannot be fired from state 'investigation'\n"
                "  hint: from 'investigation' you can fire: withdraw, submit_findings, "
                "request_materials, reject\n"
            ),
        ),
        (
            (
                "case",
                "fire",
                "1",
                "submit_findings",
                "--field",
                "monthly_income=12o",
                "--field",
                "income_stable=no",
                "--note",
                "visited",
            ),
            "li",
            3,
            (
                "error: field monthly_income='12o': not a valid decimal\n"
                "  hint: write it like --field monthly_income=1234.50\n"
            ),
        ),
        (
            (
                "case",
                "fire",
                "1",
                "submit_findings",
                "--field",
                "monthly_income",
                "--note",
                "visited",
            ),
            "li",
            3,
            "error: --field 'monthly_income' is not NAME=VALUE\n  hint: write --field amount=450\n",
        ),
        (
            ("case", "fire", "1", "submit_findings", *findings, "--field", "amount=3"),
            "li",
            3,
            (
                "error: 'submit_findings' does not take field 'amount'\n"
                "  hint: 'submit_findings' takes: monthly_income, income_stable\n"
            ),
        ),
        (
            (
                "case",
                "fire",
                "1",
                "submit_findings",
                "--field",
                "income_stable=no",
                "--note",
                "visited",
            ),
            "li",
            3,
            "error: cannot submit_findings case 1: missing field --field monthly_income=...\n"
            "  hint: `aidflow case show 1` lists what 'submit_findings' takes\n",
        ),
        (
            (
                "case",
                "fire",
                "1",
                "submit_findings",
                "--field",
                "monthly_income=120",
                "--field",
                "income_stable=no",
            ),
            "li",
            6,
            "error: cannot submit_findings case 1: "
            "'submit_findings' needs a note: add --note TEXT\n",
        ),
        (
            ("--now", "garbage", "case", "fire", "1", "submit_findings", *findings),
            "li",
            3,
            (
                "error: --now 'garbage' is not a time\n"
                "  hint: write it like 2023-08-01T09:00 (county time) or 2023-08-01T01:00+00:00\n"
            ),
        ),
        (
            ("case", "fire", "1", "submit_findings", *findings),
            "wu",
            5,
            "error: case 1 is in 城关镇/东村, outside wu's area (河西镇)\n",
        ),
        (
            (
                "case",
                "fire",
                "1",
                "submit_findings",
                *findings,
                "--expect-version",
                str(version - 1),
            ),
            "li",
            7,
            None,
        ),
        (("case", "fire", "1"), "li", 2, None),
        (("case", "fire", "1", "withdraw", "--bogus"), "li", 2, None),
        (
            ("case", "vote", "1", "yes"),
            "rep1",
            6,
            "error: case 1 is in 'investigation', which holds no vote\n",
        ),
        (("case", "vote", "1", "maybe"), "rep1", 2, None),
        (("case", "object", "1", "--note", "x"), "chen", 6, None),
        (
            ("case", "note", "1", "--note", "  "),
            "li",
            3,
            "error: the note is empty\n  hint: write --note TEXT\n",
        ),
        (
            ("case", "open", PERSON_ID, "--workflow", "dibaoo"),
            "li",
            4,
            "error: no deployed workflow named 'dibaoo'\n  hint: did you mean 'dibao'?\n",
        ),
        (
            ("case", "open", PERSON_ID, "--workflow", "dibao"),
            "chen",
            5,
            "error: opening a dibao case needs role township_caseworker; chen has "
            "village_officer\n",
        ),
        (
            (
                "user",
                "add",
                "bob",
                "--role",
                "admin",
                "--area",
                "*",
                "--email",
                "bob@county.example",
            ),
            "li",
            5,
            None,
        ),
        (
            ("user", "add", "li", "--role", "admin", "--area", "*", "--email", "li@county.example"),
            "admin",
            3,
            "error: user 'li' already exists\n",
        ),
        (("workflow", "deploy", str(broken)), "admin", 3, None),
    ]
    before = dump(run_cli.url)
    assert len(before["cases"]) == 1 and len(before["case_events"]) == 3
    for argv, user, code, stderr in cases:
        result = run_cli(*argv, user=user)
        assert result.exit_code == code, (argv, result.exit_code, result.output)
        assert "Traceback" not in result.output and "internal error" not in result.output, (
            argv,
            result.output,
        )
        if stderr is not None:
            assert result.stderr == stderr, argv
        assert dump(run_cli.url) == before, f"{argv} changed the database"

    stale = run_cli(
        "case",
        "fire",
        "1",
        "withdraw",
        "--note",
        "x",
        "--expect-version",
        str(version - 1),
        user="li",
    )
    assert stale.stderr.startswith(
        f"error: case 1 changed since you loaded it (version {version - 1}, "
        f"now {version}); reload and retry\n"
    )
    assert "Usage:" in run_cli("case", "fire", "1", user="li").stderr
    assert "Missing argument 'TRIGGER'" in run_cli("case", "fire", "1", user="li").stderr
    # and the case still moves on afterwards
    ok(
        run_cli(
            "case",
            "fire",
            "1",
            "submit_findings",
            *findings,
            "--expect-version",
            str(version),
            user="li",
        )
    )


def test_commands_on_a_database_without_tables_say_to_upgrade(run_cli: Cli) -> None:
    engine = make_engine(run_cli.url)
    try:
        with engine.connect():  # an empty database: the SQLite file exists, the PG schema is empty
            pass
        result = run_cli("case", "show", "1", user="li")
        assert result.exit_code == 9, result.output
        assert result.stdout == ""
        assert result.stderr.startswith("error: the database ")
        assert result.stderr.endswith(
            " has no aidflow tables\n  hint: run `aidflow db upgrade` first\n"
        )
        assert run_cli("audit", "verify").exit_code == 9
        assert (
            run_cli(
                "user",
                "add",
                "admin",
                "--role",
                "admin",
                "--area",
                "*",
                "--email",
                "admin@county.example",
            ).exit_code
            == 9
        )
        assert inspect(engine).get_table_names() == []  # nothing was created on the way
    finally:
        engine.dispose()


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    db_file = tmp_path / "typo.db"
    result = Cli(f"sqlite:///{db_file}")("case", "list", user="li")
    assert result.exit_code == 9, result.output
    assert result.stderr == (
        f"error: the database file {db_file} does not exist\n"
        "  hint: check --db / AIDFLOW_DATABASE_URL, or create it with `aidflow db upgrade`\n"
    )
    assert not db_file.exists()


@pytest.mark.parametrize(
    ("option", "stderr"),
    [
        (
            ("--db", "mysql://u@h/db"),
            (
                "error: --db mysql://...: aidflow supports SQLite and PostgreSQL only\n"
                "  hint: write sqlite:///FILE, a file path, or postgresql://USER@HOST/DB\n"
            ),
        ),
        (
            ("--tz", "Mars/Olympus"),
            (
                "error: --tz 'Mars/Olympus' is not a known time zone\n"
                "  hint: write an IANA name such as Asia/Shanghai (env AIDFLOW_TZ)\n"
            ),
        ),
    ],
)
def test_bad_global_options_are_input_errors(
    tmp_path: Path, option: tuple[str, str], stderr: str
) -> None:
    result = Cli(f"sqlite:///{tmp_path / 'x.db'}")(*option, "case", "list", user="li")
    assert (result.exit_code, result.stderr) == (3, stderr)


def test_audit_verify_of_an_unknown_case_is_not_ok(run_cli: Cli) -> None:
    setup_county(run_cli)
    ok(run_cli("case", "open", PERSON_ID, "--workflow", "dibao", user="li"))
    assert (
        ok(run_cli("audit", "verify", "--case", "1")) == "audit ok: 1 case(s), 1 events verified\n"
    )
    fails(
        run_cli("audit", "verify", "--case", "1", "--case", "7"),
        4,
        "error: no case 7\n  hint: `aidflow case list --all` shows the cases you can see\n",
    )


def test_a_refused_guard_is_said_in_words_and_shows_its_expression_with_verbose(
    run_cli: Cli,
) -> None:
    setup_county(run_cli)
    ok(run_cli("case", "open", PERSON_ID, "--workflow", "dibao", user="li"))
    ok(run_cli("case", "fire", "1", "accept", user="li"))
    one = ("case", "fire", "1", "start_investigation", "-f", "investigators=li")
    quiet = run_cli(*one, user="li")
    assert quiet.exit_code == 6, quiet.output
    assert "Investigators must number at least 2 (now 1)" in quiet.stderr
    assert "len(case.investigators)" not in quiet.stderr
    loud = run_cli("--verbose", *one, user="li")
    assert loud.exit_code == 6, loud.output
    assert "detail: len(case.investigators) >= 2" in loud.stderr
    zh = run_cli("--lang", "zh", *one, user="li")
    assert "调查人员的数量应不少于 2（现为 1）" in zh.stderr, zh.stderr


def test_case_show_lists_what_each_action_takes_and_the_command_that_fires_it(
    run_cli: Cli,
) -> None:
    setup_county(run_cli)
    ok(run_cli("case", "open", PERSON_ID, "--workflow", "dibao", user="li"))
    ok(run_cli("case", "fire", "1", "accept", user="li"))
    ok(
        run_cli(
            "case", "fire", "1", "start_investigation", "-f", "investigators=li,zhao", user="li"
        )
    )
    en = ok(run_cli("case", "show", "1", user="li"))
    assert "      Monthly income per person (yuan) (monthly_income): a number\n" in en
    assert "      Stable income (income_stable): yes or no\n" in en
    assert "      a note (--note) is required\n" in en
    command = (
        "aidflow case fire 1 submit_findings --field monthly_income=0.00 "
        "--field income_stable=yes --note WHY"
    )
    assert f"      {command}\n" in en
    zh = ok(run_cli("--lang", "zh", "case", "show", "1", user="li"))
    assert "      需填写 月人均收入（元）（monthly_income）：数字\n" in zh
    zh_command = (
        "aidflow case fire 1 提交调查结论 --field monthly_income=0.00 "
        "--field income_stable=是 --note 说明"
    )
    assert f"      {zh_command}\n" in zh
    # the suggested command, filled in, is one the CLI takes
    filled = ["--field", "monthly_income=120", "--field", "income_stable=是", "--note", "入户核实"]
    ok(run_cli("--lang", "zh", "case", "fire", "1", "提交调查结论", *filled, user="li"))


def test_person_add_takes_the_disability_type_in_chinese(run_cli: Cli) -> None:
    setup_county(run_cli)
    other = "11010519520315004" + "8"
    ok(run_cli("person", "add", other, "--name", "张桂兰", "--township", "城关镇",
               "--village", "东村", "--hukou", "农村", "--disability-grade", "2",
               "--disability-type", "肢体", user="li"))  # fmt: skip
    shown = json.loads(ok(run_cli("person", "show", other, "--json", user="li")))
    assert json.dumps(shown, ensure_ascii=False).count("physical") >= 1, shown
    refused = run_cli("person", "add", "11010519520315005" + "6", "--name", "x", "--township",
                      "城关镇", "--village", "东村", "--hukou", "农村", "--disability-type",
                      "腿脚", user="li")  # fmt: skip
    assert refused.exit_code == 2 and "腿脚" in refused.output
