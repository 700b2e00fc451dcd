"""A synthetic county (`aidflow county generate`): survey lists the import reads, from a seed.

Everything follows from (persons, townships, seed) through one `random.Random`, so the same
arguments write the same files byte for byte. Written, in the directory given:

- `areas.csv`: township,village (for `aidflow area import`);
- `civil_affairs.csv`: every person (civil affairs' list: 身份证号, 姓名, 乡镇, 村, 户籍性质,
  出生日期, 建档立卡, 独居, 赡养人有能力) with household columns the import does not map
  yet (户号 household number, 与户主关系 relation to the head, 家庭人均月收入 per-capita
  monthly income in yuan, 开户银行 and 银行账号 the account in the person's own name);
- `health.csv`: the mentally ill (health's list, 精神疾病);
- `disabled_federation.csv`: certificate holders (残联: 残疾等级, 残疾类别);
- `county.json`: the mix actually drawn, and every deliberately bad row (file, line, why).

ID numbers are real GB 11643 numbers: the county's region code, a birth date that matches
the person's age group, a sequence whose last digit is odd for men and even for women, and
the ISO 7064 MOD 11-2 check character (python-stdnum). A few rows in civil_affairs.csv are
wrong on purpose, and the import must refuse exactly those: a wrong check character, an
impossible birth date (with a correct check character), and a second person written with an
ID number already in the list (another name and birth date: the import merges true
duplicates of a person, so this one is refused because its 出生日期 contradicts the number).

The mix of the survey list is an assumption (DOMAIN.md gives the groups, not their sizes):
40% lonely elderly (rural, 60-95, supporters unable), 22% severely disabled (grade 1-2, or
grade 3 intellectual/mental), 10% mentally ill, 13% others in registered-poor households
(dibao candidates outside the three groups), 15% found by the survey but in no target group
(elderly with able supporters, grade 3-4 physical disability); 90% rural household
registration outside the elderly group (who are all rural, as the plan's definition says).
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aidflow.errors import InvalidInputError
from aidflow.i18n import _

REGION = "410523"  # a county-level code; the import never refuses a number for its region
TOWNSHIP_NAMES = (
    "城关镇", "河西镇", "东岗镇", "南湖乡", "北山乡", "柳园镇", "青石镇", "白马乡",
    "红旗镇", "新庄乡", "古城镇", "双桥乡", "杨柳镇", "石门乡", "长乐镇", "永安乡",
)  # fmt: skip
VILLAGE_STEMS = (
    "东", "西", "南", "北", "王庄", "李家", "张湾", "刘营", "陈楼", "杨树", "前进", "胜利",
    "和平", "高庄", "马寨", "孙岗", "黄河", "石桥", "桃园", "新华",
)  # fmt: skip
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN_M = "国建军强伟明志勇海林华福德成永平庆文保山"
GIVEN_F = "秀英桂兰芳玉珍凤华梅霞红琴淑云翠娟丽敏"
RELATIONS = ("配偶", "子女", "父母", "兄弟姐妹")
BANKS = ("农村信用社", "中国农业银行", "中国邮政储蓄银行")
GROUPS = (  # (group, share of the list): see the module docstring
    ("lonely_elderly", 0.40),
    ("severely_disabled", 0.22),
    ("mentally_ill", 0.10),
    ("registered_poor_other", 0.13),
    ("no_group", 0.15),
)
CIVIL_HEADER = [
    "身份证号", "姓名", "乡镇", "村", "户籍性质", "出生日期", "建档立卡", "独居", "赡养人有能力",
    "户号", "与户主关系", "家庭人均月收入", "开户银行", "银行账号",
]  # fmt: skip
HEALTH_HEADER = ["身份证号", "姓名", "乡镇", "村", "户籍性质", "精神疾病"]
DISABLED_HEADER = ["身份证号", "姓名", "乡镇", "村", "户籍性质", "残疾等级", "残疾类别"]
GRADES = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
TYPES = {"physical": "肢体", "visual": "视力", "intellectual": "智力", "mental": "精神"}


@dataclass
class SyntheticPerson:
    id_number: str
    name: str
    sex: str
    birth_date: date
    township: str
    village: str
    hukou: str
    group: str
    household: str
    relation: str
    income: int  # yuan per person per month
    bank: str
    account: str
    registered_poor: bool = False
    living_alone: bool = False
    supporter_able: bool = True
    disability_grade: int | None = None
    disability_type: str | None = None
    mental_illness: bool = False


@dataclass
class BadRow:
    file: str
    line: int
    id_number: str
    reason: str


@dataclass
class SyntheticCounty:
    persons: list[SyntheticPerson]
    areas: list[tuple[str, str]]
    bad_rows: list[BadRow] = field(default_factory=list)
    seed: str = ""

    def mix(self) -> dict[str, int]:
        out: dict[str, int] = {g: 0 for g, _ in GROUPS}
        for p in self.persons:
            out[p.group] += 1
        return out


def check_digit(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of 17 digits (stdnum reads the first 17 of an
    18-character number, so a placeholder stands for the check character)."""
    from stdnum.cn import ric

    digit: str = ric.calc_check_digit(body17 + "0")
    return digit


