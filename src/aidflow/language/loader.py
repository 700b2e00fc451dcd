"""YAML workflow files -> validated `Workflow` definitions.

Validation runs in three passes and collects every problem before reporting:
strict YAML (yamlfile), the schema (pydantic over definition's dataclasses), then the
rules a schema cannot express: the graph, roles, durations, guards, votes and duties.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import types
import typing
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from aidflow.errors import (
    DurationError,
    ExpressionError,
    Problem,
    WorkflowInvalidError,
    closest,
    did_you_mean,
)
from aidflow.i18n import N_, _
from aidflow.language import definition as d
from aidflow.language.calendar import Duration, parse_duration
from aidflow.language.expressions import check_references, compile_expression
from aidflow.language.yamlfile import Document, Path_, format_path, read_yaml

if TYPE_CHECKING:  # pydantic is imported only when a file is loaded (start-up time)
    from pydantic_core import ErrorDetails

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


MAX_QUORUM = 10_000


@dataclass(frozen=True)
class LoadedWorkflow:
    """A valid workflow with the source it came from."""

    definition: d.Workflow
    source: str
    file: str
    # Line and column of the `version:` value, for deploy's check of it (None when omitted).
    version_mark: tuple[int, int] | None = None

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()


@dataclass(frozen=True)
class PolicyNames:
    """The names a guard's `policy.<name>` may read, or why there are none.

    The policy layer reads them from the county's standards file
    (`aidflow.policy.standards.policy_names`); the loader only checks guards against them.
    """

    names: frozenset[str] | None
    where: str  # the file the names come from, or why there are none
    problems: tuple[Problem, ...] = ()  # the standards file's own, listed after the workflow's
    hint: str | None = None  # how to make names available when there are none


def _no_policy() -> PolicyNames:
    """No policy directory: why, and what to do, in the current language."""
    return PolicyNames(
        None,
        _("no policy directory given"),
        hint=_("put policy/standards.yaml next to the workflow file"),
    )


def load_workflow_text(
    text: str, file: str, *, policy: PolicyNames | None = None
) -> LoadedWorkflow:
    """Validate one workflow; raise WorkflowInvalidError listing every problem.

    `policy` holds the names a guard's `policy.<name>` may use; without it any policy
    reference is a problem.
    """
    doc = read_yaml(text, file)
    wf = _validate(doc, policy or _no_policy())
    if doc.problems or wf is None:
        problems = sorted(doc.problems, key=lambda p: (p.line, p.column))
        # a guard could not be checked because the policy file is invalid: list its problems
        if policy is not None and any(policy.where in p.message for p in problems):
            problems.extend(policy.problems)
        raise WorkflowInvalidError(problems)
    return LoadedWorkflow(wf, text, file, doc.value_marks.get(("version",)))


# -- pass 2: the schema --------------------------------------------------------------


def _validate(doc: Document, policy: PolicyNames) -> d.Workflow | None:
    if doc.data is None:
        return None
    if not isinstance(doc.data, dict):
        doc.problem(
            (),
            _(
                "a workflow file must be a mapping with keys workflow, version, labels, "
                "roles, states and transitions"
            ),
        )
        return None
    from pydantic import ValidationError

    yaml_count = len(doc.problems)
    try:
        try:
            wf: d.Workflow = d.workflow_adapter().validate_json(doc.source_json())
        except ValidationError as exc:
            _schema_problems(doc, exc.errors(include_url=False))
            return None
        _check_rules(doc, wf, policy)
        return wf
    finally:
        # A value the YAML pass refused (a tag, `yes`, `1:30`) is also the wrong type or an
        # invalid duration; report it once, with the YAML message that names the cause.
        flagged = {(p.path, p.line, p.column) for p in doc.problems[:yaml_count]}
        doc.problems[yaml_count:] = [
            p for p in doc.problems[yaml_count:] if (p.path, p.line, p.column) not in flagged
        ]


def _schema_problems(doc: Document, errors: list[ErrorDetails]) -> None:
    seen: dict[Path_, list[str]] = {}
    kinds: dict[Path_, str] = {}
    missing: dict[Path_, str] = {}
    unknown: list[Path_] = []
    for err in errors:
        path = _data_path(doc.data, err["loc"])
        kind = err["type"]
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            unknown.append(path)
        elif kind == "missing":
            missing[path] = str(err["loc"][-1])
        else:
            seen.setdefault(path, []).append(_expected(err))
            kinds[path] = kind
    for path in unknown:
        key = str(path[-1])
        allowed = _allowed_keys(path[:-1])
        absent = [m for p, m in missing.items() if p[:-1] == path[:-1]]
        meant = closest(key, absent) or closest(key, allowed)
        if meant in absent:
            # `trasitions:` is one mistake: do not also report `transitions` as missing
            missing.pop(path[:-1] + (meant,), None)
        hint = did_you_mean(key, absent) or did_you_mean(key, allowed)
        doc.problem(
            path,
            _("unknown key '{key}'", key=key),
            hint or (_("allowed keys: {keys}", keys=_(", ").join(allowed)) if allowed else None),
            key=True,
        )
    for path, name in missing.items():
        parent = format_path(path[:-1]) or _("the top level")
        doc.problem(
            path,
            _("missing required key '{key}'", key=name),
            _("add {key}: to {parent}", key=name, parent=parent),
            key=True,
        )
    for path in list(seen):
        # `source: [draft, 5]` fails both union members; report the item, not "expected text"
        if any(len(other) > len(path) and other[: len(path)] == path for other in seen):
            del seen[path]
    for path, expected in seen.items():
        got = _get(doc.data, path)
        wanted = _(" or ").join(_say_expected(e) for e in dict.fromkeys(expected))
        hint = None
        if isinstance(got, str) and kinds[path] == "literal_error":
            hint = did_you_mean(got, re.findall(r"'([^']+)'", " ".join(expected)))
        elif isinstance(got, str) and _TRUE_OR_FALSE in expected:
            hint = _("write true or false without quotes")
        elif isinstance(got, str) and _WHOLE_NUMBER in expected and got.strip().isdigit():
            hint = _("write the number without quotes")
        elif isinstance(got, dict) and len(got) == 1 and _TEXT in expected:
            hint = _(
                "an unquoted ': ' inside a value starts a mapping; put the whole value in quotes"
            )
        doc.problem(path, _("expected {wanted}, got {got}", wanted=wanted, got=_show(got)), hint)


_TEXT = N_("text")
_TRUE_OR_FALSE = N_("true or false")
_WHOLE_NUMBER = N_("a whole number")
_A_MAPPING = N_("a mapping")
_A_LIST = N_("a list")
_ONE_OF = "one of "
# What a value should have been, by pydantic's error type (in English: the catalog's msgids).
_EXPECTED = {
    "string_type": _TEXT,
    "bool_type": _TRUE_OR_FALSE,
    "int_type": _WHOLE_NUMBER,
    "dict_type": _A_MAPPING,
    "tuple_type": _A_LIST,
    "list_type": _A_LIST,
    "dataclass_type": _A_MAPPING,
    "model_type": _A_MAPPING,
    "dataclass_exact_type": _A_MAPPING,
    "float_type": N_("a number"),
    "int_from_float": _WHOLE_NUMBER,
}


def _expected(err: ErrorDetails) -> str:
    """What the value should have been, in English (`_say_expected` translates it)."""
    kind = err["type"]
    if kind == "literal_error":
        expected: str = err["ctx"]["expected"]  # pydantic's ctx values are untyped
        return _ONE_OF + expected
    return _EXPECTED.get(kind, err["msg"].removeprefix("Input should be ").lower())


def _say_expected(expected: str) -> str:
    """`_expected`'s English in the current language (pydantic's own words stay as they are)."""
    if expected.startswith(_ONE_OF):
        # pydantic lists them as 'a', 'b' or 'c'
        values = re.findall(r"'[^']*'", expected) or [expected.removeprefix(_ONE_OF)]
        if len(values) > 1:
            shown = _("{items} or {last}", items=_(", ").join(values[:-1]), last=values[-1])
        else:
            shown = values[0]
        return _("one of {values}", values=shown)
    return _(expected) if expected in _EXPECTED.values() else expected


def _show(value: Any) -> str:
    if value is None:
        return _("nothing (null)")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _(_A_MAPPING)
    if isinstance(value, list):
        return _(_A_LIST)
    return repr(value)


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path_:
    """Pydantic's loc with the union-member labels dropped, so it points into the data."""
    path: list[str | int] = []
    cur = data
    for part in loc:
        if (
            isinstance(cur, dict)
            and part in cur
            or isinstance(cur, list)
            and isinstance(part, int)
            and 0 <= part < len(cur)
        ):
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and not path_is_union_tag(part):
            path.append(part)  # a missing or unknown key
            cur = None
    return tuple(path)


