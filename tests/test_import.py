"""`aidflow person import`: CSV and XLSX survey lists, validation, merging, resuming
(SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from stdnum.cn import ric

from aidflow.errors import WorkflowInvalidError
from aidflow.policy.mappings import load_import_policy
from aidflow.store.models import ImportRun, Person, PersonSource

from .conftest import PERSON_ID, REPO, WORKFLOWS, Cli, World

DATA = Path(__file__).parent / "data"
CIVIL_HEADER = "身份证号,姓名,乡镇,村,户籍性质,出生日期,建档立卡,独居,赡养人有能力"


def make_id(born: str, seq: int, region: str = "110105") -> str:
    """A valid 18-character ID number for birth date YYYYMMDD and a 3-digit sequence."""
    body = f"{region}{born}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8-sig") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def count(world: World, model: Any) -> int:
    with world.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def persons(world: World) -> dict[str, Person]:
    with world.session() as s:
        return {p.id_number: p for p in s.scalars(select(Person))}


A = make_id("19500301", 12)  # female
B = make_id("19400715", 31)  # male
C = make_id("19880808", 44)


def test_sample_csv_imports(world: World, db_url: str) -> None:
    """The sample civil-affairs list (UTF-8 with BOM) in tests/data imports as written."""
    out = Cli(db_url)(
        "person", "import", str(DATA / "civil_affairs.csv"), "--source", "civil_affairs", user="li"
    )
    assert out.exit_code == 0, out.output
    assert out.output == (
        f"imported {DATA / 'civil_affairs.csv'} from civil_affairs (run 1): 3 rows, "
        "3 new persons, 0 merged into known persons\n"
    )
    got = persons(world)
    p = got["110105195003010120"]
    assert (p.name, p.township, p.village, p.hukou, p.sex, str(p.birth_date)) == (
        "李桂兰",
        "城关镇",
        "东村",
        "rural",
        "F",
        "1950-03-01",
    )
    assert (p.registered_poor, p.living_alone, p.supporter_able) == (False, True, False)
    q = got["110105194007150310"]
    assert (q.name, q.hukou, q.registered_poor, q.living_alone, q.supporter_able) == (
        "张国强",
        "urban",
        True,
        None,
        True,
    )
    with world.session() as s:
        run = s.scalars(select(ImportRun)).one()
        assert (
            run.source,
            run.status,
            run.rows_total,
            run.rows_imported,
            run.rows_skipped,
            run.started_by,
        ) == ("civil_affairs", "done", 3, 3, 0, "li")
        src = s.scalars(select(PersonSource).order_by(PersonSource.line)).all()
        assert [(r.line, r.source) for r in src] == [
            (2, "civil_affairs"),
            (3, "civil_affairs"),
            (4, "civil_affairs"),
        ]
        assert src[0].data == {
            "row": {
                "id_number": "110105195003010120",
                "name": "李桂兰",
                "township": "城关镇",
                "village": "东村",
                "hukou": "rural",
                "birth_date": "1950-03-01",
                "registered_poor": False,
                "living_alone": True,
                "supporter_able": False,
            }
        }


def test_gb18030_csv(world: World, db_url: str, tmp_path: Path) -> None:
    f = write_csv(
        tmp_path / "gbk.csv",
        [CIVIL_HEADER, f"{A},李桂兰,城关镇,东村,农村,,否,是,否"],
        encoding="gb18030",
    )
    out = Cli(db_url)("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 0, out.output
    p = persons(world)[A]
    assert (p.name, p.village, p.hukou) == ("李桂兰", "东村", "rural")


def test_xlsx_import(world: World, db_url: str, tmp_path: Path) -> None:
    from datetime import datetime

    wb = Workbook()
    ws = wb.active
    ws.append(["身份证号", "姓名", "乡镇", "村", "户籍性质", "残疾等级", "残疾类别"])
    ws.append([A, "李桂兰", "城关镇", "东村", "农业", "二级", "肢体"])
    ws.append([])  # a blank row is ignored
    ws.append([B, "张国强", "城关镇", "西村", "农业", 3, "精神"])
    f = tmp_path / "cdpf.xlsx"
    wb.save(f)
    out = Cli(db_url)("person", "import", str(f), "--source", "disabled_federation", user="li")
    assert out.exit_code == 0, out.output
    assert out.output.endswith("2 rows, 2 new persons, 0 merged into known persons\n")
    got = persons(world)
    assert (got[A].disability_grade, got[A].disability_type) == (2, "physical")
    assert (got[B].disability_grade, got[B].disability_type, got[B].village) == (
        3,
        "mental",
        "西村",
    )
    with world.session() as s:
        assert sorted(s.scalars(select(PersonSource.line))) == [2, 4]
    assert world.verify_log() == []  # Excel's numbers go in, and are logged, as typed values
    # dates typed as dates in Excel are read as dates
    wb = Workbook()
    ws = wb.active
    ws.append(CIVIL_HEADER.split(","))
    ws.append([C, "赵明", "城关镇", "东村", "农业", datetime(1988, 8, 8), "否", "否", "是"])
    ws.append(
        [
            make_id("19880808", 46),
            "钱亮",
            "城关镇",
            "东村",
            "农业",
            datetime(1988, 8, 9),
            "否",
            "否",
            "是",
        ]
    )
    wb.save(f2 := tmp_path / "dates.xlsx")
    out = Cli(db_url)("person", "import", str(f2), "--source", "civil_affairs", user="li")
    assert out.exit_code == 3
    assert out.output == (
        f"error: {f2}: 1 bad row, nothing imported:\n"
        "  line 3: 出生日期 1988-08-09 does not match the ID number's birth date 1988-08-08\n"
        "  hint: fix the rows and import again, or pass --skip-bad to import the good rows only\n"
    )


BAD_ROWS = [
    CIVIL_HEADER,
    f"{A},李桂兰,城关镇,东村,农业,1950-03-01,否,是,否",
    f"{A[:-1]}{'1' if A[-1] != '1' else '2'},坏校验,城关镇,东村,农业,,否,是,否",
    f"{B},张国强,城关镇,东村,农业,1940-02-30,否,是,否",
    f"{C},,城关镇,东村,农业,,否,是,否",
    f"{make_id('19600101', 8)},孙芳,城关镇,东村,外地,,也许,是,否",
]


def test_bad_rows_import_nothing(world: World, db_url: str, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    before = count(world, Person)
    out = Cli(db_url)("person", "import", str(f), "--source", "civil_affairs", user="li")
    assert out.exit_code == 3
    wrong = A[:-1] + ("1" if A[-1] != "1" else "2")
    assert out.output == (
        f"error: {f}: 4 bad rows, nothing imported:\n"
        f"  line 3: 身份证号: ID number 110***********{wrong[-4:]}: check digit should be {A[-1]}, "
        f"not {wrong[-1]}\n"
        "  line 4: 出生日期: '1940-02-30' is not a date\n"
        "  line 5: 姓名 (name) is empty\n"
        "  line 6: 户籍性质: '外地' is not a hukou value; "
        "expected 农业, 农村, 非农业, 城镇, rural, urban\n"
        "  line 6: 建档立卡: '也许' is not yes or no; expected 是/否, Y/N or 1/0\n"
        "  hint: fix the rows and import again, or pass --skip-bad to import the good rows only\n"
    )
    assert count(world, Person) == before
    assert count(world, ImportRun) == 0
    assert count(world, PersonSource) == 0


def test_in_chinese_bad_rows_name_the_file_line_and_column_in_chinese(
    world: World, db_url: str, tmp_path: Path
) -> None:
    f = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    out = Cli(db_url)("--lang", "zh", "person", "import", str(f), "--source", "civil_affairs",
                      user="li")  # fmt: skip
    assert out.exit_code == 3
    lines = out.output.splitlines()
    assert lines[0] == f"错误：{f}：4 行有误，未导入任何内容："
    assert "  第 4 行：出生日期：“1940-02-30”不是日期" in lines
    assert "  第 5 行：姓名（姓名）为空" in lines
    assert (
        "  第 6 行：户籍性质：“外地”不是户籍性质；应为 农业、农村、非农业、城镇、rural、urban"
        in lines
    )
    assert "  第 6 行：建档立卡：“也许”不是“是”或“否”；应填 是/否、Y/N 或 1/0" in lines
    assert lines[-1] == "  提示：请修改这些行后重新导入，或加 --skip-bad 只导入无误的行"
    # and the summary of a good list
    good = write_csv(tmp_path / "good.csv", [CIVIL_HEADER, f"{A},李桂兰,城关镇,东村,农业,,,,"])
    argv = ("--lang", "zh", "person", "import", str(good), "--source", "civil_affairs")
    out = Cli(db_url)(*argv, user="li")
    assert out.output == (
        f"已从 民政 导入 {good}（第 1 次导入）：1 行，新登记 1 人，0 行并入已登记人员\n"
    )
    out = Cli(db_url)(*argv, user="li")
    assert out.output == f"{good} 已从 民政 导入过（第 1 次导入，1 行），无需再导入\n"


def test_bad_grade_and_skip_bad(world: World, db_url: str, tmp_path: Path) -> None:

    f = write_csv(
        tmp_path / "cdpf.csv",
        [
            "身份证号,姓名,乡镇,村,户籍性质,残疾等级,残疾类别",
            f"{A},李桂兰,城关镇,东村,农业,五级,肢体",
            f"{B},张国强,城关镇,东村,农业,一级,视力",
            f"{C},赵明,城关镇,东村,农业,2,心脏",
            f"{make_id('19600101', 8)},孙芳,城关镇,东村,农业,4,听力",
        ],
    )
    cli = Cli(db_url)
    out = cli("person", "import", str(f), "--source", "disabled_federation", user="li")
    assert out.exit_code == 3
    assert (
        "  line 2: 残疾等级: '五级' is not a disability grade; "
        "expected 一级, 二级, 三级, 四级, 1, 2, 3, 4\n" in out.output
    )
    assert (
        "  line 4: 残疾类别: '心脏' is not a disability type; expected 肢体, 视力, 听力, 言语, "
        "智力, 精神, 多重, physical, visual, hearing, speech, intellectual, mental, multiple\n"
    ) in out.output
    out = cli(
        "person", "import", str(f), "--source", "disabled_federation", "--skip-bad", user="li"
    )
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[1:] == [
        "skipped 2 bad rows (lines 2, 4):",
        "  line 2: 残疾等级: '五级' is not a disability grade; "
        "expected 一级, 二级, 三级, 四级, 1, 2, 3, 4",
        (
            "  line 4: 残疾类别: '心脏' is not a disability type; expected 肢体, 视力, 听力, 言语, "
            "智力, 精神, 多重, physical, visual, hearing, speech, intellectual, mental, multiple"
        ),
    ]
    got = persons(world)
    assert A not in got and C not in got
    assert got[B].disability_grade == 1
    with world.session() as s:
        run = s.scalars(select(ImportRun)).one()
        assert (run.rows_total, run.rows_imported, run.rows_skipped, run.status) == (
            4,
            2,
            2,
            "done",
        )


def test_merge_across_sources_with_provenance(world: World, db_url: str, tmp_path: Path) -> None:
    cli = Cli(db_url)
    civil = write_csv(
        tmp_path / "civil.csv",
        [
            CIVIL_HEADER,
            f"{A},李桂兰,城关镇,东村,农业,,否,是,否",
            f"{A},李桂兰,城关镇,东村,农业,,否,是,否",  # the same person twice in one list: merged
        ],
    )
    out = cli("person", "import", str(civil), "--source", "civil_affairs", user="li")
    assert out.exit_code == 0, out.output
    assert "2 rows, 1 new persons, 1 merged into known persons" in out.output
    cdpf = write_csv(
        tmp_path / "cdpf.csv",
        [
            "身份证号,姓名,乡镇,村,户籍性质,残疾等级,残疾类别",
            f"{A},李桂兰,城关镇,西村,农业,二级,肢体",  # village disagrees; grade is new
            f"{PERSON_ID},王秀英,城关镇,东村,农业,三级,智力",  # registered by hand with grade 2
        ],
    )
    out = cli("person", "import", str(cdpf), "--source", "disabled_federation", user="li")
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[1:] == [
        "2 disagreements between sources (existing values kept):",
        f"  line 2: 110***********{A[-4:]} village: kept '东村' (civil_affairs line 2); "
        "this list says '西村'",
        "  line 3: 110***********002X disability_grade: kept 2 (the existing record); "
        "this list says 3",
    ]
    got = persons(world)
    assert (got[A].village, got[A].disability_grade, got[A].disability_type) == (
        "东村",
        2,
        "physical",
    )
    assert (got[PERSON_ID].disability_grade, got[PERSON_ID].disability_type) == (2, "intellectual")
    with world.session() as s:
        rows = s.execute(
            select(PersonSource.source, PersonSource.line, PersonSource.data)
            .join(Person, Person.id == PersonSource.person_id)
            .where(Person.id_number == A)
            .order_by(PersonSource.id)
        ).all()
    assert [(r.source, r.line) for r in rows] == [
        ("civil_affairs", 2),
        ("civil_affairs", 3),
        ("disabled_federation", 2),
    ]
    assert rows[2].data["row"]["village"] == "西村"
    assert rows[2].data["disagreements"] == {
        "village": {"kept": "东村", "said": "西村", "kept_from": "civil_affairs line 2"}
    }
    assert world.verify_log() == []  # persons added, filled and merged are all in the log


def test_reimport_is_idempotent(world: World, db_url: str) -> None:
    cli = Cli(db_url)
    f = str(DATA / "civil_affairs.csv")
    assert cli("person", "import", f, "--source", "civil_affairs", user="li").exit_code == 0
    out = cli("person", "import", f, "--source", "civil_affairs", user="li")
    assert out.exit_code == 0
    assert (
        out.output
        == f"{f} was already imported from civil_affairs (run 1, 3 rows); nothing to do\n"
    )
    assert (count(world, Person), count(world, PersonSource), count(world, ImportRun)) == (4, 3, 1)
    # the same file from another department is another run: merged into the same persons
    out = cli("person", "import", f, "--source", "health", "--mapping", "civil_affairs", user="li")
    assert out.exit_code == 0, out.output
    assert out.output.endswith("3 rows, 0 new persons, 3 merged into known persons\n")
    assert (count(world, Person), count(world, PersonSource), count(world, ImportRun)) == (4, 6, 2)


def test_who_may_import(world: World, db_url: str, tmp_path: Path) -> None:
    cli = Cli(db_url)
    f = write_csv(
        tmp_path / "l.csv",
        [
            CIVIL_HEADER,
            f"{A},李桂兰,城关镇,东村,农业,,否,是,否",
            f"{B},张国强,河西镇,南村,农业,,否,是,否",
        ],
    )
    out = cli("person", "import", str(f), "--source", "civil_affairs", user="chen")
    assert out.exit_code == 5
    assert out.output == (
        "error: importing lists needs one of the roles admin, county_officer, "
        "township_caseworker; chen has village_officer\n"
    )
    out = cli("person", "import", str(f), "--source", "civil_affairs", "--skip-bad", user="wu")
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[1:] == [
        "skipped 1 bad rows (lines 2):",
        "  line 2: 城关镇/东村 is outside wu's area (河西镇)",
    ]
    assert B in persons(world) and A not in persons(world)
    out = cli("person", "import", str(f), "--source", "civic", user="wu")
    assert out.exit_code == 3
    assert out.output.startswith("error: unknown source 'civic'")


def test_new_person_needs_hukou_and_header_needs_columns(
    world: World, db_url: str, tmp_path: Path
) -> None:
    cli = Cli(db_url)
    f = write_csv(
        tmp_path / "health.csv",
        [
            "身份证号,姓名,乡镇,村,精神疾病",
            f"{A},李桂兰,城关镇,东村,是",
            f"{PERSON_ID},王秀英,城关镇,东村,是",
        ],
    )
    out = cli("person", "import", str(f), "--source", "health", user="li")
    assert out.exit_code == 3
    assert (
        f"  line 2: 110***********{A[-4:]} is not registered yet and the row gives no hukou "
        "(户籍性质); a new person needs it\n"
    ) in out.output
    assert "line 3" not in out.output  # a known person needs no hukou
    g = write_csv(tmp_path / "nohead.csv", ["身份证,姓名,乡镇", f"{A},李桂兰,城关镇"])
    out = cli("person", "import", str(g), "--source", "health", user="li")
    assert out.exit_code == 3
    assert out.output == (
        f"error: {g}: line 1: the header has no column '身份证号' (id_number), '村' (village); "
        "found 身份证, 姓名, 乡镇\n  hint: rename the column, or edit mapping 'health' in "
        "workflows/policy/import_mappings.yaml\n"
    )


def test_mapping_file_problems(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(
        textwrap.dedent("""\
        access: {import: [admin], show_id: [admin]}
        sources: {health: helth}
        mappings:
          health:
            columns:
              身份证号: id_numbr
              姓名: name
        """),
        encoding="utf-8",
    )
    with pytest.raises(WorkflowInvalidError) as err:
        load_import_policy(f)
    assert str(err.value).splitlines() == [
        "5 problems found:",
        f"{f}:6:13: mappings.health.columns.身份证号: unknown person field 'id_numbr'; did you "
        "mean 'id_number'?",
        f"{f}:6:7: mappings.health.columns: no column maps to the required field id_number",
        f"{f}:6:7: mappings.health.columns: no column maps to the required field township",
        f"{f}:6:7: mappings.health.columns: no column maps to the required field village",
        f"{f}:2:19: sources.health: unknown mapping 'helth'; did you mean 'health'?",
    ]
    policy = load_import_policy(WORKFLOWS / "policy" / "import_mappings.yaml")
    assert sorted(policy.sources) == ["civil_affairs", "disabled_federation", "health"]


RESUME_SCRIPT = """
import os, signal, sys
from datetime import date, datetime, timezone
from pathlib import Path
from sqlalchemy.orm import Session
from aidflow.store.database import make_engine
from aidflow.policy.mappings import load_import_policy
from aidflow.services.survey import Importer
from aidflow.engine.access import Actor

