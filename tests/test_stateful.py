"""Invariants under random use: a hypothesis state machine drives the engine,
on SQLite and PostgreSQL.

Rules: open dibao and tekun cases, fire random triggers as random users (with the fields
each trigger declares), take transitions the state offers, push a case one or more steps
along its happy path (so cases reach the public notice, objections, approval and payment,
which random walks seldom do), vote, object, add notes, log care visits, run the monthly
payment run for the current month, move the FrozenClock, and run the scheduler's jobs
(the deadline sweep and the care-visit check). Refusals are expected; any other exception
is a bug. After every step these invariants hold:

- every case is in exactly one declared state of its pinned workflow version;
- every state change has its event: last_seq == number of events, seqs 1..n, head hash ==
  last event's hash, each transition starts where the previous one ended, the event at
  entry_seq entered the current state at state_entered_at; events written == commands
  accepted + timeouts fired;
- deadline_at == the calendar applied to the state's deadline (or its `deadline_when`
  alternative) from state_entered_at;
- no escalation rung fired twice for one state entry, none before it was due, each for the
  state entry it names; care-visit escalations once per case, month and recipient, after
  the month ended;
- no payment twice for one case, kind and period; each one for a month the case was paid
  in (from the month after entering a paid state through the month of leaving it); after a
  run, every such month up to its period, since the first run, is paid;
- each visit has its note event on the case's chain;
- the audit chain verifies.

The databases: SQLite gets a copy of a template file per example; PostgreSQL one schema,
emptied (TRUNCATE ... RESTART IDENTITY) and set up again per example.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from aidflow.clock import FrozenClock
from aidflow.engine.rules import field_for_guard
from aidflow.errors import AidflowError, ExitCode
from aidflow.language.calendar import WorkCalendar, parse_duration
from aidflow.language.definition import Workflow
from aidflow.language.expressions import compile_expression
from aidflow.policy.care import load_policy_file
from aidflow.policy.standards import load_policy
from aidflow.policy.workflows import load_workflow_file
from aidflow.services import escalations as jobs
from aidflow.services.cases import Service
from aidflow.services.payments import month_of, month_start, parse_period, period_text, run_payments
from aidflow.services.visits import LADDER as CARE_LADDER
from aidflow.services.visits import Month, check_visits, log_visit
from aidflow.store import audit
from aidflow.store import cases as case_store
from aidflow.store import workflows as workflow_store
from aidflow.store.database import make_engine, upgrade
from aidflow.store.models import (
    Base,
    Case,
    CaseEvent,
    Escalation,
    Payment,
    PaymentRun,
    Visit,
    Vote,
    WorkflowVersion,
)

from .conftest import PERSON_ID, START, TZ, USERS, WORKFLOWS, World, bootstrap
from .test_simulated_month import SUPERVISORS

CALENDAR = WorkCalendar.from_file(WORKFLOWS / "policy" / "calendar.yaml")
POLICY = load_policy(WORKFLOWS / "policy")
CARE = load_policy_file(WORKFLOWS / "policy" / "care_visits.yaml")
LOADED = [load_workflow_file(WORKFLOWS / f"{name}.yaml") for name in ("dibao", "tekun")]
ALL_USERS = USERS + SUPERVISORS
USER_NAMES = [name for name, _, _ in ALL_USERS]
SAMPLE = {
    "decimal": "650.00",
    "bool": "no",
    "list": "li,zhao",
    "str": "reason",
    "int": "1",
    "date": "2023-08-01",
}
REPS = [f"rep{i}" for i in range(1, 7)]  # rep7 is related to the applicant, excluded from votes

# (workflow, state) -> (user, trigger, fields, note): one step of the happy path
HAPPY: dict[tuple[str, str], tuple[str, str, dict[str, str], str | None]] = {
    ("dibao", "discovery"): ("li", "accept", {}, None),
    ("dibao", "accepted"): ("li", "start_investigation", {"investigators": "li,zhao"}, None),
    ("dibao", "investigation"): (
        "li",
        "submit_findings",
        {"monthly_income": "300.00", "income_stable": "yes"},
        "visited",
    ),
    ("dibao", "village_review"): (
        "chen",
        "review_passed",
        {},
        None,
    ),  # after the votes (see push_case)
    ("dibao", "public_notice"): ("li", "close_notice", {}, None),
    ("dibao", "county_review"): ("sun", "approve", {}, None),  # the amount is computed
    ("tekun", "discovery"): ("li", "accept", {"eligibility_group": "severely_disabled"}, None),
    ("tekun", "accepted"): ("li", "start_investigation", {"investigators": "li,zhao"}, None),
    ("tekun", "investigation"): (
        "li",
        "submit_opinion",
        {"preliminary_opinion": "eligible"},
        "visited",
    ),
    ("tekun", "reinvestigation"): (
        "li",
        "submit_opinion",
        {"preliminary_opinion": "eligible"},
        "checked again",
    ),
    ("tekun", "public_notice"): ("li", "close_notice", {}, None),
    ("tekun", "county_confirmation"): (
        "sun",
        "confirm",
        {
            "spot_checked": "no",
            "sample_seed": "s1",
            "adl_not_done": "2",
            "self_care": "partial",
            "support_mode": "dispersed",
            "care_card_no": "C-0001",
        },
        None,
    ),
}


def setup_world(svc: Service) -> None:
    bootstrap(svc, deploy=False)
    for loaded in LOADED:
        svc.deploy("admin", loaded)
    for name, roles, area in ALL_USERS[1:]:
        svc.add_user("admin", name, roles, area, f"{name}@county.example")
    svc.register_person(
        PERSON_ID, "王秀英", "城关镇", "东村", "rural", disability_grade=2, related_users=["rep7"]
    )


class Databases:
    """A fresh, set-up database per example: a copied SQLite file,
    or the PostgreSQL schema reset."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp, self.n = url, tmp, 0
        self.sqlite = url.startswith("sqlite")
        self.engine = make_engine(url)
        upgrade(self.engine)
        if self.sqlite:
            World(self.engine, FrozenClock(START), CALENDAR).run(setup_world)
            self.engine.dispose()  # the last connection to close checkpoints the WAL into the file
            self.template = Path(url.removeprefix("sqlite:///"))
            assert not Path(f"{self.template}-wal").exists()

    def fresh(self) -> Engine:
        if self.sqlite:
            self.n += 1
            path = self.tmp / f"example{self.n}.db"
            shutil.copy(self.template, path)
            return make_engine(f"sqlite:///{path}")
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with self.engine.begin() as conn:
            # the superuser steps past audit_log's append-only trigger to start afresh
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        World(self.engine, FrozenClock(START), CALENDAR).run(setup_world)
        return self.engine

    def release(self, engine: Engine) -> None:
        if self.sqlite:
            engine.dispose()
            Path(str(engine.url.database)).unlink()

    def close(self) -> None:
        self.engine.dispose()