def path_is_union_tag(part: str) -> bool:
    return part in ("str", "int", "tuple[str, ...]", "Labels", "none") or "[" in part


def _get(data: Any, path: Path_) -> Any:
    cur = data
    for part in path:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def _allowed_keys(path: Path_) -> list[str]:
    """The keys the schema allows at `path` (for "did you mean")."""
    tp: Any = d.Workflow
    for part in path:
        tp = _unwrap(tp)
        if dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            tp = hints.get(str(part))
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) in (tuple, list):
            tp = typing.get_args(tp)[0]
        else:
            return []
    tp = _unwrap(tp)
    if dataclasses.is_dataclass(tp):
        return [f.name for f in dataclasses.fields(tp)]
    return []


def _unwrap(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg) or typing.get_origin(arg) in (dict, tuple, list):
                return arg
    return tp


# -- pass 3: rules beyond the schema ---------------------------------------------------


_GUARD = N_("guard")
_ROUTE_CONDITION = N_("route condition")


@dataclass(frozen=True)
class _Rules:
    """The file being checked, with the small checks every section repeats."""

    doc: Document
    wf: d.Workflow
    policy: PolicyNames

    def ident(self, path: Path_, name: str, what: str, key: bool = True) -> None:
        if _IDENT.match(name):
            return
        words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()  # CamelCase -> camel_case
        suggestion = re.sub(r"[^a-z0-9]+", "_", words).strip("_")[:63]
        hint = (
            _("rename it to '{name}'", name=suggestion)
            if name.isascii() and _IDENT.match(suggestion)
            else None
        )
        self.doc.problem(
            path,
            _(
                "{what} '{name}' must be snake_case (a-z, 0-9, _; starting with a letter)",
                what=_(what),
                name=name,
            ),
            hint,
            key=key,
        )

    def role(self, path: Path_, role: str) -> None:
        if role not in self.wf.roles:
            self.doc.problem(
                path,
                _("role '{role}' is not declared under roles", role=role),
                did_you_mean(role, self.wf.roles) or _("add it to roles"),
            )

    def duration(self, path: Path_, text: str) -> Duration | None:
        """The parsed duration, or None after reporting why it is not one."""
        try:
            return parse_duration(text)
        except DurationError as exc:
            self.doc.problem(path, exc.message, exc.hint or _duration_hint(text))
            return None

    def guard(
        self, path: Path_, text: str, known: dict[str, tuple[str, ...]], what: str = _GUARD
    ) -> None:
        """A guard-language expression: it compiles and reads only the names in `known`.

        `what` names it in messages: a key (`computes`) or an N_-marked word (guard)."""
        try:
            expr = compile_expression(text, namespaces=tuple(known))
        except ExpressionError as exc:
            self.doc.problem(
                path,
                _(
                    "{what} {text}: {message} (column {column})",
                    what=_(what),
                    text=repr(text),
                    message=exc.message,
                    column=exc.column,
                ),
                exc.hint,
            )
            return
        # check_references reports the unknown references in the expression's order
        unknown = [
            ref
            for ref in expr._ordered_references
            if ref.split(".", 1)[1] not in known.get(ref.split(".", 1)[0], ())
        ]
        for ref, (message, hint) in zip(unknown, check_references(expr, known), strict=False):
            namespace = ref.split(".", 1)[0]
            # the expression language words these in English; say them in the reader's
            if message == f"unknown field '{ref}'":
                message = _("unknown field '{ref}'", ref=ref)
            if hint == f"no fields are declared for '{namespace}'":
                hint = _("no fields are declared for '{namespace}'", namespace=namespace)
            if self.policy.names is None and ref.startswith("policy."):
                message = _("cannot check '{ref}': {why}", ref=ref, why=self.policy.where)
                hint = self.policy.hint
            self.doc.problem(
                path,
                _("{what} {text}: {message}", what=_(what), text=repr(text), message=message),
                hint,
            )


