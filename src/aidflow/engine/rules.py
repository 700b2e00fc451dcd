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
from aidflow.i18n import N_, _, language, pick, use_language
from aidflow.language.calendar import duration_words
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


class Reason(str):
    """One reason `blocks` gives, in the reader's language; `detail` keeps what a workflow's
    author reads behind it (the guard's own text and values), `is_input` marks a required
    field the command did not give."""

    detail: str | None = None
    is_input: bool = False

    @classmethod
    def of(cls, text: str, *, detail: str | None = None, is_input: bool = False) -> Reason:
        reason = cls(text)
        reason.detail = detail
        reason.is_input = is_input
        return reason


def detail_of(reasons: list[str]) -> str | None:
    """The details behind `reasons` (for AidflowError.detail, printed with --verbose)."""
    found = [r.detail for r in reasons if isinstance(r, Reason) and r.detail]
    return "; ".join(found) if found else None


def _zh() -> bool:
    return language() == "zh"


def either(items: list[str]) -> str:
    """`a or b` in the reader's language."""
    return pick(" or ", "或").join(items)


def listed(items: list[str]) -> str:
    """`a, b` in the reader's language."""
    return pick(", ", "、").join(items)


def state_called(wf: Workflow, state: str) -> str:
    """A state as the reader calls it: its code in English, its label in Chinese."""
    spec = wf.states.get(state)
    return spec.labels.zh if _zh() and spec is not None else state


def trigger_called(wf: Workflow, trigger: str) -> str:
    """A trigger as the reader calls it: its code in English, its label in Chinese."""
    if _zh():
        for t in wf.transitions:
            if t.trigger == trigger and t.labels is not None:
                return t.labels.zh
    return trigger


def role_called(wf: Workflow | None, role: str) -> str:
    """A role as the reader calls it: its code in English, the workflow's label in Chinese."""
    if _zh() and wf is not None and role in wf.roles:
        return wf.roles[role].zh
    return access.role_called(role)


def quoted(text: str) -> str:
    """A name quoted the reader's way: 'accept' / “受理”."""
    return pick(f"'{text}'", f"“{text}”")


