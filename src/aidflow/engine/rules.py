"""Whether an actor may fire a transition now, and if not, every reason why.

Pure functions over a snapshot of the case: no database, no clock reads. The service
uses `blocks` to refuse a command; `case show` uses it to list what the user may do
next and why each other action is blocked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aidflow.engine import access
from aidflow.errors import ExpressionError, InvalidInputError
from aidflow.language.definition import FieldSpec, Transition, VoteRule, Workflow
from aidflow.language.textlimits import check_text

if TYPE_CHECKING:
    from aidflow.language.expressions import Expression


@dataclass(frozen=True)
class Tally:
    yes: int
    no: int
    abstain: int
    quorum_met: bool
    passed: bool
    dissent: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.yes + self.no + self.abstain

    def scope(self) -> dict[str, Any]:
        return {
            "yes": self.yes,
            "no": self.no,
            "abstain": self.abstain,
            "total": self.total,
            "quorum_met": self.quorum_met,
            "passed": self.passed,
            "failed": self.quorum_met and not self.passed,
        }


def tally(rule: VoteRule, votes: list[tuple[str, str]]) -> Tally:
    """Count (voter, choice) pairs against the rule: quorum of votes cast, then the threshold."""
    yes = sum(1 for _, c in votes if c == "yes")
    no = sum(1 for _, c in votes if c == "no")
    abstain = sum(1 for _, c in votes if c == "abstain")
    total = yes + no + abstain
    quorum_met = total >= rule.quorum
    share = Fraction(yes, total) if total else Fraction(0)
    threshold = Fraction(rule.threshold)
    passed = quorum_met and (share > threshold if rule.rule == "more_than" else share >= threshold)
    return Tally(yes, no, abstain, quorum_met, passed, tuple(v for v, c in votes if c == "no"))


@dataclass
class Snapshot:
    """What the rules need to know about one case at one instant."""

    workflow: Workflow
    state: str
    township: str
    village: str
    entered_at: datetime
    dwell_until: datetime | None
    person: dict[str, Any]
    case: dict[str, Any]
    fired_by: dict[str, set[str]] = field(default_factory=dict)  # trigger -> actors
    tally: Tally | None = None
    tz: tzinfo = UTC  # for times in messages
    policy: dict[str, Any] = field(default_factory=dict)  # policy.<name> -> value in force today
    household: dict[str, Any] = field(default_factory=dict)  # household.* (HOUSEHOLD_FIELDS)
    household_problem: str | None = None  # why household.* could not be worked out

    def local(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")


def blocks(
    snap: Snapshot,
    t: Transition,
    actor: access.Actor,
    now: datetime,
    fields: dict[str, Any] | None = None,
    note: str | None = None,
    check_inputs: bool = True,
) -> list[str]:
    """Every reason `actor` may not fire `t` now; an empty list means allowed."""
    reasons: list[str] = []
    wf = snap.workflow
    if t.system and actor is not access.SYSTEM:
        reasons.append(f"'{t.trigger}' is fired by the system only")
    elif actor is not access.SYSTEM:
        if not set(t.roles) & set(actor.roles):
            need = " or ".join(t.roles)
            reasons.append(
                f"needs role {need}; {actor.name} has {', '.join(actor.roles) or 'no role'}"
            )
        if not actor.covers(snap.township, snap.village):
            reasons.append(
                f"case is in {snap.township}/{snap.village}, outside {actor.name}'s area "
                f"({actor.area})"
            )
    state = wf.states[snap.state]
    if (
        snap.dwell_until is not None
        and now < snap.dwell_until
        and t.trigger not in state.dwell_exceptions
    ):
        allowed = (
            ", ".join(
                x
                for x in state.dwell_exceptions
                if not closed_by_settings(wf, wf.transition(snap.state, x))
            )
            or "nothing"
        )
        reasons.append(
            f"'{snap.state}' must run until {snap.local(snap.dwell_until)} "
            f"({state.min_dwell} minimum); before then only {allowed} is allowed"
        )
    if t.requires_vote is not None:
        tl = snap.tally
        if tl is None or not tl.quorum_met:
            cast = tl.total if tl else 0
            quorum = state.vote.quorum if state.vote else 0
            reasons.append(f"vote has {cast} of the {quorum} votes needed for a quorum")
        elif (t.requires_vote == "passed") != tl.passed:
            outcome = "passed" if tl.passed else "failed"
            reasons.append(
                f"vote {outcome} ({tl.yes} yes, {tl.no} no, {tl.abstain} abstain); "
                f"'{t.trigger}' needs it {t.requires_vote}"
            )
    for trig in t.separate_from:
        if actor.name in snap.fired_by.get(trig, set()):
            reasons.append(
                f"{actor.name} fired '{trig}' on this case; '{t.trigger}' must be done "
                "by someone else (separation of duties)"
            )
    if check_inputs:
        given = fields or {}
        missing = [f for f, spec in t.fields.items() if spec.required and f not in given]
        if missing:
            reasons.append("missing field " + ", ".join(f"--field {m}=..." for m in missing))
        unknown = [f for f in given if f not in t.fields]
        if unknown:
            reasons.append(
                f"'{t.trigger}' does not take field {', '.join(unknown)}; it takes "
                f"{', '.join(t.fields) or 'no fields'}"
            )
        if t.note_required and not (note and note.strip()):
            reasons.append(f"'{t.trigger}' needs a note: add --note TEXT")
    if t.guards and not (check_inputs and any("missing field" in r for r in reasons)):
        reasons.extend(_guard_failures(snap, t, fields or {}))
    return reasons


def is_input_problem(reason: str) -> bool:
    """Whether a reason from `blocks` is a required field the command did not give: invalid
    input (exit 3) rather than a refusal by the rules."""
    return reason.startswith("missing field ")


# What a guard may read: the person, the case, the household's figures, the vote, the
# county's policy values and the workflow's settings (county choices, e.g.
# setting.village_review).
GUARD_NAMESPACES: tuple[str, ...] = ("person", "case", "household", "vote", "policy", "setting")


def closed_by_settings(wf: Workflow, t: Transition | None) -> bool:
    """Whether a guard that reads only setting.* is false: the county's choice rules `t` out
    (so hints do not offer it)."""
    scope = {"setting": wf.setting_values}
    for g in t.guards if t is not None else ():
        expr = guard(g)
        if not expr.references or not all(r.startswith("setting.") for r in expr.references):
            continue
        try:
            if not expr.evaluate(scope):
                return True
        except ExpressionError:
            continue  # not ruled out: `blocks` shows the reason it cannot be checked
    return False


@dataclass(frozen=True)
class Reads:
    """What the rules of some transitions read beyond the case row, so that only that is loaded."""

    case: bool  # any guard or computes at all (they read case.*, vote.*, setting.* ...)
    person: bool  # person.* in a guard or computes
    related_roles: bool  # person.related_roles (one more query)
    policy: frozenset[str]  # policy.<name>
    household: bool  # household.* (the household's members and incomes)
    separate: tuple[str, ...]  # triggers whose actors must differ (separation of duties)


def reads(transitions: list[Transition]) -> Reads:
    """What the rules of `transitions` read (cheap: their guards are compiled once)."""
    refs = {
        ref
        for t in transitions
        for g in (*t.guards, *t.computes.values(), *(r.when for r in t.routes if r.when))
        for ref in guard(g).references
    }
    return Reads(
        any(t.guards or t.computes or t.routes for t in transitions),
        any(r.startswith("person.") for r in refs),
        "person.related_roles" in refs,
        frozenset(r.split(".", 1)[1] for r in refs if r.startswith("policy.")),
        any(r.startswith("household.") for r in refs),
        tuple(sorted({trig for t in transitions for trig in t.separate_from})),
    )


# A command checks the same few guard texts of its workflow on every case it touches; the
# compiled expression is immutable, so one per text serves every caller.
@lru_cache(maxsize=1024)
def guard(text: str) -> Expression:
    """A guard or computes expression compiled over GUARD_NAMESPACES."""
    from aidflow.language.expressions import compile_expression

    return compile_expression(text, namespaces=GUARD_NAMESPACES)


def guard_scope(snap: Snapshot, fields: dict[str, Any]) -> dict[str, dict[str, Any]]:
    case = dict(snap.case)
    case.update(fields)
    return {
        "person": snap.person,
        "case": case,
        "household": snap.household,
        "vote": snap.tally.scope() if snap.tally else {},
        "policy": snap.policy,
        "setting": snap.workflow.setting_values,
    }


def holds(snap: Snapshot, fields: dict[str, Any]) -> Callable[[str], bool]:
    """Whether a route condition holds for the case with `fields` given (machine.route asks)."""
    scope = guard_scope(snap, fields)
    return lambda text: bool(guard(text).evaluate(scope))


def _guard_failures(snap: Snapshot, t: Transition, fields: dict[str, Any]) -> list[str]:
    scope = guard_scope(snap, fields)
    out = []
    for text in t.guards:
        expr = guard(text)
        # A guard that cannot be evaluated on this case's data blocks the transition with
        # its reason; it never stops the case from being shown or its other actions listed.
        try:
            if not expr.evaluate(scope):
                out.append(f"condition not met: {expr.explain(scope)}")
        except ExpressionError as exc:
            out.append(f"condition cannot be checked: {exc.message}")
    return out


# -- typed field values ----------------------------------------------------------------

_TRUE = {"true", "yes", "y", "1", "是"}
_FALSE = {"false", "no", "n", "0", "否"}


def parse_field(name: str, spec: FieldSpec, raw: str) -> Any:
    """Turn `--field name=raw` into the stored JSON value for its declared type."""
    text = raw.strip()
    kind = spec.type
    try:
        if kind == "str":
            if spec.choices:
                text = spec.choice_called(text)
                if text not in spec.choices:
                    raise ValueError(f"must be one of {', '.join(spec.choices)}")
            return check_text(text, f"--field {name}")
        if kind == "int":
            return int(text)
        if kind == "decimal":
            value = Decimal(text)
            if not value.is_finite():
                raise ValueError("must be a finite number")
            # an overflowing exponent (1e999) must not pass as a valid amount
            if value.adjusted() >= 15:
                raise ValueError("must be below 10^15")
            if int(value.as_tuple().exponent) < -6:
                raise ValueError("must have at most 6 decimal places")
            return str(value)
        if kind == "bool":
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("must be true or false")
        if kind == "date":
            from datetime import date

            return date.fromisoformat(text).isoformat()
        if kind == "list":
            parts = [p.strip() for p in text.replace("，", ",").replace("、", ",").split(",")]
            return [p for p in parts if p]
    except (ValueError, InvalidOperation) as exc:
        examples = {
            "int": "42",
            "decimal": "1234.50",
            "bool": "true",
            "date": "2023-08-01",
            "str": "text",
            "list": "a,b",
        }
        detail = (
            str(exc)
            if kind in ("str", "bool", "decimal") and "must" in str(exc)
            else f"not a valid {kind}"
        )
        raise InvalidInputError(
            f"field {name}={raw!r}: {detail}", hint=f"write it like --field {name}={examples[kind]}"
        ) from None
    raise InvalidInputError(f"field {name}: unsupported type {kind}")


def stored_value(spec: FieldSpec, value: Any) -> Any:
    """A computed value as the case stores it: a decimal as its exact text, never a float."""
    if value is None:
        return None
    if spec.type == "decimal":
        if isinstance(value, float):
            raise InvalidInputError(f"a computed decimal must not be a float ({value!r})")
        return str(Decimal(value))
    if spec.type == "int" and isinstance(value, Decimal):
        return int(value)
    return value


def field_for_guard(spec: FieldSpec, value: Any) -> Any:
    """Stored JSON value -> the value guards compare (decimals as Decimal)."""
    if value is not None and spec.type == "decimal":
        return Decimal(value)
    return value