def _check_rules(doc: Document, wf: d.Workflow, policy: PolicyNames) -> None:
    """Every rule the schema cannot express, section by section in file order."""
    rules = _Rules(doc, wf, policy)
    _check_names_and_fields(rules)
    _check_escalations(rules)
    _check_settings(rules)
    _check_clocks(rules)
    _check_initial_state(rules)
    for name, state in wf.states.items():
        _check_state(rules, name, state)
    names_resolve = True
    seen_pairs: dict[tuple[str, str], int] = {}
    for i, transition in enumerate(wf.transitions):
        names_resolve &= _check_transition(rules, i, transition, seen_pairs)
    _check_graph(doc, wf, names_resolve)


def _check_names_and_fields(rules: _Rules) -> None:
    wf = rules.wf
    rules.ident(("workflow",), wf.workflow, N_("workflow name"), key=False)
    for role in wf.roles:
        rules.ident(("roles", role), role, N_("role"))
    for name, spec in wf.fields.items():
        rules.ident(("fields", name), name, N_("field"))
        if spec.choices and spec.type != "str":
            rules.doc.problem(
                ("fields", name, "choices"), _("choices are only allowed on fields of type str")
            )
        for choice in spec.choice_labels:
            if choice not in spec.choices:
                rules.doc.problem(
                    ("fields", name, "choice_labels", choice),
                    _(
                        "'{choice}' is not one of the field's choices ({choices})",
                        choice=choice,
                        choices=_(", ").join(spec.choices) or _("none declared"),
                    ),
                )


