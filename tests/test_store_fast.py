"""The store's fast path reads and writes exactly what plain `conn.execute(stmt)` does.

Every `Fast` statement of the store runs twice over the same rows, on SQLite and on
PostgreSQL: once on the fast path, once through SQLAlchemy's own execute. Reads must
return the same values (JSON, aware UTC datetimes, booleans, NULLs); writes must match
the same number of rows and leave the same row behind. Each write runs in a transaction
that is rolled back, so both runs start from the same database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import Connection, select

from aidflow.language.definition import PERSON_COLUMNS
from aidflow.store import cases, events, fast, persons, users, votes, workflows
from aidflow.store.fast import Fast
from aidflow.store.tables import CASES, EVENTS, VOTES

from .conftest import OS_LOGIN, PERSON_ID, World

MODULES: tuple[ModuleType, ...] = (cases, events, fast, persons, users, votes, workflows)
AT = datetime(2023, 8, 3, 2, 30, 15, 123456, tzinfo=UTC)


def module_statements() -> dict[str, Fast]:
    """Every Fast statement defined at module level in the store, by module.name."""
    found = {}
    for mod in MODULES:
        for name, value in vars(mod).items():
            if isinstance(value, Fast):
                found[f"{mod.__name__.rsplit('.', 1)[1]}.{name}"] = value
    return found


def setup_cases(world: World) -> dict[str, int]:
    """Two cases of the person: one in village review with a vote and JSON data, one an
    emergency with nothing assigned; returns their ids and the ids they refer to."""
    cid = world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    world.fire("li", cid, "accept")
    world.fire("li", cid, "start_investigation", investigators="li,zhao")
    world.fire("li", cid, "submit_findings", "visited", monthly_income="120", income_stable="false")
    world.run(lambda svc: svc.vote(svc.actor("rep1"), cid, "yes"))
    world.run(lambda svc: svc.add_note(svc.actor("li"), cid, "called", command_id="key-1"))
    other = world.run(
        lambda svc: (
            svc.open_case(svc.actor("li"), PERSON_ID, "temporary_assistance", emergency=True).id
        )
    )
    case = world.run(lambda svc: svc.case(cid))
    return {
        "case": cid,
        "other": other,
        "version": case.workflow_version_id,
        "person": case.person_id,
        "round": case.entry_seq,
        "last_seq": case.last_seq,
        "case_version": case.version,
    }


def reads(ids: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Parameters for each read: several where a NULL, a miss or a second row is possible."""
    cid, other = ids["case"], ids["other"]
    return {
        "cases._BY_ID": [{"b_id": cid}, {"b_id": other}, {"b_id": 999}],
        "cases._FOR_WRITE": [{"b_id": cid}, {"b_id": other}],
        "events._FIRED": [{"b_id": cid}, {"b_id": other}],
        "events._OF_CASE": [{"b_id": cid}, {"b_id": other}],
        "events._BY_COMMAND": [{"b_key": "key-1"}, {"b_key": "none"}],
        "events._STATE_AT": [{"b_id": cid, "b_seq": ids["round"]}, {"b_id": cid, "b_seq": 1}],
        "persons._BY_ID": [{"b_id": ids["person"]}],
        "persons._BY_ID_NUMBER": [{"b_number": PERSON_ID}],
        "users._USER": [{"b_name": "li"}, {"b_name": "nobody"}],
        "users._BY_LOGIN": [{"b_login": OS_LOGIN}, {"b_login": "nobody"}],
        "users._ACCESS": [{"b_name": "chen"}, {"b_name": "sun"}],
        "votes._OF_ROUND": [{"b_id": cid, "b_round": ids["round"]}],
        "workflows._HASH_BY_ID": [{"b_id": ids["version"]}],
        "workflows._JSON_BY_ID": [{"b_id": ids["version"]}],
        "workflows._VERSION_BY_ID": [{"b_id": ids["version"]}],
    }


Check = Callable[[Connection], list[tuple[Any, ...]]]


def case_row(cid: int) -> Check:
    return lambda conn: [tuple(r) for r in conn.execute(select(CASES).where(CASES.c.id == cid))]


def event_rows(cid: int) -> Check:
    cols = [c for c in EVENTS.c if c.key != "id"]  # PostgreSQL's sequence moves on: ids differ
    return lambda conn: [
        tuple(r)
        for r in conn.execute(select(*cols).where(EVENTS.c.case_id == cid).order_by(EVENTS.c.seq))
    ]


def vote_rows(cid: int) -> Check:
    cols = [c for c in VOTES.c if c.key != "id"]
    return lambda conn: [
        tuple(r)
        for r in conn.execute(select(*cols).where(VOTES.c.case_id == cid).order_by(VOTES.c.voter))
    ]


