"""`aidflow case import`: a county's ledgers (XLSX, Chinese headers) brought in as open cases,
checked row by row, reconciled, paid from the month after the last period paid, imported
once (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select, text

from aidflow.idnumber import mask
from aidflow.store.models import AuditEntry, Case, CaseEvent, ImportRun, Payment

from .conftest import Cli, World, local
from .test_import import make_id

NOW = "2024-06-10T09:00"  # the day of the cutover: a Monday
DIBAO_HEADER = [
    "身份证号",
    "姓名",
    "乡镇",
    "村",
    "户籍性质",
    "状态",
    "受理日期",
    "审批日期",
    "进入当前环节日期",
    "保障金额",
    "收入稳定",
    "月人均收入",
    "调查人员",
    "末次发放月份",
    "下次复核日期",
    "备注",
]
A = make_id("19450302", 12)
B = make_id("19500715", 31)
C = make_id("19601111", 44)
D = make_id("19480101", 52)
E = make_id("19520520", 63)
K = make_id("19551010", 74)
L = make_id("19490909", 85)
M = make_id("19470404", 96)
N = make_id("19460606", 18)

# the columns a row fills besides 身份证号, 姓名, 乡镇, 村, 户籍性质 and the state
COLUMN = {
    "accepted": "受理日期",
    "approved": "审批日期",
    "entered": "进入当前环节日期",
    "amount": "保障金额",
    "stable": "收入稳定",
    "income": "月人均收入",
    "investigators": "调查人员",
    "last_paid": "末次发放月份",
    "review": "下次复核日期",
    "notes": "备注",
    "self_care": "自理能力",
    "mode": "供养方式",
    "card": "照料服务卡号",
    "basic": "基本生活费",
    "care": "照料护理费",
}


def row(header: list[str], who: tuple[str, str, str, str], state: str, **cells: str) -> list[str]:
    """A ledger row under `header`: the person (ID, name, township, village), the state, cells."""
    by_header = {COLUMN[k]: v for k, v in cells.items()}
    number, name, township, village = who
    by_header.update({"身份证号": number, "姓名": name, "乡镇": township, "村": village})
    by_header.update({"户籍性质": "农业", header[5]: state})
    return [by_header.get(h, "") for h in header]


def dibao(who: tuple[str, str, str, str], state: str, **cells: str) -> list[str]:
    return row(DIBAO_HEADER, who, state, **cells)


def paid(accepted: str, approved: str, amount: str, last_paid: str, **more: str) -> dict[str, str]:
    """The cells of a case receiving dibao."""
    return (
        dict(accepted=accepted, approved=approved, amount=amount, last_paid=last_paid, stable="是")
        | more
    )


PA = (A, "刘大娘", "城关镇", "东村")
# line 2.. of the dibao ledger; lines 7-11 are wrong on purpose
DIBAO_ROWS: list[list[str]] = [
    dibao(PA, "享受低保", **paid("2023-08-01", "2023-09-20", "520", "2024-05", notes="老病号")),
    dibao(
        (B, "陈老汉", "城关镇", "西村"),
        "active",
        **paid("2023-12-01", "2024-01-10", "600", "2024-05", stable="否", review="2024-08-15"),
    ),
    dibao(
        (C, "赵红", "河西镇", "南村"),
        "公示",
        accepted="2024-05-20",
        entered="2024-06-05",
        stable="是",
        income="300",
    ),
    dibao(
        (D, "钱明", "河西镇", "南村"), "入户调查", accepted="2024-06-03", investigators="张三、李四"
    ),
    dibao(
        (E, "孙丽", "河西镇", "南村"),
        "享受低保",
        **paid("2023-11-01", "2023-12-01", "450", "2024-04"),
    ),
    dibao((K, "周一", "城关镇", "东村"), "待定", accepted="2024-01-01"),
    dibao(
        (L, "吴二", "城关镇", "东村"),
        "享受低保",
        **paid("2023-10-01", "2023-11-01", "6500", "2024-05"),
    ),
    dibao(PA, "享受低保", **paid("2023-08-01", "2023-09-20", "520", "2024-05", notes="重复")),
    dibao(
        (M, "郑三", "河西镇", "南村"),
        "享受低保",
        **paid("2024-03-01", "2024-02-01", "400", "2024-05"),
    ),
    dibao(
        (N, "王四", "河西镇", "南村"), "享受低保", **paid("2023-10-01", "2023-11-01", "", "2024-05")
    ),
]
BAD = {
    7: "状态: unknown state '待定'",
    8: "amount 6500 is above the ceiling 6000.00 (dibao_household_ceiling) on 2023-11-01",
    9: "already has an open dibao case on line 2",
    10: "dates out of order: accepted 2024-03-01 is after approved 2024-02-01",
    11: "a case in active needs amount, which the row does not give",
}
TEKUN_HEADER = [
    "身份证号",
    "姓名",
    "乡镇",
    "村",
    "户籍性质",
    "当前环节",
    "受理日期",
    "审批日期",
    "自理能力",
    "供养方式",
    "照料服务卡号",
    "调查人员",
    "基本生活费",
    "照料护理费",
    "末次发放月份",
]
F = make_id("19400202", 21)
G = make_id("19410303", 32)
H = make_id("19420404", 43)


def tekun(who: tuple[str, str, str, str], state: str, **cells: str) -> list[str]:
    return row(TEKUN_HEADER, who, state, **cells)


def supported(approved: str, self_care: str, mode: str, card: str, care: str) -> dict[str, str]:
    """The cells of a case receiving extreme-poverty support, paid to 2024-05."""
    return dict(
        accepted="2023-09-01",
        approved=approved,
        self_care=self_care,
        mode=mode,
        card=card,
        basic="1070",
        care=care,
        last_paid="2024-05",
    )


TEKUN_ROWS: list[list[str]] = [
    tekun(
        (F, "冯五", "城关镇", "东村"),
        "特困供养中",
        **supported("2023-10-20", "全护理", "分散供养", "C001", "840"),
    ),
    tekun(
        (G, "何六", "河西镇", "南村"),
        "supported",
        **supported("2023-10-25", "半护理", "集中供养", "C002", "420"),
    ),
    tekun(
        (H, "许七", "城关镇", "西村"),
        "入户调查及初审",
        accepted="2024-05-28",
        investigators="王五、赵六",
    ),
]


def write_xlsx(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def call(db_url: str, *args: str, user: str = "sun") -> Any:
    return Cli(db_url, now=NOW)(*args, user=user)


def import_json(db_url: str, *args: str) -> dict[str, Any]:
    import json

    out = call(db_url, "case", "import", *args, "--json")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def months_after(d: date, n: int) -> date:
    m = d.year * 12 + d.month - 1 + n
    return date(m // 12, m % 12 + 1, d.day)


def test_a_county_ledger_comes_in_checked_reconciled_and_paid_from_the_next_period(
    world: World, db_url: str, tmp_path: Path
) -> None:
    dibao = write_xlsx(tmp_path / "低保台账.xlsx", DIBAO_HEADER, DIBAO_ROWS)

    # every bad row refused with its line; nothing written
    out = call(db_url, "case", "import", str(dibao), "-w", "dibao")
    assert out.exit_code == 3, out.output
    for line, reason in BAD.items():
        assert f"line {line}: " in out.output and reason in out.output, (line, out.output)
    assert "5 bad rows, nothing imported" in out.output
    with world.session() as s:
        assert s.scalars(select(Case)).all() == []

    # the dry run's figures, against figures worked out here from the rows
    dry = import_json(db_url, str(dibao), "-w", "dibao", "--dry-run")
    good = DIBAO_ROWS[:5]
    expected: dict[str, dict[str, Any]] = {}
    labels = {
        "享受低保": "active",
        "active": "active",
        "公示": "public_notice",
        "入户调查": "investigation",
    }
    for row in good:
        t = expected.setdefault(row[2], {"states": {}, "count": 0, "fen": 0})
        state = labels[row[5]]
        t["states"][state] = t["states"].get(state, 0) + 1
        if state == "active":
            t["count"] += 1
            t["fen"] += int(Decimal(row[9]) * 100)
    for name, t in expected.items():
        got = dry["townships"][name]
        assert got["states"] == dict(sorted(t["states"].items()))
        assert got["monthly"] == {"dibao": {"count": t["count"], "yuan": f"{t['fen'] / 100:.2f}"}}
    assert {int(p["line"]) for p in dry["problems"]} == set(BAD)
    # reviews due by the end of September: A's computed (12 months after approval, income
    # stable), B's from the ledger; E's (2024-12-01) is later
    a_review = months_after(date(2023, 9, 20), 12)
    reviews = dry["townships"]["城关镇"]["reviews"]
    assert [(r["date"], r["line"]) for r in reviews] == [
        ("2024-08-15", 3),
        (a_review.isoformat(), 2),
    ]
    assert reviews[1]["person"] == mask(A)
    assert dry["townships"]["河西镇"]["reviews"] == []
    # the notice's deadline: 7 days from the day it was posted
    assert dry["deadlines"]["4"] == local(2024, 6, 12).isoformat()
    with world.session() as s:
        assert s.scalars(select(Case)).all() == []

    # a payment run before the cutover, so earlier months could be paid as arrears
    out = call(db_url, "payments", "run", "--period", "2024-04")
    assert out.exit_code == 0, out.output

    # the import of the good rows, the bad ones listed; reconciled with no difference
    res = import_json(db_url, str(dibao), "-w", "dibao", "--skip-bad")
    assert (res["imported"], res["corrected"], res["unchanged"]) == (5, 0, 0)
    assert {p["line"] for p in res["problems"]} == set(BAD)
    assert res["differences"] == []
    ids = {int(k): v for k, v in res["case_ids"].items()}
    with world.session() as s:
        cases = {c.id: c for c in s.scalars(select(Case))}
        assert len(cases) == 5
        a = cases[ids[2]]
        assert (a.state, a.data["amount"], a.township, a.village) == (
            "active",
            "520",
            "城关镇",
            "东村",
        )
        assert a.deadline_at == local(a_review.year, a_review.month, a_review.day)
        assert a.state_entered_at == local(2023, 9, 20)
        assert cases[ids[3]].deadline_at == local(2024, 8, 15)
        d = cases[ids[5]]
        assert d.state == "investigation" and d.data["investigators"] == ["张三", "李四"]
        assert datetime.fromisoformat(d.clocks["statutory"]["started_at"]) == local(2024, 6, 3)
        ev = s.scalars(select(CaseEvent).where(CaseEvent.case_id == a.id)).one()
        assert (ev.kind, ev.actor, ev.seq, ev.from_state, ev.to_state) == (
            "imported",
            "sun",
            1,
            None,
            "active",
        )
        assert ev.fields["file"] == str(dibao) and ev.fields["line"] == 2
        import hashlib

        assert ev.fields["file_sha256"] == hashlib.sha256(dibao.read_bytes()).hexdigest()
        assert ev.fields["paid_from"] == "2024-06"
        # logged with the ledger's page of imported events, one entry naming their ids
        pages = s.scalars(
            select(AuditEntry.subject_key).where(AuditEntry.subject_table == "event_sets")
        ).all()
        spans = [span.split("..") for key in pages for span in key.split(",")]
        assert [1 for lo, hi in spans if int(lo) <= ev.id <= int(hi)] == [1]

    # the tekun ledger: the person with an open dibao case is refused (tekun excludes it)
    tekun = write_xlsx(
        tmp_path / "特困台账.xlsx",
        TEKUN_HEADER,
        [
            *TEKUN_ROWS,
            [
                A,
                "刘大娘",
                "城关镇",
                "东村",
                "农业",
                "特困供养中",
                "2023-09-01",
                "2023-10-20",
                "全自理",
                "分散供养",
                "C003",
                "",
                "1070",
                "110",
                "2024-05",
            ],
        ],  # fmt: skip
    )
    res_t = import_json(db_url, str(tekun), "-w", "tekun", "--skip-bad")
    assert [p["line"] for p in res_t["problems"]] == [5]
    assert "has an open dibao case" in res_t["problems"][0]["text"]
    assert res_t["imported"] == 3 and res_t["differences"] == []
    assert res_t["townships"]["城关镇"]["monthly"] == {
        "basic_living_allowance": {"count": 1, "yuan": "1070.00"},
        "care_allowance": {"count": 1, "yuan": "840.00"},
    }

    # the next payment run pays exactly the periods after the last one paid
    out = call(db_url, "payments", "run", "--period", "2024-06")
    assert out.exit_code == 0, out.output
    tids = {int(k): v for k, v in res_t["case_ids"].items()}
    with world.session() as s:
        paid = {(p.case_id, p.kind, p.period, p.amount_fen) for p in s.scalars(select(Payment))}
    assert paid == {
        (ids[2], "dibao", "2024-06", 52000),
        (ids[3], "dibao", "2024-06", 60000),
        (ids[6], "dibao", "2024-05", 45000),  # last paid 2024-04: May is owed
        (ids[6], "dibao", "2024-06", 45000),
        (tids[2], "basic_living_allowance", "2024-06", 107000),
        (tids[2], "care_allowance", "2024-06", 84000),
        (tids[3], "basic_living_allowance", "2024-06", 107000),
        (tids[3], "care_allowance", "2024-06", 42000),
    }

    # the same file again imports nothing
    again = import_json(db_url, str(dibao), "-w", "dibao", "--skip-bad")
    assert (again["imported"], again["corrected"], again["unchanged"]) == (0, 0, 5)
    assert again["differences"] == []

    # a corrected file: one amount changed, one case changed, audited
    fixed = [list(r) for r in DIBAO_ROWS]
    fixed[0][9] = "530"
    dibao2 = write_xlsx(tmp_path / "低保台账-更正.xlsx", DIBAO_HEADER, fixed)
    corr = import_json(db_url, str(dibao2), "-w", "dibao", "--skip-bad")
    assert (corr["imported"], corr["corrected"], corr["unchanged"]) == (0, 1, 4)
    assert corr["corrections"] == [{"line": 2, "case_id": ids[2], "changed": ["amount"]}]
    assert corr["differences"] == []
    with world.session() as s:
        evs = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == ids[2]).order_by(CaseEvent.seq)
        ).all()
        assert [e.kind for e in evs] == ["imported", "import_corrected"]
        assert evs[1].fields["changed"] == {"amount": {"from": "520", "to": "530"}}
        assert s.get(Case, ids[2]).data["amount"] == "530"  # type: ignore[union-attr]
        others = s.scalars(select(CaseEvent).where(CaseEvent.case_id != ids[2])).all()
        assert {e.kind for e in others} == {"imported"}

    # A's review falls due on the computed day: overdue from then on, not the day before
    def overdue(now: str) -> set[int]:
        import json

        out = Cli(db_url, now=now)("case", "list", "--overdue", "--json", user="sun")
        assert out.exit_code == 0, out.output
        return {c["id"] for c in json.loads(out.stdout)}

    the_day_before = date.fromordinal(a_review.toordinal() - 1).isoformat()
    assert ids[2] not in overdue(f"{the_day_before}T23:59")
    assert ids[2] in overdue(f"{a_review.isoformat()}T00:01")

    out = call(db_url, "audit", "verify", user="admin")
    assert out.exit_code == 0, out.output


def test_a_final_state_or_an_existing_open_case_is_refused(
    world: World, db_url: str, tmp_path: Path
) -> None:
    """A closed case stays in the old ledger; a person with a case opened in aidflow gets no
    second one from the ledger."""
    from .conftest import PERSON_ID

    out = call(db_url, "case", "open", PERSON_ID, "-w", "dibao", user="li")
    assert out.exit_code == 0, out.output
    f = write_xlsx(
        tmp_path / "ledger.xlsx",
        DIBAO_HEADER,
        [
            [
                A,
                "刘大娘",
                "城关镇",
                "东村",
                "农业",
                "退出低保",
                "2023-08-01",
                "2023-09-20",
                "",
                "520",
                "是",
                "",
                "",
                "2024-05",
                "",
                "",
            ],  # fmt: skip
            [
                PERSON_ID,
                "王秀英",
                "城关镇",
                "东村",
                "农业",
                "享受低保",
                "2023-08-01",
                "2023-09-20",
                "",
                "520",
                "是",
                "",
                "",
                "2024-05",
                "",
                "",
            ],  # fmt: skip
        ],
    )
    dry = import_json(db_url, str(f), "-w", "dibao", "--dry-run")
    texts = {p["line"]: p["text"] for p in dry["problems"]}
    assert (
        texts[2]
        == f"{f}:line 2: 状态: exited is a final state: an import brings in open cases only"
    )
    assert "already has an open dibao case (1)" in texts[3]


def test_who_may_import_and_where(world: World, db_url: str, tmp_path: Path) -> None:
    """The survey import's roles (import_mappings.yaml `access.import`) and the actor's area:
    a village representative may not import; a township caseworker only their township's rows."""
    from .test_cli import dump

    f = write_xlsx(tmp_path / "ledger.xlsx", DIBAO_HEADER, DIBAO_ROWS[:5])
    before = dump(db_url)
    out = call(db_url, "case", "import", str(f), "-w", "dibao", user="rep1")
    assert out.exit_code == 5, out.output
    assert "importing lists needs one of the roles" in out.stderr
    out = call(db_url, "case", "import", str(f), "-w", "dibao", user="li")
    assert out.exit_code == 3, out.output
    assert "line 4: 河西镇/南村 is outside li's area (城关镇)" in out.stderr
    assert dump(db_url) == before


