"""`aidflow report`: every figure checked against values computed here from the cases this
test creates (SQLite and PostgreSQL), the area rule, bad input, and the renderings."""

from __future__ import annotations

import io
import json
import math
import re
import statistics
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aidflow.store.models import Payment

from .conftest import Cli, World, local
from .test_import import make_id, write_csv

NOW = "2023-10-02T09:00"  # after September: August and September are counted months
PERIOD = ("--from", "2023-08-01", "--to", "2023-09-30")

# (self_care, support_mode) for a case confirmed; "screen_out", "reject", "stall" otherwise
PLAN = {
    "城关镇": [
        ("partial", "centralized"),
        ("none", "centralized"),
        ("none", "dispersed"),
        ("full", "dispersed"),
        ("partial", "dispersed"),
        "screen_out",
    ],
    "河西镇": [
        ("none", "centralized"),
        ("none", "centralized"),
        ("partial", "dispersed"),
        "reject",
        "stall",
    ],
}
ADL = {"full": "0", "partial": "2", "none": "5"}
# hours from the report to help first (24 is on the goal, not over it)
EMERGENCIES = {"城关镇": [2, 10, 24, 30], "河西镇": [5, 24 + 1 / 60, 48]}
CASEWORKER = {"城关镇": "li", "河西镇": "wu"}
# visits logged in September per dispersed case, in plan order per township
VISITS = {"城关镇": [("visit", 3), ("haircut", 1), ("visit", 1)], "河西镇": [("visit", 2)]}


@dataclass
class County:
    """What the test did, kept to compute the expected figures."""

    cases: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)  # town -> (id, plan)
    emergencies: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    visits: dict[int, dict[str, int]] = field(default_factory=dict)


def elderly_list(tmp_path: Path) -> Path:
    lines = ["身份证号,姓名,乡镇,村,户籍性质,出生日期,建档立卡,独居,赡养人有能力"]
    seq = 1
    for town, plans in PLAN.items():
        village = "东村" if town == "城关镇" else "南村"
        for i in range(len(plans)):
            born = f"19{40 + i:02d}0{1 + i % 9}15"
            idn = make_id(born, seq)
            seq += 2
            lines.append(
                f"{idn},老人{town[0]}{i},{town},{village},农业,"
                f"{born[:4]}-{born[4:6]}-{born[6:]},否,是,否"
            )
    lines.append(f"{make_id('19900101', 999)},青年,城关镇,西村,农业,1990-01-01,否,否,有")
    return write_csv(tmp_path / "elderly.csv", lines)


