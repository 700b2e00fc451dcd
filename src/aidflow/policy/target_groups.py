"""The look-back's target groups (`workflows/policy/target_groups.yaml`): who the county plan
says must be found (lonely elderly, severely disabled, ...), each a guard expression over
person.* and the workflow a gap is opened in. Read strictly; errors name file:line:col.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aidflow.errors import ExpressionError, WorkflowInvalidError, did_you_mean
from aidflow.i18n import _
from aidflow.language.definition import PERSON_COLUMNS
from aidflow.language.expressions import Expression, check_references, compile_expression
from aidflow.language.yamlfile import read_yaml_file

_KEYS = ("groups", "stalled_after_days", "stalled_exempt_states")
_GROUP_KEYS = ("labels", "when", "workflow")


@dataclass(frozen=True)
class TargetGroup:
    name: str
    zh: str
    en: str
    when: Expression
    workflow: str


@dataclass(frozen=True)
class LookbackPolicy:
    groups: tuple[TargetGroup, ...]
    stalled_after_days: int
    stalled_exempt_states: tuple[str, ...]


def load_target_groups(path: str | Path) -> LookbackPolicy:
    """Read target_groups.yaml strictly; guards compiled and checked against person fields."""
    doc = read_yaml_file(path)
    data = doc.data if isinstance(doc.data, dict) else {}
    for key in data:
        if key not in _KEYS:
            doc.problem(
                (key,), _("unknown key '{key}'", key=key), did_you_mean(key, _KEYS), key=True
            )
    groups: list[TargetGroup] = []
    raw = data.get("groups")
    if not isinstance(raw, dict) or not raw:
        doc.problem(("groups",), _("expected a mapping of group names to {labels, when, workflow}"))
        raw = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            doc.problem(
                ("groups", name), _("expected a mapping with keys labels, when and workflow")
            )
            continue
        for key in spec:
            if key not in _GROUP_KEYS:
                doc.problem(
                    ("groups", name, key),
                    _("unknown key '{key}'", key=key),
                    did_you_mean(key, _GROUP_KEYS),
                    key=True,
                )
        labels = spec.get("labels")
        if not (
            isinstance(labels, dict)
            and isinstance(labels.get("zh"), str)
            and isinstance(labels.get("en"), str)
        ):
            doc.problem(("groups", name, "labels"), _("expected {zh: ..., en: ...}"))
            labels = {"zh": name, "en": name}
        workflow = spec.get("workflow")
        if not isinstance(workflow, str) or not workflow:
            doc.problem(
                ("groups", name, "workflow"), _("expected the name of a workflow, such as tekun")
            )
        text = spec.get("when")
        if not isinstance(text, str):
            doc.problem(("groups", name, "when"), _("expected a guard expression over person.*"))
            continue
        try:
            expr = compile_expression(text, namespaces=("person",))
        except ExpressionError as exc:
            doc.problem(
                ("groups", name, "when"),
                _(
                    "guard {text}: {message} (column {column})",
                    text=repr(text),
                    message=exc.message,
                    column=exc.column,
                ),
                exc.hint,
            )
            continue
        bad = check_references(
            expr, {"person": (*PERSON_COLUMNS, "age")}
        )  # related_roles is not read here
        for message, hint in bad:
            doc.problem(
                ("groups", name, "when"),
                _("guard {text}: {message}", text=repr(text), message=message),
                hint,
            )
        if not bad and isinstance(workflow, str) and workflow:
            groups.append(TargetGroup(str(name), labels["zh"], labels["en"], expr, workflow))
    days = data.get("stalled_after_days", 30)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        doc.problem(
            ("stalled_after_days",),
            _("expected a whole number of days >= 1, not {days}", days=repr(days)),
        )
        days = 30
    exempt = data.get("stalled_exempt_states", [])
    if not isinstance(exempt, list) or not all(isinstance(s, str) for s in exempt):
        doc.problem(("stalled_exempt_states",), _("expected a list of state names"))
        exempt = []
    if doc.problems:
        raise WorkflowInvalidError(doc.problems)
    return LookbackPolicy(tuple(groups), days, tuple(exempt))