def _check_escalations(rules: _Rules) -> None:
    """Ladders: named, not empty, valid rungs, each used by a state."""
    doc, wf = rules.doc, rules.wf
    for ladder, rungs in wf.escalations.items():
        lp: Path_ = ("escalations", ladder)
        rules.ident(lp, ladder, N_("escalation ladder"))
        if not rungs:
            doc.problem(
                lp,
                _("escalation ladder '{ladder}' has no rungs", ladder=ladder),
                _("list at least one rung: {after: 8d, to: ROLE, template: escalation}"),
                key=True,
            )
        for i, rung in enumerate(rungs):
            rp = lp + (i,)
            rules.duration(rp + ("after",), rung.after)
            if rung.repeat is not None:
                rules.duration(rp + ("repeat",), rung.repeat)
            rules.role(rp + ("to",), rung.to)
            if rung.template not in d.ESCALATION_TEMPLATES:
                doc.problem(
                    rp + ("template",),
                    _("unknown template '{template}'", template=rung.template),
                    did_you_mean(rung.template, d.ESCALATION_TEMPLATES)
                    or _("use one of {names}", names=_(", ").join(d.ESCALATION_TEMPLATES)),
                )
    used = {st.escalation for st in wf.states.values() if st.escalation is not None}
    for ladder in wf.escalations:
        if ladder not in used and used <= set(wf.escalations):  # a misspelt name is reported once
            doc.problem(
                ("escalations", ladder),
                _("escalation ladder '{ladder}' is not used by any state", ladder=ladder),
                _(
                    "add escalation: {ladder} to a state, or remove the ladder",
                    ladder=ladder,
                ),
                key=True,
            )


def _check_settings(rules: _Rules) -> None:
    """County choices: each value is one of its choices."""
    for sname, setting in rules.wf.settings.items():
        rules.ident(("settings", sname), sname, N_("setting"))
        if setting.value not in setting.choices:
            rules.doc.problem(
                ("settings", sname, "value"),
                _(
                    "setting '{setting}' has value '{value}', not one of its choices ({choices})",
                    setting=sname,
                    value=setting.value,
                    choices=_(", ").join(setting.choices) or _("none declared"),
                ),
                did_you_mean(setting.value, setting.choices)
                or _("set value to one of the choices or add it to choices"),
            )


def _check_clocks(rules: _Rules) -> None:
    for cname, cspec in rules.wf.clocks.items():
        _check_clock(rules, cname, cspec)
        for j, dw in enumerate(cspec.duration_when):
            rules.guard(
                ("clocks", cname, "duration_when", j, "when"),
                dw.when,
                {"setting": tuple(rules.wf.settings)},
                what="duration_when",
            )


def _check_clock(rules: _Rules, name: str, spec: d.ClockSpec) -> None:
    """A named clock: known states, a valid duration, extensions in the clock's own unit."""
    doc, wf = rules.doc, rules.wf
    cp: Path_ = ("clocks", name)
    rules.ident(cp, name, N_("clock"))
    state_names = list(wf.states)
    triggers = list(dict.fromkeys(t.trigger for t in wf.transitions))
    duration = rules.duration(cp + ("duration",), spec.duration)
    unit = duration.unit if duration is not None else None
    if spec.starts_at not in wf.states:
        doc.problem(
            cp + ("starts_at",),
            _("unknown state '{state}'", state=spec.starts_at),
            did_you_mean(spec.starts_at, state_names),
        )
    elif wf.states[spec.starts_at].final:
        doc.problem(
            cp + ("starts_at",),
            _(
                "clock '{clock}' starts at final state '{state}'",
                clock=name,
                state=spec.starts_at,
            ),
            _("start it at the state where the clock begins, e.g. accepted"),
        )
    if not spec.stops_at:
        doc.problem(
            cp + ("stops_at",),
            _("clock '{clock}' never stops", clock=name),
            _("list the states that stop it, e.g. [active, rejected]"),
        )
    for j, st in enumerate(spec.stops_at):
        if st not in wf.states:
            doc.problem(
                cp + ("stops_at", j),
                _("unknown state '{state}'", state=st),
                did_you_mean(st, state_names),
            )
        elif st == spec.starts_at:
            doc.problem(
                cp + ("stops_at", j),
                _("clock '{clock}' starts and stops at '{state}'", clock=name, state=st),
                _("remove it from stops_at"),
            )
    for trig, text in spec.extended_by.items():
        ep = cp + ("extended_by", trig)
        if trig not in triggers:
            doc.problem(
                ep,
                _("extended_by names unknown trigger '{trigger}'", trigger=trig),
                did_you_mean(trig, triggers),
                key=True,
            )
        ext = rules.duration(ep, text)
        if ext is not None and unit is not None and ext.unit != unit:
            doc.problem(
                ep,
                _(
                    "extension '{text}' is not in the clock's unit ({unit}, from duration "
                    "'{duration}')",
                    text=text,
                    unit=unit,
                    duration=spec.duration,
                ),
                _("write it in {unit}, e.g. {example}", unit=unit, example="15" + unit),
            )
    for j, dw in enumerate(spec.duration_when):
        dp = cp + ("duration_when", j, "duration")
        alt = rules.duration(dp, dw.duration)
        if alt is not None and unit is not None and alt.unit != unit:
            doc.problem(
                dp,
                _(
                    "duration '{text}' is not in the clock's unit ({unit}, from duration "
                    "'{duration}')",
                    text=dw.duration,
                    unit=unit,
                    duration=spec.duration,
                ),
                _("write it in {unit}, e.g. {example}", unit=unit, example="20" + unit),
            )


