"""The operations registry: every command's operation exists, refuses parameters that do
not fit it, and a file sent as bytes is read as the file itself (SQLite and PostgreSQL)."""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from aidflow.cli.app import App
from aidflow.errors import InvalidInputError, NotFoundError
from aidflow.operations import MODULES, REGISTRY, Operation, find
from aidflow.settings import load_settings
from aidflow.store.models import ImportRun

from .conftest import REPO, World
from .test_import import CIVIL_HEADER, DATA, make_id, persons, write_csv

CLI = REPO / "src" / "aidflow" / "cli"


def registered() -> dict[str, Operation]:
    find("person.add")  # the first lookup imports every module in MODULES
    return dict(REGISTRY)


def called_names() -> set[str]:
    """The operation names the CLI's commands call: `app.call("NAME", ...)`."""
    names = set()
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "call"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def test_every_operation_the_cli_calls_is_registered() -> None:
    ops = registered()
    called = called_names()
    assert {
        "person.add",
        "person.import",
        "workflow.deploy",
        "payments.export",
        "audit.verify",
    } <= called
    for name in sorted(called):
        assert find(name).name == name
    # every module in MODULES defines at least one operation
    modules = {op.function.__module__ for op in ops.values()}
    assert set(MODULES) == modules


# Operations that change nothing in the database; every other one counts as a write (the
# clock's and the server's rules for writes apply to it), also those that commit in units
# of their own.
READS = {
    "workflow.list",
    "workflow.show",
    "workflow.diagram",
    "escalation.list",
    "outbox.list",
    "visit.due",
    "ledger.export",
    "lookback.find",
    "audit.verify",
    "audit.checkpoint",
    "report.county",
    "household.show",
    "workflow.simulate",  # runs on throw-away copies; the database is only read
    "notice.village",
    "person.show",
    "person.find",
}


def test_only_the_reading_operations_are_registered_as_reads() -> None:
    ops = {n: op for n, op in registered().items() if not n.startswith(("case.", "user.", "area."))}
    assert {n for n, op in ops.items() if not op.write} == READS
    assert {n for n, op in ops.items() if op.own_units} == {
        "person.import",
        "lookback.open",
        "payments.export",  # reads in a read-only unit, records the batch in a short one
    }


def test_an_unknown_operation_is_refused_with_a_suggestion() -> None:
    with pytest.raises(NotFoundError) as info:
        find("person.imprt")
    assert info.value.message == "no operation named 'person.imprt'"
    assert info.value.hint == "did you mean 'person.import'?"


def _fields(op: Operation) -> dict[str, Any]:
    """The operation's parameters and their types (pydantic's model of its signature, made
    on the first check of its parameters)."""
    from aidflow.operations import _MODELS

    with contextlib.suppress(InvalidInputError):  # required parameters are missing
        op.parameters({})
    return {name: f.annotation for name, f in _MODELS[op.name].model_fields.items()}


def _wrong_value(annotation: Any) -> Any:
    """A JSON value the annotation does not accept: a list for a mapping, a mapping otherwise."""
    types = get_args(annotation) or (annotation,)
    if any(get_origin(t) is dict or t is dict for t in types):
        return [1]
    return {"not": "this"}


@pytest.mark.parametrize("name", sorted(registered()))
def test_parameters_refuse_an_unknown_name_and_a_wrong_type(name: str) -> None:
    op = find(name)
    with pytest.raises(InvalidInputError) as info:
        op.parameters({"no_such_parameter": 1})
    assert info.value.message.startswith(f"{name}: ")
    assert "no_such_parameter: Extra inputs are not permitted" in info.value.message
    assert info.value.hint == "check the command's parameters"
    for field, annotation in _fields(op).items():
        with pytest.raises(InvalidInputError) as info:
            op.parameters({field: _wrong_value(annotation)})
        assert info.value.message.startswith(f"{name}: "), info.value.message
        # the field, or an item of it (files.0), is named after the operation or a "; "
        assert re.search(rf"(^{re.escape(name)}: |; ){field}[.:]", info.value.message), (
            info.value.message
        )


def test_a_wrong_type_is_named_exactly() -> None:
    with pytest.raises(InvalidInputError) as info:
        find("escalation.ack").parameters({"escalation_id": "seven"})
    assert info.value.message == (
        "escalation.ack: escalation_id: Input should be a valid integer, "
        "unable to parse string as an integer"
    )
    with pytest.raises(InvalidInputError) as info:
        find("visit.log").parameters({"case_id": 1, "kind": "visit", "at": "yesterday"})
    assert info.value.message.startswith("visit.log: at: Input should be a valid datetime")


def test_iso_times_are_parsed_from_text() -> None:
    values = find("visit.log").parameters(
        {"case_id": 3, "kind": "visit", "at": "2023-08-01T09:00:00+08:00"}
    )
    assert values["at"] == datetime(2023, 8, 1, 1, 0, tzinfo=UTC)
    assert values["case_id"] == 3 and values["by"] is None


# -- a file sent as bytes ------------------------------------------------------------------


@pytest.fixture
def app(world: World, db_url: str) -> Iterator[App]:
    a = App(load_settings({"database_url": db_url, "user": "li", "now": "2023-08-01T09:00"}))
    yield a
    a.close()


