"""The figures of the county report (`aidflow report`), each defined once: its name, its
labels, the rule it comes from, and the store aggregate that computes it.

The plan (特困群体精准帮扶救助实施方案, "oversight") asks the leading group to publish each
township's progress and name the units that lag; these are the numbers it watches. Every
renderer (text, JSON, HTML, XLSX) takes the labels and sources from here through the
report's `figures` notes, so a figure cannot mean one thing on screen and another on paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from aidflow.i18n import N_
from aidflow.policy.care import CarePolicy
from aidflow.policy.report import ReportPolicy
from aidflow.store import report as aggregates
from aidflow.store.session import Session

Aggregate = Callable[[Session, aggregates.Query], dict[str, Any]]


@dataclass(frozen=True)
class Context:
    """What a figure's JSON shape may add: the goals and the county's time zone."""

    policy: ReportPolicy
    care: CarePolicy
    tz: tzinfo


Shape = Callable[[Any, Context], Any]


@dataclass(frozen=True)
class Figure:
    """One figure: `aggregate` gives {township or store.report.COUNTY: value}; `shape` turns
    one of those values (None for a township without rows) into the report's JSON."""

    name: str
    zh: str
    en: str
    source: str  # the rule or the data it comes from, cited (a catalog message: `_()` it)
    aggregate: Aggregate
    shape: Shape

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def _mapping(value: Any, _: Context) -> Any:
    return value or {}


def _count(value: Any, _: Context) -> Any:
    return value or 0


def _overdue(value: Any, ctx: Context) -> Any:
    value = value or {"count": 0, "oldest_deadline": None, "by_step": {}}
    oldest = value["oldest_deadline"]
    return {
        "count": value["count"],
        "oldest_deadline": None if oldest is None else oldest.astimezone(ctx.tz).isoformat(),
        "by_step": dict(sorted(value["by_step"].items())),
    }


def _emergency(value: Any, ctx: Context) -> Any:
    value = value or {"count": 0, "median_hours": None, "p90_hours": None, "over_goal": 0}
    return {**value, "goal_hours": ctx.policy.emergency.goal_hours}


def _care(value: Any, ctx: Context) -> Any:
    value = value or {"case_months": 0, "by_kind": {}}
    zero = {"required": 0, "made": 0}
    return {
        "case_months": value["case_months"],
        "by_kind": {k: value["by_kind"].get(k, zero) for k in sorted(ctx.care.required)},
    }


def _centralized(value: Any, ctx: Context) -> Any:
    value = value or {"unable_self_care": 0, "centralized": 0}
    unable, central = value["unable_self_care"], value["centralized"]
    rate = central / unable if unable else None
    goal = ctx.policy.centralized.goal
    return {**value, "rate": rate, "goal": goal, "goal_met": None if rate is None else rate >= goal}


def _lookback(value: Any, _: Context) -> Any:
    return value or {"found": 0, "closed": 0}


FIGURES: tuple[Figure, ...] = (
    Figure(
        "cases_by_state",
        "各项目案件状态",
        "Cases by programme and state",
        N_("cases now, by workflow and state (the deployed workflows' states)"),
        aggregates.cases_by_state,
        _mapping,
    ),
    Figure(
        "opened",
        "期内新开案件",
        "Opened in the period",
        N_("cases whose opening (discovery, application or report) falls in the period"),
        aggregates.opened,
        _count,
    ),
    Figure(
        "approved",
        "期内批准",
        "Approved in the period",
        N_(
            "transitions by each programme's approving trigger (policy/report.yaml `programmes`: "
            "dibao approve L21 §20, tekun confirm T21 §16, temporary assistance approve TZ18)"
        ),
        aggregates.approved,
        _count,
    ),
    Figure(
        "rejected",
        "期内不予批准",
        "Rejected in the period",
        N_(
            "entries into each programme's rejected state after the written reasons "
            "(policy/report.yaml `programmes`; L21 §21, T21 §18)"
        ),
        aggregates.rejected,
        _count,
    ),
    Figure(
        "closed",
        "期内结案",
        "Closed in the period",
        N_(
            "cases that reached a final state (approved-and-ended, rejected, withdrawn, exited) "
            "in the period"
        ),
        aggregates.closed,
        _count,
    ),
    Figure(
        "overdue",
        "当前超期",
        "Overdue now",
        N_(
            "open cases past their state's deadline now (the workflows' deadlines), with the "
            "oldest deadline and the count per workflow/state; plan: the leading group names units "
            "that lag (通报批评、督办约谈)"
        ),
        aggregates.overdue,
        _overdue,
    ),
    Figure(
        "emergency_response",
        "急难救助响应时间",
        "Emergency response time",
        N_(
            "plan: 急难对象24小时先行救助; hours from the report (case opened in the period) to "
            "assist_first (policy/report.yaml `emergency`); median (mean of the middle two of an "
            "even count), 90th percentile by nearest rank, and how many took longer than the goal"
        ),
        aggregates.emergency_response,
        _emergency,
    ),
    Figure(
        "care_visits",
        "生活照料走访",
        "Care visits made against required",
        N_(
            "plan: 每月不少于两次走访、清扫，不少于一次理发; policy/care_visits.yaml: a case owes "
            "each kind's monthly minimum for every month of the period that has ended, when it "
            "was in the selected state before the month began; a month's visits count up to "
            "the minimum"
        ),
        aggregates.care_visits,
        _care,
    ),
    Figure(
        "centralized_support",
        "生活不能自理特困人员集中供养率",
        "Centralized-support rate (unable to care for themselves)",
        N_(
            "plan: 年内生活不能自理特困人员集中供养率要提高到50%以上; tekun cases receiving "
            "support now with self_care partial or none (T21 §20-22) and support_mode centralized "
            "(policy/report.yaml `centralized_support`)"
        ),
        aggregates.centralized_support,
        _centralized,
    ),
    Figure(
        "lookback",
        "回头看查漏补缺",
        "Look-back gaps found and closed",
        N_(
            "plan: 回头看，不漏一户、不落一人; cases opened by `aidflow lookback --open-cases` "
            "in the period (found) and those of them approved or ended (closed); persons still "
            "without a case are listed by `aidflow lookback`"
        ),
        aggregates.lookback,
        _lookback,
    ),
    Figure(
        "payments",
        "资金发放",
        "Payments by kind",
        N_(
            "payment rows for the months of the period, by kind: count, total and paid, in fen "
            "(policy/standards.yaml `payments`; L21 §21, T21 §17, plan: 按月足额发放)"
        ),
        aggregates.payments,
        _mapping,
    ),
)