class CaseWork(RuleBasedStateMachine):
    def __init__(self, dbs: Databases, stats: Counter[str]) -> None:
        super().__init__()
        self.dbs, self.stats = dbs, stats
        self.engine = dbs.fresh()
        self.clock = FrozenClock(START)
        self.world = World(self.engine, self.clock, CALENDAR)
        self.wfs: dict[str, Workflow] = self.world.run(
            lambda svc: {
                name: workflow_store.definition_of(workflow_store.latest_version(svc.session, name))
                for name in ("dibao", "tekun")
            }
        )
        self.objectable = {
            s for wf in self.wfs.values() for t in wf.transitions if t.objection for s in t.sources
        }
        self.cases: list[int] = []
        self.written = 0  # events the accepted commands and sweeps wrote
        self.outcomes: Counter[str] = Counter()

    def teardown(self) -> None:
        with self.world.session() as s:
            self.outcomes["payments made"] += len(s.scalars(select(Payment.id)).all())
            self.outcomes["cases approved"] += len(
                s.scalars(
                    select(CaseEvent.id).where(CaseEvent.to_state.in_(["active", "supported"]))
                ).all()
            )
        self.dbs.release(self.engine)
        self.stats.update(self.outcomes)
        self.stats["examples"] += 1

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

    def row(self, cid: int) -> tuple[str, str, int]:
        """(workflow, state, entry_seq) of a case now."""
        return self.world.run(
            lambda svc: (lambda c: (c.workflow_name, c.state, c.entry_seq))(
                case_store.get_case(svc.session, cid)
            )
        )

    def cases_in(self, states: set[str]) -> list[int]:
        return self.world.run(
            lambda svc: [
                c.id
                for c in svc.session.scalars(
                    select(Case).where(Case.state.in_(states)).order_by(Case.id)
                )
            ]
        )

    # -- rules ---------------------------------------------------------------------------

    @initialize()
    def first_cases(self) -> None:
        self.open_case("li", "dibao")
        self.open_case("li", "tekun")

    @precondition(lambda self: len(self.cases) < 5)  # few cases, so each one gets far
    @rule(
        user=st.sampled_from(["li", "zhao", "wu", "rep1", "chen"]),
        workflow=st.sampled_from(["dibao", "tekun"]),
    )
    def open_case(self, user: str, workflow: str) -> None:
        ids: list[int] = []
        if self.attempt(
            "open", lambda svc: ids.append(svc.open_case(svc.actor(user), PERSON_ID, workflow).id)
        ):
            self.cases.append(ids[0])
            self.written += 1

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), user=st.sampled_from(USER_NAMES), with_note=st.booleans())
    def fire(self, data: st.DataObject, user: str, with_note: bool) -> None:
        """Any trigger of the case's workflow, by any user: mostly refusals,
        which must change nothing."""
        cid = data.draw(st.sampled_from(self.cases), label="case")
        wf = self.wfs[self.row(cid)[0]]
        trigger = data.draw(
            st.sampled_from(sorted({t.trigger for t in wf.transitions})), label="trigger"
        )
        self.fire_as(cid, trigger, user, "checked" if with_note else None)

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), forward=st.integers(0, 9), newest=st.booleans())
    def advance(self, data: st.DataObject, forward: int, newest: bool) -> None:
        """A transition the case's state offers, by a holder of its role;
        mostly one that keeps the case open."""
        cid = self.cases[-1] if newest else data.draw(st.sampled_from(self.cases), label="case")
        name, state, _ = self.row(cid)
        wf = self.wfs[name]
        offered = [t for t in wf.transitions_from(state) if t.roles]
        if not offered:
            return
        onward = [t for t in offered if not wf.states[t.dest].final]
        t = data.draw(
            st.sampled_from(onward if onward and forward else offered), label="transition"
        )
        user = data.draw(
            st.sampled_from(sorted(n for n, roles, _ in ALL_USERS if set(roles) & set(t.roles))),
            label="user",
        )
        self.fire_as(cid, t.trigger, user, "checked")

    @precondition(lambda self: self.cases)
    @rule(
        data=st.data(),
        steps=st.integers(1, 20),
        mode=st.sampled_from(["wait", "object", "wait", "plain"]),
    )
    def push(self, data: st.DataObject, steps: int, mode: str) -> None:
        """Up to `steps` steps of one case's happy path (votes included),
        stopping at the first refusal.

        mode "wait": a notice's minimum dwell passes (the clock moves) instead of refusing the
        step; "object": at the first notice, a caseworker objects, and the walk goes on from there.
        """
        cid = data.draw(st.sampled_from(self.cases), label="case")
        objected = mode != "object"
        for _ in range(steps):
            if not objected and self.row(cid)[1] in self.objectable:
                objected = True
                ok = self.attempt(
                    "object", lambda svc: svc.object(svc.actor("li"), cid, "a neighbour objects")
                )
                self.written += ok
                continue
            if mode == "wait":
                self.wait_out_dwell(cid)
            if not self.push_case(cid):
                return

    def wait_out_dwell(self, cid: int) -> None:
        name, state, _ = self.row(cid)
        dwell = self.wfs[name].states[state].min_dwell
        if dwell and self.clock.now() < START + timedelta(days=200):
            entered = self.world.run(
                lambda svc: case_store.get_case(svc.session, cid).state_entered_at
            )
            until = CALENDAR.add(entered, parse_duration(dwell))
            if until > self.clock.now():
                self.clock.set(until)
                self.outcomes["clock moves"] += 1

    def push_case(self, cid: int) -> bool:
        name, state, entry = self.row(cid)
        wf = self.wfs[name]
        if wf.states[state].vote is not None:
            voted = set(
                self.world.run(
                    lambda svc: svc.session.scalars(
                        select(Vote.voter).where(Vote.case_id == cid, Vote.round == entry)
                    ).all()
                )
            )
            voter = next((r for r in REPS if r not in voted), None)
            if voter is not None and len(voted) < 5:
                ok = self.attempt("vote", lambda svc: svc.vote(svc.actor(voter), cid, "yes"))
                self.written += ok
                return ok
        step = HAPPY.get((name, state))
        if step is None:
            return False
        user, trigger, fields, note = step
        return self.fire_as(cid, trigger, user, note, fields)

    def fire_as(
        self,
        cid: int,
        trigger: str,
        user: str,
        note: str | None,
        fields: dict[str, str] | None = None,
    ) -> bool:
        if fields is None:
            wf = self.wfs[self.row(cid)[0]]
            fields = {
                name: SAMPLE[wf.fields[name].type]
                for t in wf.transitions
                if t.trigger == trigger
                for name in t.fields
            }
        ok = self.attempt("fire", lambda svc: svc.fire(svc.actor(user), cid, trigger, fields, note))
        self.written += ok
        return ok

    @precondition(lambda self: self.cases)
    @rule(
        data=st.data(),
        voter=st.sampled_from(REPS + ["rep7", "li"]),
        choice=st.sampled_from(["yes", "yes", "no", "abstain"]),
        aimed=st.booleans(),
    )
    def vote(self, data: st.DataObject, voter: str, choice: str, aimed: bool) -> None:
        cases = self.cases
        if aimed:  # a case that holds a vote now, if there is one, and a voter who may vote
            cases = (
                self.cases_in(
                    {n for wf in self.wfs.values() for n, s in wf.states.items() if s.vote}
                )
                or cases
            )
            voter = data.draw(st.sampled_from(REPS), label="aimed voter")
        cid = data.draw(st.sampled_from(cases), label="case")
        if self.attempt("vote", lambda svc: svc.vote(svc.actor(voter), cid, choice)):
            self.written += 1

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), user=st.sampled_from(["li", "chen", "wu", "rep2"]), aimed=st.booleans())
    def object(self, data: st.DataObject, user: str, aimed: bool) -> None:
        cases = self.cases
        if aimed:  # a case under a notice now, if there is one
            cases = self.cases_in(self.objectable) or cases
        cid = data.draw(st.sampled_from(cases), label="case")
        if self.attempt(
            "object", lambda svc: svc.object(svc.actor(user), cid, "income not declared")
        ):
            self.written += 1

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), user=st.sampled_from(["li", "rep3", "wu", "sun"]))
    def note(self, data: st.DataObject, user: str) -> None:
        cid = data.draw(st.sampled_from(self.cases), label="case")
        if self.attempt(
            "note", lambda svc: svc.add_note(svc.actor(user), cid, "phoned the family")
        ):
            self.written += 1

    @precondition(lambda self: self.cases)
    @rule(
        data=st.data(),
        user=st.sampled_from(["li", "chen", "wu", "rep1"]),
        kind=st.sampled_from(["visit", "visit", "haircut", "cleaning", "massage"]),
        hours_ago=st.integers(0, 24 * 40),
    )
    def visit(self, data: st.DataObject, user: str, kind: str, hours_ago: int) -> None:
        """A care visit logged on any case by anyone, up to 40 days back: mostly refusals."""
        self.visit_at(data.draw(st.sampled_from(self.cases), label="case"), user, kind, hours_ago)

    @precondition(lambda self: self.cases_in({"supported"}))
    @rule(
        data=st.data(),
        user=st.sampled_from(["li", "chen"]),
        kind=st.sampled_from(["visit", "haircut", "cleaning"]),
        hours_ago=st.integers(0, 24 * 20),
    )
    def care_visit(self, data: st.DataObject, user: str, kind: str, hours_ago: int) -> None:
        """A visit by a caseworker or village officer to a person receiving tekun support
        (mostly accepted)."""
        cid = data.draw(st.sampled_from(self.cases_in({"supported"})), label="case")
        self.visit_at(cid, user, kind, hours_ago)

    def visit_at(self, cid: int, user: str, kind: str, hours_ago: int) -> None:
        at = self.clock.now() - timedelta(hours=hours_ago)
        if self.attempt(
            "visit",
            lambda svc: log_visit(
                svc.session,
                self.clock,
                CALENDAR,
                CARE,
                svc.actor(user),
                cid,
                kind,
                at=at,
                note="cleaned the kitchen",
            ),
        ):
            self.written += 1

    @precondition(lambda self: self.cases)
    @rule(user=st.sampled_from(["sun", "sun", "admin", "li"]), next_month=st.booleans())
    def pay(self, user: str, next_month: bool) -> None:
        """The monthly payment run for the current month (twice in a month must add nothing twice);
        with `next_month`, on the 1st of the next month at 09:00 (the clock moves there first)."""
        month = month_of(self.clock.now(), TZ)
        if next_month and self.clock.now() < START + timedelta(days=200):
            month += 1
            self.clock.set(datetime.combine(month_start(month), time(9), tzinfo=TZ))
            self.outcomes["clock moves"] += 1
        period = period_text(month)
        if self.attempt(
            "payment run",
            lambda svc: run_payments(svc.session, self.clock, POLICY, period, actor=user, tz=TZ),
        ):
            self.check_run_complete()

    @precondition(
        lambda self: self.clock.now() < START + timedelta(days=200)
    )  # stay in calendar years
    @rule(hours=st.integers(min_value=1, max_value=24 * 20))
    def move_clock(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))
        self.outcomes["clock moves"] += 1

    @rule(days=st.integers(min_value=0, max_value=20))
    def sweep(self, days: int) -> None:
        """The scheduler's jobs, `days` later (a clock move of its own,
        within the calendar's years)."""
        if self.clock.now() < START + timedelta(days=200):
            self.clock.advance(timedelta(days=days))
        result = self.world.run(lambda svc: jobs.sweep(svc.session, self.clock, CALENDAR))
        warnings, care = self.world.run(
            lambda svc: check_visits(svc.session, self.clock, CALENDAR, CARE)
        )
        self.written += result.timeouts
        self.outcomes["sweeps"] += 1
        self.outcomes["escalations"] += result.escalations
        self.outcomes["visit warnings"] += warnings
        self.outcomes["visit escalations"] += care

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
            versions = {
                v.id: workflow_store.definition_of(v) for v in s.scalars(select(WorkflowVersion))
            }
            for c in cases:
                wf = versions[c.workflow_version_id]
                assert (
                    c.state in wf.states
                )  # exactly one declared state (one column, a declared value)
                # closed exactly in a final state, and then without a deadline (the sweeps'
                # deadline index relies on it: migration 0006)
                assert (c.closed_at is not None) == wf.states[c.state].final
                assert c.closed_at is None or c.deadline_at is None
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
                assert c.deadline_at == self.deadline(wf, c), (c.id, c.state, c.deadline_at)
                assert (c.closed_at is not None) == wf.states[c.state].final
            self.check_escalations(
                s, events, {c.id: versions[c.workflow_version_id] for c in cases}
            )
            self.check_payments(s, events)
            self.check_visits(s, events)
            _, _, findings = audit.verify(s)
            assert findings == []

    @staticmethod
    def deadline(wf: Workflow, c: Case) -> Any:
        st_ = wf.states[c.state]
        spec = st_.deadline
        scope = {
            "case": {name: field_for_guard(f, c.data.get(name)) for name, f in wf.fields.items()}
        }
        for alt in st_.deadline_when:
            if compile_expression(alt.when, namespaces=("case",)).evaluate(scope):
                spec = alt.deadline
                break
        return CALENDAR.add(c.state_entered_at, parse_duration(spec)) if spec else None

    def check_escalations(
        self, s: Session, events: dict[int, list[CaseEvent]], wf_of: dict[int, Workflow]
    ) -> None:
        rows = list(s.scalars(select(Escalation)))
        keys = Counter((r.case_id, r.entry_seq, r.rung, r.repeat_no, r.recipient) for r in rows)
        assert all(n == 1 for n in keys.values()), keys
        for r in rows:
            entry = events[r.case_id][r.entry_seq - 1]
            assert entry.to_state == r.state  # fired for the state entry it names
            if r.ladder == CARE_LADDER:  # once per case, month and recipient, after the month
                month = Month.parse(f"{r.repeat_no // 100:04d}-{r.repeat_no % 100:02d}")
                assert r.fired_at >= month.end(CALENDAR) and r.due_at == month.end(CALENDAR)
                continue
            wf = wf_of[r.case_id]
            rung = wf.escalations[r.ladder][r.rung]
            assert wf.states[r.state].escalation == r.ladder
            assert r.fired_at >= CALENDAR.add(entry.at, parse_duration(rung.after))
            if r.repeat_no:
                assert rung.repeat is not None

    def check_payments(self, s: Session, events: dict[int, list[CaseEvent]]) -> None:
        payments = s.execute(
            select(Payment.case_id, Payment.kind, Payment.period, Payment.amount_fen)
        ).all()
        keys = Counter((cid, kind, per) for cid, kind, per, _ in payments)
        assert all(n == 1 for n in keys.values()), (
            keys
        )  # no payment twice for one case, kind and period
        first = s.scalar(select(PaymentRun.period).order_by(PaymentRun.period).limit(1))
        for cid, kind, per, fen in payments:
            assert fen > 0
            assert first is not None and per >= first
            assert parse_period(per) in self.paid_months(s, events[cid], cid, kind, None), (
                cid,
                kind,
                per,
            )

    def check_run_complete(self) -> None:
        """After a run: every month a case was paid in, from the first run to this run's period,
        has its payment."""
        with self.world.session() as s:
            run = s.scalars(select(PaymentRun).order_by(PaymentRun.id.desc()).limit(1)).one()
            first = parse_period(
                s.scalars(select(PaymentRun.period).order_by(PaymentRun.period).limit(1)).one()
            )
            have = {
                tuple(r) for r in s.execute(select(Payment.case_id, Payment.kind, Payment.period))
            }
            for c in s.scalars(select(Case)):
                chain = list(
                    s.scalars(
                        select(CaseEvent).where(CaseEvent.case_id == c.id).order_by(CaseEvent.seq)
                    )
                )
                for pk in POLICY.payments.values():
                    if pk.workflow != c.workflow_name:
                        continue
                    due = self.paid_months(s, chain, c.id, pk.kind, run.started_at)
                    want = {m for m in due if first <= m <= parse_period(run.period)}
                    got = {parse_period(p) for cid, k, p in have if cid == c.id and k == pk.kind}
                    assert want <= got, (c.id, pk.kind, sorted(map(period_text, want - got)))
                    self.outcomes["payments checked"] += len(want)

    @staticmethod
    def paid_months(
        s: Session, chain: list[CaseEvent], cid: int, kind: str, until: Any
    ) -> set[int]:
        """Months paid under `kind`: the month after entering a paid state through the month of
        leaving."""
        pk = POLICY.payments[kind]
        paid = set(pk.paid_states)
        months: set[int] = set()
        start: int | None = None
        last = None
        for e in chain:
            if until is not None and e.at > until:
                break
            if e.kind not in ("transition", "objection"):
                continue
            last = month_of(e.at, TZ)
            if e.to_state in paid and e.from_state not in paid:
                start = last + 1
            elif e.from_state in paid and e.to_state not in paid and start is not None:
                months.update(range(start, last + 1))
                start = None
        if start is not None:
            months.update(range(start, 12 * 3000))  # still paid: every month from then on
        return months

    def check_visits(self, s: Session, events: dict[int, list[CaseEvent]]) -> None:
        for v in s.scalars(select(Visit)):
            notes = [
                e
                for e in events[v.case_id]
                if e.kind == "note" and (e.fields or {}).get("visit_id") == v.id
            ]
            assert len(notes) == 1, (v.id, notes)
            assert notes[0].actor == v.logged_by and notes[0].at == v.logged_at
            assert v.kind in CARE.kinds and v.at <= v.logged_at


SETTINGS = settings(
    max_examples=20,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture
def databases(db_url: str, tmp_path: Path) -> Iterator[Databases]:
    dbs = Databases(db_url, tmp_path)
    yield dbs
    dbs.close()


def test_case_work(databases: Databases, db_url: str) -> None:
    stats: Counter[str] = Counter()
    run_state_machine_as_test(lambda: CaseWork(databases, stats), settings=SETTINGS)
    print(
        f"\nstateful ({db_url.split(':')[0]}): examples={stats['examples']} "
        f"steps<={SETTINGS.stateful_step_count} "
        + " ".join(
            f"{k.replace(' ', '_')}={v}" for k, v in sorted(stats.items()) if k != "examples"
        )
    )
    # the machine reached the far states, so the invariants saw real traffic
    for outcome in (
        "open accepted",
        "fire accepted",
        "vote accepted",
        "object accepted",
        "visit accepted",
        "payment run accepted",
        "payments checked",
        "escalations",
    ):
        assert stats[outcome] > 0, (outcome, stats)
