"""The notification templates: their names, what the code gives each one, and sample data.

This is the contract between the code and the template files (`notifications/<template>/
<lang>/`): `TEMPLATES` is the one list of templates, each with the variables the code
provides to it and realistic sample data for `aidflow notify preview`. `render` refuses a
context that lacks a variable a template uses; `check_templates` holds a directory of
templates against this list (see notify.render).

The templates a workflow's escalation ladder may name are part of the workflow language
(`language.definition.ESCALATION_TEMPLATES`, which the loader checks rungs against; the
language layer cannot import notify). Their names are taken from there, so a template
added to the language without its variables here fails when this module is imported.
The other templates are queued by the services themselves: the care-visit escalation,
the daily digest and the audit log's daily checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from aidflow.engine.checkpoints import Checkpoint
from aidflow.errors import InvalidInputError, did_you_mean
from aidflow.i18n import _, pick
from aidflow.idnumber import mask
from aidflow.language.definition import ESCALATION_TEMPLATES

LANGS: tuple[str, ...] = ("zh", "en")

DEADLINE_REMINDER, ESCALATION, EMERGENCY_ESCALATION = ESCALATION_TEMPLATES
VISIT_MISSING = "visit_missing"
ESCALATION_SUMMARY = "escalation_summary"  # one email for a recipient's escalations of a sweep
DAILY_DIGEST = "daily_digest"
AUDIT_CHECKPOINT = "audit_checkpoint"

_RECIPIENT = frozenset({"recipient_name", "recipient_user"})
_CASE = frozenset(
    {
        "case_id",
        "workflow_label",
        "person_name",
        "person_id_masked",
        "area",
        "step",
        "expected_next",
    }
)
_ESCALATION = frozenset({"escalation_id", "caseworker", "overdue"})
_LINK = frozenset({"case_url"})  # the case's web page, None when no public_url is set

LIST_ITEM_KEYS: dict[str, frozenset[str]] = {
    "actions": frozenset({"trigger", "label"}),
    "shortfalls": frozenset({"label", "done", "required"}),
    "overdue_cases": frozenset(
        {"case_id", "person_name", "person_id_masked", "caseworker", "step", "due_at", "overdue"}
    ),
    "escalations": frozenset({"escalation_id", "case_id", "area", "step", "kind", "late"}),
    "open_cases": frozenset(
        {"case_id", "person_name", "person_id_masked", "caseworker", "step", "due_at", "due_in"}
    ),
}
"""The keys (or attributes) each item of a list-valued variable must have."""


def check_lang(lang: object) -> str:
    if lang not in LANGS:
        raise InvalidInputError(
            _(
                "language {lang!r} is not supported; use one of: {langs}",
                lang=lang,
                langs=", ".join(LANGS),
            )
        )
    return str(lang)


# --- sample data for `aidflow notify preview` ------------------------------------------------

_CST = timezone(timedelta(hours=8))
_SAMPLE_ID = "11010519491231002X"
_SAMPLE_URL = "https://aidflow.county.example/cases/42"


def _supervisor() -> dict[str, Any]:
    return {"recipient_name": "张建国", "recipient_user": "zhang"}


def _case(zh: bool) -> dict[str, Any]:
    return {
        "case_id": 42,
        "workflow_label": "最低生活保障（单人户）"
        if zh
        else "Minimum living guarantee (single-person household)",
        "person_name": "王秀英",
        "person_id_masked": mask(_SAMPLE_ID),
        "area": "城关镇东村",
        "step": "入户调查" if zh else "Investigation",
        "expected_next": "完成入户调查（至少2名调查人员），录入调查人员和月人均收入"
        if zh
        else "finish the home visit (at least 2 investigators) and record the investigators "
        "and the monthly income",
    }


def _escalated() -> dict[str, Any]:
    return {
        "escalation_id": 17,
        "caseworker": "李明",
        "overdue": timedelta(days=3, hours=4, minutes=10),
    }


def _deadline_reminder(zh: bool) -> dict[str, Any]:
    return {
        "recipient_name": "李明",
        "recipient_user": "li",
        **_case(zh),
        "due_at": datetime(2023, 8, 3, 17, 30, tzinfo=_CST),
        "due_in": timedelta(hours=5, minutes=30),
        "topic": None,  # what is due, when not the case's step (the care-visit warning)
        "actions": [
            {
                "trigger": "investigate",
                "label": "录入调查结果" if zh else "Record the investigation",
            },
            {"trigger": "withdraw", "label": "申请人撤回" if zh else "Applicant withdraws"},
        ],
    }


def _escalation(zh: bool) -> dict[str, Any]:
    return {
        **_supervisor(),
        **_case(zh),
        **_escalated(),
        "case_url": _SAMPLE_URL,
        "due_at": datetime(2023, 8, 1, 17, 30, tzinfo=_CST),
    }


def _emergency_escalation(zh: bool) -> dict[str, Any]:
    return {
        **_supervisor(),
        **_case(zh),
        **_escalated(),
        "workflow_label": "临时救助（急难）" if zh else "Temporary assistance (emergency)",
        "step": "先行救助" if zh else "Assist first",
        "expected_next": "立即发放先行救助金，救助后5个工作日内补齐审核手续"
        if zh
        else "pay the emergency assistance now; complete the review papers within "
        "5 working days afterwards",
        "case_url": _SAMPLE_URL,
        "emergency_reason": "住房失火，无处居住" if zh else "house fire, no place to live",
        "reported_at": datetime(2023, 8, 2, 8, 15, tzinfo=_CST),
        "limit": timedelta(hours=24),
        "overdue": timedelta(hours=6, minutes=40),
        "before_limit": False,  # True: a warning before the limit, `due_in` left
        "due_in": timedelta(0),
    }


def _visit_missing(zh: bool) -> dict[str, Any]:
    return {
        **_supervisor(),
        **_case(zh),
        **_escalated(),
        "workflow_label": "特困人员救助供养（分散供养）"
        if zh
        else "Extreme-poverty support (dispersed)",
        "step": "供养中" if zh else "Receiving support",
        "expected_next": "本周内补足上门探访和理发服务，并在系统中登记"
        if zh
        else "make up the missing visits and haircut this week and log them",
        "month": date(2023, 7, 1),
        "overdue": timedelta(days=2, hours=9),
        "shortfalls": [
            {
                "label": "上门探访（含清洁）" if zh else "Home visits (with cleaning)",
                "done": 1,
                "required": 2,
            },
            {"label": "理发" if zh else "Haircuts", "done": 0, "required": 1},
        ],
    }


def _escalation_summary(zh: bool) -> dict[str, Any]:
    return {
        **_supervisor(),
        "count": 3143,
        "more": 3093,
        "escalations": [
            {
                "escalation_id": 17,
                "case_id": 42,
                "area": "城关镇/东村",
                "step": "入户调查" if zh else "Investigation",
                "kind": "超期督办" if zh else "overdue",
                "late": "已超期 3 个工作日" if zh else "overdue by 3 working days",
            },
            {
                "escalation_id": 18,
                "case_id": 57,
                "area": "城关镇/西村",
                "step": "求助登记" if zh else "Reported",
                "kind": "急难救助" if zh else "emergency",
                "late": "剩余 4 小时" if zh else "4 hours left",
            },
        ],
    }


def _daily_digest(zh: bool) -> dict[str, Any]:
    return {
        **_supervisor(),
        "area": "城关镇",
        "day": date(2023, 8, 4),
        "overdue_cases": [
            {
                "case_id": 42,
                "person_name": "王秀英",
                "person_id_masked": mask(_SAMPLE_ID),
                "caseworker": "李明",
                "step": "入户调查" if zh else "Investigation",
                "due_at": datetime(2023, 8, 1, 17, 30, tzinfo=_CST),
                "overdue": timedelta(days=2, hours=15),
            },
            {
                "case_id": 57,
                "person_name": "赵德福",
                "person_id_masked": "110***********0017",
                "caseworker": "赵磊",
                "step": "公示" if zh else "Public notice",
                "due_at": datetime(2023, 8, 3, 9, 0, tzinfo=_CST),
                "overdue": timedelta(days=1),
            },
        ],
        "open_cases": [
            {
                "case_id": 61,
                "person_name": "刘桂兰",
                "person_id_masked": "110***********0041",
                "caseworker": "李明",
                "step": "已受理" if zh else "Accepted",
                "due_at": datetime(2023, 8, 7, 17, 30, tzinfo=_CST),
                "due_in": timedelta(days=3, hours=8),
            },
        ],
    }


def _audit_checkpoint(zh: bool) -> dict[str, Any]:
    return {
        "recipient_name": "审计员" if zh else "Auditor",
        "recipient_user": "qian",
        "day": date(2023, 8, 4),
        "checkpoint": Checkpoint(
            size=1234,
            head="9f2c" * 16,
            at=datetime(2023, 8, 4, 1, 0, tzinfo=UTC),
            key="5b1e" * 16,
            signature="c0de" * 32,
        ),
    }


# --- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One template: the top-level variables the code provides, and sample data (zh or en)."""

    variables: frozenset[str]
    sample: Callable[[bool], dict[str, Any]]