def build(world: World, db_url: str, tmp_path: Path) -> County:
    """Import the list, open the gaps with the look-back, and move every case as planned."""
    cli = Cli(db_url, now="2023-08-01T09:00")
    out = cli("person", "import", str(elderly_list(tmp_path)), "--source", "civil_affairs",
              user="sun")  # fmt: skip
    assert out.exit_code == 0, out.output
    county = County()
    for town in PLAN:
        out = cli("lookback", "--open-cases", "--json", user=CASEWORKER[town])
        assert out.exit_code == 0, out.output
        opened = [g["opened_case"] for g in json.loads(out.output)["gaps"]]
        assert len(opened) == len(PLAN[town]) and None not in opened
        county.cases[town] = list(zip(opened, PLAN[town], strict=True))
    clock = world.clock
    clock.set(local(2023, 8, 2, 10, 0))

    def each(step: Any) -> None:
        for town, cases in county.cases.items():
            for case_id, plan in cases:
                step(CASEWORKER[town], case_id, plan)
        clock.advance(timedelta(days=1))

    def accept(cw: str, case_id: int, plan: Any) -> None:
        if plan == "screen_out":
            world.fire(cw, case_id, "screen_out", "有赡养能力")
        else:
            world.fire(cw, case_id, "accept", eligibility_group="elderly")

    def investigate(cw: str, case_id: int, plan: Any) -> None:
        if plan not in ("screen_out", "stall"):
            world.fire(cw, case_id, "start_investigation", investigators="li,zhao")

    def opinion(cw: str, case_id: int, plan: Any) -> None:
        if plan not in ("screen_out", "stall"):
            world.fire(cw, case_id, "submit_opinion", "符合条件", preliminary_opinion="eligible")

    def close(cw: str, case_id: int, plan: Any) -> None:
        if plan not in ("screen_out", "stall"):
            world.fire(cw, case_id, "close_notice")

    def decide(cw: str, case_id: int, plan: Any) -> None:
        if plan == "reject":
            world.fire("sun", case_id, "reject", rejection_reason="有赡养人")
        elif isinstance(plan, tuple):
            care, mode = plan
            world.fire(
                "sun",
                case_id,
                "confirm",
                spot_checked="false",
                sample_seed="t",
                adl_not_done=ADL[care],
                self_care=care,
                support_mode=mode,
                care_card_no=f"C{case_id}",
            )

    def reasons(cw: str, case_id: int, plan: Any) -> None:
        if plan == "reject":
            world.fire(cw, case_id, "send_reasons", "已送达")

    each(accept)
    each(investigate)
    each(opinion)
    clock.advance(timedelta(days=7))
    each(close)
    each(decide)
    each(reasons)

    clock.set(local(2023, 8, 20, 9, 0))
    persons = {town: [] for town in PLAN}
    with world.session() as s:
        from aidflow.store.models import Case, Person

        for town in PLAN:
            persons[town] = list(
                s.scalars(
                    select(Person.id_number)
                    .join(Case, Case.person_id == Person.id)
                    .where(Case.township == town)
                    .order_by(Case.id)
                )
            )
    for town, hours in EMERGENCIES.items():
        county.emergencies[town] = []
        for i, h in enumerate(hours):
            cw = CASEWORKER[town]
            case = world.run(
                lambda svc, cw=cw, i=i, town=town: svc.open_case(
                    svc.actor(cw), persons[town][i], "temporary_assistance", emergency=True
                )
            )
            clock.advance(timedelta(hours=h))
            # the guards read the county's standards: the command loads them
            at = clock.now().astimezone(local(2023, 1, 1).tzinfo).isoformat()
            fields = ["emergency_reason=火灾", "cause=fire", "tier_multiple=3", "amount=1000"]
            args = [a for f in fields for a in ("--field", f)]
            out = Cli(db_url, now=at)("case", "fire", str(case.id), "assist_first", *args, user=cw)
            assert out.exit_code == 0, out.output
            county.emergencies[town].append((case.id, h))
            clock.advance(timedelta(hours=1))

    # care visits in September for the cases supported at home (entered before Sep 1)
    day = 3
    for town, cases in county.cases.items():
        dispersed = [c for c, p in cases if isinstance(p, tuple) and p[1] == "dispersed"]
        for case_id, logged in zip(dispersed, VISITS[town] + [("none", 0)] * 9, strict=False):
            kind, times = logged
            county.visits[case_id] = {}
            for _ in range(times):
                at = f"2023-09-{day:02d}T10:00"
                day += 1
                out = Cli(db_url, now=at)("visit", "log", str(case_id), "--kind", kind, user="li"
                                          if town == "城关镇" else "wu")  # fmt: skip
                assert out.exit_code == 0, out.output
                county.visits[case_id][kind] = county.visits[case_id].get(kind, 0) + 1
            if kind == "visit" and times == 1:  # one haircut too, a second kind in one month
                out = Cli(db_url, now=f"2023-09-{day:02d}T11:00")(
                    "visit", "log", str(case_id), "--kind", "haircut", user="li"
                )
                assert out.exit_code == 0, out.output
                county.visits[case_id]["haircut"] = 1
    out = Cli(db_url, now=NOW)("payments", "run", "--period", "2023-09", user="sun")
    assert out.exit_code == 0, out.output
    return county


def expected(world: World, county: County, town: str | None) -> dict[str, Any]:
    """The figures for one township (or both, None), computed from what build() did."""
    towns = [town] if town else list(PLAN)
    plans = [(c, p) for t in towns for c, p in county.cases[t]]
    confirmed = [p for _, p in plans if isinstance(p, tuple)]
    unable = [p for p in confirmed if p[0] in ("partial", "none")]
    central = [p for p in unable if p[1] == "centralized"]
    hours = sorted(h for t in towns for _, h in county.emergencies[t])
    n = len(hours)
    dispersed = [c for c, p in plans if isinstance(p, tuple) and p[1] == "dispersed"]
    minimum = {"visit": 2, "haircut": 1}
    made = {
        k: sum(min(county.visits.get(c, {}).get(k, 0), m) for c in dispersed)
        for k, m in minimum.items()
    }
    with world.session() as s:
        from aidflow.store.models import Case

        pay: dict[str, dict[str, int]] = {}
        for p, t in s.execute(
            select(Payment, Case.township).join(Case, Case.id == Payment.case_id)
        ):
            if t in towns:
                k = pay.setdefault(p.kind, {"count": 0, "amount_fen": 0, "paid_fen": 0})
                k["count"] += 1
                k["amount_fen"] += p.amount_fen
    stall = [c for c, p in plans if p == "stall"]
    assisted = sum(len(county.emergencies[t]) for t in towns)
    by_step = {"temporary_assistance/assisted": assisted}
    if stall:
        by_step["tekun/accepted"] = len(stall)
    return {
        "opened": len(plans) + n,
        "approved": len(confirmed),
        "rejected": sum(p == "reject" for _, p in plans),
        "closed": sum(p in ("reject", "screen_out") for _, p in plans),
        "overdue": {"count": assisted + len(stall), "by_step": dict(sorted(by_step.items()))},
        "emergency_response": {
            "count": n,
            "median_hours": statistics.median(hours),
            "p90_hours": hours[math.ceil(0.9 * n) - 1],
            "over_goal": sum(h > 24 for h in hours),
            "goal_hours": 24,
        },
        "care_visits": {
            "case_months": len(dispersed),  # September only: support began in August
            "by_kind": {
                k: {"required": len(dispersed) * m, "made": made[k]}
                for k, m in sorted(minimum.items())
            },
        },
        "centralized_support": {
            "unable_self_care": len(unable),
            "centralized": len(central),
            "rate": len(central) / len(unable),
            "goal": 0.5,
            "goal_met": len(central) / len(unable) >= 0.5,
        },
        "lookback": {
            "found": len(plans),
            "closed": sum(p != "stall" for _, p in plans),
        },
        "payments": pay,
    }


