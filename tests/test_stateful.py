"""Invariants under random use: a hypothesis state machine drives the engine (SQLite file).

Rules: open cases, fire random triggers as random users (with the fields each trigger
declares), vote, object, add notes, move the FrozenClock, and run the deadline sweep
(aidflow.jobs.sweep_deadlines). Refusals are expected; any other exception is a bug.
After every step the invariants below hold for every case:

- the case is in exactly one declared state of its pinned workflow version;
- every state change has its event: last_seq == number of events, seqs 1..n, head hash ==
  last event's hash, each transition starts where the previous one ended, the event at
  entry_seq entered the current state at state_entered_at;
- deadline_at == the calendar applied to the state's declared deadline from state_entered_at;
- no escalation rung fired twice for one state entry (and none before it was due);
- the audit chain verifies; events written == commands accepted + timeouts fired.

Payment runs and visit logs are not driven yet: their owners (payments, visits) add rules
for them here once those commands settle (see the report of issue 5).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import select

from aidflow import audit, jobs, store
from aidflow.calendar import WorkCalendar, parse_duration
from aidflow.clock import FrozenClock
from aidflow.db import make_engine, upgrade
from aidflow.errors import AidflowError, ExitCode
from aidflow.models import Case, CaseEvent, Escalation, WorkflowVersion

from .conftest import PERSON_ID, START, USERS, WORKFLOWS, World
from .test_concurrency import dibao_world

CALENDAR = WorkCalendar.from_file(WORKFLOWS / "policy" / "calendar.yaml")
USER_NAMES = [name for name, _, _ in USERS]
SAMPLE = {"decimal": "650.00", "bool": "no", "list": "li,zhao", "str": "reason", "int": "1", "date": "2023-08-01"}
_TEMPLATE: dict[str, Path] = {}


def template_db() -> Path:
    """A migrated database with users, the person and dibao, built once and copied per example."""
    if "db" not in _TEMPLATE:
        path = Path(tempfile.mkdtemp(prefix="aidflow-stateful-")) / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        dibao_world(engine, FrozenClock(START), CALENDAR)
        engine.dispose()  # the last connection to close checkpoints the WAL into the file
        assert not Path(f"{path}-wal").exists()
        _TEMPLATE["db"] = path
    return _TEMPLATE["db"]


class CaseWork(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="aidflow-stateful-"))
        shutil.copy(template_db(), self.dir / "aidflow.db")
        self.engine = make_engine(f"sqlite:///{self.dir / 'aidflow.db'}")
        self.clock = FrozenClock(START)
        self.world = World(self.engine, self.clock, CALENDAR)
        self.wf = self.world.run(lambda svc: store.definition_of(store.latest_version(svc.session, "dibao")))
        self.triggers = sorted({t.trigger for t in self.wf.transitions})
        self.cases: list[int] = []
        self.written = 0  # events the accepted commands and sweeps wrote
        self.outcomes: Counter[str] = Counter()

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)
        STATS.update(self.outcomes)
        STATS["examples"] += 1

    def attempt(self, kind: str, fn: Any) -> bool:
        """Run one command in its own transaction; a refusal must be one of ours, never a crash."""
        try:
            self.world.run(fn)
        except AidflowError as exc:
            assert exc.exit_code not in (ExitCode.INTERNAL, ExitCode.UNAVAILABLE), exc
            self.outcomes[f"{kind} refused"] += 1
            return False
        self.outcomes[f"{kind} accepted"] += 1
        return True

    # -- rules ---------------------------------------------------------------------------

    @initialize()
    def first_case(self) -> None:
        self.open_case("li")

    @precondition(lambda self: len(self.cases) < 4)  # few cases, so each one gets far
    @rule(user=st.sampled_from(["li", "zhao", "wu", "rep1", "chen"]))
    def open_case(self, user: str) -> None:
        ids: list[int] = []
        if self.attempt("open", lambda svc: ids.append(svc.open_case(svc.actor(user), PERSON_ID, "dibao").id)):
            self.cases.append(ids[0])
            self.written += 1

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), user=st.sampled_from(USER_NAMES), with_note=st.booleans())
    def fire(self, data: st.DataObject, user: str, with_note: bool) -> None:
        """Any trigger of the workflow, by any user: mostly refusals, which must change nothing."""
        cid = data.draw(st.sampled_from(self.cases), label="case")
        trigger = data.draw(st.sampled_from(self.triggers), label="trigger")
        self.fire_as(cid, trigger, user, "checked" if with_note else None)

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), forward=st.integers(0, 9), newest=st.booleans())
    def advance(self, data: st.DataObject, forward: int, newest: bool) -> None:
        """A transition the case's state offers, by a holder of its role; mostly one that keeps the case open."""
        cid = self.cases[-1] if newest else data.draw(st.sampled_from(self.cases), label="case")
        state = self.world.run(lambda svc: store.case_row(svc.session, cid).state)
        offered = [t for t in self.wf.transitions_from(state) if t.roles]
        if not offered:
            return
        onward = [t for t in offered if not self.wf.states[t.dest].final]
        t = data.draw(st.sampled_from(onward if onward and forward else offered), label="transition")
        user = data.draw(st.sampled_from(sorted(n for n, roles, _ in USERS if set(roles) & set(t.roles))),
                         label="user")
        self.fire_as(cid, t.trigger, user, "checked")

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def advance_newest(self, data: st.DataObject) -> None:
        """`advance` on the newest case, keeping it open: walks one case deep into the workflow."""
        self.advance(data, forward=1, newest=True)

    def fire_as(self, cid: int, trigger: str, user: str, note: str | None) -> None:
        fields = {name: SAMPLE[self.wf.fields[name].type]
                  for t in self.wf.transitions if t.trigger == trigger for name in t.fields}
        if self.attempt("fire", lambda svc: svc.fire(svc.actor(user), cid, trigger, fields, note)):
            self.written += 1

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), voter=st.sampled_from([f"rep{i}" for i in range(1, 8)] + ["li"]),
          choice=st.sampled_from(["yes", "yes", "no", "abstain"]), aimed=st.booleans())
    def vote(self, data: st.DataObject, voter: str, choice: str, aimed: bool) -> None:
        voting = [name for name, state in self.wf.states.items() if state.vote]
        cases = self.cases
        if aimed:  # a case that holds a vote now, if there is one, and a voter who may vote
            cases = self.world.run(lambda svc: [c.id for c in svc.session.scalars(
                select(Case).where(Case.state.in_(voting)))]) or self.cases
            voter = data.draw(st.sampled_from([f"rep{i}" for i in range(1, 7)]), label="aimed voter")
        cid = data.draw(st.sampled_from(cases), label="case")
        if self.attempt("vote", lambda svc: svc.vote(svc.actor(voter), cid, choice)):
            self.written += 1

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), user=st.sampled_from(["li", "chen", "wu", "rep2"]))
    def object(self, data: st.DataObject, user: str) -> None:
        cid = data.draw(st.sampled_from(self.cases), label="case")
        if self.attempt("object", lambda svc: svc.object(svc.actor(user), cid, "income not declared")):
            self.written += 1

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), user=st.sampled_from(["li", "rep3", "wu", "sun"]))
    def note(self, data: st.DataObject, user: str) -> None:
        cid = data.draw(st.sampled_from(self.cases), label="case")
        if self.attempt("note", lambda svc: svc.add_note(svc.actor(user), cid, "phoned the family")):
            self.written += 1

    @precondition(lambda self: self.clock.now() < START + timedelta(days=200))  # stay in calendar years
    @rule(hours=st.integers(min_value=1, max_value=24 * 20))
    def move_clock(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))
        self.outcomes["clock moves"] += 1

    @rule(days=st.integers(min_value=0, max_value=20))
    def sweep(self, days: int) -> None:
        """The scheduler's sweep, `days` later (a clock move of its own, within the calendar's years)."""
        if self.clock.now() < START + timedelta(days=200):
            self.clock.advance(timedelta(days=days))
        result = self.world.run(lambda svc: jobs.sweep(svc.session, self.clock, CALENDAR))
        self.written += result.timeouts
        self.outcomes["sweeps"] += 1
        self.outcomes["escalations"] += result.escalations

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def cases_events_deadlines_and_chain(self) -> None:
        with self.world.session() as s:
            cases = list(s.scalars(select(Case).order_by(Case.id)))
            assert [c.id for c in cases] == self.cases
            events: dict[int, list[CaseEvent]] = {}
            for e in s.scalars(select(CaseEvent).order_by(CaseEvent.case_id, CaseEvent.seq)):
                events.setdefault(e.case_id, []).append(e)
            assert sum(len(v) for v in events.values()) == self.written
            for c in cases:
                wf = store.definition_of(s.get_one(WorkflowVersion, c.workflow_version_id))
                assert c.state in wf.states  # exactly one declared state (one column, a declared value)
                chain = events[c.id]
                assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
                assert c.last_seq == len(chain) and c.head_hash == chain[-1].hash
                state = chain[0].to_state
                assert chain[0].kind == "open" and state == wf.initial_state
                for e in chain[1:]:
                    if e.kind in ("transition", "objection"):
                        assert e.from_state == state, (c.id, e.seq)
                        state = e.to_state
                    else:
                        assert e.to_state is None and e.from_state is None
                assert c.state == state
                entered = chain[c.entry_seq - 1]
                assert entered.to_state == c.state and entered.at == c.state_entered_at
                spec = wf.states[c.state].deadline
                expected = CALENDAR.add(c.state_entered_at, parse_duration(spec)) if spec else None
                assert c.deadline_at == expected, (c.id, c.state, c.deadline_at, expected)
                assert (c.closed_at is not None) == wf.states[c.state].final
            self.check_escalations(s, events)
            _, _, findings = audit.verify(s)
            assert findings == []

    def check_escalations(self, s: Any, events: dict[int, list[CaseEvent]]) -> None:
        rows = list(s.scalars(select(Escalation)))
        keys = Counter((r.case_id, r.entry_seq, r.rung, r.repeat_no, r.recipient) for r in rows)
        assert all(n == 1 for n in keys.values()), keys
        for r in rows:
            entry = events[r.case_id][r.entry_seq - 1]
            assert entry.to_state == r.state  # fired for the state entry it names
            rung = self.wf.escalations[r.ladder][r.rung]
            assert r.fired_at >= CALENDAR.add(entry.at, parse_duration(rung.after))
            if r.repeat_no:
                assert rung.repeat is not None


STATS: Counter[str] = Counter()
CaseWork.TestCase.settings = settings(max_examples=40, stateful_step_count=50, deadline=None, derandomize=True,
                                      suppress_health_check=[HealthCheck.too_slow])
TestCaseWork = CaseWork.TestCase


def test_figures() -> None:
    """Prints what the state machine did (runs after TestCaseWork, in file order)."""
    n = STATS.get("examples", 0)
    if n == 0:
        import pytest

        pytest.skip("TestCaseWork did not run in this session")
    print(f"\nstateful: examples={n} " + " ".join(f"{k.replace(' ', '_')}={v}" for k, v in sorted(STATS.items())
                                                    if k != "examples"))
    # the machine reached beyond the first steps, so the invariants saw real traffic
    assert STATS["fire accepted"] > 0 and STATS["open accepted"] > 0 and STATS["vote accepted"] > 0
    assert STATS["escalations"] > 0