def blocks(
    snap: Snapshot,
    t: Transition,
    actor: access.Actor,
    now: datetime,
    fields: dict[str, Any] | None = None,
    note: str | None = None,
    check_inputs: bool = True,
) -> list[str]:
    """Every reason `actor` may not fire `t` now, in the reader's language; an empty list
    means allowed. The reasons are `Reason`s (see `detail_of`)."""
    reasons: list[str] = []
    wf = snap.workflow
    trigger = quoted(trigger_called(wf, t.trigger))
    if t.system and actor is not access.SYSTEM:
        reasons.append(_("{trigger} is fired by the system only", trigger=trigger))
    elif actor is not access.SYSTEM:
        if not set(t.roles) & set(actor.roles):
            held = listed([role_called(wf, r) for r in actor.roles]) or _("no role")
            reasons.append(
                _(
                    "needs role {roles}; {name} has {held}",
                    roles=either([role_called(wf, r) for r in t.roles]),
                    name=actor.name,
                    held=held,
                )
            )
        if not actor.covers(snap.township, snap.village):
            reasons.append(
                _(
                    "case is in {township}/{village}, outside {name}'s area ({area})",
                    township=snap.township,
                    village=snap.village,
                    name=actor.name,
                    area=access.area_called(actor.area),
                )
            )
    state = wf.states[snap.state]
    if (
        snap.dwell_until is not None
        and now < snap.dwell_until
        and t.trigger not in state.dwell_exceptions
    ):
        allowed = [
            quoted(trigger_called(wf, x)) if _zh() else x
            for x in state.dwell_exceptions
            if not closed_by_settings(wf, wf.transition(snap.state, x))
        ]
        values = {
            "state": quoted(state_called(wf, snap.state)),
            "until": snap.local(snap.dwell_until),
            "dwell": duration_words(state.min_dwell or ""),
        }
        if allowed:
            reasons.append(
                _(
                    "{state} must run until {until} ({dwell} minimum); "
                    "before then only {allowed} is allowed",
                    allowed=listed(allowed),
                    **values,
                )
            )
        else:
            reasons.append(
                _(
                    "{state} must run until {until} ({dwell} minimum); "
                    "before then nothing is allowed",
                    **values,
                )
            )
    if t.requires_vote is not None:
        tl = snap.tally
        if tl is None or not tl.quorum_met:
            cast = tl.total if tl else 0
            quorum = state.vote.quorum if state.vote else 0
            reasons.append(
                _(
                    "vote has {cast} of the {quorum} votes needed for a quorum",
                    cast=cast,
                    quorum=quorum,
                )
            )
        elif (t.requires_vote == "passed") != tl.passed:
            counts = {"yes": tl.yes, "no": tl.no, "abstain": tl.abstain, "trigger": trigger}
            if tl.passed:
                reasons.append(
                    _(
                        "vote passed ({yes} yes, {no} no, {abstain} abstain); "
                        "{trigger} needs it failed",
                        **counts,
                    )
                )
            else:
                reasons.append(
                    _(
                        "vote failed ({yes} yes, {no} no, {abstain} abstain); "
                        "{trigger} needs it passed",
                        **counts,
                    )
                )
    for trig in t.separate_from:
        if actor.name in snap.fired_by.get(trig, set()):
            reasons.append(
                _(
                    "{name} fired {earlier} on this case; {trigger} must be done by someone "
                    "else (separation of duties)",
                    name=actor.name,
                    earlier=quoted(trigger_called(wf, trig)),
                    trigger=trigger,
                )
            )
    if check_inputs:
        given = fields or {}
        missing = [f for f, spec in t.fields.items() if spec.required and f not in given]
        if missing:
            reasons.append(
                Reason.of(
                    _(
                        "missing field {fields}",
                        fields=listed([_field_option(wf, m) for m in missing]),
                    ),
                    is_input=True,
                )
            )
        unknown = [f for f in given if f not in t.fields]
        if unknown:
            reasons.append(
                _(
                    "{trigger} does not take field {unknown}; it takes {known}",
                    trigger=trigger,
                    unknown=", ".join(unknown),
                    known=", ".join(t.fields) or _("no fields"),
                )
            )
        if t.note_required and not (note and note.strip()):
            reasons.append(_("{trigger} needs a note: add --note TEXT", trigger=trigger))
    if t.guards and not (check_inputs and any(is_input_problem(r) for r in reasons)):
        reasons.extend(_guard_failures(snap, t, fields or {}))
    return reasons


def _field_option(wf: Workflow, name: str) -> str:
    """How a missing field is given: `--field name=...`, after its label in Chinese."""
    option = f"--field {name}=..."
    spec = wf.fields.get(name)
    if _zh() and spec is not None and spec.labels is not None:
        return f"{spec.labels.zh}（{option}）"
    return option


def is_input_problem(reason: str) -> bool:
    """Whether a reason from `blocks` is a required field the command did not give: invalid
    input (exit 3) rather than a refusal by the rules."""
    return isinstance(reason, Reason) and reason.is_input


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
    """Why the guards of `t` do not hold, in words (one reason for all that fail, the
    guards' own text as its detail), and which cannot be checked and why."""
    from aidflow.language.expressions import grouped

    scope = guard_scope(snap, fields)
    labels = guard_labels(snap.workflow, language())
    said: list[str] = []
    raw: list[str] = []
    out: list[str] = []
    for text in t.guards:
        expr = guard(text)
        # A guard that cannot be evaluated on this case's data blocks the transition with
        # its reason; it never stops the case from being shown or its other actions listed.
        try:
            if not expr.evaluate(scope):
                said.extend(s for s in expr.describe(scope, labels) if s not in said)
                raw.append(expr.explain(scope))
        except ExpressionError as exc:
            out.append(
                Reason.of(
                    _("condition cannot be checked: {reason}", reason=exc.message), detail=text
                )
            )
    if said:
        out.insert(
            0,
            Reason.of(
                _("not allowed yet: {reasons}", reasons=pick("; ", "；").join(grouped(said))),
                detail="; ".join(raw),
            ),
        )
    return out


