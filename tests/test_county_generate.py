"""`aidflow county generate` and `aidflow demo --county`: a synthetic county from a seed whose
ID numbers are all valid but for the deliberate bad rows, which the import refuses exactly."""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from aidflow.cli.main import cli as aidflow
from aidflow.files.synthetic import files, generate

from .conftest import Cli, World
from .test_readme import CLEAN_ENV

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]  # GB 11643


def check_character(number: str) -> str:
    """ISO 7064 MOD 11-2, written out here rather than taken from the code under test."""
    total = sum(int(d) * w for d, w in zip(number[:17], WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def problems(number: str, birth_column: str, seen: set[str]) -> list[str]:
    found = []
    if check_character(number) != number[17]:
        found.append("check")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        found.append("date")
    else:
        if birth_column and birth_column != born.isoformat():
            found.append("birth column")
    if number in seen:
        found.append("duplicate")
    seen.add(number)
    return found


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_same_seed_same_files_and_a_realistic_mix() -> None:
    a, b = files(generate(400, 4, "x")), files(generate(400, 4, "x"))
    assert a == b
    assert files(generate(400, 4, "y"))["civil_affairs.csv"] != a["civil_affairs.csv"]
    county = generate(400, 4, "x")
    mix = county.mix()
    assert sum(mix.values()) == 400 and all(n > 0 for n in mix.values())
    on = date(2023, 7, 1)
    for p in county.persons:
        age = on.year - p.birth_date.year - ((on.month, on.day) < (p.birth_date.month,
                                                                  p.birth_date.day))  # fmt: skip
        assert 18 <= age <= 95
        assert int(p.id_number[16]) % 2 == (1 if p.sex == "M" else 0)  # odd for men
        if p.group == "lonely_elderly":
            assert age >= 60 and p.hukou == "rural" and not p.supporter_able
        if p.group == "severely_disabled":
            assert p.disability_grade in (1, 2) or (
                p.disability_grade == 3 and p.disability_type in ("intellectual", "mental")
            )
    assert len({t for t, _ in county.areas}) == 4
    assert len({p.household for p in county.persons}) < 400  # some households have members


def test_ids_valid_but_the_bad_rows_and_the_import_refuses_exactly_those(
    world: World, db_url: str, tmp_path: Path
) -> None:
    out = CliRunner().invoke(
        aidflow,
        [
            "county",
            "generate",
            "--persons",
            "200",
            "--townships",
            "2",
            "--seed",
            "5",
            "--output",
            str(tmp_path),
        ],  # fmt: skip
        env=CLEAN_ENV,
    )
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "county.json").read_text(encoding="utf-8"))
    bad = {b["line"]: b["reason"] for b in summary["bad_rows"]}
    assert sorted(bad.values()) == [
        "duplicate ID number",
        "impossible birth date",
        "wrong check character",
    ]
    seen: set[str] = set()
    found = {}
    for line, row in enumerate(rows(tmp_path / "civil_affairs.csv"), 2):
        wrong = problems(row["身份证号"], row["出生日期"], seen)
        if wrong:
            found[line] = wrong
        assert len(row["银行账号"]) == 19 and row["户号"]
    assert set(found) == set(bad), (found, bad)
    for name in ("health.csv", "disabled_federation.csv"):
        assert all(not problems(r["身份证号"], "", set()) for r in rows(tmp_path / name))

    cli = Cli(db_url, now="2023-07-10T09:00")
    assert cli("area", "import", str(tmp_path / "areas.csv"), user="admin").exit_code == 0
    civil = str(tmp_path / "civil_affairs.csv")
    refused = cli("person", "import", civil, "--source", "civil_affairs", user="sun")
    assert refused.exit_code == 3
    listed = [int(n) for n in re.findall(r"line (\d+):", refused.stderr)]
    assert sorted(set(listed)) == sorted(bad)
    done = cli("person", "import", civil, "--source", "civil_affairs", "--skip-bad", user="sun")
    assert done.exit_code == 0, done.output
    assert f"skipped 3 bad rows (lines {', '.join(map(str, sorted(bad)))})" in done.output
    assert "200 rows, 200 new persons" in done.output
    for source in ("health", "disabled_federation"):
        out = cli("person", "import", str(tmp_path / f"{source}.csv"), "--source", source,
                  user="sun")  # fmt: skip
        assert out.exit_code == 0, out.output
        assert "0 new persons" in out.output


def test_demo_county_runs_and_prints_the_report(tmp_path: Path) -> None:
    db_file = tmp_path / "county.db"
    out = CliRunner().invoke(
        aidflow,
        ["demo", "--county", "--persons", "60", "--townships", "2", "--db-file", str(db_file)],
        env=CLEAN_ENV,
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    text = out.output
    assert "refused lines" in text  # the bad rows of the generated list
    assert "payments 2023-09: payment run" in text and "bank answer" in text
    assert "== Total ==" in text and "Centralized-support rate" in text
    assert "aidflow login http://127.0.0.1:8080" in text
    page = (tmp_path / "county-data" / "report.html").read_text(encoding="utf-8")
    assert "<svg" in page and "http" not in page.replace("http://127.0.0.1", "")
    # the database is left to browse: the report reads the same figures again
    again = CliRunner().invoke(
        aidflow,
        [
            "--db",
            str(db_file),
            "--as",
            "csup",
            "--now",
            "2023-10-09T09:00",
            "report",
            "--from",
            "2023-07-01",
            "--to",
            "2023-09-30",
            "--format",
            "json",
        ],  # fmt: skip
        env=CLEAN_ENV,
    )
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["total"]["opened"] > 0
    assert report["total"]["emergency_response"]["count"] > 0