def test_the_dry_run_prints_per_township_and_the_reconciliation_names_differences(
    world: World, db_url: str, tmp_path: Path
) -> None:
    """A ledger whose basic living allowance is last year's standard: the import goes in
    (aidflow pays the standard in force), and the reconciliation names the difference."""
    rows = [list(r) for r in TEKUN_ROWS]
    rows[0][TEKUN_HEADER.index("基本生活费")] = "1020"
    f = write_xlsx(tmp_path / "特困.xlsx", TEKUN_HEADER, rows)
    out = call(db_url, "case", "import", str(f), "-w", "tekun", "--dry-run")
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[1:] == [
        "城关镇: investigation 1, supported 1",
        "  basic_living_allowance: 1 case(s), 1070.00 yuan a month",
        "  care_allowance: 1 case(s), 840.00 yuan a month",
        "河西镇: supported 1",
        "  basic_living_allowance: 1 case(s), 1070.00 yuan a month",
        "  care_allowance: 1 case(s), 420.00 yuan a month",
    ]
    out = call(db_url, "case", "import", str(f), "-w", "tekun")
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[-3:] == [
        "3 case(s) imported, 0 corrected, 0 unchanged",
        "reconciliation: 1 difference(s):",
        "  城关镇 basic_living_allowance: the ledger pays 1020.00 a month, aidflow 1070.00",
    ]