# What guards read besides the workflow's own fields and settings, by name.
_PERSON_LABELS: dict[str, str] = {
    "age": N_("Age"),
    "sex": N_("Sex"),
    "birth_date": N_("Date of birth"),
    "township": N_("Township"),
    "village": N_("Village"),
    "hukou": N_("Hukou"),
    "disability_grade": N_("Disability grade"),
    "disability_type": N_("Disability type"),
    "mental_illness": N_("Mental illness"),
    "registered_poor": N_("Registered as poor"),
    "dibao_status": N_("Dibao status"),
    "tekun_status": N_("Tekun status"),
    "supporter_able": N_("Supporter able to support"),
    "living_alone": N_("Living alone"),
    "related_users": N_("Related staff"),
    "related_roles": N_("Roles of related staff"),
}
_HOUSEHOLD_LABELS: dict[str, str] = {
    "members": N_("Household members"),
    "income": N_("Household income"),
    "per_capita_income": N_("Household per-capita income"),
    "standard": N_("The household's dibao standard"),
    "dibao_amount": N_("The household's dibao amount"),
    "ceiling": N_("The household's dibao ceiling"),
}
_VOTE_LABELS: dict[str, str] = {
    "yes": N_("Yes votes"),
    "no": N_("No votes"),
    "abstain": N_("Abstentions"),
    "total": N_("Votes cast"),
    "quorum_met": N_("Quorum met"),
    "passed": N_("Vote passed"),
    "failed": N_("Vote failed"),
}
_CASE_LABELS: dict[str, str] = {
    "emergency": N_("Emergency"),
    "township": N_("Township"),
    "village": N_("Village"),
    "state": N_("State"),
    "opened_at": N_("Opened at"),
}
_POLICY_LABELS: dict[str, str] = {
    "urban_dibao_standard": N_("Urban dibao standard"),
    "rural_dibao_standard": N_("Rural dibao standard"),
    "dibao_household_ceiling": N_("Dibao household ceiling"),
    "basic_living_allowance": N_("Basic living allowance"),
    "care_allowance_full": N_("Care allowance (self-care)"),
    "care_allowance_partial": N_("Care allowance (partial care)"),
    "care_allowance_none": N_("Care allowance (full care)"),
    "temporary_assistance_multiplier_min": N_("Lowest temporary-assistance multiple"),
    "temporary_assistance_multiplier_max": N_("Highest temporary-assistance multiple"),
    "temporary_assistance_township_ceiling_multiple": N_("Highest multiple a township may approve"),
    "tekun_spot_check_min_ratio": N_("Least share of tekun cases spot-checked"),
}
# Values guards compare with that have no label in a workflow (a person's hukou, a
# setting's choice), as Chinese says them; English shows the value itself.
_VALUE_WORDS_ZH: dict[str, str] = {
    "rural": "农村",
    "urban": "城市",
    "active": "在保",
    "elderly": "老年人",
    "severely_disabled": "重度残疾人",
    "mentally_ill": "精神障碍患者",
    "intellectual": "智力残疾",
    "mental": "精神残疾",
    "physical": "肢体残疾",
    "eligible": "符合条件",
    "ineligible": "不符合条件",
    "full": "全自理",
    "partial": "半护理",
    "none": "全护理",
    "mandatory": "必须开展",
    "on_objection": "仅在有异议时开展",
    "off": "不开展",
    "county": "县级",
    "township": "乡镇",
    "centralized": "集中供养",
    "dispersed": "分散供养",
}


