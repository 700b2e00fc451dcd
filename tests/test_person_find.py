"""`person find` (by name, part of a name or part of an ID number, in the caller's area,
IDs masked) and `person show` (details, household, target groups, cases), in English and
Chinese; a person found is opened by name or by ID number."""

from __future__ import annotations

import json
from pathlib import Path

from aidflow.idnumber import mask
from aidflow.services.cases import Service

from .conftest import PERSON_ID, START, Cli, World

OTHER_WANG = "110105195001010012"  # another 王秀英, in 城关镇/西村
ZHANG = "110105195203150048"  # 张桂兰, 城关镇/东村
HEXI = "110105194801010032"  # 王德福, 河西镇/南村


def _people(world: World) -> None:
    def add(svc: Service) -> None:
        svc.register_person(OTHER_WANG, "王秀英", "城关镇", "西村", "rural")
        svc.register_person(ZHANG, "张桂兰", "城关镇", "东村", "rural", living_alone=True)
        svc.register_person(HEXI, "王德福", "河西镇", "南村", "urban")

    world.run(add)


def test_find_by_partial_name_lists_the_area_with_masked_ids(world: World, db_url: str) -> None:
    _people(world)
    cli = Cli(db_url)
    found = cli("person", "find", "王", user="li")
    assert found.exit_code == 0, found.output
    lines = found.output.splitlines()
    assert lines[0].split() == ["Name", "ID", "number", "Sex", "Age", "Area", "Open", "cases"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["王秀英", mask(PERSON_ID)],
        ["王秀英", mask(OTHER_WANG)],
    ]  # 王德福 of 河西镇 is outside li's area
    assert "female" in lines[1] and "城关镇/东村" in lines[1]
    assert PERSON_ID not in found.output and OTHER_WANG not in found.output

    # the county sees every township
    county = cli("person", "find", "王", user="sun")
    assert [line.split()[0] for line in county.output.splitlines()[1:]] == [
        "王德福",
        "王秀英",
        "王秀英",
    ]


def test_find_by_part_of_an_id_number(world: World, db_url: str) -> None:
    _people(world)
    cli = Cli(db_url)
    found = cli("person", "find", "0315", user="li")
    assert found.exit_code == 0, found.output
    assert [line.split()[0] for line in found.output.splitlines()[1:]] == ["张桂兰"]
    lower = cli("person", "find", PERSON_ID[-6:].lower(), user="li")  # x for X
    assert [line.split()[0] for line in lower.output.splitlines()[1:]] == ["王秀英"]
    short = cli("person", "find", "110", user="li")
    assert short.exit_code == 3
    assert "'110' is too short to search ID numbers by" in short.stderr
    assert "hint: give at least 4 digits of the ID number, or a name" in short.stderr


def test_a_caseworker_of_another_township_finds_no_one(world: World, db_url: str) -> None:
    _people(world)
    cli = Cli(db_url)
    none = cli("person", "find", "张桂", user="wu")
    assert none.exit_code == 0, none.output
    assert none.output == "no one found matching '张桂' in wu's area (河西镇)\n"
    assert cli("person", "find", "0315", user="wu").output.startswith("no one found")
    # and may not see the person by ID number either
    show = cli("person", "show", ZHANG, user="wu")
    assert show.exit_code == 5
    assert f"person {mask(ZHANG)} is outside wu's area (河西镇)" in show.stderr
    assert "东村" not in show.stderr
    # a control character (which no name holds, and PostgreSQL refuses as NUL) is refused
    tab = cli("person", "find", "王\t秀", user="li")
    assert tab.exit_code == 3 and "the search text holds a control character" in tab.stderr
    # the wildcard characters of SQL are plain text
    assert cli("person", "find", "%", user="sun").output.startswith("no one found")
    assert cli("person", "find", "_", user="sun").output.startswith("no one found")


def test_find_says_where_it_stops(world: World, db_url: str) -> None:
    _people(world)
    cli = Cli(db_url)
    limited = cli("person", "find", "王", "--limit", "1", user="sun")
    assert limited.exit_code == 0
    assert limited.output.splitlines()[-1] == (
        "showing the first 1 persons found; give more of the name or the ID number, or --limit N"
    )
    data = json.loads(cli("person", "find", "王", "--json", user="li").output)
    assert data["more"] is False
    assert [p["id_number_masked"] for p in data["persons"]] == [mask(PERSON_ID), mask(OTHER_WANG)]


