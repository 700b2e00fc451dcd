"""`aidflow ledger export`: one row per person, one XLSX sheet per township
(SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

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
    return cli, case_id, deadline.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


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
    assert rows[0] == headers("en")
    assert rows[1] == [
        "城关镇",
        "东村",
        "王秀英",
        PERSON_ID,
        "F",
        73,
        "rural",
        "grade 2",
        None,
        None,
        f"dibao #{case_id}: discovery",
        f"#{case_id}: {deadline}",
        f"#{case_id}",
        900.5,
        "2023-07",
        2,
        0,
        1,
    ]
    assert rows[2] == [
        "城关镇",
        "东村",
        "李桂兰",
        "110105195003010120",
        "F",
        73,
        "rural",
        None,
        None,
        "civil_affairs",
        None,
        None,
        None,
        0,
        None,
        0,
        0,
        0,
    ]
    assert [r[:4] for r in rows[3:]] == [
        ["城关镇", "东村", "张国强", "110105194007150310"],
        ["城关镇", "西村", "周大海", "110105196205100073"],
    ]
    hx = [list(r) for r in wb["河西镇"].iter_rows(values_only=True)]
    assert hx[1][:4] == ["河西镇", "南村", "吴芳", H] and hx[1][9] == "health"
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
    assert rows[0][:4] == ["乡镇", "村", "姓名", "身份证号"]
    assert [r[3] for r in rows[1:]] == [
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
    assert out.output.splitlines() == [
        ",".join(headers("en")),
        f"河西镇,南村,吴芳,{H[:3]}***********{H[-4:]},M,53,rural,,,health,,,,0.00,,0,0,0",
    ]
    f = tmp_path / "all.csv"
    out = cli("ledger", "export", "--format", "csv", "--output", str(f), user="sun")
    assert out.output == f"ledger written to {f}: 5 persons (城关镇 4, 河西镇 1)\n"
    text = f.read_text(encoding="utf-8-sig").splitlines()
    assert len(text) == 6 and [line.split(",")[0] for line in text[1:]] == ["城关镇"] * 4 + [
        "河西镇"
    ]


def test_sheet_titles_are_valid_and_unique() -> None:
    used: set[str] = set()
    long = "很长的街道名称" * 6
    assert sheet_title("a/b:c", used) == "a_b_c"
    assert sheet_title(long, used) == long[:31]
    assert sheet_title(long + "二", used) == long[:27] + " (2)"
    assert len(KEYS) == len(headers("zh"))
