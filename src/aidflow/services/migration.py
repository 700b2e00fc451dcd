"""Moving running cases to a new version of their workflow (`aidflow workflow migrate`).

When the county changes a procedure (a new deadline, an added step, a renamed state), the
cases already running stay on the version they were opened under until they are migrated.
A migration plan says how each case lands in the new version; it is a small YAML file:

    workflow: dibao          # must be the workflow migrated
    to: 4                    # must be the version migrated to
    states:                  # old state -> new state; a state not listed keeps its name
      public_notice: notice
    skips:                   # steps of the new version cases may land past, with a reason
      - {state: info_matching, reason: "matched on paper before the county system existed"}
    deadlines: recompute     # recompute (default) | keep
    votes: keep              # keep (default) | restart
    clocks: keep             # keep (the only choice)

- `deadlines: recompute` gives each case the new version's deadline for its new state,
  counted from when the case entered its state (so a deadline made longer or shorter
  applies at once); `keep` leaves each case's deadline as it is.
- `votes: keep`: the votes cast in the state's current round still count when the new
  state has the same vote rule (voters, quorum, threshold, rule, exclusion); otherwise,
  and always with `restart`, the round starts again at the migration event, and the
  votes cast so far no longer count.
- `clocks: keep`: running clocks keep their start (and extensions and pauses) and get the
  due date the new duration gives; clocks the new version lacks are dropped, clocks it
  adds start when the case next enters their start state (engine.clocks.carry).

Escalation ladders are keyed by the state entry (the event that entered the state). A case
whose round continues keeps its entry, so the rungs already sent are not sent again and the
new version's ladder for the state goes on from where it is (a rung is known by its
position in the ladder). A case whose round restarts gets a new entry: the ladder starts
over, counted from when the case entered its state, so the rungs already due are sent again
at the next sweep (the supervisors hear that the review starts over).

The plan is checked against both versions: every running case must land in a state of the
new version, and no case may land past a step the new version makes mandatory, that is, a
state every path from the initial state to the case's new state goes through (its
dominators), unless the case has been in it (a state of its history counts under its own
name and under the name `states:` maps it to) or the
plan lists it under `skips:` with a reason. Without a plan, the identity plan is used (its
hash is that of the text "workflow: NAME\nto: N\n").
Cases in a final state are never touched. Applying writes one "migrated" event per case
(in its hash chain and the global audit log) carrying the plan's SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from aidflow.engine import clocks
from aidflow.errors import Problem as FileProblem
from aidflow.errors import RefusedError, WorkflowInvalidError, did_you_mean
from aidflow.i18n import _
from aidflow.language.definition import Workflow
from aidflow.language.yamlfile import Document, Path_, format_path, read_yaml
from aidflow.services.cases import Service
from aidflow.store import rehoming, workflows

PLAN_KEYS = ("workflow", "to", "states", "skips", "deadlines", "votes", "clocks")
CHOICES: dict[str, tuple[str, ...]] = {
    "deadlines": ("recompute", "keep"),
    "votes": ("keep", "restart"),
    "clocks": ("keep",),
}
SHOWN_PROBLEMS = 20  # a refusal names this many cases, then the count of the rest


@dataclass(frozen=True)
class Plan:
    """A migration plan as read from its file (see the module docstring for the format)."""

    workflow: str
    to: int
    states: dict[str, str]
    skips: dict[str, str]  # new-version state -> why cases may land past it
    deadlines: str = "recompute"
    votes: str = "keep"
    clocks: str = "keep"
    file: str = "<identity plan>"
    sha256: str = ""
    doc: Document | None = field(default=None, repr=False, compare=False)

    def new_state(self, old: str) -> str:
        return self.states.get(old, old)

    def problem(
        self, path: Path_, message: str, hint: str | None = None, *, key: bool = False
    ) -> FileProblem:
        """A problem at `path` in the plan file (at its key with `key`)."""
        line, column = self.doc.where(path, key=key) if self.doc is not None else (1, 1)
        return FileProblem(self.file, line, column, format_path(path), message, hint)


def identity_plan(name: str, to: int) -> Plan:
    """The plan used without --plan: every state keeps its name; hashed as its canonical text."""
    text = f"workflow: {name}\nto: {to}\n"
    return Plan(name, to, {}, {}, sha256=hashlib.sha256(text.encode()).hexdigest())


def load_plan(text: str, file: str) -> Plan:
    """Read a plan file strictly; raise WorkflowInvalidError (exit 3) naming every problem
    by file:line:column. The states are checked against the versions by `migrate`."""
    doc = read_yaml(text, file)
    data = doc.data
    if not doc.problems and not isinstance(data, dict):
        doc.problem((), _("a migration plan is a mapping with keys workflow, to and states"))
    if not isinstance(data, dict):
        raise WorkflowInvalidError(doc.problems)
    for key in data:
        if key not in PLAN_KEYS:
            hint = did_you_mean(str(key), PLAN_KEYS) or _(
                "the keys are {keys}", keys=_(", ").join(PLAN_KEYS)
            )
            doc.problem((key,), _("unknown key '{key}'", key=key), hint, key=True)
    name = data.get("workflow")
    if not isinstance(name, str) or not name:
        doc.problem(("workflow",), _("expected the workflow's name"), _("write `workflow: NAME`"))
    to = data.get("to")
    if not isinstance(to, int) or isinstance(to, bool) or to < 1:
        doc.problem(("to",), _("expected the version number migrated to"), _("write `to: N`"))
    states: dict[str, str] = {}
    raw_states = data.get("states", {}) or {}
    if not isinstance(raw_states, dict):
        doc.problem(("states",), _("expected a mapping of old state -> new state"))
        raw_states = {}
    for old, new in raw_states.items():
        if not isinstance(new, str) or not new:
            doc.problem(("states", old), _("expected the name of a state of the new version"))
            continue
        states[str(old)] = new
    skips: dict[str, str] = {}
    raw_skips = data.get("skips", []) or []
    if not isinstance(raw_skips, list):
        doc.problem(("skips",), _("expected a list of {state, reason}"))
        raw_skips = []
    for i, item in enumerate(raw_skips):
        if not isinstance(item, dict):
            doc.problem(("skips", i), _("expected {state: NAME, reason: TEXT}"))
            continue
        for key in item:
            if key not in ("state", "reason"):
                doc.problem(
                    ("skips", i, key),
                    _("unknown key '{key}'", key=key),
                    _("write state and reason"),
                )
        state, reason = item.get("state"), item.get("reason")
        if not isinstance(state, str) or not state:
            doc.problem(("skips", i, "state"), _("expected the state cases may skip"))
            continue
        if not isinstance(reason, str) or not reason.strip():
            doc.problem(
                ("skips", i, "reason"),
                _("skipping '{state}' needs a reason", state=state),
                _("write why the cases may land past this step: reason: TEXT"),
            )
            continue
        skips[state] = reason.strip()
    choices: dict[str, str] = {}
    for key, allowed in CHOICES.items():
        value = data.get(key, allowed[0])
        if value not in allowed:
            doc.problem(
                (key,),
                _(
                    "{value} is not one of {choices}",
                    value=repr(value),
                    choices=_(", ").join(allowed),
                ),
            )
            value = allowed[0]
        choices[key] = value
    if doc.problems:
        raise WorkflowInvalidError(sorted(doc.problems, key=lambda p: (p.line, p.column)))
    assert isinstance(name, str) and isinstance(to, int)
    return Plan(
        name,
        to,
        states,
        skips,
        file=file,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        doc=doc,
        **choices,
    )


class CaseMove(NamedTuple):
    """One running case's move: where it is and where the plan puts it."""

    case_id: int
    township: str
    village: str
    from_version: int
    old_state: str
    new_state: str
    old_deadline: datetime | None
    new_deadline: datetime | None