url, file, policy_file = sys.argv[1:4]
engine = make_engine(url)
policy = load_import_policy(policy_file)
importer = Importer(lambda: Session(engine, expire_on_commit=False), policy,
                    Actor("li", ("township_caseworker",), "城关镇"), Path(file), "civil_affairs",
                    now=datetime(2023, 8, 1, 1, 0, tzinfo=timezone.utc), today=date(2023, 8, 1),
                    batch_size=10, keep_rows=0)
# keep_rows=0: pass 2 reads the file again here; the resuming CLI run keeps pass 1's rows

def before_commit(batch):
    if batch == 3:  # batch 3 is written but not committed: the process dies here
        os.kill(os.getpid(), signal.SIGKILL)

importer.run(on_batch=before_commit)
"""


def test_resume_after_a_killed_import(world: World, db_url: str, tmp_path: Path) -> None:
    rows = [CIVIL_HEADER] + [
        f"{make_id('19500101', i)},人{i},城关镇,东村,农业,,否,是,否" for i in range(1, 46)
    ]
    f = write_csv(tmp_path / "long.csv", rows)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            RESUME_SCRIPT,
            db_url,
            str(f),
            str(WORKFLOWS / "policy" / "import_mappings.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with world.session() as s:
        run = s.scalars(select(ImportRun)).one()
        assert (run.status, run.rows_imported) == ("running", 20)
    assert count(world, PersonSource) == 20
    assert count(world, Person) == 21  # 20 from the list and the world's own person
    out = Cli(db_url)(
        "person", "import", str(f), "--source", "civil_affairs", "--batch-size", "10", user="li"
    )
    assert out.exit_code == 0, out.output
    assert out.output == (
        "resumed run 1 after line 21\n"
        f"imported {f} from civil_affairs (run 1): 25 rows, 25 new persons, "
        "0 merged into known persons\n"
    )
    with world.session() as s:
        run = s.scalars(select(ImportRun)).one()
        assert (run.status, run.rows_imported, run.rows_total) == ("done", 45, 45)
        lines = list(s.scalars(select(PersonSource.line).order_by(PersonSource.line)))
    assert lines == list(range(2, 47))
    assert count(world, Person) == 46
    assert world.verify_log() == []  # the batches the killed run committed are logged too


# -- the table reader and the store's bulk insert ----------------------------------------


def test_table_reader_rules(tmp_path: Path) -> None:
    """Blank rows are skipped, a quoted cell may span lines (the row keeps its first line),
    encodings are detected, workbook cells keep their types."""
    from aidflow.files.table import cell_text, read_rows, scan

    f = tmp_path / "list.csv"
    f.write_text('\n  ,\nh1,h2\n"a\nb",c\n\n d ,e\n', encoding="gb18030")
    assert scan(f).encoding == "utf-8-sig"  # ASCII and the line break are UTF-8 too
    f.write_bytes('\n  ,\nh1,h2\n"李\n王",c\n\n d ,e\n'.encode("gb18030"))
    assert scan(f).encoding == "gb18030"
    assert list(read_rows(f)) == [
        (3, ["h1", "h2"]),
        (4, ["李\n王", "c"]),
        (7, [" d ", "e"]),
    ]
    assert list(read_rows(f, "gbk")) == list(read_rows(f))
    x = tmp_path / "list.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in ([None, None], ["h1", "h2"], [7.0, True]):
        sheet.append(row)
    book.save(x)
    assert list(read_rows(x)) == [(2, ["h1", "h2"]), (3, [7, True])]
    assert [cell_text(c) for c in (None, 7.0, 7.5, " a ")] == ["", "7", "7.5", "a"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("list.ods", b"x", "{f}: unsupported file type '.ods'"),
        ("list.xlsx", b"not a zip", "{f}: not a readable XLSX workbook"),
        (
            "list.csv",
            b"a,b\n\x80\xff,c\n",
            "{f}:2: bytes that are not UTF-8 or GB18030 text (illegal",
        ),
    ],
)
def test_table_reader_refuses(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    from aidflow.errors import AidflowError
    from aidflow.files.table import read_rows

    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(AidflowError) as info:
        list(read_rows(f))
    assert info.value.message.startswith(message.format(f=f)), info.value.message
    with pytest.raises(AidflowError, match="no such file"):
        list(read_rows(tmp_path / "missing.csv"))


def test_bulk_insert_stores_what_core_stores(engine: Any) -> None:
    """The store's fast path (Fast.many: driver executemany, COPY on PostgreSQL) writes the
    rows a plain Core executemany writes."""
    from datetime import UTC, date, datetime

    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    from aidflow.services.survey import MERGED
    from aidflow.store.imports import PersonRows

    now = datetime(2023, 8, 1, 1, 0, tzinfo=UTC)
    shared = {"related_users": [], "created_at": now}

    def person(n: int, copy: int) -> dict[str, Any]:
        return {
            "id_number": make_id("19500301", n + copy),
            "name": f"人{n}",
            "township": "城关镇",
            "village": "东村",
            "hukou": "rural",
            "disability_grade": n % 4 + 1 if n % 2 else None,
            "disability_type": "physical" if n % 2 else None,
            "mental_illness": bool(n % 3),
            "registered_poor": False,
            "living_alone": None if n % 5 else True,
            "supporter_able": None,
            "birth_date": date(1950, 3, 1),
            "sex": "F",
        }

    with Session(engine) as s, s.begin():
        PersonRows(s, MERGED).insert_persons(s, [person(n, 0) for n in range(1, 6)], shared)
        s.connection().execute(insert(Person), [{**person(n, 10), **shared} for n in range(1, 6)])
    with Session(engine) as s:
        got = {p.id_number: p for p in s.scalars(select(Person))}
    columns = [c.key for c in Person.__table__.columns if c.key not in ("id", "id_number")]
    for n in range(1, 6):
        fast, core = got[make_id("19500301", n)], got[make_id("19500301", n + 10)]
        assert [getattr(fast, c) for c in columns] == [getattr(core, c) for c in columns]
    # a driver's error comes wrapped as SQLAlchemy wraps it
    with pytest.raises(IntegrityError), Session(engine) as s, s.begin():
        PersonRows(s, MERGED).insert_persons(s, [person(1, 0)], shared)