def _luhn_account(rng: random.Random) -> str:
    from stdnum import luhn

    body = "621" + "".join(rng.choice("0123456789") for _ in range(15))
    return body + str(luhn.calc_check_digit(body))


def _age_range(group: str, rng: random.Random) -> int:
    if group == "lonely_elderly":
        return rng.randint(60, 95)
    if group == "no_group" and rng.random() < 0.5:
        return rng.randint(60, 90)  # elderly whose supporters are able: not a gap
    return rng.randint(18, 85)


def _birth(age: int, on: date, rng: random.Random) -> date:
    """A birth date at which the person is `age` on `on`."""
    latest = date(on.year - age, on.month, min(on.day, 28))
    return latest - timedelta(days=rng.randint(0, 364))


def generate(
    persons: int, townships: int, seed: str, on: date = date(2023, 7, 1)
) -> SyntheticCounty:
    """The county's persons and areas, deterministic from the arguments (`on`: the survey day
    the ages are counted at)."""
    if persons < 10:
        raise InvalidInputError(
            _("--persons {persons} is too few", persons=persons), hint=_("give at least 10")
        )
    if not 1 <= townships <= len(TOWNSHIP_NAMES):
        raise InvalidInputError(
            _("--townships {townships} is out of range", townships=townships),
            hint=_("give 1 to {most}", most=len(TOWNSHIP_NAMES)),
        )
    rng = random.Random(f"aidflow-county:{seed}")
    areas: list[tuple[str, str]] = []
    for town in TOWNSHIP_NAMES[:townships]:
        stems = rng.sample(VILLAGE_STEMS, rng.randint(3, 6))
        areas += [(town, f"{s}村") for s in stems]
    used: set[str] = set()
    out: list[SyntheticPerson] = []
    household_no = 0
    while len(out) < persons:
        town, village = rng.choice(areas)
        household_no += 1
        hh = f"{town[:2]}{household_no:06d}"
        income = rng.choice((0, 0, 120, 260, 380, 450, 520, 640, 800, 1100, 1500))
        size = min(rng.choice((1, 1, 1, 2, 2, 3, 4)), persons - len(out))
        for member in range(size):
            group = _draw_group(rng)
            age = _age_range(group, rng)
            sex = rng.choice("MF")
            born = _birth(age, on, rng)
            id_number = _new_id(rng, born, sex, used)
            surname = rng.choice(SURNAMES)
            given = GIVEN_M if sex == "M" else GIVEN_F
            name = surname + "".join(rng.choice(given) for _ in range(rng.choice((1, 2))))
            p = SyntheticPerson(
                id_number=id_number,
                name=name,
                sex=sex,
                birth_date=born,
                township=town,
                village=village,
                hukou="rural" if group == "lonely_elderly" or rng.random() < 0.9 else "urban",
                group=group,
                household=hh,
                relation="户主"
                if member == 0
                else rng.choice(("配偶", "子女", "父母", "兄弟姐妹")),
                income=income,
                bank=rng.choice(BANKS),
                account=_luhn_account(rng),
            )
            _traits(p, rng)
            out.append(p)
    county = SyntheticCounty(out, areas, seed=seed)
    return county


def _draw_group(rng: random.Random) -> str:
    x, acc = rng.random(), 0.0
    for group, share in GROUPS:
        acc += share
        if x < acc:
            return group
    return GROUPS[-1][0]


def _new_id(rng: random.Random, born: date, sex: str, used: set[str]) -> str:
    while True:
        seq = rng.randint(0, 99) * 10 + rng.choice(
            (1, 3, 5, 7, 9) if sex == "M" else (0, 2, 4, 6, 8)
        )
        body = f"{REGION}{born:%Y%m%d}{seq:03d}"
        number = body + check_digit(body)
        if number not in used:
            used.add(number)
            return number


