"""Imports of workbooks made the way Excel and WPS write them: a title row above the header,
serial dates, ID numbers stored as numbers, Chinese date texts, several sheets."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from aidflow.files.cells import Column, XlsxWriter
from aidflow.store.models import Person

from .conftest import Cli, World
from .test_import import CIVIL_HEADER, count, make_id, persons

A = make_id("19500301", 12)
B = make_id("19400715", 31)
LOST = float(B[:15] + "000")
HEADER = CIVIL_HEADER.split(
    ","
)  # 身份证号,姓名,乡镇,村,户籍性质,出生日期,建档立卡,独居,赡养人有能力


def office_book(path: Path, rows: list[list[object]], *, title: bool = True) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "花名册"
    if title:  # a merged title and a unit line above the header, as offices print them
        ws.append(["城关镇社会救助对象花名册"])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
        ws.append(["填报单位：城关镇民政办", None, None, None, None, "2023年8月"])
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def test_title_rows_serial_dates_and_ids_as_numbers(
    world: World, db_url: str, tmp_path: Path
) -> None:
    # written with every digit of the number (as WPS does; openpyxl and Excel keep 15)
    f = tmp_path / "roster.xlsx"
    with f.open("wb") as out:
        book = XlsxWriter(out)
        book.table("花名册", "城关镇社会救助对象花名册", [Column(h) for h in HEADER])
        # ID as a number whose every digit survived, birth date as a serial number
        book.append([int(A), "李桂兰", "城关镇", "东村", "农村", 18323, "否", "是", "否"])
        # birth date as Chinese text
        book.append([B, "张国强", "城关镇", "西村", "农村", "1940年7月15日", "否", "否", "否"])
        book.close()
    out = Cli(db_url)("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 0, out.output + out.stderr
    got = persons(world)
    assert (got[A].name, got[A].birth_date.isoformat()) == ("李桂兰", "1950-03-01")
    assert got[B].birth_date.isoformat() == "1940-07-15"


def test_an_id_number_that_lost_digits_as_a_number_is_refused_naming_the_line(
    world: World, db_url: str, tmp_path: Path
) -> None:
    from aidflow.errors import IdNumberError
    from aidflow.idnumber import parse_id_number

    with pytest.raises(IdNumberError):  # the digits Excel dropped break the check digit
        parse_id_number(str(int(LOST)))
    before = count(world, Person)
    f = office_book(
        tmp_path / "lost.xlsx",
        [
            [A, "李桂兰", "城关镇", "东村", "农村", None, "否", "是", "否"],
            # as Excel keeps it: 15 significant digits, the rest zeros
            [LOST, "张国强", "城关镇", "西村", "农村", None, "否", "否", "否"],
        ],
    )
    out = Cli(db_url)("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 3, out.output
    assert "line 5: 身份证号: ID number stored as a number" in out.stderr
    assert "digits were lost" in out.stderr
    assert count(world, Person) == before


def test_a_workbook_without_its_header_in_the_first_rows_names_the_columns(
    world: World, db_url: str, tmp_path: Path
) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["城关镇社会救助对象花名册"])
    ws.append(["编号", "名字"])
    wb.save(f := tmp_path / "nohead.xlsx")
    out = Cli(db_url)("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 3, out.output
    assert "line 1: the header has no column" in out.stderr


def test_the_sheet_with_the_header_is_read_or_the_one_named(
    world: World, db_url: str, tmp_path: Path
) -> None:
    wb = Workbook()
    notes = wb.active
    assert notes is not None
    notes.title = "说明"
    notes.append(["本表由城关镇民政办填报"])
    first = wb.create_sheet("东村")
    first.append(HEADER)
    first.append([A, "李桂兰", "城关镇", "东村", "农村", None, "否", "是", "否"])
    second = wb.create_sheet("西村")
    second.append(HEADER)
    second.append([B, "张国强", "城关镇", "西村", "农村", None, "否", "否", "否"])
    wb.save(f := tmp_path / "sheets.xlsx")
    cli = Cli(db_url)
    argv = ("person", "import", str(f), "--source", "civil_affairs")
    wrong = cli(*argv, "--sheet", "西邨", user="li")
    assert wrong.exit_code == 3
    assert "the workbook has no sheet '西邨'; it has '说明', '东村', '西村'" in wrong.stderr
    out = cli(*argv, "--sheet", "西村", user="li")
    assert out.exit_code == 0, out.output + out.stderr
    assert B in persons(world) and A not in persons(world)
    # without --sheet: the first sheet whose header names the columns, not the notes
    del wb["西村"]
    wb.save(f2 := tmp_path / "sheets2.xlsx")
    out = cli("person", "import", str(f2), "--source", "civil_affairs", user="li")
    assert out.exit_code == 0, out.output + out.stderr
    assert A in persons(world)


def _xls(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """An Excel 97-2003 workbook (.xls) as older office machines save it (xlwt), dates as
    date cells with the workbook's date format."""
    import xlwt  # type: ignore[import-untyped]

    book = xlwt.Workbook(encoding="utf-8")
    dated = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for name, rows in sheets.items():
        ws = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, date):
                    ws.write(r, c, value, dated)
                elif value is not None:
                    ws.write(r, c, value)
    book.save(str(path))
    return path