def _check_initial_state(rules: _Rules) -> None:
    """Exactly one initial state; the extra ones are named in file order."""
    doc = rules.doc
    # in file order (wf.states went through JSON with sorted keys)
    initials = sorted(
        (n for n, s in rules.wf.states.items() if s.initial),
        key=lambda n: doc.where(("states", n), key=True),
    )
    if not initials:
        doc.problem(
            ("states",),
            _("no initial state"),
            _("mark exactly one state with initial: true"),
            key=True,
        )
    for extra in initials[1:]:
        doc.problem(
            ("states", extra, "initial"),
            _(
                "more than one initial state ('{first}' and '{extra}')",
                first=initials[0],
                extra=extra,
            ),
            _("keep initial: true on one state only"),
        )


# What a final state may not have: nothing happens after it.
_NOT_IN_FINAL = (
    "owner",
    "deadline",
    "on_timeout",
    "min_dwell",
    "vote",
    "escalation",
    "pauses",
    "deadline_when",
)


def _check_state(rules: _Rules, name: str, st: d.State) -> None:
    doc = rules.doc
    sp: Path_ = ("states", name)
    rules.ident(sp, name, N_("state"))
    if st.initial and st.final:
        doc.problem(sp + ("final",), _("a state cannot be both initial and final"))
    if st.final:
        for key in _NOT_IN_FINAL:
            if getattr(st, key):
                doc.problem(
                    sp + (key,),
                    _("final state '{state}' cannot have {key}", state=name, key=key),
                    _("remove it: nothing happens after a final state"),
                )
        return
    _check_owner_and_deadline(rules, sp, name, st)
    _check_state_escalation_and_pauses(rules, sp, name, st)
    _check_dwell_and_timeout(rules, sp, name, st)
    if st.vote is not None:
        _check_vote(rules, sp + ("vote",), st.vote)


def _check_owner_and_deadline(rules: _Rules, sp: Path_, name: str, st: d.State) -> None:
    """A waiting state has someone who must act and a time by which they must."""
    doc = rules.doc
    if st.owner is None:
        doc.problem(
            sp,
            _("state '{state}' needs an owner role (who must act here)", state=name),
            _("add owner: ROLE"),
            key=True,
        )
    else:
        rules.role(sp + ("owner",), st.owner)
    if st.deadline is None:
        doc.problem(
            sp,
            _("state '{state}' needs a deadline", state=name),
            _("add deadline: e.g. 3wd, 7d or 24h"),
            key=True,
        )
    else:
        rules.duration(sp + ("deadline",), st.deadline)
    for j, alt in enumerate(st.deadline_when):  # a field-dependent deadline, decided on entry
        rules.duration(sp + ("deadline_when", j, "deadline"), alt.deadline)
        rules.guard(
            sp + ("deadline_when", j, "when"),
            alt.when,
            {"case": tuple(rules.wf.fields) + d.CASE_BUILTINS},
            what="deadline_when",
        )


def _check_state_escalation_and_pauses(rules: _Rules, sp: Path_, name: str, st: d.State) -> None:
    doc, wf = rules.doc, rules.wf
    if st.escalation is not None and st.escalation not in wf.escalations:
        doc.problem(
            sp + ("escalation",),
            _("unknown escalation ladder '{ladder}'", ladder=st.escalation),
            did_you_mean(st.escalation, wf.escalations)
            or (
                _("declared ladders: {names}", names=_(", ").join(wf.escalations))
                if wf.escalations
                else _("declare it under escalations")
            ),
        )
    for j, cname in enumerate(st.pauses):
        if cname not in wf.clocks:
            doc.problem(
                sp + ("pauses", j),
                _("pauses unknown clock '{clock}'", clock=cname),
                did_you_mean(cname, wf.clocks)
                or (
                    _("declared clocks: {names}", names=_(", ").join(wf.clocks))
                    if wf.clocks
                    else _("declare it under clocks")
                ),
            )
        elif name == wf.clocks[cname].starts_at or name in wf.clocks[cname].stops_at:
            doc.problem(
                sp + ("pauses", j),
                _(
                    "state '{state}' starts or stops clock '{clock}', so it cannot pause it",
                    state=name,
                    clock=cname,
                ),
                _("remove '{clock}' from pauses", clock=cname),
            )