@dataclass(frozen=True)
class Problem:
    """A case the plan cannot move, and why."""

    case_id: int
    reason: str


@dataclass
class MigrationReport:
    """What a migration moves (or would move), what it cannot, and the plan's hash."""

    workflow: str
    to_version: int
    moves: list[CaseMove]
    problems: list[Problem]
    plan_sha256: str
    applied: bool
    # the states' names by version number, state and language ("zh", "en"), for showing them
    labels: dict[int, dict[str, dict[str, str]]] = field(default_factory=dict)

    def counts(self) -> Counter[tuple[str, str]]:
        """How many cases go from each old state to each new one."""
        return Counter((m.old_state, m.new_state) for m in self.moves)


def dominators(wf: Workflow) -> dict[str, frozenset[str]]:
    """For each state, the states every path from the initial state to it goes through
    (itself included), over every transition and every route of a routed one."""
    preds: dict[str, set[str]] = {s: set() for s in wf.states}
    for t in wf.transitions:
        for source in t.sources:
            for dest in t.dests:
                preds[dest].add(source)
    every = frozenset(wf.states)
    initial = wf.initial_state
    dom = {s: (frozenset({s}) if s == initial else every) for s in wf.states}
    changed = True
    while changed:
        changed = False
        for s in wf.states:
            if s == initial:
                continue
            before = [dom[p] for p in preds[s]]
            new = frozenset({s}) | (frozenset.intersection(*before) if before else frozenset())
            if new != dom[s]:
                dom[s], changed = new, True
    return dom


