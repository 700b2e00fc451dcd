"""Bad input refused cleanly (exit 3, the line or field named, nothing stored), and Chinese
labels accepted where a code is."""

from __future__ import annotations

from pathlib import Path

from aidflow.store.models import CaseEvent, Person

from .conftest import PERSON_ID, Cli, World
from .test_import import CIVIL_HEADER, count, make_id, write_csv
from .test_programmes import PATIENT, add_person, case, county, fire, open_case  # noqa: F401

A = make_id("19500301", 12)


def test_a_csv_cell_over_128_kb_is_refused_naming_the_line(
    world: World, db_url: str, tmp_path: Path
) -> None:
    before = count(world, Person)
    f = write_csv(
        tmp_path / "big.csv", [CIVIL_HEADER, f"{A},{'王' * 140_000},城关镇,东村,农村,,否,是,否"]
    )
    out = Cli(db_url)("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 3, out.output
    assert "big.csv:2:" in out.stderr and "internal error" not in out.stderr
    assert count(world, Person) == before


def test_a_control_character_in_a_name_is_refused_naming_the_line(
    world: World, db_url: str, tmp_path: Path
) -> None:
    before = count(world, Person)
    f = write_csv(tmp_path / "nul.csv", [CIVIL_HEADER, f"{A},王\x00五,城关镇,东村,农村,,否,是,否"])
    out = Cli(db_url)("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 3, out.output
    assert "line 2" in out.output + out.stderr or "nul.csv:2" in out.output + out.stderr
    assert "control character" in out.output + out.stderr
    assert count(world, Person) == before


def test_a_note_over_4000_characters_is_refused(world: World, db_url: str) -> None:
    cli = Cli(db_url)
    assert cli("case", "open", PERSON_ID, "-w", "dibao", user="li").exit_code == 0
    before = count(world, CaseEvent)
    out = cli("case", "note", "1", "--note", "很" * 4001, user="li")
    assert out.exit_code == 3, out.output
    assert out.stderr.startswith("error: note is 4001 characters long; the limit is 4000\n")
    assert count(world, CaseEvent) == before
    assert cli("case", "note", "1", "--note", "很" * 4000, user="li").exit_code == 0


def test_a_missing_required_field_is_invalid_input(world: World, db_url: str) -> None:
    cli = Cli(db_url)
    assert cli("case", "open", PERSON_ID, "-w", "dibao", user="li").exit_code == 0
    assert cli("case", "fire", "1", "accept", user="li").exit_code == 0
    out = cli("case", "fire", "1", "start_investigation", user="li")
    assert out.exit_code == 3, out.output
    assert "missing field --field investigators=..." in out.stderr


def test_actions_votes_and_hukou_accept_chinese_labels(world: World, db_url: str) -> None:
    cli = Cli(db_url)
    added = cli(
        "person", "add", A, "--name", "李桂兰", "--township", "城关镇", "--village", "东村",
        "--hukou", "农村", user="li",
    )  # fmt: skip
    assert added.exit_code == 0, added.output + added.stderr
    assert world.run(lambda svc: svc.person(A).hukou) == "rural"
    assert cli("case", "open", PERSON_ID, "-w", "dibao", user="li").exit_code == 0
    fired = cli("case", "fire", "1", "受理", user="li")
    assert fired.exit_code == 0, fired.output + fired.stderr
    assert fired.output.startswith("case 1: discovery -> accepted")
    # a vote by its Chinese word, in the village review of a case moved there
    world.fire("li", 1, "start_investigation", investigators="li,zhao")
    world.fire(
        "li", 1, "submit_findings", "household visit done", monthly_income="120.50",
        income_stable="yes",
    )  # fmt: skip
    voted = cli("case", "vote", "1", "赞成", user="rep1")
    assert voted.exit_code == 0, voted.output + voted.stderr
    assert "tally 1 yes, 0 no, 0 abstain" in voted.output
    wrong = cli("case", "fire", "1", "受 理", user="li")
    assert wrong.exit_code != 0


def test_a_control_character_in_a_person_name_is_refused(world: World, db_url: str) -> None:
    out = Cli(db_url)(
        "person", "add", A, "--name", "王\x1b[31m五", "--township", "城关镇", "--village",
        "东村", "--hukou", "rural", user="li",
    )  # fmt: skip
    assert out.exit_code == 3, out.output
    assert out.stderr.startswith("error: name holds a control character (U+001B)\n")


def test_a_field_choice_accepts_its_label(county: World) -> None:  # noqa: F811
    add_person(county, PATIENT)
    cid = open_case(county, PATIENT, "temporary_assistance", emergency=True)
    fire(
        county, "li", cid, "assist_first", "cash from the township reserve",
        emergency_reason="房屋失火", cause="火灾", tier_multiple="3", amount="2340.00",
    )  # fmt: skip
    assert case(county, cid).data["cause"] == "fire"


def test_an_xlsx_cell_over_128_kb_is_refused_naming_the_line(
    world: World, db_url: str, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(CIVIL_HEADER.split(","))
    ws.append([A, "李桂兰", "城关镇", "东村", "农村", None, "否", "是", "否"])
    ws.append([A, "王" * 140_000, "城关镇", "东村", "农村", None, "否", "是", "否"])
    wb.save(f := tmp_path / "big.xlsx")
    out = Cli(db_url)("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 3, out.output
    # openpyxl reads a cell's text up to Excel's own limit (32,767 characters), so the name
    # is refused for its length, the line named; nothing is imported
    assert "1 bad row, nothing imported:\n  line 3: " in out.stderr
    assert "longer than 100 characters" in out.stderr