def _traits(p: SyntheticPerson, rng: random.Random) -> None:
    g = p.group
    p.registered_poor = g == "registered_poor_other" or rng.random() < 0.25
    if g == "lonely_elderly":
        p.supporter_able = False
        p.living_alone = rng.random() < 0.8
    elif g == "severely_disabled":
        if rng.random() < 0.75:
            p.disability_grade = rng.choice((1, 2))
            p.disability_type = rng.choice(tuple(TYPES))
        else:
            p.disability_grade = 3
            p.disability_type = rng.choice(("intellectual", "mental"))
        p.supporter_able = rng.random() < 0.5
    elif g == "mentally_ill":
        p.mental_illness = True
        p.supporter_able = rng.random() < 0.5
    elif g == "no_group":
        p.supporter_able = True
        if rng.random() < 0.4:
            p.disability_grade = rng.choice((3, 4))
            p.disability_type = "physical"
    else:
        p.supporter_able = rng.random() < 0.3


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _hukou(p: SyntheticPerson) -> str:
    return "农业" if p.hukou == "rural" else "非农业"


def civil_row(p: SyntheticPerson) -> list[str]:
    return [
        p.id_number,
        p.name,
        p.township,
        p.village,
        _hukou(p),
        p.birth_date.isoformat(),
        _yes(p.registered_poor),
        _yes(p.living_alone),
        "有" if p.supporter_able else "无",
        p.household,
        p.relation,
        str(p.income),
        p.bank,
        p.account,
    ]


def _bad_rows(county: SyntheticCounty, rng: random.Random) -> list[tuple[BadRow, list[str]]]:
    """The deliberately bad rows of civil_affairs.csv (about 1 in 500, at least one of each)."""
    each = max(1, len(county.persons) // 1500)
    out: list[tuple[BadRow, list[str]]] = []
    for i in range(each):
        base = county.persons[rng.randrange(len(county.persons))]
        # a wrong check character: the right number with its last character changed
        body = f"{REGION}19560412{(2 * i + 1) % 1000:03d}"
        right = check_digit(body)
        wrong = next(c for c in "0123456789X" if c != right)
        row = civil_row(base)
        row[0], row[1], row[5] = body + wrong, "错码" + base.name, "1956-04-12"
        out.append((BadRow("civil_affairs.csv", 0, body + wrong, "wrong check character"), row))
        # an impossible birth date (30 February) whose check character is right
        body = f"{REGION}19480230{(2 * i + 2) % 1000:03d}"
        row = civil_row(base)
        row[0], row[1], row[5] = body + check_digit(body), "错日" + base.name, ""
        out.append((BadRow("civil_affairs.csv", 0, row[0], "impossible birth date"), row))
        # another person written with an ID number already in the list
        row = civil_row(base)
        other = base.birth_date + timedelta(days=400)
        row[1], row[5] = "重号" + base.name, other.isoformat()
        out.append((BadRow("civil_affairs.csv", 0, base.id_number, "duplicate ID number"), row))
    return out


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def files(county: SyntheticCounty) -> dict[str, bytes]:
    """The county's files by name (see the module docstring)."""
    rng = random.Random(f"aidflow-county-bad:{county.seed}")
    rows = [civil_row(p) for p in county.persons]
    bad = _bad_rows(county, rng)
    county.bad_rows = []
    for _bad, row in bad:
        at = rng.randint(1, len(rows))  # insert among the good rows
        rows.insert(at, row)
    # line numbers: header is line 1, so row index i is line i + 2
    for bad_row, row in bad:
        bad_row.line = next(i + 2 for i, r in enumerate(rows) if r is row)
        county.bad_rows.append(bad_row)
    county.bad_rows.sort(key=lambda b: b.line)
    health = [
        [
            p.id_number,
            p.name,
            p.township,
            p.village,
            "农业" if p.hukou == "rural" else "非农业",
            "是",
        ]
        for p in county.persons
        if p.mental_illness
    ]
    disabled = [
        [
            p.id_number,
            p.name,
            p.township,
            p.village,
            _hukou(p),
            GRADES[p.disability_grade],
            TYPES[p.disability_type or "physical"],
        ]
        for p in county.persons
        if p.disability_grade is not None
    ]
    summary: dict[str, Any] = {
        "seed": county.seed,
        "persons": len(county.persons),
        "townships": sorted({t for t, _ in county.areas}),
        "villages": len(county.areas),
        "households": len({p.household for p in county.persons}),
        "mix": county.mix(),
        "bad_rows": [asdict(b) for b in county.bad_rows],
    }
    return {
        "areas.csv": _csv(["township", "village"], [list(a) for a in county.areas]),
        "civil_affairs.csv": _csv(CIVIL_HEADER, rows),
        "health.csv": _csv(HEALTH_HEADER, health),
        "disabled_federation.csv": _csv(DISABLED_HEADER, disabled),
        "county.json": (json.dumps(summary, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    }


def write_county(county: SyntheticCounty, directory: Path) -> dict[str, Path]:
    """Write the county's files into `directory` (created if needed); their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in files(county).items():
        path = directory / name
        path.write_bytes(data)
        written[name] = path
    return written