def _provides(*groups: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*groups)


TEMPLATES: dict[str, Template] = {
    DEADLINE_REMINDER: Template(
        _provides(_RECIPIENT, _CASE, {"due_at", "due_in", "actions", "topic"}), _deadline_reminder
    ),
    ESCALATION: Template(_provides(_RECIPIENT, _CASE, _ESCALATION, _LINK, {"due_at"}), _escalation),
    EMERGENCY_ESCALATION: Template(
        _provides(
            _RECIPIENT,
            _CASE,
            _ESCALATION,
            _LINK,
            {"emergency_reason", "reported_at", "limit", "before_limit", "due_in"},
        ),
        _emergency_escalation,
    ),
    VISIT_MISSING: Template(
        _provides(_RECIPIENT, _CASE, _ESCALATION, {"month", "shortfalls"}), _visit_missing
    ),
    ESCALATION_SUMMARY: Template(
        _provides(_RECIPIENT, {"count", "more", "escalations"}), _escalation_summary
    ),
    DAILY_DIGEST: Template(
        _provides(_RECIPIENT, {"area", "day", "overdue_cases", "open_cases"}), _daily_digest
    ),
    # the signed checkpoint (engine.checkpoints.Checkpoint: size, head, at, key, and `text`,
    # the file's content) is hashes and a time, no personal data
    AUDIT_CHECKPOINT: Template(_provides(_RECIPIENT, {"day", "checkpoint"}), _audit_checkpoint),
}