def check(report: dict[str, Any], want: dict[str, Any]) -> None:
    for name, value in want.items():
        got = report[name]
        if name == "overdue":
            got = {"count": got["count"], "by_step": got["by_step"]}
        if name == "emergency_response":
            for key in ("median_hours", "p90_hours"):
                assert got[key] == pytest.approx(value[key], abs=1e-6), (name, key)
            got = {k: v for k, v in got.items() if k not in ("median_hours", "p90_hours")}
            value = {k: v for k, v in value.items() if k not in ("median_hours", "p90_hours")}
        if name == "payments":
            got = {k: {**v, "paid_fen": 0} for k, v in got.items()}
        assert got == value, name


@pytest.fixture
def county(world: World, db_url: str, tmp_path: Path) -> County:
    return build(world, db_url, tmp_path)


def test_figures_equal_what_the_test_computes(world: World, db_url: str, county: County) -> None:
    out = Cli(db_url, now=NOW)("report", *PERIOD, "--format", "json", user="sun")
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["format"] == "aidflow.report/1"
    assert report["care_months"] == ["2023-08", "2023-09"]
    assert list(report["townships"]) == ["城关镇", "新城镇", "河西镇"]  # every registered one
    check(report["total"], expected(world, county, None))
    for town in PLAN:
        check(report["townships"][town], expected(world, county, town))
    # the centralized-support rate: 2 of 4 in 城关镇 (on the goal), 2 of 3 in 河西镇, 4 of 7
    assert report["townships"]["城关镇"]["centralized_support"]["rate"] == 0.5
    assert report["total"]["centralized_support"]["rate"] == pytest.approx(4 / 7)
    assert report["townships"]["新城镇"]["opened"] == 0
    oldest = min(
        world.run(
            lambda svc: [
                svc.case(c).deadline_at for t in PLAN for c, p in county.cases[t] if p == "stall"
            ]
        )  # fmt: skip
        + world.run(
            lambda svc: [svc.case(c).deadline_at for t in PLAN for c, _ in county.emergencies[t]]
        )  # fmt: skip
    )
    shown = report["total"]["overdue"]["oldest_deadline"]
    assert shown is not None and shown.startswith(oldest.astimezone(local(2023, 1, 1).tzinfo)
                                                  .isoformat()[:16])  # fmt: skip
    # each figure's note names its source
    notes = {f["name"]: f["source"] for f in report["figures"]}
    assert "24小时先行救助" in notes["emergency_response"]
    assert "50%" in notes["centralized_support"]
    assert set(notes) == set(report["total"])


def test_a_township_user_sees_only_their_township(db_url: str, county: County) -> None:
    cli = Cli(db_url, now=NOW)
    out = cli("report", *PERIOD, "--format", "json", user="li")
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert list(report["townships"]) == ["城关镇"]
    assert report["total"]["opened"] == report["townships"]["城关镇"]["opened"] == 10
    out = cli("report", "--township", "河西镇", user="li")
    assert out.exit_code == 5
    assert "township 河西镇 is outside li's area (城关镇)" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--township", "河西乡"), "--township '河西乡' is not a registered township"),
        (
            ("--from", "2023-09-01", "--to", "2023-08-01"),
            "--from 2023-09-01 is after --to 2023-08-01",
        ),
        (("--format", "pdf"), "--format 'pdf' is not one of text, json, html, xlsx"),
        (("--from", "2023-02-30"), "--from '2023-02-30' is not a date"),
    ],
)
def test_bad_input_exits_3(world: World, db_url: str, args: tuple[str, ...], message: str) -> None:
    out = Cli(db_url, now=NOW)("report", *args, user="sun")
    assert out.exit_code == 3, out.output
    assert message in out.stderr
    assert "hint:" in out.stderr