def test_two_imports_of_one_person_at_once_write_one_case(
    world: World, db_url: str, tmp_path: Path
) -> None:
    """Two county officers import ledgers naming the same person; the second checked its
    rows before the first committed. The second writes nothing (ConflictError) and says so."""
    from sqlalchemy.orm import Session

    from aidflow.engine.access import Actor
    from aidflow.errors import ConflictError
    from aidflow.policy.casemapping import load_case_mapping
    from aidflow.policy.mappings import load_import_policy
    from aidflow.services.caseimport import CaseImporter
    from aidflow.services.cases import Service

    from .conftest import WORKFLOWS, shipped_policy

    def importer(name: str) -> CaseImporter:
        f = write_xlsx(tmp_path / name, DIBAO_HEADER, DIBAO_ROWS[:1])
        svc = Service(Session(world.engine), world.clock, world.calendar)
        return CaseImporter(
            lambda: Session(world.engine, expire_on_commit=False),
            load_import_policy(WORKFLOWS / "policy" / "import_mappings.yaml"),
            load_case_mapping(WORKFLOWS / "policy" / "case_import.yaml"),
            shipped_policy(),
            Actor("sun", ("county_officer",), "*"),
            f,
            "dibao",
            now=local(2024, 6, 10, 9),
            calendar=world.calendar,
            deadline_for=svc.deadline_for,
        )

    first, second = importer("a.xlsx"), importer("b.xlsx")
    late = second.check()
    assert first.run().imported == 1
    with pytest.raises(ConflictError) as info:
        second.write(late)
    assert info.value.message == (
        "1 person(s) got an open dibao case while the ledger was being checked (e.g. case 1); "
        "nothing was imported"
    )
    with world.session() as s:
        assert len(s.scalars(select(Case)).all()) == 1
        assert len(s.scalars(select(CaseEvent)).all()) == 1
        assert len(s.scalars(select(ImportRun)).all()) == 1  # b.xlsx's persons not written
    # run again, it is recognised as the case already imported
    assert second.run().unchanged == 1