def _check_dwell_and_timeout(rules: _Rules, sp: Path_, name: str, st: d.State) -> None:
    """min_dwell and its exceptions, and on_timeout: the triggers named leave this state."""
    doc = rules.doc
    if st.min_dwell is not None:
        rules.duration(sp + ("min_dwell",), st.min_dwell)
    elif st.dwell_exceptions:
        doc.problem(
            sp + ("dwell_exceptions",),
            _("dwell_exceptions without min_dwell"),
            _("add min_dwell or remove them"),
        )
    outgoing = list(dict.fromkeys(t.trigger for t in rules.wf.transitions_from(name)))
    out_hint = (
        _("transitions out of '{state}': {triggers}", state=name, triggers=_(", ").join(outgoing))
        if outgoing
        else _("no transition leaves '{state}'", state=name)
    )
    for i, trig in enumerate(st.dwell_exceptions):
        if trig not in outgoing:
            doc.problem(
                sp + ("dwell_exceptions", i),
                _("'{trigger}' is not a transition out of '{state}'", trigger=trig, state=name),
                did_you_mean(trig, outgoing) or out_hint,
            )
    if st.on_timeout is not None and st.on_timeout not in outgoing:
        doc.problem(
            sp + ("on_timeout",),
            _(
                "'{trigger}' is not a transition out of '{state}'",
                trigger=st.on_timeout,
                state=name,
            ),
            did_you_mean(st.on_timeout, outgoing) or out_hint,
        )


def _check_vote(rules: _Rules, vp: Path_, vote: d.VoteRule) -> None:
    """Voters are a declared role; a sensible quorum; a threshold in (0, 1]."""
    doc = rules.doc
    rules.role(vp + ("voters",), vote.voters)
    if vote.quorum < 1:
        doc.problem(vp + ("quorum",), _("quorum must be at least 1"))
    elif vote.quorum > MAX_QUORUM:  # a typo, not a village assembly
        doc.problem(
            vp + ("quorum",),
            _(
                "quorum {quorum} is more than {most} voters",
                quorum=vote.quorum,
                most=format(MAX_QUORUM, ","),
            ),
            _("a quorum counts the people who must vote; check for extra digits"),
        )
    try:
        frac = Fraction(vote.threshold)
        if not 0 < frac <= 1:
            raise ValueError
    except (ValueError, ZeroDivisionError):
        doc.problem(
            vp + ("threshold",),
            _(
                "threshold '{threshold}' must be a fraction between 0 and 1",
                threshold=vote.threshold,
            ),
            _("write it like 1/2 or 2/3"),
        )


def _check_transition(
    rules: _Rules, i: int, t: d.Transition, seen_pairs: dict[tuple[str, str], int]
) -> bool:
    """One transition; False if a state it names is unknown (the graph is then incomplete)."""
    doc, wf = rules.doc, rules.wf
    tp: Path_ = ("transitions", i)
    rules.ident(tp + ("trigger",), t.trigger, N_("trigger"), key=False)
    names_resolve = _check_ends(rules, tp, i, t, seen_pairs)
    for j, role in enumerate(t.roles):
        rules.role(tp + ("roles", j), role)
    if not t.roles and not t.system:
        doc.problem(
            tp,
            _("transition '{trigger}' has no roles", trigger=t.trigger),
            _(
                "list the roles that may fire it, or set system: true if only the scheduler "
                "fires it"
            ),
        )
    triggers = {other.trigger for other in wf.transitions}
    for j, trig in enumerate(t.separate_from):
        if trig not in triggers:
            doc.problem(
                tp + ("separate_from", j),
                _("separate_from names unknown trigger '{trigger}'", trigger=trig),
                did_you_mean(trig, triggers),
            )
    for fname in t.fields:
        if fname not in wf.fields:
            doc.problem(
                tp + ("fields", fname),
                _("field '{field}' is not declared under fields", field=fname),
                did_you_mean(fname, wf.fields) or _("declare it with its type under fields"),
            )
    if t.requires_vote is not None:
        for src in t.sources:
            if src in wf.states and wf.states[src].vote is None:
                doc.problem(
                    tp + ("requires_vote",),
                    _("requires_vote but state '{state}' holds no vote", state=src),
                    _("add a vote: block to the state or remove requires_vote"),
                )
    known = {
        "person": d.PERSON_FIELDS,
        "case": tuple(wf.fields) + d.CASE_BUILTINS,
        "household": d.HOUSEHOLD_FIELDS,
        "vote": d.VOTE_FIELDS,
        "policy": tuple(sorted(rules.policy.names or ())),
        "setting": tuple(wf.settings),
    }
    for j, guard in enumerate(t.guards):
        rules.guard(tp + ("guards", j), guard, known)
    _check_routes(rules, tp, t, known)
    if t.once_per_person is not None:
        _check_once(rules, tp + ("once_per_person",), t.once_per_person)
    _check_computes(rules, tp, t)
    return names_resolve


