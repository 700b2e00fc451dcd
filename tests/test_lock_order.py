"""PostgreSQL: writers queue for the audit log's append lock before they lock a case row.

The deadlock this guards against: a note locked the case's row (its UPDATE) and then waited
for the append lock, while a vote on the same case had taken the append lock (logging its
vote) and waited for the row; PostgreSQL aborted one of them. The test drives the first
writer to exactly that point (row locked, not yet appended), starts the vote, waits until
the database reports the vote as waiting for a lock, and only then lets the first writer
append and commit. No timing decides the outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.services.cases import Service
from aidflow.store.database import Database, make_engine, upgrade

from .conftest import World
from .test_concurrency import dibao_world, to_review


@pytest.fixture
def world(pg_url: str, clock: FrozenClock, calendar: WorkCalendar) -> Iterator[World]:
    """The dibao world on PostgreSQL only: SQLite's writers never wait for rows."""
    engine = make_engine(pg_url)
    upgrade(engine, training=True)
    yield dibao_world(engine, clock, calendar)
    engine.dispose()


# what an append takes first (aidflow.store.auditlog)
LOCK = "SELECT pg_advisory_xact_lock(730610142, hashtext(current_schema()))"


def waits(engine: Engine, others_than: int) -> list[tuple[int, str]]:
    """(pid, lock type) of every lock some other backend of this database waits for."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT l.pid, l.locktype FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE NOT l.granted AND a.datname = current_database()"
                " AND l.pid NOT IN (pg_backend_pid(), :first)"
            ),
            {"first": others_than},
        )
        return [(int(pid), str(kind)) for pid, kind in rows]


def test_a_vote_waits_for_the_append_lock_not_the_case_row(world: World) -> None:
    cid = to_review(world)
    url = world.engine.url.render_as_string(hide_password=False)
    database = Database.open(url)
    outcome: list[BaseException | str] = []

    def vote() -> None:
        try:
            with database.transaction() as session:
                svc = Service(session, world.clock, world.calendar)
                svc.vote(svc.actor("rep1"), cid, "yes")
            outcome.append("voted")
        except BaseException as exc:  # the verdict is read below, in the test's thread
            outcome.append(exc)

    with database.transaction() as first:
        first_pid = first.execute(text("SELECT pg_backend_pid()")).scalar_one()
        # the first writer's transaction has locked the case's row (a note's UPDATE) and
        # not appended yet: the point where it used to hold the row without the append lock
        first.execute(text("UPDATE cases SET version = version WHERE id = :id"), {"id": cid})
        voter = threading.Thread(target=vote)
        voter.start()
        # drive the vote to the point where the database makes it wait
        waiting: list[tuple[int, str]] = []
        while not waiting and voter.is_alive():
            waiting = waits(world.engine, first_pid)
        # it queues for the append lock and holds no row of the case (it used to hold the
        # append lock and wait for the row: a deadlock once the first writer appended)
        assert [kind for _, kind in waiting] == ["advisory"], outcome
        first.execute(text(LOCK))  # the first writer appends, as a note does, and commits
    voter.join(120)
    assert outcome == ["voted"]
    assert world.verify_log() == []
    database.dispose()