def test_one_dibao_per_household(world: World, db_url: str, tmp_path: Path) -> None:
    """Dibao is one per household (policy `exclusivity.dibao.one_open_per`): a ledger row
    for the spouse of a recipient, or two rows for one household, are refused."""
    first = write_xlsx(tmp_path / "1.xlsx", DIBAO_HEADER, DIBAO_ROWS[:1])
    assert import_json(db_url, str(first), "-w", "dibao")["imported"] == 1
    spouse = (K, "周一", "城关镇", "东村")
    child = (L, "吴二", "城关镇", "东村")
    for who in (spouse, child):
        number, name, township, village = who
        out = call(db_url, "person", "add", number, "--name", name, "--township", township,
                   "--village", village, "--hukou", "rural")  # fmt: skip
        assert out.exit_code == 0, out.output
    for args in (
        ["add", A],
        ["member", "1", K, "--relationship", "spouse"],
        ["member", "1", L, "--relationship", "child"],
    ):
        out = call(db_url, "household", *args, user="li")
        assert out.exit_code == 0, out.output
    later = write_xlsx(
        tmp_path / "2.xlsx",
        DIBAO_HEADER,
        [
            dibao(spouse, "享受低保", **paid("2023-08-01", "2023-09-20", "300", "2024-05")),
            dibao(
                child,
                "公示",
                accepted="2024-05-20",
                entered="2024-06-05",
                stable="是",
                income="300",
            ),  # fmt: skip
        ],
    )
    dry = import_json(db_url, str(later), "-w", "dibao", "--dry-run")
    assert [(p["line"], p["text"]) for p in dry["problems"]] == [
        (
            2,
            f"{later}:line 2: household 1 of {mask(K)} already receives dibao in case 1; "
            "one dibao case per household",
        )
    ]  # the child's case in notice is not paid yet: it may be opened, not approved

    # two rows of one household in one file: the second is refused
    for number, name in ((M, "郑三"), (N, "王四")):
        out = call(db_url, "person", "add", number, "--name", name, "--township", "城关镇",
                   "--village", "东村", "--hukou", "rural")  # fmt: skip
        assert out.exit_code == 0, out.output
    for args in (["add", M], ["member", "2", N, "--relationship", "spouse"]):
        out = call(db_url, "household", *args, user="li")
        assert out.exit_code == 0, out.output
    receiving = paid("2023-08-01", "2023-09-20", "300", "2024-05")
    pair = write_xlsx(
        tmp_path / "3.xlsx",
        DIBAO_HEADER,
        [
            dibao((number, name, "城关镇", "东村"), "享受低保", **receiving)
            for number, name in ((M, "郑三"), (N, "王四"))
        ],
    )
    dry = import_json(db_url, str(pair), "-w", "dibao", "--dry-run")
    assert [(p["line"], p["text"]) for p in dry["problems"]] == [
        (
            3,
            f"{pair}:line 3: household 2 of {mask(N)} receives dibao by line 2; "
            "one dibao case per household",
        )
    ]


