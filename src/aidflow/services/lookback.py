"""The look-back (回头看): who in the survey lists should have a case and has none.

workflows/policy/target_groups.yaml declares the target groups as guard expressions over
person.* and the workflow a gap is opened in. `find` streams the persons of the imported
lists (keyset pages, never all at once), keeps those who meet a group and have no open
case (不漏一户、不落一人), and lists open cases that are overdue or stalled, per township.
`open_gaps` opens one discovery case per gap through `Service.open_case`; a person with an
open case is no longer a gap, so running it again opens nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aidflow.engine.access import Actor
from aidflow.errors import AidflowError
from aidflow.idnumber import mask
from aidflow.language.definition import PERSON_COLUMNS
from aidflow.policy.target_groups import LookbackPolicy
from aidflow.store import cases, persons, workflows
from aidflow.store.records import PersonRecord
from aidflow.store.session import Session

# The note of the open event of every case the look-back opens: how the county report counts
# the gaps found (aidflow.services.figures, `lookback`).
OPENED_NOTE = "look-back: "


@dataclass
class Gap:
    person_id: int
    id_number: str
    name: str
    township: str
    village: str
    groups: list[str]
    workflow: str
    opened_case: int | None = None
    not_opened: str | None = None
    group_labels: list[str] = field(default_factory=list)  # the groups' Chinese labels
    workflow_label: str = ""  # the programme's Chinese label

    def as_json(self, show_id: bool = False) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "id_number": self.id_number if show_id else mask(self.id_number),
            "name": self.name,
            "township": self.township,
            "village": self.village,
            "groups": self.groups,
            "group_labels": self.group_labels,
            "workflow_label": self.workflow_label,
            "workflow": self.workflow,
            "opened_case": self.opened_case,
            "not_opened": self.not_opened,
        }


@dataclass(frozen=True)
class LateCase:
    case_id: int
    workflow: str
    state: str
    township: str
    village: str
    since: datetime  # deadline (overdue) or the last event (stalled)
    kind: str  # overdue, stalled


@dataclass
class TownshipSummary:
    persons: int = 0
    in_groups: int = 0
    gaps: int = 0
    overdue: int = 0
    stalled: int = 0


@dataclass
class LookbackReport:
    gaps: list[Gap] = field(default_factory=list)
    late: list[LateCase] = field(default_factory=list)
    townships: dict[str, TownshipSummary] = field(default_factory=dict)


def person_scope(person: PersonRecord, today: Any) -> dict[str, Any]:
    born = person.birth_date
    scope = {n: getattr(person, n) for n in PERSON_COLUMNS if n != "birth_date"}
    scope["age"] = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    scope["birth_date"] = born.isoformat()
    return scope


def find(
    session: Session,
    actor: Actor,
    policy: LookbackPolicy,
    now: datetime,
    today: Any,
    township: str | None = None,
) -> LookbackReport:
    """Gaps and late cases in the actor's area (and `township`), persons read in pages."""
    report = LookbackReport()
    labels: dict[str, str] = {}

    def programme(name: str) -> str:
        """The programme's Chinese label ('' when it is not deployed)."""
        if name not in labels:
            try:
                wf = workflows.definition_of(workflows.latest_version(session, name))
                labels[name] = wf.labels.zh
            except AidflowError:
                labels[name] = ""
        return labels[name]

    for page in persons.persons_in_pages(session, actor.scope, township, listed_only=True):
        covered = cases.persons_with_open_cases(session, [p.id for p in page])
        for p in page:
            summary = report.townships.setdefault(p.township, TownshipSummary())
            summary.persons += 1
            scope = {"person": person_scope(p, today)}
            groups = [g for g in policy.groups if g.when.evaluate(scope)]
            if not groups:
                continue
            summary.in_groups += 1
            if p.id in covered:
                continue
            summary.gaps += 1
            report.gaps.append(
                Gap(
                    p.id,
                    p.id_number,
                    p.name,
                    p.township,
                    p.village,
                    [g.name for g in groups],
                    groups[0].workflow,
                    group_labels=[g.zh for g in groups],
                    workflow_label=programme(groups[0].workflow),
                )
            )
    _late_cases(session, actor, policy, now, township, report)
    return report


def _late_cases(
    session: Session,
    actor: Actor,
    policy: LookbackPolicy,
    now: datetime,
    township: str | None,
    report: LookbackReport,
) -> None:
    area = actor.scope
    seen: set[int] = set()
    for c in cases.overdue_cases(session, area, township, now):
        assert c.deadline_at is not None
        seen.add(c.id)
        report.late.append(
            LateCase(
                c.id, c.workflow_name, c.state, c.township, c.village, c.deadline_at, "overdue"
            )
        )
        report.townships.setdefault(c.township, TownshipSummary()).overdue += 1
    stalled_before = now - timedelta(days=policy.stalled_after_days)
    for c, last_at in cases.stalled_cases(
        session, area, township, stalled_before, policy.stalled_exempt_states
    ):
        if c.id in seen:
            continue
        report.late.append(
            LateCase(c.id, c.workflow_name, c.state, c.township, c.village, last_at, "stalled")
        )
        report.townships.setdefault(c.township, TownshipSummary()).stalled += 1


OpenCase = Callable[[Gap], int]


def open_gaps(report: LookbackReport, open_case: OpenCase) -> None:
    """Open a case for each gap with `open_case` (one transaction each, by the caller).

    A gap the workflow or the user's roles refuse is kept with the reason in `not_opened`.
    """
    for gap in report.gaps:
        try:
            gap.opened_case = open_case(gap)
        except AidflowError as exc:
            gap.not_opened = exc.message