def test_renderings(world: World, db_url: str, county: County, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    cli = Cli(db_url, now=NOW)
    target = tmp_path / "r.xlsx"
    out = cli("report", *PERIOD, "--format", "xlsx", "--output", str(target), user="sun")
    assert out.exit_code == 0, out.output
    wb = load_workbook(io.BytesIO(target.read_bytes()))
    ws = wb["Report"]
    assert ws["A1"].value.startswith("County assistance report  2023-08-01 - 2023-09-30")
    assert ws["A1"].font.bold
    assert ws.freeze_panes == "B4"
    assert [c.value for c in ws[3]][:2] == ["Township", "Opened in the period"]
    assert all(c.font.bold for c in ws[3] if c.value)
    assert ws["A4"].value == "Total" and ws["B4"].value == 18
    rate = next(c for c in ws[3] if c.value == "Centralized-support rate (unable to care for "
                "themselves)")  # fmt: skip
    assert ws.cell(row=4, column=rate.column).number_format == "0.0%"
    assert ws.cell(row=4, column=rate.column).value == pytest.approx(4 / 7)
    assert ws.column_dimensions["B"].width == 14
    assert wb["Notes"]["C3"].value.startswith("cases now")

    out = cli("report", *PERIOD, "--format", "html", user="sun")
    assert out.exit_code == 0, out.output
    page = out.output
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 4 and "<style>" in page
    assert not re.search(r"https?:|//[a-z]|<script|<link|src=", page, re.IGNORECASE)
    assert "4/7 = 57.1%" in page

    out = cli("--lang", "zh", "report", *PERIOD, user="sun")
    assert out.exit_code == 0, out.output
    assert "生活不能自理特困人员集中供养率: 4/7 = 57.1% (目标 50.0%)" in out.output
    assert "== 城关镇 ==" in out.output and "== 合计 ==" in out.output


def test_the_server_gives_the_same_report_and_the_same_refusal(
    world: World, db_url: str, county: County
) -> None:
    import httpx

    from aidflow.services import auth
    from aidflow.services.runtime import Runtime
    from aidflow.settings import Settings

    from .server import running

    world.clock.set(local(2023, 10, 2, 9, 0))
    world.run(lambda svc: auth.set_password(svc.session, "admin", "li", "pw-li-123456",
                                            world.clock.now(), must_change=False))  # fmt: skip
    local_json = Cli(db_url, now=NOW)("report", *PERIOD, "--format", "json", user="li")
    with running(Runtime(Settings(database_url=db_url), _clock=world.clock)) as url:
        login = httpx.post(f"{url}/api/v1/login", json={"user": "li", "password": "pw-li-123456"})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}

        def ask(**params: Any) -> httpx.Response:
            body = {"params": params, "lang": "en", "key": None}
            return httpx.post(f"{url}/api/v1/ops/report.county", json=body, headers=headers)

        answer = ask(start="2023-08-01", end="2023-09-30")
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == json.loads(local_json.output)
        refused = ask(township="河西镇")
        assert refused.status_code == 403, refused.text
        assert "outside li's area" in refused.text


def test_aidflow_lang_zh_gives_a_chinese_page(world: World, db_url: str) -> None:
    from click.testing import CliRunner

    from aidflow.cli.main import cli

    from .test_readme import CLEAN_ENV

    out = CliRunner().invoke(
        cli,
        ["--db", db_url, "--now", NOW, "--as", "sun", "report", "--format", "html"],
        env={**CLEAN_ENV, "AIDFLOW_LANG": "zh"},
    )
    assert out.exit_code == 0, out.output
    assert '<html lang="zh-CN">' in out.stdout
    assert (
        "特困群体精准帮扶工作报告" in out.stdout
        and "各乡镇集中供养率（目标线 50.0%）" in out.stdout
    )
    assert "指标说明" in out.stdout and "Overdue" not in out.stdout


def test_a_broken_report_policy_names_every_problem(tmp_path: Path) -> None:
    from aidflow.errors import WorkflowInvalidError
    from aidflow.policy.report import load_report_policy

    from .conftest import WORKFLOWS

    text = (WORKFLOWS / "policy" / "report.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "report.yaml"
    broken.write_text(
        text.replace("goal: 0.5", "goal: 50").replace("goal_hours: 24", "goal_hour: 24"),
        encoding="utf-8",
    )
    with pytest.raises(WorkflowInvalidError) as info:
        load_report_policy(broken)
    shown = str(info.value)
    assert "emergency.goal_hour: unknown key 'goal_hour'; did you mean 'goal_hours'?" in shown
    assert "centralized_support.goal: expected a share between 0 and 1, such as 0.5" in shown
    assert f"{broken}:" in shown