def test_a_mapping_of_the_countys_own(world: World, db_url: str, tmp_path: Path) -> None:
    """--mapping FILE: a ledger whose headers are its own; a mapping with a mistake is
    reported by file, line and column, and nothing is imported."""
    mapping = tmp_path / "my.yaml"
    mapping.write_text(
        "columns:\n"
        "  公民身份号码: id_number\n"
        "  户主姓名: name\n"
        "  镇: township\n"
        "  村居: village\n"
        "  户籍: {field: hukou, values: {农业: rural}}\n"
        "  当前状态: state\n"
        "  批准时间: approved_on\n"
        "  月保障金: amount\n"
        "  发放至: last_paid\n",
        encoding="utf-8",
    )
    header = ["公民身份号码", "户主姓名", "镇", "村居", "户籍", "当前状态", "批准时间", "月保障金"]
    header.append("发放至")
    f = write_xlsx(
        tmp_path / "own.xlsx",
        header,
        [[A, "刘大娘", "城关镇", "东村", "农业", "享受低保", "2023-09-20", "520", "2024-05"]],
    )
    got = import_json(db_url, str(f), "-w", "dibao", "--mapping", str(mapping))
    assert (got["imported"], got["differences"]) == (1, [])
    assert got["townships"]["城关镇"]["monthly"] == {"dibao": {"count": 1, "yuan": "520.00"}}

    mapping.write_text("columns:\n  公民身份号码: id number\n", encoding="utf-8")
    out = call(db_url, "case", "import", str(f), "-w", "dibao", "--mapping", str(mapping))
    assert out.exit_code == 3, out.output
    assert out.stderr.splitlines()[:3] == [
        "error: 2 problems found:",
        f"{mapping}:2:11: columns.公民身份号码: 'id number' is not a field name; write a "
        "person field, one of state, accepted_on, approved_on, entered_on, next_review, "
        "last_paid, account, notes, a workflow field, or amount.KIND",
        f"{mapping}:2:3: columns: no column maps to the required field(s) id_number, name, "
        "township, village, state",
    ]