def sent(path: Path) -> dict[str, str]:
    return {
        "content_b64": base64.b64encode(path.read_bytes()).decode("ascii"),
        "file_name": str(path),
    }


def test_person_import_through_call_is_the_import_of_the_file(
    world: World, app: App, db_url: str
) -> None:
    """The list travels as bytes; the run, the persons and the messages are those of the
    file as the user named it, and the importer reading the file itself finds the same run."""
    from aidflow.engine.access import Actor
    from aidflow.policy.mappings import load_import_policy
    from aidflow.services.survey import Importer
    from aidflow.store.session import Session

    f = DATA / "civil_affairs.csv"
    result = app.call("person.import", source="civil_affairs", **sent(f))
    assert json.loads(json.dumps(result)) == result  # what the server sends is what local gets
    assert result == {
        "run_id": 1,
        "file": str(f),
        "source": "civil_affairs",
        "rows_total": 3,
        "imported": 3,
        "created": 3,
        "merged": 0,
        "already_done": False,
        "resumed_after": 0,
        "skipped": [],
        "disagreements": [],
    }
    with world.session() as s:
        assert list(s.scalars(select(ImportRun.file))) == [str(f)]
    p = persons(world)["110105195003010120"]
    assert (p.name, p.township, p.village, p.hukou, p.sex, p.birth_date) == (
        "李桂兰",
        "城关镇",
        "东村",
        "rural",
        "F",
        date(1950, 3, 1),
    )
    # the importer on the file itself (the path before operations) sees the same run, done
    engine = app.database.engine
    direct = Importer(
        lambda: Session(engine, expire_on_commit=False),
        load_import_policy(app.county.import_mappings_file),
        Actor("li", ("township_caseworker",), "城关镇"),
        f,
        "civil_affairs",
        now=datetime(2023, 8, 1, 1, 0, tzinfo=UTC),
        today=date(2023, 8, 1),
    ).run()
    assert (direct.already_done, direct.run_id, direct.rows_total) == (True, 1, 3)
    again = app.call("person.import", source="civil_affairs", **sent(f))
    assert (again["already_done"], again["run_id"]) == (True, 1)


def test_a_bad_list_sent_as_bytes_is_named_as_the_user_named_it(
    world: World, app: App, tmp_path: Path
) -> None:
    a = make_id("19500301", 12)
    f = write_csv(
        tmp_path / "bad list.csv",
        [CIVIL_HEADER, f"{a},李四,城关镇,东村,农业,,,,", "123,王五,城关镇,东村,农业,,,,"],
    )
    with pytest.raises(InvalidInputError) as info:
        app.call("person.import", source="civil_affairs", **sent(f))
    assert info.value.message.startswith(f"{f}: 1 bad row, nothing imported:\n  line 3: ")
    assert "aidflow-upload" not in info.value.message
    # a workbook that is not one: the table reader's message names the user's file
    x = tmp_path / "list.xlsx"
    x.write_bytes(b"not a zip")
    with pytest.raises(InvalidInputError) as info:
        app.call("person.import", source="civil_affairs", **sent(x))
    assert info.value.message.startswith(f"{x}: not a readable XLSX workbook (")
    with world.session() as s:
        assert list(s.scalars(select(ImportRun.file))) == []


def test_a_workbook_sent_as_bytes_imports(world: World, app: App, tmp_path: Path) -> None:
    x = tmp_path / "list.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(CIVIL_HEADER.split(","))
    sheet.append([make_id("19500301", 12), "李四", "城关镇", "东村", "农业"])
    book.save(x)
    result = app.call("person.import", source="civil_affairs", **sent(x))
    assert (result["file"], result["created"]) == (str(x), 1)


def test_content_that_is_not_base64_is_refused(app: App) -> None:
    with pytest.raises(InvalidInputError) as info:
        app.call("person.import", source="civil_affairs", content_b64="%%%", file_name="list.csv")
    assert info.value.message == "list.csv: the file's content is not base64"


def test_a_sent_checkpoint_is_written_only_under_a_plain_name(world: World, app: App) -> None:
    """A checkpoint file name from the sender cannot lead the write out of its directory."""
    with pytest.raises(InvalidInputError) as info:
        app.call("audit.verify", checkpoints={"../../escape.json": "{}"}, public_key="0" * 64)
    assert info.value.message == "checkpoint file name '../../escape.json' is not a plain NAME.json"
    assert not (Path.cwd().parent / "escape.json").exists()


def test_a_returned_file_is_written_whole_and_never_through_a_symlink(tmp_path: Path) -> None:
    """A bank file or ledger coming back from an operation replaces a symlink planted at the
    target instead of writing into the file it points to, and leaves no temporary file."""
    from aidflow.cli.files import write_file

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "payments-2023-08.csv"
    out.symlink_to(victim)
    write_file(out, b"reference,name\n")
    assert victim.read_text() == "keep me"
    assert not out.is_symlink() and out.read_bytes() == b"reference,name\n"
    assert (out.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payments-2023-08.csv", "victim.txt"]
    with pytest.raises(InvalidInputError) as info:
        write_file(tmp_path / "missing" / "x.csv", b"x")
    assert (
        info.value.message
        == f"cannot write {tmp_path / 'missing' / 'x.csv'}: No such file or directory"
    )
