"""`aidflow lookback`: target groups, gaps per township, opening cases once
(SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from aidflow.engine.access import Actor
from aidflow.errors import WorkflowInvalidError
from aidflow.policy.target_groups import LookbackPolicy, load_target_groups
from aidflow.services.lookback import find
from aidflow.store.models import Case, CaseEvent

from .conftest import PERSON_ID, WORKFLOWS, Cli, World, local
from .test_import import DATA, make_id, write_csv

NOW = "2023-08-20T09:00"
D3 = make_id("19800202", 55)  # grade-3 intellectual: severely disabled
HX = make_id("19700101", 21)  # 河西镇, mentally ill


def setup_lists(world: World, db_url: str, tmp_path: Path) -> Cli:
    cli = Cli(db_url, now=NOW)
    # civil affairs: 李桂兰 (73, rural, supporter unable) and 周大海 (61, same) are lonely elderly;
    # 张国强 is urban with an able supporter
    assert (
        cli(
            "person",
            "import",
            str(DATA / "civil_affairs.csv"),
            "--source",
            "civil_affairs",
            user="li",
        ).exit_code
        == 0
    )
    cdpf = write_csv(
        tmp_path / "cdpf.csv",
        [
            "身份证号,姓名,乡镇,村,户籍性质,残疾等级,残疾类别",
            f"{D3},钱多,城关镇,东村,农业,三级,智力",
            f"{PERSON_ID},王秀英,城关镇,东村,农业,二级,肢体",
        ],
    )
    assert (
        cli("person", "import", str(cdpf), "--source", "disabled_federation", user="li").exit_code
        == 0
    )
    health = write_csv(
        tmp_path / "health.csv",
        ["身份证号,姓名,乡镇,村,户籍性质,精神疾病", f"{HX},吴芳,河西镇,南村,农业,是"],
    )
    assert cli("person", "import", str(health), "--source", "health", user="wu").exit_code == 0
    # 王秀英 (grade 2) already has a dibao case: not a gap
    world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    return cli


def test_shipped_target_groups_load() -> None:
    policy = load_target_groups(WORKFLOWS / "policy" / "target_groups.yaml")
    assert [(g.name, g.workflow) for g in policy.groups] == [
        ("lonely_elderly", "tekun"),
        ("severely_disabled", "dibao"),
        ("mentally_ill", "dibao"),
    ]
    assert (policy.stalled_after_days, policy.stalled_exempt_states) == (30, ("active",))


def test_bad_target_groups_file(tmp_path: Path) -> None:
    f = tmp_path / "groups.yaml"
    f.write_text(
        textwrap.dedent("""\
        groups:
          old:
            labels: {zh: 老人, en: Old}
            when: "person.agee >= 60"
            workflow: tekun
          broken:
            labels: {zh: 坏, en: Broken}
            when: "import os"
            workflow: dibao
        stalled_after: 30
        """),
        encoding="utf-8",
    )
    with pytest.raises(WorkflowInvalidError) as err:
        load_target_groups(f)
    lines = str(err.value).splitlines()
    assert lines[0] == "3 problems found:"
    assert lines[1] == (
        f"{f}:10:1: stalled_after: unknown key 'stalled_after'; did you mean 'stalled_after_days'?"
    )
    assert lines[2] == (
        f"{f}:4:11: groups.old.when: guard 'person.agee >= 60': unknown field 'person.agee'; "
        "did you mean 'person.age'?"
    )
    assert lines[3].startswith(f"{f}:8:11: groups.broken.when: guard 'import os': ")


def test_gaps_per_township_and_cases_opened_once(world: World, db_url: str, tmp_path: Path) -> None:
    cli = setup_lists(world, db_url, tmp_path)
    out = cli("lookback", "--json", user="li")
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["townships"] == {
        "城关镇": {"persons": 5, "in_groups": 4, "gaps": 3, "overdue": 1, "stalled": 0}
    }
    assert [(g["name"], g["groups"], g["workflow"], g["id_number"]) for g in report["gaps"]] == [
        ("李桂兰", ["lonely_elderly"], "tekun", "110***********0120"),
        ("钱多", ["severely_disabled"], "dibao", f"110***********{D3[-4:]}"),
        ("周大海", ["lonely_elderly"], "tekun", "110***********0073"),
    ]
    assert [(c["kind"], c["workflow"], c["state"]) for c in report["late"]] == [
        ("overdue", "dibao", "discovery")
    ]

    out = cli("lookback", "--open-cases", user="li")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == (
        "城关镇: 5 listed persons, 4 in target groups, 3 without a case; 1 overdue, 0 stalled cases"
    )
    assert lines[1].startswith(
        "  gap: 李桂兰 110***********0120 东村 [lonely_elderly] -> tekun: opened case "
    )
    assert lines[-1] == "opened 3 cases for 3 gaps"
    with world.session() as s:
        opened = s.execute(
            select(Case.workflow_name, Case.state, Case.assigned_to, CaseEvent.note)
            .join(CaseEvent, CaseEvent.case_id == Case.id)
            .where(CaseEvent.kind == "open", CaseEvent.actor == "li", CaseEvent.note.is_not(None))
            .order_by(Case.id)
        ).all()
    assert [tuple(r) for r in opened] == [
        ("tekun", "discovery", "li", "look-back: target group lonely_elderly"),
        ("dibao", "discovery", "li", "look-back: target group severely_disabled"),
        ("tekun", "discovery", "li", "look-back: target group lonely_elderly"),
    ]
    out = cli("lookback", "--open-cases", user="li")
    assert out.output.splitlines() == [
        "城关镇: 5 listed persons, 4 in target groups, 0 without a case; "
        "1 overdue, 0 stalled cases",
        next(line for line in out.output.splitlines() if line.startswith("  overdue: case ")),
        "opened 0 cases for 0 gaps",
    ]
    assert world.verify() == []

    # the county sees every township; 河西镇's mentally ill person is still a gap
    out = cli("lookback", "--json", "--township", "河西镇", user="sun")
    report = json.loads(out.output)
    assert report["townships"] == {
        "河西镇": {"persons": 1, "in_groups": 1, "gaps": 1, "overdue": 0, "stalled": 0}
    }
    assert [(g["name"], g["groups"]) for g in report["gaps"]] == [("吴芳", ["mentally_ill"])]
    # sun (county_officer) may not open a discovery case: the gap stays, with the reason
    out = cli("lookback", "--open-cases", "--township", "河西镇", user="sun")
    assert "  gap: 吴芳 " in out.output
    assert (
        ": not opened (opening a dibao case needs role township_caseworker; sun has county_officer)"
        in out.output
    )
    assert out.output.endswith("opened 0 cases for 1 gaps\n")


def test_stalled_cases(world: World, db_url: str, tmp_path: Path) -> None:
    setup_lists(world, db_url, tmp_path)
    with world.session() as s, s.begin():  # a step with a long deadline: late, but not overdue
        s.execute(update(Case).values(deadline_at=local(2023, 12, 31, 17)))
    policy = load_target_groups(WORKFLOWS / "policy" / "target_groups.yaml")
    short = LookbackPolicy(policy.groups, 10, ())
    county = Actor("sun", ("county_officer",), "*")
    now = local(2023, 8, 20, 9)
    with world.session() as s:
        report = find(s, county, short, now, now.date())
        assert [(c.kind, c.since) for c in report.late] == [("stalled", local(2023, 8, 1, 9))]
        assert find(s, county, short, local(2023, 8, 10, 9), now.date()).late == []
        assert find(s, county, policy, now, now.date()).late == []  # 30 days in the shipped policy
        assert (
            find(s, county, short, now + timedelta(days=200), now.date()).late[0].kind == "overdue"
        )