def test_the_write_refuses_a_person_with_an_open_case_under_the_lock(
    world: World, db_url: str, tmp_path: Path
) -> None:
    """The last guard, inside the write's transaction: a case for a person who has an open
    case of the workflow (one committed after every earlier check) is not inserted."""
    from aidflow.errors import ConflictError
    from aidflow.store import caseimport as store

    f = write_xlsx(tmp_path / "a.xlsx", DIBAO_HEADER, DIBAO_ROWS[:1])
    assert import_json(db_url, str(f), "-w", "dibao")["imported"] == 1
    with world.session() as s:
        case = s.scalars(select(Case)).one()
        columns = {
            c: getattr(case, c)
            for c in ("person_id", "workflow_version_id", "workflow_name", "state")
            + ("state_entered_at", "deadline_at", "assigned_to", "township", "village")
            + ("data", "clocks", "emergency", "opened_at", "closed_at")
        }
    refused = pytest.raises(ConflictError, match="1 person.s. got an open dibao case")
    with refused, world.session() as s, s.begin():
        store.insert_cases(
            s, [store.NewCase(columns, {})], at=local(2024, 6, 10, 9), actor="sun", note="x"
        )
    with world.session() as s:
        assert len(s.scalars(select(Case)).all()) == 1


@pytest.mark.parametrize(
    "attack",
    [
        # an imported event's state changed, the case's own chain recomputed
        "UPDATE case_events SET to_state = 'suspended' WHERE id = :first",
        # an imported event removed
        "DELETE FROM case_events WHERE id = :last",
        # the attacker's event put in under the id of one removed
        "DELETE FROM case_events WHERE id = :last; "
        "INSERT INTO case_events (id, case_id, seq, at, actor, kind, trigger, from_state, "
        "to_state, fields, note, prev_hash, hash) SELECT :last, case_id, seq + 1, at, actor, "
        "kind, trigger, to_state, 'suspended', fields, note, '', '' FROM case_events "
        "WHERE id = :first",
    ],
    ids=["changed", "deleted", "inserted"],
)
def test_an_imported_event_changed_deleted_or_inserted_is_named(
    world: World, db_url: str, tmp_path: Path, attack: str
) -> None:
    from .test_auditlog import rechain_case

    ledger = write_xlsx(tmp_path / "ledger.xlsx", DIBAO_HEADER, DIBAO_ROWS[:2])
    assert import_json(db_url, str(ledger), "-w", "dibao")["imported"] == 2
    with world.engine.begin() as conn:
        seq, key = conn.execute(
            text("SELECT seq, subject_key FROM audit_log WHERE subject_table = 'event_sets'")
        ).one()
        first, last = (int(i) for i in key.split(".."))
        for statement in attack.split("; "):
            conn.execute(text(statement), {"first": first, "last": last})
        for (case_id,) in conn.execute(text("SELECT id FROM cases")).all():
            rechain_case(conn, case_id)
    finding = (
        f"events {first} to {last} (log entry #{seq}): a row was changed, added or removed "
        "after they were logged"
    )
    assert world.verify_log() == [finding]
    out = call(db_url, "audit", "verify", user="admin")
    assert out.exit_code == 8, out.output
    assert out.stdout.splitlines() == [finding]