def _check_plan(plan: Plan, name: str, to: int, old: dict[int, Workflow], new: Workflow) -> None:
    """The plan against the command and both versions: file:line problems, all at once."""
    problems = []
    if plan.workflow != name:
        problems.append(
            plan.problem(
                ("workflow",),
                _(
                    "the plan is for workflow '{planned}', not '{name}'",
                    planned=plan.workflow,
                    name=name,
                ),
                _(
                    "write `workflow: {name}` or migrate {planned}",
                    name=name,
                    planned=plan.workflow,
                ),
            )
        )
    if plan.to != to:
        problems.append(
            plan.problem(
                ("to",),
                _("the plan is for version {planned}, not {to}", planned=plan.to, to=to),
                _("write `to: {to}` or run with --to {planned}", to=to, planned=plan.to),
            )
        )
    known_old = {s for wf in old.values() for s in wf.states}
    for old_state, new_state in plan.states.items():
        if old_state not in known_old:
            problems.append(
                plan.problem(
                    ("states", old_state),
                    _(
                        "'{state}' is not a state of any other version of {name}",
                        state=old_state,
                        name=name,
                    ),
                    did_you_mean(old_state, known_old),
                    key=True,
                )
            )
        if new_state not in new.states:
            problems.append(
                plan.problem(
                    ("states", old_state),
                    _(
                        "'{state}' is not a state of {name} version {to}",
                        state=new_state,
                        name=name,
                        to=to,
                    ),
                    did_you_mean(new_state, new.states)
                    or _("its states: {states}", states=_(", ").join(new.states)),
                )
            )
    for i, state in enumerate(plan.skips):
        if state not in new.states:
            problems.append(
                plan.problem(
                    ("skips", i, "state"),
                    _(
                        "'{state}' is not a state of {name} version {to}",
                        state=state,
                        name=name,
                        to=to,
                    ),
                    did_you_mean(state, new.states)
                    or _("its states: {states}", states=_(", ").join(new.states)),
                )
            )
    if problems:
        raise WorkflowInvalidError(problems)