def _check_ends(
    rules: _Rules, tp: Path_, i: int, t: d.Transition, seen_pairs: dict[tuple[str, str], int]
) -> bool:
    """Source and destination are known states, no source is final, no (trigger, source)
    pair repeats; False if a state name is unknown or missing."""
    doc, states = rules.doc, rules.wf.states
    names_resolve = True
    if not t.sources:
        doc.problem(
            tp + ("source",),
            _("transition '{trigger}' has no source state", trigger=t.trigger),
            _("name the state (or list of states) it leaves"),
        )
        names_resolve = False
    for j, src in enumerate(t.sources):
        spath = tp + ("source",) if isinstance(t.source, str) else tp + ("source", j)
        if src not in states:
            doc.problem(spath, _("unknown state '{state}'", state=src), did_you_mean(src, states))
            names_resolve = False
            continue
        if states[src].final:
            doc.problem(
                spath,
                _(
                    "transition '{trigger}' leaves final state '{state}'",
                    trigger=t.trigger,
                    state=src,
                ),
                _(
                    "final states have no way out; make the state non-final or remove the "
                    "transition"
                ),
            )
        if (t.trigger, src) in seen_pairs:
            doc.problem(
                spath,
                _(
                    "trigger '{trigger}' is already defined from '{state}' ({where})",
                    trigger=t.trigger,
                    state=src,
                    where="transitions[" + str(seen_pairs[(t.trigger, src)]) + "]",
                ),
                _(
                    "to lead to different states by condition, give the one transition "
                    "`routes:` (README, Workflow files); otherwise give each its own trigger name"
                ),
            )
        seen_pairs[(t.trigger, src)] = i
    if t.dest is not None and t.routes:
        doc.problem(
            tp + ("routes",),
            _("transition '{trigger}' has both dest and routes", trigger=t.trigger),
            _("keep dest for one destination, or routes for several"),
            key=True,
        )
    elif t.dest is None and not t.routes:
        doc.problem(
            tp,
            _("transition '{trigger}' has no destination", trigger=t.trigger),
            _("add dest: STATE, or routes: with a dest for each condition"),
        )
        names_resolve = False
    if t.dest is not None and t.dest not in states:
        doc.problem(
            tp + ("dest",), _("unknown state '{state}'", state=t.dest), did_you_mean(t.dest, states)
        )
        names_resolve = False
    for j, route in enumerate(t.routes):
        if route.dest not in states:
            doc.problem(
                tp + ("routes", j, "dest"),
                _("unknown state '{state}'", state=route.dest),
                did_you_mean(route.dest, states),
            )
            names_resolve = False
    return names_resolve


def _check_routes(
    rules: _Rules, tp: Path_, t: d.Transition, known: dict[str, tuple[str, ...]]
) -> None:
    """Route conditions are guards; the routes are exhaustive: exactly one is always taken,
    so the last has no condition and only the last."""
    doc = rules.doc
    for j, route in enumerate(t.routes):
        rp = tp + ("routes", j)
        if route.when is not None:
            rules.guard(rp + ("when",), route.when, known, what=_ROUTE_CONDITION)
        elif j < len(t.routes) - 1:
            doc.problem(
                rp,
                _(
                    "route {number} of '{trigger}' has no condition, so the routes after it "
                    "are never taken",
                    number=j + 1,
                    trigger=t.trigger,
                ),
                _("give it a when: condition, or move it last"),
            )
    if t.routes and all(r.when is not None for r in t.routes):
        doc.problem(
            tp + ("routes", len(t.routes) - 1),
            _(
                "routes of '{trigger}' are not exhaustive: no route is taken when none of "
                "{conditions} holds",
                trigger=t.trigger,
                conditions=_(", ").join(repr(r.when) for r in t.routes),
            ),
            _("add a last route without when: the one taken otherwise"),
        )