def test_rows_alike_but_for_the_fields_a_deadline_reads_get_their_own_deadlines(
    world: World, db_url: str, tmp_path: Path
) -> None:
    """The import works a deadline out once per state, entry day and values of the fields its
    `deadline_when` reads: three cases approved the same day, the middle one with an unstable
    income, are reviewed after 12, 6 and 12 months; each stored clock and deadline is its own
    row's, and the chain verifies."""
    import csv

    cells = dict(accepted="2023-12-01", approved="2024-01-10", amount="500", last_paid="2024-05")
    people = [(make_id("19400101", 21 + i), f"人{i}", "城关镇", "东村") for i in range(3)]
    rows = [
        dibao(people[0], "享受低保", **paid(**cells)),
        dibao(people[1], "享受低保", **paid(**cells, stable="否")),
        dibao(people[2], "享受低保", **paid(**cells)),
    ]
    f = tmp_path / "低保.csv"  # text cells: each column's texts are converted once too
    with f.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows([DIBAO_HEADER, *rows])
    dry = import_json(db_url, str(f), "-w", "dibao", "--dry-run")
    year, half = local(2025, 1, 10), local(2024, 7, 10)
    assert dry["deadlines"] == {"2": year.isoformat(), "3": half.isoformat(), "4": year.isoformat()}
    res = import_json(db_url, str(f), "-w", "dibao")
    assert res["imported"] == 3 and res["differences"] == []
    ids = {int(k): v for k, v in res["case_ids"].items()}
    with world.session() as s:
        cases = {c.id: c for c in s.scalars(select(Case))}
        got = [(cases[ids[n]].deadline_at, cases[ids[n]].data["income_stable"]) for n in (2, 3, 4)]
        assert got == [(year, True), (half, False), (year, True)]
        assert len({str(c.clocks) for c in cases.values()}) == 1
    out = call(db_url, "audit", "verify", user="admin")
    assert out.exit_code == 0, out.output
