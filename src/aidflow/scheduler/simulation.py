""" "What if": an edited workflow run on the real caseload, in throw-away copies.

`simulate` copies the database twice (store.scratch: a SQLite file each, marked training),
deploys the edited definition into one copy and migrates the workflow's open cases to it
as `aidflow workflow migrate` would (services.migration, cases that cannot land are left
where they are and reported as stranded), then runs the scheduler's own rounds
(rounds.round_for) in both copies on a simulated clock, one round per `step`, for `days`.
The copy left alone is the baseline: what the deployed version does over the same days.
The report compares the two: cases stranded, deadlines moved by the migration,
escalations, timed transitions and care-visit alerts fired, emails queued, and the cases
whose state differs at the end.

Because the copies run the same code a deploy and a migration run, on the same rows, the
report is what deploying and migrating would do if nobody acted on the cases meanwhile;
caseworkers' actions over the days are not simulated, and neither is mail delivery or the
payment run (they do not depend on the definition). The source database is only read.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from aidflow.clock import FrozenClock
from aidflow.language.loader import LoadedWorkflow
from aidflow.scheduler.rounds import round_for
from aidflow.services.runtime import Runtime
from aidflow.store import activity as facts
from aidflow.store.scratch import scratch_copy


@dataclass(frozen=True)
class Stranded:
    case_id: int
    state: str
    reason: str


@dataclass(frozen=True)
class DeadlineMove:
    case_id: int
    state_before: str
    state_after: str
    before: datetime | None
    after: datetime | None


@dataclass(frozen=True)
class Outcome:
    case_id: int
    baseline: str  # the state at the end, deployed version
    edited: str  # the state at the end, edited version (not the plan's name for `baseline`)


@dataclass
class SimulationReport:
    workflow: str
    deployed_version: int  # the latest deployed version (the baseline's for new cases)
    edited_version: int  # the number deploying the edited file would give it
    start: datetime
    end: datetime
    step: timedelta
    open_cases: int
    plan_sha256: str
    zone: tzinfo  # the county's: every time in the JSON is written in it
    stranded: list[Stranded] = field(default_factory=list)
    migrated: Counter[tuple[str, str]] = field(default_factory=Counter)  # (old, new) state
    deadlines_moved: list[DeadlineMove] = field(default_factory=list)
    baseline: facts.Activity = field(default_factory=facts.Activity)
    edited: facts.Activity = field(default_factory=facts.Activity)
    outcomes: list[Outcome] = field(default_factory=list)
    end_states: dict[str, Counter[str]] = field(default_factory=dict)  # scenario -> state counts

    def as_json(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return at.astimezone(self.zone).isoformat() if at else None

        def scenario(a: facts.Activity, name: str) -> dict[str, Any]:
            return {
                "escalations": [
                    {"state": s, "ladder": lad, "rung": r, "role": role, "count": n}
                    for (s, lad, r, role), n in sorted(a.escalations.items())
                ],
                "escalations_total": sum(a.escalations.values()),
                "timed_transitions": [
                    {"from": s, "trigger": t, "to": d, "count": n}
                    for (s, t, d), n in sorted(a.timed.items())
                ],
                "timed_total": sum(a.timed.values()),
                "visit_alerts": dict(sorted(a.visit_alerts.items())),
                "emails": a.emails,
                "end_states": dict(sorted(self.end_states.get(name, Counter()).items())),
            }

        return {
            "workflow": self.workflow,
            "deployed_version": self.deployed_version,
            "edited_version": self.edited_version,
            "start": iso(self.start),
            "end": iso(self.end),
            "step_hours": self.step.total_seconds() / 3600,
            "open_cases": self.open_cases,
            "plan_sha256": self.plan_sha256,
            "stranded": [
                {"case": s.case_id, "state": s.state, "reason": s.reason} for s in self.stranded
            ],
            "migrated": [
                {"from": old, "to": new, "count": n}
                for (old, new), n in sorted(self.migrated.items())
            ],
            "deadlines_moved": [
                {
                    "case": m.case_id,
                    "state_before": m.state_before,
                    "state_after": m.state_after,
                    "before": iso(m.before),
                    "after": iso(m.after),
                }
                for m in self.deadlines_moved
            ],
            "baseline": scenario(self.baseline, "baseline"),
            "edited": scenario(self.edited, "edited"),
            "outcomes_differ": [
                {"case": o.case_id, "baseline": o.baseline, "edited": o.edited}
                for o in self.outcomes
            ],
        }


def simulate(
    rt: Runtime,
    loaded: LoadedWorkflow,
    *,
    plan_text: str | None,
    plan_file: str | None,
    days: int,
    step: timedelta,
    actor: str,
    workdir: Path | None = None,
) -> SimulationReport:
    """Run `loaded` against the caseload of `rt`'s database (see the module docstring).

    `actor` is the administrator named on the copy's deploy and migration events. The
    copies live in `workdir` (a temporary directory, removed afterwards, when None)."""
    from aidflow.services import migration

    plan = migration.load_plan(plan_text, plan_file or "plan") if plan_text is not None else None
    name = loaded.definition.workflow
    start = rt.clock.now()
    end = start + timedelta(days=days)
    with tempfile.TemporaryDirectory(prefix="aidflow-simulate-", dir=workdir) as tmp:
        base_db = scratch_copy(rt.database, Path(tmp) / "baseline.db")
        base_rt = rt.over(base_db, FrozenClock(start))
        edit_rt = rt.over(scratch_copy(base_db, Path(tmp) / "edited.db"), FrozenClock(start))
        try:
            with base_rt.reading() as svc:
                from aidflow.services import workflows

                deployed, _ = workflows.version(svc.session, name)
                before = {
                    cid: s for cid, s in facts.standings(svc.session, name).items() if not s.final
                }
            with edit_rt.transaction() as svc:
                wv, _created = svc.deploy(actor, loaded)
                moved = migration.migrate(
                    svc,
                    name,
                    wv.version,
                    plan,
                    actor=actor,
                    dry_run=False,
                    leave_problems=True,
                )
            with edit_rt.reading() as svc:
                after = facts.standings(svc.session, name)
            report = SimulationReport(
                workflow=name,
                deployed_version=deployed.version,
                edited_version=wv.version,
                start=start,
                end=end,
                step=step,
                open_cases=len(before),
                plan_sha256=moved.plan_sha256,
                zone=rt.calendar.tz,
            )
            for problem in moved.problems:
                report.stranded.append(
                    Stranded(problem.case_id, before[problem.case_id].state, problem.reason)
                )
            for move in moved.moves:
                report.migrated[(move.old_state, move.new_state)] += 1
            for cid, was in sorted(before.items()):
                now = after[cid]
                if now.deadline_at != was.deadline_at:
                    report.deadlines_moved.append(
                        DeadlineMove(cid, was.state, now.state, was.deadline_at, now.deadline_at)
                    )
            for scenario in (base_rt, edit_rt):
                _run(scenario, start, end, step)
            report.baseline, base_end = _results(base_rt, name, start, list(before))
            report.edited, edit_end = _results(edit_rt, name, start, list(before))
            report.end_states = {
                "baseline": Counter(s.state for s in base_end.values()),
                "edited": Counter(s.state for s in edit_end.values()),
            }
            # a state the plan renames is the same place under its new name
            renamed = plan.states if plan is not None else {}
            report.outcomes = [
                Outcome(cid, base_end[cid].state, edit_end[cid].state)
                for cid in sorted(before)
                if renamed.get(base_end[cid].state, base_end[cid].state) != edit_end[cid].state
            ]
        finally:
            base_rt.close()
            edit_rt.close()
    return report


def _run(rt: Runtime, start: datetime, end: datetime, step: timedelta) -> None:
    """The scheduler's rounds from `start` to `end`, one per `step`, without mail."""
    clock = rt.clock
    assert isinstance(clock, FrozenClock)
    at = start
    while at < end:
        at = min(at + step, end)
        clock.set(at)
        round_for(rt, mailer=None, payments=False, checkpoints=False)


def _results(
    rt: Runtime, name: str, start: datetime, case_ids: list[int]
) -> tuple[facts.Activity, dict[int, facts.Standing]]:
    with rt.reading() as svc:
        standing = facts.standings(svc.session, name)
        return facts.activity(svc.session, name, start), {c: standing[c] for c in case_ids}