def _check_computes(rules: _Rules, tp: Path_, t: d.Transition) -> None:
    """Computed fields are declared, not also given, and computed over person.*, case.* and
    household.*."""
    doc, wf = rules.doc, rules.wf
    for fname, text in t.computes.items():
        if fname not in wf.fields:
            doc.problem(
                tp + ("computes", fname),
                _("computes undeclared field '{field}'", field=fname),
                did_you_mean(fname, wf.fields) or _("declare it with its type under fields"),
                key=True,
            )
        elif fname in t.fields:
            doc.problem(
                tp + ("computes", fname),
                _("field '{field}' is both given (fields) and computed", field=fname),
                _("keep it under one of fields or computes"),
                key=True,
            )
        rules.guard(
            tp + ("computes", fname),
            text,
            {
                "person": d.PERSON_FIELDS,
                "case": tuple(wf.fields) + d.CASE_BUILTINS,
                "household": d.HOUSEHOLD_FIELDS,
            },
            what="computes",
        )


def _check_once(rules: _Rules, path: Path_, rule: d.OncePerPerson) -> None:
    doc, wf = rules.doc, rules.wf
    if rule.field not in wf.fields:
        doc.problem(
            path + ("field",),
            _("once_per_person field '{field}' is not declared under fields", field=rule.field),
            did_you_mean(rule.field, wf.fields) or _("declare it with its type under fields"),
        )
    rules.duration(path + ("within",), rule.within)
    if rule.unless is not None:
        spec = wf.fields.get(rule.unless)
        if spec is None:
            doc.problem(
                path + ("unless",),
                _(
                    "once_per_person unless-field '{field}' is not declared under fields",
                    field=rule.unless,
                ),
                did_you_mean(rule.unless, wf.fields) or _("declare it with type: bool"),
            )
        elif spec.type != "bool":
            doc.problem(
                path + ("unless",),
                _(
                    "once_per_person unless-field '{field}' is of type {type}, not bool",
                    field=rule.unless,
                    type=spec.type,
                ),
                _("declare it with type: bool"),
            )


_UNIT_WORDS = {
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
    "working day": "wd",
    "working days": "wd",
    "workday": "wd",
    "workdays": "wd",
    "month": "mo",
    "months": "mo",
    "h": "h",
    "d": "d",
    "wd": "wd",
    "mo": "mo",
    # written in Chinese: 7天, 10个工作日, 24小时, 12个月
    "天": "d",
    "日": "d",
    "工作日": "wd",
    "个工作日": "wd",
    "小时": "h",
    "个小时": "h",
    "月": "mo",
    "个月": "mo",
}


def _duration_hint(text: str) -> str | None:
    """'7 days' -> "did you mean '7d'?"."""
    match = re.fullmatch(r"\s*([1-9][0-9]*)\s*([a-zA-Z][a-zA-Z ]*?|[\u4e00-\u9fff]+)\s*", text)
    unit = _UNIT_WORDS.get(" ".join(match[2].lower().split())) if match else None
    return _("did you mean '{name}'?", name=match[1] + unit) if match and unit else None


def _check_graph(doc: Document, wf: d.Workflow, names_resolve: bool = True) -> None:
    """Reachability, traps and ends. With an unknown state name in a transition the edges
    are incomplete, so only the missing final state is reported (the rest would be noise)."""
    initials = [n for n, s in wf.states.items() if s.initial]
    initial = initials[0] if len(initials) == 1 else None  # none or several: reported already
    edges: dict[str, set[str]] = {n: set() for n in wf.states}
    for t in wf.transitions:
        for src in t.sources:
            for dest in t.dests:
                if src in edges and dest in wf.states:
                    edges[src].add(dest)
    if initial is not None and names_resolve:
        reached = _reach(initial, edges)
        for name in wf.states:
            if name not in reached:
                doc.problem(
                    ("states", name),
                    _(
                        "state '{state}' cannot be reached from the initial state '{initial}'",
                        state=name,
                        initial=initial,
                    ),
                    _("add a transition into it or remove it"),
                    key=True,
                )
    reverse: dict[str, set[str]] = {n: set() for n in wf.states}
    for src, dests in edges.items():
        for dst in dests:
            reverse[dst].add(src)
    finals = [n for n, s in wf.states.items() if s.final]
    if not finals:
        doc.problem(
            ("states",), _("no final state"), _("mark the end states with final: true"), key=True
        )
        return
    if not names_resolve:
        return
    can_finish: set[str] = set()
    for f in finals:
        can_finish |= _reach(f, reverse)
    for name, st in wf.states.items():
        if st.final:
            continue
        if not edges[name]:
            doc.problem(
                ("states", name),
                _("state '{state}' has no way out", state=name),
                _("add a transition from it, or mark it final: true"),
                key=True,
            )
        elif name not in can_finish:
            doc.problem(
                ("states", name),
                _("state '{state}' can never reach a final state", state=name),
                _("add a transition towards an end state"),
                key=True,
            )


def _reach(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen = {start}
    todo = deque([start])
    while todo:
        for nxt in edges[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