def writes(ids: dict[str, int]) -> dict[str, tuple[Fast, list[dict[str, Any]], Check]]:
    """(statement, parameters to try, what to compare afterwards) for each write."""
    cid, seq, version = ids["case"], ids["last_seq"], ids["case_version"]
    data = {"monthly_income": 120, "note": '多 "quoted"', "flags": [True, None, 1.5]}
    clocks = {"statutory": {"status": "paused", "left_seconds": 3600}}
    move = {
        "b_id": cid,
        "b_version": version,
        "b_state": "public_notice",
        "b_entered": AT,
        "b_entry_seq": seq + 1,
        "b_deadline": None,
        "b_closed": AT,
        "b_seq": seq + 1,
        "b_hash": "f" * 64,
        "b_data": data,
        "b_clocks": clocks,
    }
    head = {"b_id": cid, "b_version": version, "b_seq": seq + 1, "b_hash": "e" * 64}
    event = {
        "b_case_id": cid,
        "b_seq": seq + 1,
        "b_at": AT,
        "b_actor": "li",
        "b_kind": "transition",
        "b_trigger": None,
        "b_from": "village_review",
        "b_to": None,
        "b_fields": {"amount": 650, "ok": False, "none": None},
        "b_note": None,
        "b_prev": "a" * 64,
        "b_hash": "b" * 64,
        "b_command": None,
        "b_entered_by": None,
    }
    vote = {
        "b_case_id": cid,
        "b_round": ids["round"],
        "b_voter": "rep2",
        "b_choice": "no",
        "b_entered_by": "admin",
    }
    out: dict[str, tuple[Fast, list[dict[str, Any]], Check]] = {
        "cases._SET_DATA": (cases._SET_DATA, [{"b_id": cid, "b_data": data}], case_row(cid)),
        "events._HEAD": (events._HEAD, [head, dict(head, b_version=version + 5)], case_row(cid)),
        "events._HEAD_ANY_VERSION": (events._HEAD_ANY_VERSION, [head], case_row(cid)),
        "events._INSERT": (
            events._INSERT,
            [event, dict(event, b_command="key-2", b_note="旁注", b_entered_by="admin")],
            event_rows(cid),
        ),
        "votes._INSERT": (votes._INSERT, [dict(vote, b_at=AT)], vote_rows(cid)),
    }
    for optional in ((), ("data",), ("clocks",), ("data", "clocks")):
        out[f"events.move_statement{optional}"] = (
            events.move_statement(optional),
            [move, dict(move, b_version=version + 1)],
            case_row(cid),
        )
    return out


def test_every_fast_statement_is_compared() -> None:
    """A new Fast statement in the store must be added to this file's reads or writes."""
    covered = set(reads({k: 0 for k in ("case", "other", "version", "person", "round")}))
    covered |= {k for k in writes({"case": 0, "last_seq": 0, "case_version": 1, "round": 0})}
    assert set(module_statements()) <= covered, set(module_statements()) - covered


def test_reads_match_plain_execution(world: World) -> None:
    ids = setup_cases(world)
    statements = module_statements()
    checked = 0
    with world.session() as s:
        for name, params_list in reads(ids).items():
            stmt = statements[name]
            for params in params_list:
                fast_rows = stmt.rows(s, params)
                plain = [tuple(r) for r in s.connection().execute(stmt.stmt, params)]
                assert fast_rows == plain, name
                # the same Python types too (1 == True and 1.0 == 1 would hide a lost processor)
                assert [[type(v) for v in r] for r in fast_rows] == [
                    [type(v) for v in r] for r in plain
                ], name
                checked += bool(plain)
        columns = persons._columns(tuple(PERSON_COLUMNS))
        params = {"b_id": ids["person"]}
        assert columns.rows(s, params) == [
            tuple(r) for r in s.connection().execute(columns.stmt, params)
        ]
    assert checked >= 18  # most parameter sets found rows: the comparison saw real values


def test_read_values_are_typed(world: World) -> None:
    """JSON, aware datetimes, booleans and NULLs come back typed on the fast path."""
    ids = setup_cases(world)
    with world.session() as s:
        case = cases.get_case(s, ids["case"])
        other = cases.get_case(s, ids["other"])
        history = events.events_of_case(s, ids["case"])
    assert case.data["monthly_income"] == "120" and case.data["income_stable"] is False
    assert case.state_entered_at.tzinfo is UTC and case.closed_at is None
    assert other.emergency is True and case.emergency is False
    assert history[0].trigger is None and history[0].fields["emergency"] is False


@pytest.mark.parametrize(
    "name", sorted(writes({"case": 0, "last_seq": 0, "case_version": 1, "round": 0}))
)
def test_writes_match_plain_execution(world: World, name: str) -> None:
    ids = setup_cases(world)
    stmt, params_list, check = writes(ids)[name]
    inserting = name.endswith("_INSERT")
    for params in params_list:
        results = []
        for way in ("fast", "plain"):
            with world.session() as s, s.begin():
                if way == "fast":
                    count = stmt.rowcount(s, params)
                else:
                    count = s.connection().execute(stmt.stmt, params).rowcount
                if inserting:
                    # SQLAlchemy's execute fetches the new id (RETURNING on PostgreSQL),
                    # which leaves its rowcount at -1 there: the rows are what count
                    assert way == "plain" or count == 1, name
                    count = 1
                results.append((count, check(s.connection())))
                s.rollback()
        assert results[0] == results[1], (name, params)


def test_driver_errors_are_wrapped_as_sqlalchemy_wraps_them(world: World) -> None:
    """A unique-key violation on the fast path is sqlalchemy.exc.IntegrityError, as in execute."""
    from sqlalchemy.exc import IntegrityError

    ids = setup_cases(world)
    event = writes(ids)["events._INSERT"][1][0]
    duplicate = dict(event, b_seq=1)  # (case, seq) exists
    with world.session() as s, s.begin(), pytest.raises(IntegrityError):
        events._INSERT.rowcount(s, duplicate)
    with world.session() as s, s.begin(), pytest.raises(IntegrityError):
        s.connection().execute(events._INSERT.stmt, duplicate)