def migrate(
    svc: Service,
    name: str,
    to_version: int,
    plan: Plan | None,
    *,
    actor: str,
    dry_run: bool,
    leave_problems: bool = False,
) -> MigrationReport:
    """Move every running case of workflow `name` on another version to version `to_version`.

    With problems (a case stranded or landing past a mandatory step) RefusedError names the
    cases and nothing changes, unless `leave_problems`: then those cases stay where they
    are and are reported, and the others move. `dry_run` computes the same report and
    writes nothing. `actor` is who the events name.
    """
    session = svc.session
    target = workflows.workflow_version(session, name, to_version)
    new = workflows.definition_of(target)
    plan = plan or identity_plan(name, to_version)
    cases = rehoming.running_cases(session, name, target.id)
    old: dict[int, Workflow] = {}  # by version id: every other version of the workflow
    numbers: dict[int, int] = {}
    for record in workflows.list_versions(session):
        if record.name == name and record.id != target.id:
            old[record.id], numbers[record.id] = workflows.definition_of(record), record.version
    _check_plan(plan, name, to_version, old, new)
    doms = dominators(new)
    # the states a case must have been in for its move, and the old names that count for them
    needed = {
        s
        for target_state in {plan.new_state(c.state) for c in cases} & set(new.states)
        for s in doms[target_state] - {target_state} - set(plan.skips)
    }
    counted = needed | {old_name for old_name, s in plan.states.items() if s in needed}
    visited = rehoming.visited_states(session, name, target.id, counted)
    on = {c.workflow_version_id for c in cases}
    carriers = {vid: clocks.carrier(old[vid], new, svc.calendar) for vid in on}
    # the JSON columns are read only where needed: data for a deadline that depends on it,
    # clocks where a clock changes
    dependent = {s for s, st in new.states.items() if st.deadline_when}
    by_data = sorted({c.state for c in cases if plan.new_state(c.state) in dependent})
    datas = (
        rehoming.json_of(session, name, target.id, "data", by_data)
        if plan.deadlines == "recompute" and by_data
        else {}
    )
    kept = (
        rehoming.json_of(session, name, target.id, "clocks")
        if any(c is not None for c in carriers.values()) and not dry_run
        else {}
    )
    moves: list[CaseMove] = []
    rows: list[rehoming.CaseMoveRow] = []
    problems: list[Problem] = []
    deadlines: dict[tuple[str, datetime], datetime | None] = {}
    reasons: dict[tuple[str, frozenset[str]], str | None] = {}  # many cases share a history
    finals = {(vid, s) for vid, wf in old.items() for s, st in wf.states.items() if st.final}
    for case in cases:
        wf = old[case.workflow_version_id]
        if (case.workflow_version_id, case.state) in finals:
            continue  # closed_at is set on entering a final state; never touched either way
        target_state = plan.new_state(case.state)
        history = visited.get(case.id, frozenset())
        key = (case.state, history)
        if key not in reasons:
            reasons[key] = _problem(plan, case.state, target_state, new, doms, history)
        reason = reasons[key]
        if reason is not None:
            problems.append(Problem(case.id, reason))
            continue
        deadline = _deadline(svc, plan, new, case, target_state, datas.get(case.id, {}), deadlines)
        moves.append(
            CaseMove(
                case.id,
                case.township,
                case.village,
                numbers[case.workflow_version_id],
                case.state,
                target_state,
                case.deadline_at,
                deadline,
            )
        )
        if not dry_run:
            carry = carriers[case.workflow_version_id]
            before = kept.get(case.id)
            after = carry(before) if carry is not None and before else before
            rows.append(
                _row(
                    plan,
                    wf,
                    new,
                    case,
                    target_state,
                    deadline,
                    None if after is before else after,
                    numbers,
                    target.id,
                )
            )
    if problems and not leave_problems:
        raise _refusal(name, to_version, problems)
    applied = False
    if rows:
        rehoming.write_moves(
            session,
            rows,
            at=svc.clock.now(),
            actor=actor,
            note=f"migrated to version {to_version} by plan {plan.file}",
        )
        applied = True
    labels = {numbers[vid]: _labels(wf) for vid, wf in old.items() if vid in on}
    labels[to_version] = _labels(new)
    return MigrationReport(name, to_version, moves, problems, plan.sha256, applied, labels)