TEMPLATE_LABELS_ZH: dict[str, str] = {
    DEADLINE_REMINDER: "到期提醒",
    ESCALATION: "超期督办",
    EMERGENCY_ESCALATION: "急难救助督办",
    VISIT_MISSING: "走访未达标",
    ESCALATION_SUMMARY: "督办汇总",
    DAILY_DIGEST: "每日简报",
    AUDIT_CHECKPOINT: "台账校验点",
}
"""Each template's name as a Chinese reader sees it in lists (English lists show the code)."""


def template_label(template: str) -> str:
    """The template's name in the current language: its code in English, a label in Chinese."""
    return pick(template, TEMPLATE_LABELS_ZH.get(template, ""))


TEMPLATE_VARIABLES: dict[str, frozenset[str]] = {n: t.variables for n, t in TEMPLATES.items()}
"""What the code provides to each template (top-level names; see LIST_ITEM_KEYS for lists)."""


def require_template(template: str) -> Template:
    """The template of that name, or InvalidInputError naming the known ones."""
    found = TEMPLATES.get(template)
    if found is None:
        known = sorted(TEMPLATES)
        raise InvalidInputError(
            _(
                "unknown notification template {template!r}; known: {known}",
                template=template,
                known=", ".join(known),
            ),
            hint=did_you_mean(template, known),
        )
    return found


def sample_context(template: str, lang: str = "zh") -> dict[str, Any]:
    """Realistic sample data for one template (Chinese names and places; labels in `lang`)."""
    found = require_template(template)
    return found.sample(check_lang(lang) == "zh")
