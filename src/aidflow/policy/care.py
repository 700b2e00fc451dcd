"""The care-visit policy file (`workflows/policy/care_visits.yaml`): which cases owe monthly
visits (selectors: workflow, states, an optional `when` guard), the kinds and their monthly
minimums, who may log them, the warning day and who hears after month end.

Read by `visits` (logging, who is behind, the monthly check); errors name file:line:col.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aidflow.errors import (
    ExpressionError,
    Problem,
    WorkflowInvalidError,
    closest,
    did_you_mean,
)
from aidflow.i18n import _
from aidflow.language.definition import Labels
from aidflow.language.expressions import Expression, compile_expression
from aidflow.language.yamlfile import Document, Path_, format_path, read_yaml_file


@dataclass(frozen=True)
class Selector:
    workflow: str
    states: tuple[str, ...]
    when: Expression | None


@dataclass(frozen=True)
class KindRule:
    name: str
    labels: Labels
    monthly_minimum: int


@dataclass(frozen=True)
class CarePolicy:
    file: str
    applies_to: tuple[Selector, ...]
    kinds: dict[str, KindRule]
    log_roles: tuple[str, ...]
    warning_from_day: int
    escalation_role: str

    @property
    def required(self) -> dict[str, int]:
        return {k: r.monthly_minimum for k, r in self.kinds.items() if r.monthly_minimum > 0}

    def selectors_for(self, workflow: str, state: str) -> list[Selector]:
        return [s for s in self.applies_to if s.workflow == workflow and state in s.states]


_TOP = ("applies_to", "kinds", "log_roles", "warning", "escalation")
_SELECTOR = ("workflow", "states", "when")
_KIND = ("labels", "monthly_minimum")
_WARNING = ("from_day", "to")
_ESCALATION = ("to",)


class _Checker:
    """Reads one policy document, recording a Problem (file:line:column) for each mistake."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def mapping(
        self, value: Any, path: Path_, allowed: Sequence[str], required: Sequence[str]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.doc.problem(
                path,
                _(
                    "expected a mapping with keys {keys}, got {found}",
                    keys=", ".join(allowed),
                    found=_show(value),
                ),
            )
            return {}
        absent = [k for k in required if k not in value]
        for key in value:
            if key not in allowed:
                hint = did_you_mean(str(key), absent) or did_you_mean(str(key), allowed)
                meant = closest(str(key), absent)
                if meant is not None:  # `state:` for `states:` is one mistake, reported once
                    absent.remove(meant)
                self.doc.problem(
                    path + (key,),
                    _("unknown key '{key}'", key=key),
                    hint or _("allowed keys: {keys}", keys=", ".join(allowed)),
                    key=True,
                )
        for key in absent:
            where = format_path(path) or _("the top level")
            self.doc.problem(
                path,
                _("missing required key '{key}'", key=key),
                _("add {key}: to {where}", key=key, where=where),
                key=True,
            )
        return {k: v for k, v in value.items() if k in allowed}

    def text(self, value: Any, path: Path_) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.doc.problem(path, _("expected a non-empty text, got {value}", value=_show(value)))
        return None

    def texts(self, value: Any, path: Path_) -> list[str]:
        if not isinstance(value, list) or not value:
            self.doc.problem(
                path, _("expected a non-empty list of names, got {value}", value=_show(value))
            )
            return []
        return [
            t for i, item in enumerate(value) if (t := self.text(item, path + (i,))) is not None
        ]

    def integer(self, value: Any, path: Path_, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.doc.problem(
                path,
                _(
                    "expected a whole number from {low} to {high}, got {value}",
                    low=low,
                    high=high,
                    value=_show(value),
                ),
            )
            return None
        if not low <= value <= high:
            self.doc.problem(
                path,
                _("{value} is out of range", value=value),
                _("write a whole number from {low} to {high}", low=low, high=high),
            )
            return None
        return value


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return _("a mapping")
    if isinstance(value, list):
        return _("a list")
    if value is None:
        return _("nothing")
    return repr(value)


def load_policy_file(path: str | Path) -> CarePolicy:
    """Read and check a care-visit policy; WorkflowInvalidError lists every problem."""
    doc = read_yaml_file(path)
    if doc.data is None:
        raise WorkflowInvalidError(doc.problems)
    policy = _policy(doc)
    if doc.problems or policy is None:
        raise WorkflowInvalidError(sorted(doc.problems, key=lambda p: (p.line, p.column)))
    return policy


def _policy(doc: Document) -> CarePolicy | None:
    c = _Checker(doc)
    top = c.mapping(doc.data, (), _TOP, _TOP)
    selectors: list[Selector] = []
    raw_sel = top.get("applies_to")
    if "applies_to" in top and (not isinstance(raw_sel, list) or not raw_sel):
        doc.problem(
            ("applies_to",),
            _("expected a non-empty list of selectors, got {value}", value=_show(raw_sel)),
        )
    for i, item in enumerate(raw_sel if isinstance(raw_sel, list) else []):
        path: Path_ = ("applies_to", i)
        sel = c.mapping(item, path, _SELECTOR, ("workflow", "states"))
        workflow = c.text(sel["workflow"], path + ("workflow",)) if "workflow" in sel else None
        states = c.texts(sel["states"], path + ("states",)) if "states" in sel else []
        when = None
        if sel.get("when") is not None and c.text(sel["when"], path + ("when",)) is not None:
            try:
                when = compile_expression(sel["when"], namespaces=("case", "person"))
            except ExpressionError as exc:
                line, col = doc.where(path + ("when",))
                doc.problems.append(
                    Problem(doc.file, line, col, f"applies_to[{i}].when", exc.message, exc.hint)
                )
        if workflow and states:
            selectors.append(Selector(workflow, tuple(states), when))
    kinds: dict[str, KindRule] = {}
    raw_kinds = top.get("kinds")
    if "kinds" in top and (not isinstance(raw_kinds, dict) or not raw_kinds):
        doc.problem(
            ("kinds",), _("expected a mapping of kind names, got {value}", value=_show(raw_kinds))
        )
    for name, spec in raw_kinds.items() if isinstance(raw_kinds, dict) else []:
        path = ("kinds", name)
        k = c.mapping(spec, path, _KIND, _KIND)
        labels = (
            c.mapping(k["labels"], path + ("labels",), ("zh", "en"), ("zh", "en"))
            if "labels" in k
            else {}
        )
        zh = c.text(labels["zh"], path + ("labels", "zh")) if "zh" in labels else None
        en = c.text(labels["en"], path + ("labels", "en")) if "en" in labels else None
        minimum = (
            c.integer(k["monthly_minimum"], path + ("monthly_minimum",), 0, 31)
            if "monthly_minimum" in k
            else None
        )
        if zh and en and minimum is not None:
            kinds[str(name)] = KindRule(str(name), Labels(zh=zh, en=en), minimum)
    log_roles = c.texts(top["log_roles"], ("log_roles",)) if "log_roles" in top else []
    warning = (
        c.mapping(top["warning"], ("warning",), _WARNING, _WARNING) if "warning" in top else {}
    )
    from_day = (
        c.integer(warning["from_day"], ("warning", "from_day"), 1, 28)
        if "from_day" in warning
        else None
    )
    if "to" in warning and warning["to"] != "assigned_caseworker":
        doc.problem(
            ("warning", "to"),
            _("expected assigned_caseworker, got {value}", value=_show(warning["to"])),
            _("warnings go to the case's assigned caseworker"),
        )
    esc = (
        c.mapping(top["escalation"], ("escalation",), _ESCALATION, _ESCALATION)
        if "escalation" in top
        else {}
    )
    role = c.text(esc["to"], ("escalation", "to")) if "to" in esc else None
    if doc.problems or from_day is None or role is None:
        return None
    return CarePolicy(doc.file, tuple(selectors), kinds, tuple(log_roles), from_day, role)
