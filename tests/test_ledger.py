"""`aidflow ledger export`: one row per person, one XLSX sheet per township
(SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from aidflow.engine.deadlines import Due, show_due
from aidflow.files.ledger import KEYS, headers, sheet_title
from aidflow.services.cases import Service
from aidflow.store.models import Case, Payment, Visit

from .conftest import PERSON_ID, TZ, Cli, World, local
from .test_import import DATA, make_id, write_csv

NOW = "2023-08-20T09:00"
H = make_id("19700101", 21)  # 河西镇


def setup_ledger(world: World, db_url: str, tmp_path: Path) -> tuple[Cli, int, str]:
    cli = Cli(db_url, now=NOW)
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
    f = write_csv(
        tmp_path / "hx.csv", ["身份证号,姓名,乡镇,村,户籍性质", f"{H},吴芳,河西镇,南村,农业"]
    )
    assert cli("person", "import", str(f), "--source", "health", user="wu").exit_code == 0

    def open_case(svc: Service) -> tuple[int, int]:
        case = svc.open_case(svc.actor("li"), PERSON_ID, "dibao")
        return case.id, case.person_id

    case_id, person_id = world.run(open_case)
    with world.session() as s, s.begin():
        for period, fen, status in (
            ("2023-06", 45000, "paid"),
            ("2023-07", 45050, "paid"),
            ("2023-08", 45050, "pending"),
        ):
            s.add(
                Payment(
                    case_id=case_id,
                    person_id=person_id,
                    kind="dibao",
                    period=period,
                    amount_fen=fen,
                    basis={},
                    status=status,
                    created_at=local(2023, 8, 1, 9),
                )
            )
        # two visits and a haircut in August; the July visit is last month's
        for kind, at in (
            ("visit", local(2023, 8, 2, 10)),
            ("visit", local(2023, 8, 15, 10)),
            ("haircut", local(2023, 8, 15, 11)),
            ("visit", local(2023, 7, 31, 10)),
        ):
            s.add(
                Visit(case_id=case_id, kind=kind, at=at, by_user="li", logged_at=at, logged_by="li")
            )
    with world.session() as s:
        deadline = s.scalar(select(Case.deadline_at).where(Case.id == case_id))
    assert deadline is not None
    # the discovery step's deadline counts working days: shown as its last day
    return cli, case_id, show_due(Due(deadline, True), "en", TZ)


def test_xlsx_one_sheet_per_township(world: World, db_url: str, tmp_path: Path) -> None:
    cli, case_id, deadline = setup_ledger(world, db_url, tmp_path)
    out_file = tmp_path / "ledger.xlsx"
    out = cli(
        "ledger", "export", "--format", "xlsx", "--output", str(out_file), "--show-id", user="admin"
    )
    assert out.exit_code == 0, out.output
    assert out.output == f"ledger written to {out_file}: 5 persons (城关镇 4, 河西镇 1)\n"
    wb = load_workbook(out_file, read_only=True)
    assert wb.sheetnames == ["城关镇", "河西镇"]
    rows = [list(r) for r in wb["城关镇"].iter_rows(values_only=True)]
    assert rows[0][0] == "Survey ledger: 城关镇"
    rows = rows[1:]  # below the title row
    assert rows[0] == headers("en")
    assert rows[1] == [
        1,
        "城关镇",
        "东村",
        "王秀英",
        PERSON_ID,
        "female",
        73,
        "rural",
        "grade 2",
        None,
        None,
        f"Minimum living guarantee (single-person household) #{case_id}: Discovery",
        f"#{case_id}: {deadline}",
        f"#{case_id}",
        900.5,
        "2023-07",
        2,
        0,
        1,
    ]
    assert rows[2] == [
        2,
        "城关镇",
        "东村",
        "李桂兰",
        "110105195003010120",
        "female",
        73,
        "rural",
        None,
        None,
        "civil affairs",  # the source's label, not its code
        None,
        None,
        None,
        0,
        None,
        0,
        0,
        0,
    ]
    assert [r[1:5] for r in rows[3:]] == [
        ["城关镇", "东村", "张国强", "110105194007150310"],
        ["城关镇", "西村", "周大海", "110105196205100073"],
    ]
    hx = [list(r) for r in wb["河西镇"].iter_rows(values_only=True)]
    assert hx[2][:5] == [1, "河西镇", "南村", "吴芳", H] and hx[2][10] == "health"
    wb.close()


def test_township_caseworker_sees_own_area_masked(
    world: World, db_url: str, tmp_path: Path
) -> None:
    cli, _, _ = setup_ledger(world, db_url, tmp_path)
    out = cli(
        "ledger",
        "export",
        "--format",
        "xlsx",
        "--show-id",
        "--output",
        str(tmp_path / "x.xlsx"),
        user="li",
    )
    assert out.exit_code == 5
    assert out.output == (
        "error: full ID numbers need one of the roles admin, county_officer, "
        "county_supervisor; li has township_caseworker\n  hint: drop --show-id\n"
    )
    out_file = tmp_path / "li.xlsx"
    out = cli(
        "--lang", "zh", "ledger", "export", "--format", "xlsx", "--output", str(out_file), user="li"
    )
    assert out.exit_code == 0, out.output
    wb = load_workbook(out_file, read_only=True)
    assert wb.sheetnames == ["城关镇"]
    rows = [list(r) for r in wb["城关镇"].iter_rows(values_only=True)]
    assert rows[0][0] == "城关镇社会救助工作台账"
    assert rows[1][:5] == ["序号", "乡镇", "村", "姓名", "身份证号"]
    assert rows[2][5:8] == ["女", 73, "农村"]  # words, not codes
    assert rows[2][11].startswith("最低生活保障（单人户） #1: 主动发现")
    assert [r[4] for r in rows[2:]] == [
        "110***********002X",
        "110***********0120",
        "110***********0310",
        "110***********0073",
    ]
    wb.close()


def test_csv_has_a_township_column(world: World, db_url: str, tmp_path: Path) -> None:
    cli, _, _ = setup_ledger(world, db_url, tmp_path)
    out = cli("ledger", "export", "--format", "csv", "--township", "河西镇", user="sun")
    assert out.exit_code == 0, out.output
    assert (
        out.output.splitlines()
        == [
            "\ufeff" + ",".join(headers("en")),  # a BOM: Excel on Chinese Windows reads UTF-8
            f"1,河西镇,南村,吴芳,{H[:3]}***********{H[-4:]},male,53,rural,,,health,,,,0.00,,0,0,0",
        ]
    )
    f = tmp_path / "all.csv"
    out = cli("ledger", "export", "--format", "csv", "--output", str(f), user="sun")
    assert out.output == f"ledger written to {f}: 5 persons (城关镇 4, 河西镇 1)\n"
    text = f.read_text(encoding="utf-8-sig").splitlines()
    assert len(text) == 6 and [line.split(",")[1] for line in text[1:]] == ["城关镇"] * 4 + [
        "河西镇"
    ]


def test_sheet_titles_are_valid_and_unique() -> None:
    used: set[str] = set()
    long = "很长的街道名称" * 6
    assert sheet_title("a/b:c", used) == "a_b_c"
    assert sheet_title(long, used) == long[:31]
    assert sheet_title(long + "二", used) == long[:27] + " (2)"
    assert len(KEYS) + 1 == len(headers("zh"))  # 序号 first


def test_the_ledger_xlsx_is_laid_out_as_an_office_prints_it(
    world: World, db_url: str, tmp_path: Path
) -> None:
    cli, _, _ = setup_ledger(world, db_url, tmp_path)
    out_file = tmp_path / "zh.xlsx"
    out = cli(
        "--lang", "zh", "ledger", "export", "--format", "xlsx", "--output", str(out_file),
        "--show-id", user="admin",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    wb = load_workbook(out_file)  # not read-only: styles, widths and print setup are read too
    ws = wb["城关镇"]
    assert ws["A1"].value == "城关镇社会救助工作台账" and ws["A1"].font.b
    assert "A1:S1" in {str(r) for r in ws.merged_cells.ranges}
    assert [c.value for c in ws[2]][:5] == ["序号", "乡镇", "村", "姓名", "身份证号"]
    assert all(c.font.b for c in ws[2])  # a bold header
    assert ws.freeze_panes == "A3"  # title and header stay in view
    assert ws.auto_filter.ref == "A2:S6"
    assert ws.column_dimensions["E"].width == 21  # the ID number fits
    assert ws.column_dimensions["A"].width == 6
    # ID numbers are text cells formatted as text; money is a number formatted 0.00
    assert ws["E3"].value == PERSON_ID and ws["E3"].data_type == "s"
    assert ws["E3"].number_format == "@"
    assert ws["O3"].value == 900.5 and ws["O3"].number_format == "0.00"
    assert sum(ws[f"O{r}"].value for r in range(3, 7)) == 900.5  # SUM adds them
    assert ws["A3"].value == 1 and ws["A6"].value == 4  # 序号
    # printed landscape, fitted to the page width, the header repeated on every page
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$2"
    wb.close()


def test_in_chinese_the_csv_has_the_xlsx_headers_and_words_not_codes(
    world: World, db_url: str, tmp_path: Path
) -> None:
    cli, _, _ = setup_ledger(world, db_url, tmp_path)
    f = tmp_path / "zh.csv"
    out = cli("--lang", "zh", "ledger", "export", "--format", "csv", "--output", str(f), user="sun")
    assert out.exit_code == 0, out.output
    assert f.read_bytes().startswith(b"\xef\xbb\xbf\xe5")  # the BOM stays, once
    text = f.read_text(encoding="utf-8-sig").splitlines()
    assert text[0] == ",".join(headers("zh"))
    assert text[0].startswith("序号,乡镇,村,姓名,身份证号,性别,年龄,户籍,残疾,精神障碍,来源,")
    wu = next(line for line in text if "吴芳" in line).split(",")
    assert wu[5:8] == ["男", "53", "农村"] and wu[10] == "卫健"  # the source's label
    book = tmp_path / "zh.xlsx"
    out = cli("--lang", "zh", "ledger", "export", "--format", "xlsx", "--output", str(book),
              user="sun")  # fmt: skip
    assert out.exit_code == 0, out.output
    wb = load_workbook(book, read_only=True)
    rows = [list(r) for r in wb["河西镇"].iter_rows(values_only=True)]
    assert rows[0][0] == "河西镇社会救助工作台账"
    assert rows[1] == text[0].split(",")  # one header source for both
    wb.close()