@lru_cache(maxsize=256)
def guard_labels(wf: Workflow, lang: str) -> dict[str, str]:
    """``ns.field`` -> its label in `lang` for every name a guard of `wf` may read, and
    ``ns.field=value`` -> the label of a choice (``=value`` for values of any field in
    Chinese): what `Expression.describe` names things by."""
    with use_language(lang):
        labels: dict[str, str] = {}
        for ns, table in (
            ("person", _PERSON_LABELS),
            ("household", _HOUSEHOLD_LABELS),
            ("vote", _VOTE_LABELS),
            ("case", _CASE_LABELS),
            ("policy", _POLICY_LABELS),
        ):
            labels.update({f"{ns}.{name}": _(text) for name, text in table.items()})
        for name, spec in wf.fields.items():
            if spec.labels is not None:
                labels[f"case.{name}"] = spec.labels.get(lang)
            for choice, said in spec.choice_labels.items():
                labels[f"case.{name}={choice}"] = said.get(lang)
        for name, setting in wf.settings.items():
            if setting.labels is not None:
                labels[f"setting.{name}"] = setting.labels.get(lang)
        if lang == "zh":
            labels.update({f"={value}": text for value, text in _VALUE_WORDS_ZH.items()})
        return labels


# -- typed field values ----------------------------------------------------------------

_TRUE = {"true", "yes", "y", "1", "是"}
_FALSE = {"false", "no", "n", "0", "否"}


class _Unfit(ValueError):
    """A value of the right kind that the field's rule refuses (its words are the reason)."""


def parse_field(name: str, spec: FieldSpec, raw: str) -> Any:
    """Turn `--field name=raw` into the stored JSON value for its declared type."""
    text = raw.strip()
    kind = spec.type
    try:
        if kind == "str":
            if spec.choices:
                text = spec.choice_called(text)
                if text not in spec.choices:
                    raise _Unfit(_("must be one of {choices}", choices=_choices(spec)))
            return check_text(text, f"--field {name}")
        if kind == "int":
            return int(text)
        if kind == "decimal":
            value = Decimal(text)
            if not value.is_finite():
                raise _Unfit(_("must be a finite number"))
            # an overflowing exponent (1e999) must not pass as a valid amount
            if value.adjusted() >= 15:
                raise _Unfit(_("must be below 10^15"))
            if int(value.as_tuple().exponent) < -6:
                raise _Unfit(_("must have at most 6 decimal places"))
            return str(value)
        if kind == "bool":
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise _Unfit(_("must be true or false"))
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
        detail = str(exc) if isinstance(exc, _Unfit) else _(_KIND_WORDS[kind])
        raise InvalidInputError(
            _("field {name}={raw}: {reason}", name=name, raw=repr(raw), reason=detail),
            hint=_("write it like --field {name}={example}", name=name, example=examples[kind]),
        ) from None
    raise InvalidInputError(_("field {name}: unsupported type {kind}", name=name, kind=kind))


_KIND_WORDS = {
    "int": N_("not a valid int"),
    "decimal": N_("not a valid decimal"),
    "bool": N_("not a valid bool"),
    "date": N_("not a valid date"),
    "str": N_("not a valid str"),
    "list": N_("not a valid list"),
}


def _choices(spec: FieldSpec) -> str:
    """A field's choices as the reader gives them: codes in English, labels in Chinese."""
    if _zh():
        return listed(
            [spec.choice_labels[c].zh if c in spec.choice_labels else c for c in spec.choices]
        )
    return ", ".join(spec.choices)


def stored_value(spec: FieldSpec, value: Any) -> Any:
    """A computed value as the case stores it: a decimal as its exact text, never a float."""
    if value is None:
        return None
    if spec.type == "decimal":
        if isinstance(value, float):
            raise InvalidInputError(
                _("a computed decimal must not be a float ({value})", value=repr(value))
            )
        return str(Decimal(value))
    if spec.type == "int" and isinstance(value, Decimal):
        return int(value)
    return value


def field_for_guard(spec: FieldSpec, value: Any) -> Any:
    """Stored JSON value -> the value guards compare (decimals as Decimal)."""
    if value is not None and spec.type == "decimal":
        return Decimal(value)
    return value
