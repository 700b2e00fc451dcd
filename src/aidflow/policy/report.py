"""The county report's policy file (`workflows/policy/report.yaml`): which triggers approve
and which states reject in each programme, the emergency path and its goal in hours, and
who counts for the centralized-support rate and its goal.

Read strictly; every problem is reported at once with file:line:col. The figures that use
these choices, and their sources, are defined in aidflow.services.figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aidflow.errors import WorkflowInvalidError, did_you_mean
from aidflow.i18n import _
from aidflow.language.yamlfile import Document, Path_, read_yaml_file


@dataclass(frozen=True)
class Programme:
    workflow: str
    approved_by: tuple[str, ...]
    rejected_in: tuple[str, ...]


@dataclass(frozen=True)
class EmergencyRule:
    workflow: str
    trigger: str
    goal_hours: int


@dataclass(frozen=True)
class CentralizedRule:
    workflow: str
    states: tuple[str, ...]
    unable_self_care: tuple[str, ...]
    goal: float


@dataclass(frozen=True)
class ReportPolicy:
    file: str
    programmes: tuple[Programme, ...]
    emergency: EmergencyRule
    centralized: CentralizedRule


def _keys(doc: Document, value: Any, path: Path_, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        doc.problem(path, _("expected a mapping with keys {keys}", keys=", ".join(allowed)))
        return {}
    for key in value:
        if key not in allowed:
            doc.problem(
                path + (key,),
                _("unknown key '{key}'", key=key),
                did_you_mean(key, allowed),
                key=True,
            )
    for key in allowed:
        if key not in value:
            doc.problem(path, _("missing required key '{key}'", key=key), key=True)
    return value


def _names(doc: Document, value: Any, path: Path_) -> tuple[str, ...]:
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    doc.problem(path, _("expected a non-empty list of names"))
    return ()


def _name(doc: Document, value: Any, path: Path_) -> str:
    if isinstance(value, str) and value:
        return value
    doc.problem(path, _("expected a name"))
    return ""


def load_report_policy(path: str | Path) -> ReportPolicy:
    """Read report.yaml; WorkflowInvalidError with every problem (file:line:col)."""
    doc = read_yaml_file(path)
    data = _keys(doc, doc.data, (), ("programmes", "emergency", "centralized_support"))
    programmes: list[Programme] = []
    raw = data.get("programmes")
    if not isinstance(raw, dict) or not raw:
        doc.problem(("programmes",), _("expected a mapping of workflow names"))
        raw = {}
    for name, spec in raw.items():
        p = ("programmes", name)
        spec = _keys(doc, spec, p, ("approved_by", "rejected_in"))
        programmes.append(
            Programme(
                str(name),
                _names(doc, spec.get("approved_by"), p + ("approved_by",)),
                _names(doc, spec.get("rejected_in"), p + ("rejected_in",)),
            )
        )
    em = _keys(doc, data.get("emergency"), ("emergency",), ("workflow", "trigger", "goal_hours"))
    hours = em.get("goal_hours")
    if not isinstance(hours, int) or isinstance(hours, bool) or hours < 1:
        doc.problem(("emergency", "goal_hours"), _("expected a whole number of hours >= 1"))
        hours = 24
    c_path: Path_ = ("centralized_support",)
    cs = _keys(
        doc,
        data.get("centralized_support"),
        c_path,
        ("workflow", "states", "unable_self_care", "goal"),
    )
    goal = cs.get("goal")
    if isinstance(goal, bool) or not isinstance(goal, int | float) or not 0 < goal <= 1:
        doc.problem(c_path + ("goal",), _("expected a share between 0 and 1, such as 0.5"))
        goal = 0.5
    policy = ReportPolicy(
        str(path),
        tuple(programmes),
        EmergencyRule(
            _name(doc, em.get("workflow"), ("emergency", "workflow")),
            _name(doc, em.get("trigger"), ("emergency", "trigger")),
            hours,
        ),
        CentralizedRule(
            _name(doc, cs.get("workflow"), c_path + ("workflow",)),
            _names(doc, cs.get("states"), c_path + ("states",)),
            _names(doc, cs.get("unable_self_care"), c_path + ("unable_self_care",)),
            float(goal),
        ),
    )
    if doc.problems:
        raise WorkflowInvalidError(doc.problems)
    return policy