def _labels(wf: Workflow) -> dict[str, dict[str, str]]:
    return {s: {"zh": st.labels.zh, "en": st.labels.en} for s, st in wf.states.items()}


def _problem(
    plan: Plan,
    state: str,
    target: str,
    new: Workflow,
    doms: dict[str, frozenset[str]],
    visited: frozenset[str],
) -> str | None:
    """Why the plan cannot move a case in `state` that has been in `visited` (None: it can)."""
    st = new.states.get(target)
    if st is None:
        if state in plan.states:
            return _(
                "'{state}' is mapped to '{target}', which version {to} lacks",
                state=state,
                target=target,
                to=plan.to,
            )
        return _(
            "state '{state}' is not in version {to} and the plan does not map it",
            state=state,
            to=plan.to,
        )
    if st.final:
        return _(
            "'{state}' would land in final state '{target}'; a migration closes no case",
            state=state,
            target=target,
        )
    # a state the case was in counts under its own name and under the name the plan maps
    # it to (a state renamed is the same step)
    seen = visited | {plan.new_state(s) for s in visited} | {target}
    skipped = sorted(doms[target] - seen - set(plan.skips))
    if skipped:
        return _(
            "landing in '{target}' skips mandatory step(s) {steps} the case has never been in",
            target=target,
            steps=_(", ").join(skipped),
        )
    return None


def _refusal(name: str, to: int, problems: list[Problem]) -> RefusedError:
    shown = _("; ").join(
        _("case {case}: {reason}", case=p.case_id, reason=p.reason)
        for p in problems[:SHOWN_PROBLEMS]
    )
    more = len(problems) - SHOWN_PROBLEMS
    if more > 0:
        shown += _("; and {n} more case(s)", n=more)
    return RefusedError(
        _(
            "cannot migrate {name} to version {to}: {n} case(s) cannot be moved "
            "by this plan ({shown}); nothing was changed",
            name=name,
            to=to,
            n=len(problems),
            shown=shown,
        ),
        hint=_(
            "map each such state to a state of the new version under `states:` in the "
            "plan, or list a step cases may skip under `skips:` with a reason"
        ),
    )


def _deadline(
    svc: Service,
    plan: Plan,
    new: Workflow,
    case: rehoming.Running,
    target: str,
    data: dict[str, Any],
    seen: dict[tuple[str, datetime], datetime | None],
) -> datetime | None:
    """The case's deadline in the new version: the new state's, counted from its entry."""
    if plan.deadlines == "keep":
        return case.deadline_at
    if new.states[target].deadline_when:  # depends on the case's data
        return svc.deadline_for(new, target, case.state_entered_at, data)
    key = (target, case.state_entered_at)
    if key not in seen:
        seen[key] = svc.deadline_for(new, target, case.state_entered_at)
    return seen[key]


def _row(
    plan: Plan,
    wf: Workflow,
    new: Workflow,
    case: rehoming.Running,
    target: str,
    deadline: datetime | None,
    carried: dict[str, Any] | None,
    numbers: dict[int, int],
    version_id: int,
) -> rehoming.CaseMoveRow:
    rule = new.states[target].vote
    before = wf.states[case.state].vote if case.state in wf.states else None
    new_round = rule is not None and (plan.votes == "restart" or rule != before)
    return rehoming.CaseMoveRow(
        case,
        version_id,
        target,
        deadline,
        carried,
        new_round,
        {
            "from_version": numbers[case.workflow_version_id],
            "to_version": plan.to,
            "plan_sha256": plan.sha256,
            "deadline_before": _iso(case.deadline_at),
            "deadline_after": _iso(deadline),
        },
    )


@functools.lru_cache(maxsize=4096)  # many cases share a deadline
def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
