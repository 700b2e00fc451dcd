"""`case open` by name, and `case list`: header, soonest deadline first, the limit said,
unknown filter values refused (state labels accepted)."""

from __future__ import annotations

import json

from .conftest import PERSON_ID, Cli, World

OTHER_WANG = "110105195001010012"  # another 王秀英, in 城关镇/西村


def test_case_open_finds_the_person_by_name(world: World, db_url: str) -> None:
    cli = Cli(db_url)
    opened = cli("case", "open", "王秀英", "-w", "dibao", user="li")
    assert opened.exit_code == 0, opened.output
    assert opened.output.startswith("case 1 opened: dibao, state discovery")
    assert (
        json.loads(cli("case", "show", "1", "--json", user="li").output)["person"]["name"]
        == "王秀英"
    )

    # a name no one in the area has, and one that is not in li's area
    unknown = cli("case", "open", "刘秀芳", "-w", "dibao", user="li")
    assert unknown.exit_code == 4, unknown.output
    assert "no person named '刘秀芳' in li's area (城关镇), and it is not an ID number" in (
        unknown.output + unknown.stderr
    )
    # an ID number mistyped is still reported as one
    typo = cli("case", "open", "11010519491231002", "-w", "dibao", user="li")
    assert typo.exit_code == 3 and "has 17 characters" in typo.stderr

    world.run(lambda svc: svc.register_person(OTHER_WANG, "王秀英", "城关镇", "西村", "rural"))
    several = cli("case", "open", "王秀英", "-w", "tekun", user="li")
    assert several.exit_code == 3, several.output
    assert several.stderr.startswith(
        "error: 2 persons named '王秀英' in 城关镇:\n"
        "  110***********002X  王秀英  born 1949-12-31  城关镇/东村\n"
        "  110***********0012  王秀英  born 1950-01-01  城关镇/西村\n"
        "  hint: give the person's ID number instead of the name\n"
    )
    assert PERSON_ID not in several.stderr


def test_case_list_has_a_header_sorts_by_deadline_and_says_where_it_stops(
    world: World, db_url: str
) -> None:
    cli = Cli(db_url)
    world.run(lambda svc: svc.register_person(OTHER_WANG, "王秀英", "城关镇", "西村", "rural"))
    # case 1: tekun (its first deadline is later); case 2: dibao, 3 working days
    assert cli("case", "open", PERSON_ID, "-w", "tekun", user="li").exit_code == 0
    assert cli("case", "open", OTHER_WANG, "-w", "dibao", user="li").exit_code == 0
    listed = cli("case", "list", user="li")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == [
        "Case",
        "Workflow",
        "State",
        "Person",
        "ID",
        "number",
        "Area",
        "Assigned",
        "Deadline",
        "(time",
        "left)",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]  # the soonest deadline first
    assert "2023-08-04 (Fri) end of day (3 working days left)" in lines[1]

    limited = cli("case", "list", "--limit", "1", user="li")
    assert limited.output.splitlines()[1:] == [
        lines[1],
        "showing 1 of 2 cases (soonest deadlines first); --limit N or --all for more",
    ]
    zh = cli("--lang", "zh", "case", "list", "--limit", "1", user="li")
    assert (
        zh.output.splitlines()[-1]
        == "共 2 件，按时限先后显示前 1 件；用 --limit N 或 --all 查看更多"
    )
    assert len(cli("case", "list", "--all", user="li").output.splitlines()) == 3


def test_case_list_filters_take_state_labels_and_refuse_unknown_values(
    world: World, db_url: str
) -> None:
    cli = Cli(db_url)
    assert cli("case", "open", PERSON_ID, "-w", "dibao", user="li").exit_code == 0
    by_label = cli("case", "list", "--state", "主动发现", user="li")
    assert by_label.exit_code == 0, by_label.output
    assert by_label.output.splitlines()[1].split()[:3] == ["1", "dibao", "discovery"]
    by_en_label = cli("case", "list", "--state", "Discovery", "-w", "dibao", user="li")
    assert len(by_en_label.output.splitlines()) == 2

    wrong = cli("case", "list", "--state", "入户调察", user="li")
    assert wrong.exit_code == 3, wrong.output
    assert wrong.stderr == (
        "error: --state '入户调察': no state has that name or label\n"
        "  hint: did you mean '入户调查'?\n"
    )
    nothing = cli("case", "list", "--state", "finished", "-w", "dibao", user="li")
    assert nothing.exit_code == 3
    assert "no state has that name or label in dibao" in nothing.stderr
    workflow = cli("case", "list", "-w", "dibaoo", user="li")
    assert workflow.exit_code == 3
    assert workflow.stderr == (
        "error: --workflow 'dibaoo': no such workflow is deployed\n  hint: did you mean 'dibao'?\n"
    )