def test_an_xls_workbook_with_a_title_row_a_date_cell_and_two_sheets(
    world: World, db_url: str, tmp_path: Path
) -> None:
    f = _xls(
        tmp_path / "roster.xls",
        {
            "说明": [["本表由城关镇民政办填报"]],
            "花名册": [
                ["城关镇社会救助对象花名册"],  # a title row above the header
                HEADER,
                [A, "李桂兰", "城关镇", "东村", "农村", date(1950, 3, 1), "否", "是", "否"],
                [B, "张国强", "城关镇", "西村", "农村", "1940年7月15日", "否", "否", "否"],
            ],
        },
    )
    cli = Cli(db_url)
    out = cli("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 0, out.output + out.stderr
    got = persons(world)
    assert (got[A].name, got[A].birth_date.isoformat()) == ("李桂兰", "1950-03-01")
    assert (got[B].name, got[B].birth_date.isoformat()) == ("张国强", "1940-07-15")
    wrong = cli("person", "import", str(f), "--source", "health", "--sheet", "花名删", user="li")
    assert wrong.exit_code == 3
    assert "the workbook has no sheet '花名删'; it has '说明', '花名册'" in wrong.stderr


def test_a_file_named_xls_that_is_no_workbook_is_refused_naming_it(
    world: World, db_url: str, tmp_path: Path
) -> None:
    f = tmp_path / "roster.xls"
    f.write_text("身份证号,姓名\n", encoding="utf-8")  # a CSV saved under the wrong name
    before = count(world, Person)
    out = Cli(db_url)("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 3, out.output
    assert "roster.xls: not a readable XLS workbook" in out.stderr
    assert count(world, Person) == before


def test_another_sheet_of_an_imported_workbook_is_a_new_import(
    world: World, db_url: str, tmp_path: Path
) -> None:
    wb = Workbook()
    first = wb.active
    assert first is not None
    first.title = "东村"
    first.append(HEADER)
    first.append([A, "李桂兰", "城关镇", "东村", "农村", None, "否", "是", "否"])
    second = wb.create_sheet("西村")
    second.append(HEADER)
    second.append([B, "张国强", "城关镇", "西村", "农村", None, "否", "否", "否"])
    wb.save(f := tmp_path / "two.xlsx")
    cli = Cli(db_url)
    argv = ("person", "import", str(f), "--source", "civil_affairs")
    out = cli(*argv, "--sheet", "西村", user="li")
    assert out.exit_code == 0, out.output + out.stderr
    assert B in persons(world) and A not in persons(world)
    # the other sheet of the same file is not "already imported"
    out = cli(*argv, "--sheet", "东村", user="li")
    assert out.exit_code == 0, out.output + out.stderr
    assert "already imported" not in out.output
    assert A in persons(world)
    # each sheet again is; without --sheet the first sheet with the header is read
    for again in (("--sheet", "东村"), ("--sheet", "西村"), ()):
        out = cli(*argv, *again, user="li")
        assert out.exit_code == 0, out.output + out.stderr
        assert "was already imported" in out.output, again
