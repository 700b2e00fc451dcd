"""Rows a bulk write logs one entry per page for (auditlog.ROW_SETS), attacked with SQL.

A survey import logs each batch of new persons as one entry whose digest covers every
person's content: `aidflow audit verify` must still name a person changed, inserted or
deleted behind the log's back, and a later list filling in a person logs the batch again
without laundering a change made behind the log's back before it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from .conftest import Cli
from .test_auditlog import tampered
from .test_payments import County, county  # noqa: F401

HEADER = "身份证号,姓名,乡镇,村,户籍性质,出生日期,建档立卡,独居,赡养人有能力,备注\n"


@pytest.fixture
def imported(county: County, db_url: str) -> County:  # noqa: F811
    data = Path(__file__).parent / "data" / "civil_affairs.csv"
    result = Cli(db_url)("person", "import", str(data), "--source", "civil_affairs", user="sun")
    assert result.exit_code == 0, result.output
    return county


def sql(books: County, statement: str, **params: object) -> None:
    with books.engine.begin() as conn:
        conn.execute(text(statement), params)


def set_entry(books: County) -> tuple[int, str]:
    """(seq, key) of the last entry logging the imported persons."""
    with books.engine.connect() as conn:
        seq, key = conn.execute(
            text(
                "SELECT seq, subject_key FROM audit_log WHERE subject_table = 'person_sets' "
                "ORDER BY seq DESC LIMIT 1"
            )
        ).one()
    return int(seq), str(key)


def test_an_imported_batch_verifies_as_one_entry(imported: County, db_url: str) -> None:
    assert set_entry(imported)[1] == "1..3"
    result = Cli(db_url)("audit", "verify")
    assert result.exit_code == 0, result.output


def test_an_imported_persons_name_changed(imported: County, db_url: str) -> None:
    sql(imported, "UPDATE persons SET name = '王五' WHERE id = 2")
    seq, _ = set_entry(imported)
    tampered(
        Cli(db_url)("audit", "verify"),
        f"persons 1 to 3 (log entry #{seq}): a row was changed, added or removed after they "
        "were logged",
    )


def test_an_imported_person_deleted(imported: County, db_url: str) -> None:
    sql(imported, "DELETE FROM person_sources WHERE person_id = 3")
    sql(imported, "DELETE FROM persons WHERE id = 3")
    seq, _ = set_entry(imported)
    tampered(
        Cli(db_url)("audit", "verify"),
        f"persons 1 to 3 (log entry #{seq}): a row was changed, added or removed after they "
        "were logged",
    )


def test_a_person_inserted_in_place_of_an_imported_one(imported: County, db_url: str) -> None:
    # the attacker's own person under the id of one they removed: inside the batch's range
    sql(imported, "DELETE FROM person_sources WHERE person_id = 3")
    sql(imported, "DELETE FROM persons WHERE id = 3")
    sql(
        imported,
        "INSERT INTO persons (id, id_number, name, birth_date, sex, township, village, hukou, "
        "mental_illness, registered_poor, related_users, created_at) SELECT 3, "
        "'110105198001010012', name, birth_date, sex, township, village, hukou, "
        "mental_illness, registered_poor, related_users, created_at FROM persons WHERE id = 1",
    )
    seq, _ = set_entry(imported)
    tampered(
        Cli(db_url)("audit", "verify"),
        f"persons 1 to 3 (log entry #{seq}): a row was changed, added or removed after they "
        "were logged",
    )


def test_a_person_inserted_behind_the_logs_back(imported: County, db_url: str) -> None:
    sql(
        imported,
        "INSERT INTO persons (id_number, name, birth_date, sex, township, village, hukou, "
        "mental_illness, registered_poor, related_users, created_at) SELECT "
        "'110105198001010012', name, birth_date, sex, township, village, hukou, "
        "mental_illness, registered_poor, related_users, created_at FROM persons WHERE id = 1",
    )
    tampered(
        Cli(db_url)("audit", "verify"), "person 4: not in the audit log: written behind its back"
    )


def fill_in(tmp_path: Path, db_url: str) -> None:
    """A later list states whether 张国强 (person 2) lives alone, which the first left empty."""
    later = tmp_path / "later.csv"
    later.write_text(
        HEADER + "110105194007150310,张国强,城关镇,东村,非农业,,是,是,,\n", encoding="utf-8"
    )
    result = Cli(db_url)("person", "import", str(later), "--source", "civil_affairs", user="sun")
    assert result.exit_code == 0, result.output


def test_a_person_filled_in_by_a_later_list_logs_the_batch_again(
    imported: County, db_url: str, tmp_path: Path
) -> None:
    before, key = set_entry(imported)
    fill_in(tmp_path, db_url)
    after, again = set_entry(imported)
    assert again == key and after > before
    result = Cli(db_url)("audit", "verify")
    assert result.exit_code == 0, result.output
    sql(imported, "UPDATE persons SET village = '西村' WHERE id = 1")
    tampered(
        Cli(db_url)("audit", "verify"),
        f"persons 1 to 3 (log entry #{after}): a row was changed, added or removed after they "
        "were logged",
    )


def test_a_change_behind_the_logs_back_is_not_laundered_by_a_later_fill(
    imported: County, db_url: str, tmp_path: Path
) -> None:
    seq, _ = set_entry(imported)
    sql(imported, "UPDATE persons SET mental_illness = NOT mental_illness WHERE id = 1")
    fill_in(tmp_path, db_url)  # person 2, of the same batch, changes legitimately
    assert set_entry(imported)[0] == seq  # the batch is not logged again as it now is
    tampered(
        Cli(db_url)("audit", "verify"),
        f"persons 1 to 3 (log entry #{seq}): a row was changed, added or removed after they "
        "were logged",
    )