def test_show_gives_details_household_groups_and_cases(world: World, db_url: str) -> None:
    _people(world)
    cli = Cli(db_url)
    assert cli("household", "add", PERSON_ID, user="li").exit_code == 0
    assert cli("case", "open", PERSON_ID, "-w", "dibao", user="li").exit_code == 0
    shown = cli("person", "show", PERSON_ID, user="li")
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert "Name        王秀英" in text
    assert f"ID number   {mask(PERSON_ID)}" in text
    assert "Sex         female" in text
    assert "Born        1949-12-31 (age 73)" in text  # li typed the number: no secret to her
    assert "Area        城关镇/东村" in text
    assert "Hukou       rural" in text
    assert "Categories  Severely disabled, disability grade 2" in text
    assert "Household   household 1, head 王秀英, 1 member(s); head of household" in text
    assert text.endswith(
        "Cases:\n  #1  Minimum living guarantee (single-person household)  Discovery\n"
    )
    assert PERSON_ID not in text
    # the full number on request, for a role that handles the person's cases
    full = cli("person", "show", PERSON_ID, "--show-id", user="li")
    assert f"ID number   {PERSON_ID}" in full.output
    refused = cli("person", "show", PERSON_ID, "--show-id", user="rep1")
    assert refused.exit_code == 5
    assert f"rep1 may not see the full ID number of person {mask(PERSON_ID)}" in refused.stderr
    # by name, the birth date stays hidden from a user who may not see full numbers
    by_name = cli("person", "show", "张桂兰", user="rep1")
    assert by_name.exit_code == 0, by_name.output
    assert "Born        age 71" in by_name.output
    assert "1952" not in by_name.output
    assert "living alone" in by_name.output
    assert "Household   (none)" in by_name.output and "Cases:\n  (none)" in by_name.output


def test_zh_find_and_show(world: World, db_url: str) -> None:
    _people(world)
    cli = Cli(db_url)
    found = cli("--lang", "zh", "person", "find", "王秀", user="li")
    assert found.exit_code == 0
    assert found.output.splitlines()[0].split() == [
        "姓名",
        "身份证号",
        "性别",
        "年龄",
        "地区",
        "在办案件",
    ]
    assert "女" in found.output.splitlines()[1]
    none = cli("--lang", "zh", "person", "find", "赵", user="li")
    assert none.output == "li 的辖区（城关镇）内没有找到与“赵”相符的人员\n"
    assert cli("case", "open", PERSON_ID, "-w", "dibao", user="li").exit_code == 0
    shown = cli("--lang", "zh", "person", "show", PERSON_ID, user="li")
    assert shown.exit_code == 0, shown.output
    assert "户籍      农村" in shown.output
    assert "重度残疾人" in shown.output and "2 级残疾" in shown.output
    assert "案件：\n  #1  " in shown.output
    for word in ("Name", "female", "rural", "Cases", "none"):
        assert word not in shown.output


def test_a_person_found_opens_by_name_or_by_id_number(world: World, db_url: str) -> None:
    _people(world)
    cli = Cli(db_url)
    found = cli("person", "find", "张桂", user="li")
    name = found.output.splitlines()[1].split()[0]
    by_name = cli("case", "open", name, "-w", "dibao", user="li")
    assert by_name.exit_code == 0, by_name.output
    by_id = cli("case", "open", ZHANG, "-w", "tekun", user="li")
    assert by_id.exit_code == 0, by_id.output
    shown = json.loads(cli("person", "show", name, "--json", user="li").output)
    assert [c["workflow"] for c in shown["cases"]] == ["dibao", "tekun"]


def test_client_mode_finds_and_shows_in_chinese_through_the_server(
    world: World, db_url: str, tmp_path: Path
) -> None:
    """person.find and person.show over HTTP, the server speaking the client's language:
    the lines, the refusals and the login's own messages in Chinese."""
    from aidflow.services import auth
    from aidflow.services.runtime import Runtime
    from aidflow.settings import Settings

    from .server import running
    from .test_server import PASSWORD, cli

    _people(world)
    world.run(
        lambda svc: [
            auth.set_password(svc.session, "admin", name, PASSWORD, START, must_change=False)
            for name in ("li", "wu")
        ]
    )
    runtime = Runtime(Settings(database_url=db_url), _clock=world.clock)
    with running(runtime) as url:
        creds = tmp_path / "credentials.json"
        wrong = cli(creds, "--lang", "zh", "login", url, "--user", "li", "--password-stdin",
                    input="wrong\n")  # fmt: skip
        assert wrong.exit_code == 10
        assert "错误：用户名或密码错误" in wrong.stderr
        done = cli(creds, "login", url, "--user", "li", "--password-stdin", input=PASSWORD + "\n")
        assert done.exit_code == 0, done.output
        found = cli(creds, "--lang", "zh", "person", "find", "王秀")
        assert found.exit_code == 0, found.output
        assert found.stdout.splitlines()[0].split()[:2] == ["姓名", "身份证号"]
        assert mask(PERSON_ID) in found.output and PERSON_ID not in found.output
        shown = cli(creds, "--lang", "zh", "person", "show", ZHANG)
        assert "对象类别  独居" in shown.output
        # the refusals the server words, in the client's language
        short = cli(creds, "--lang", "zh", "person", "find", "110")
        assert short.exit_code == 3
        assert "错误：“110”太短，不能据此查找身份证号\n" in short.stderr
        refused = cli(creds, "--lang", "zh", "person", "show", ZHANG, "--show-id")
        assert refused.exit_code == 5  # no case of hers makes li one who may see it
        assert "错误：li 无权查看人员" in refused.stderr
        me = cli(creds, "--lang", "zh", "whoami")
        assert me.stdout.startswith(f"li，服务器 {url}；登录令牌有效期至 ")
        # and English for a client that speaks it
        english = cli(creds, "person", "find", "110")
        assert "'110' is too short to search ID numbers by" in english.stderr
