"""Frozen models of a workflow: states, transitions, roles, fields, votes, deadlines.

These dataclasses are also the schema of workflow files: the loader validates YAML
against them (pydantic, strict, unknown keys refused) and `aidflow workflow schema`
prints their JSON Schema. They hold data only: durations and guards stay strings here
and are parsed by `calendar` and `expressions`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

# pydantic reads this as its ConfigDict; a plain dict keeps pydantic out of read-only commands.
STRICT: Any = {"extra": "forbid", "strict": True, "frozen": True}

FieldType = Literal["str", "int", "decimal", "bool", "date", "list"]

# What guards may read about a person (see models.Person). Kept here so the loader
# can check guard references without importing the database layer.
PERSON_FIELDS: tuple[str, ...] = (
    "age",
    "sex",
    "birth_date",
    "township",
    "village",
    "hukou",
    "disability_grade",
    "disability_type",
    "mental_illness",
    "registered_poor",
    "dibao_status",
    "tekun_status",
    "supporter_able",
    "living_alone",
    "related_users",  # users (caseworkers, village committee members) related to the person
    "related_roles",  # sorted union of the roles of those users (derived, not a column)
)

# Person values the engine derives rather than reads from a column of `persons`.
PERSON_DERIVED: tuple[str, ...] = ("age", "related_roles")
PERSON_COLUMNS: tuple[str, ...] = tuple(n for n in PERSON_FIELDS if n not in PERSON_DERIVED)

# What guards and computes may read about the household of the case's person: the figures
# of the members who live together, worked out by the service from the household's records
# and the policy's amount rule (aidflow.policy.households); a person in no household is a
# single-person household whose income is the case's monthly_income.
HOUSEHOLD_FIELDS: tuple[str, ...] = (
    "members",
    "income",
    "per_capita_income",
    "standard",
    "dibao_amount",
    "ceiling",
)

# Built-in case attributes every guard may read besides the workflow's own fields.
CASE_BUILTINS: tuple[str, ...] = ("emergency", "township", "village", "state", "opened_at")

# The notification templates an escalation rung may name (notify.TEMPLATE_VARIABLES has
# their variables; kept here so the loader need not import Jinja).
ESCALATION_TEMPLATES: tuple[str, ...] = ("deadline_reminder", "escalation", "emergency_escalation")

VOTE_FIELDS: tuple[str, ...] = ("yes", "no", "abstain", "total", "quorum_met", "passed", "failed")


@dataclass(frozen=True)
class Labels:
    """A display name in Chinese and English."""

    __pydantic_config__ = STRICT
    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class FieldSpec:
    """A typed data field of a case, set when a transition fires."""

    __pydantic_config__ = STRICT
    type: FieldType
    labels: Labels | None = None
    choices: tuple[str, ...] = ()
    # a label per choice (fire: 火灾 / Fire), so `--field cause=火灾` is accepted too
    choice_labels: dict[str, Labels] = field(default_factory=dict)

    def choice_called(self, text: str) -> str:
        """The choice `text` names: itself, or the choice whose zh/en label it is."""
        if text in self.choices:
            return text
        for choice, labels in self.choice_labels.items():
            if text in (labels.zh, labels.en):
                return choice
        return text


@dataclass(frozen=True)
class TransitionField:
    """A field a transition accepts; `required` ones must be given with `--field`."""

    __pydantic_config__ = STRICT
    required: bool = True


@dataclass(frozen=True)
class VoteRule:
    """How a state's exit depends on recorded votes (village democratic review).

    A motion passes when at least `quorum` eligible voters voted and the yes share of
    votes cast is `rule` (`more_than` or `at_least`) `threshold` (a fraction "1/2", "2/3").
    """

    __pydantic_config__ = STRICT
    voters: str
    quorum: int
    threshold: str = "1/2"
    rule: Literal["more_than", "at_least"] = "more_than"
    exclude_related: bool = True


@dataclass(frozen=True)
class Rung:
    """One step of an escalation ladder: `after` this long, notify role `to`.

    `after` is measured from the clock named by `relative_to`: `entry` (entering the state,
    the default: "remind at 12h") or `deadline` (the state's deadline: "notify the county
    1d after the deadline"). With `repeat` the rung fires again every `repeat` after its
    first firing until it is acknowledged (when `stop_on_ack`) or the case leaves the state.
    """

    __pydantic_config__ = STRICT
    after: str
    to: str
    template: str
    repeat: str | None = None
    stop_on_ack: bool = True
    relative_to: Literal["entry", "deadline"] = "entry"


@dataclass(frozen=True)
class ClockSpec:
    """A named clock over several states, e.g. the statutory 30 working days of a dibao case.

    It starts when the case enters `starts_at`, stops for good on entering any of
    `stops_at`, does not run while the case is in a state that lists it under `pauses`,
    and gets `extended_by[trigger]` more time the first time that trigger fires while it
    runs (L21 §22: 30 WD, up to 45 for an objection). Extensions use the clock's unit.
    """

    __pydantic_config__ = STRICT
    duration: str
    starts_at: str
    stops_at: tuple[str, ...]
    labels: Labels | None = None
    extended_by: dict[str, str] = field(default_factory=dict)
    duration_when: tuple[DurationWhen, ...] = ()  # the first true `when` overrides `duration`


@dataclass(frozen=True)
class DurationWhen:
    """A clock duration that applies when `when` (an expression over setting.*) is true when
    the clock starts, e.g. 20 WD instead of 30 when the township approves (L21 §22)."""

    __pydantic_config__ = STRICT
    when: str
    duration: str


@dataclass(frozen=True)
class Setting:
    """A county choice, e.g. whether the village democratic review is mandatory.

    `value` is one of `choices`; guards read it as `setting.<name>` (a plain string).
    """

    __pydantic_config__ = STRICT
    value: str
    choices: tuple[str, ...]
    labels: Labels | None = None
    source: str | None = None


@dataclass(frozen=True)
class DeadlineWhen:
    """A deadline that applies when `when` (an expression over case.*) is true on entering
    the state, e.g. a 6-month review for unstable income instead of the state's 12 months."""

    __pydantic_config__ = STRICT
    when: str
    deadline: str


@dataclass(frozen=True)
class State:
    """A step of the procedure: who must act (`owner`) and by when (`deadline`), or an end.

    Every state but a final one waits for someone; a final state ends the case.
    """

    __pydantic_config__ = STRICT
    labels: Labels
    initial: bool = False
    final: bool = False
    owner: str | None = None
    deadline: str | None = None
    on_timeout: str | None = None
    min_dwell: str | None = None
    dwell_exceptions: tuple[str, ...] = ()
    vote: VoteRule | None = None
    escalation: str | None = None  # the name of a ladder under the workflow's `escalations`
    pauses: tuple[str, ...] = ()  # clocks (under the workflow's `clocks`) that stand still here
    deadline_when: tuple[DeadlineWhen, ...] = ()  # the first true `when` overrides `deadline`


@dataclass(frozen=True)
class OncePerPerson:
    """At most one approval per person for the same value of case field `field` within
    `within` (a duration), unless the case's bool field `unless` is true (e.g. temporary
    assistance: the same cause once a year unless the county overrides)."""

    __pydantic_config__ = STRICT
    field: str
    within: str
    unless: str | None = None


@dataclass(frozen=True)
class Route:
    """One destination of a routed transition: taken when `when` (a guard-language expression)
    holds. Routes are tried in order and the first that holds is taken; the last has no
    `when` (otherwise), so exactly one is always taken."""

    __pydantic_config__ = STRICT
    dest: str
    when: str | None = None


@dataclass(frozen=True)
class Transition:
    """An action: from `source` to `dest`, or to the first of `routes` whose `when` holds."""

    __pydantic_config__ = STRICT
    trigger: str
    source: str | tuple[str, ...]
    dest: str | None = None
    routes: tuple[Route, ...] = ()
    labels: Labels | None = None
    roles: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()
    fields: dict[str, TransitionField] = field(default_factory=dict)
    note_required: bool = False
    separate_from: tuple[str, ...] = ()
    requires_vote: Literal["passed", "failed"] | None = None
    objection: bool = False
    system: bool = False
    # case fields the engine computes when the transition fires: field -> expression over
    # person.* and case.* (e.g. related_to_staff: len(person.related_users) > 0)
    computes: dict[str, str] = field(default_factory=dict)
    once_per_person: OncePerPerson | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        return (self.source,) if isinstance(self.source, str) else self.source

    @property
    def destinations(self) -> tuple[Route, ...]:
        """The routes in order; a plain `dest` is one route without a condition."""
        if self.routes:
            return self.routes
        return (Route(self.dest),) if self.dest is not None else ()

    @property
    def dests(self) -> tuple[str, ...]:
        """Every state this transition may lead to."""
        return tuple(dict.fromkeys(r.dest for r in self.destinations))


@dataclass(
    frozen=True, eq=False
)  # identity hash: machines and compiled guards are cached per instance
class Workflow:
    """One workflow file, validated."""

    __pydantic_config__ = STRICT
    workflow: str
    # What the file declares; deploy refuses it unless it is the version number it assigns
    # (services.workflows.check_declared_version). Optional: deploy numbers the versions.
    # Keyword-only so that it keeps its place among the keys while having a default.
    version: int | str | None = field(default=None, kw_only=True)
    labels: Labels
    roles: dict[str, Labels]
    states: dict[str, State]
    transitions: tuple[Transition, ...]
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    escalations: dict[str, tuple[Rung, ...]] = field(default_factory=dict)
    clocks: dict[str, ClockSpec] = field(default_factory=dict)
    settings: dict[str, Setting] = field(
        default_factory=dict
    )  # county choices guards read as setting.*
    description: str | None = None

    @property
    def name(self) -> str:
        return self.workflow

    @cached_property
    def initial_state(self) -> str:
        return next(name for name, s in self.states.items() if s.initial)

    @cached_property
    def _by_trigger(self) -> dict[str, list[Transition]]:
        index: dict[str, list[Transition]] = {}
        for t in self.transitions:
            index.setdefault(t.trigger, []).append(t)
        return index

    def transitions_from(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if state in t.sources]

    def transition(self, state: str, trigger: str) -> Transition | None:
        for t in self._by_trigger.get(trigger, ()):
            if state in t.sources:
                return t
        return None

    def has_trigger(self, trigger: str) -> bool:
        return trigger in self._by_trigger

    @cached_property
    def setting_values(self) -> dict[str, str]:
        """setting.<name> -> the county's chosen value (what guards read)."""
        return {name: s.value for name, s in self.settings.items()}


@functools.cache  # building the validator is slow enough to feel when checking many files
def workflow_adapter() -> Any:
    """The pydantic TypeAdapter for Workflow: validation, JSON dumps and the JSON Schema."""
    from pydantic import TypeAdapter

    return TypeAdapter(Workflow)


def workflow_from_json(text: str | bytes) -> Workflow:
    """Rebuild a deployed workflow from its stored JSON (pydantic validated it at deploy).

    A walk over the dataclasses' type hints rather than `workflow_adapter().validate_json`:
    every command that reads a case rebuilds its workflow, and importing pydantic and
    building its validator would make such a command (`aidflow case show`) start noticeably
    slower, for a check the deploy already made.
    """
    hints: dict[type, dict[str, Any]] = {}

    def build(tp: Any, value: Any) -> Any:
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if tp not in hints:
                hints[tp] = typing.get_type_hints(tp)
            return tp(**{k: build(hints[tp][k], v) for k, v in value.items()})
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is dict:
            return {k: build(args[1], v) for k, v in value.items()}
        if origin is tuple:
            return tuple(build(args[0], v) for v in value)
        if origin in (typing.Union, types.UnionType) and isinstance(value, list | dict):
            # `X | None`, `str | tuple[str, ...]`: the member that a list or a mapping builds
            want = tuple if isinstance(value, list) else dict
            return build(next(a for a in args if _json_shape(a) is want), value)
        return value

    wf: Workflow = build(Workflow, json.loads(text))
    return wf


def _json_shape(tp: Any) -> type | None:
    """tuple for a tuple hint, dict for a mapping or a model, None for a scalar."""
    if typing.get_origin(tp) is tuple:
        return tuple
    if typing.get_origin(tp) is dict or dataclasses.is_dataclass(tp):
        return dict
    return None


def workflow_to_json(wf: Workflow) -> str:
    data: bytes = workflow_adapter().dump_json(wf, exclude_defaults=True)
    return data.decode()


def json_schema() -> dict[str, Any]:
    schema: dict[str, Any] = workflow_adapter().json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aidflow workflow"
    return schema
