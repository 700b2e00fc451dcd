"""The county report (`aidflow report`): every figure of aidflow.services.figures, per
township and for the whole area the caller may see, over one period.

The result is plain JSON (documented in the README, "County report"): `format` names its
version; `figures` lists each figure's name, label and source (the notes every rendering
prints); `total` holds the area's values and `townships` each township's, under the
figures' names. A township user sees their township only (the one area rule,
aidflow.engine.access, becomes SQL in the store); asking for another township is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aidflow.engine.access import Actor, require_area
from aidflow.errors import InvalidInputError, did_you_mean
from aidflow.i18n import _, use_language
from aidflow.language.calendar import WorkCalendar
from aidflow.policy.care import CarePolicy
from aidflow.policy.report import ReportPolicy
from aidflow.services.figures import FIGURES, Context
from aidflow.services.lookback import OPENED_NOTE
from aidflow.services.visits import Month
from aidflow.store import areas
from aidflow.store import report as aggregates
from aidflow.store import workflows as workflow_store
from aidflow.store.session import Session

FORMAT = "aidflow.report/1"
FORMATS = ("text", "json", "html", "xlsx")


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive

    @classmethod
    def of(cls, start: date | None, end: date | None, today: date) -> Period:
        """The period asked for; by default the year to date (the campaign's yearly cycle)."""
        first = start if start is not None else date(today.year, 1, 1)
        last = end if end is not None else max(today, first)
        if first > last:
            raise InvalidInputError(
                _("--from {first} is after --to {last}", first=first, last=last),
                hint=_("give --from on or before --to (dates as YYYY-MM-DD, both included)"),
            )
        return cls(first, last)

    def months(self) -> list[Month]:
        month, out = Month(self.first.year, self.first.month), []
        while month.first_day <= self.last:
            out.append(month)
            month = month.next()
        return out


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInputError(
            _("--format {fmt!r} is not one of {formats}", fmt=fmt, formats=", ".join(FORMATS)),
            hint=did_you_mean(fmt, FORMATS)
            or _("use one of {formats}", formats=", ".join(FORMATS)),
        )
    return fmt


def _care_rules(policy: CarePolicy) -> tuple[aggregates.CareRule, ...]:
    rules = []
    for sel in policy.applies_to:
        equals: dict[str, Any] = {}
        if sel.when is not None:
            found = sel.when.equalities()
            if found is None or any(not k.startswith("case.") for k in found):
                raise InvalidInputError(
                    _(
                        "{file}: the report counts care obligations in the database and "
                        "reads `when` only as case.FIELD == VALUE (joined by `and`), not "
                        "{condition!r}",
                        file=policy.file,
                        condition=sel.when.text,
                    ),
                    hint=_("write the selector's condition as case.FIELD == VALUE"),
                )
            equals = {k.removeprefix("case."): v for k, v in found.items()}
        rules.append(aggregates.CareRule(sel.workflow, sel.states, equals, policy.required))
    return tuple(rules)


def build_report(
    session: Session,
    actor: Actor,
    calendar: WorkCalendar,
    care: CarePolicy,
    policy: ReportPolicy,
    now: datetime,
    *,
    township: str | None = None,
    start: date | None = None,
    end: date | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    """The report as JSON for `actor`'s area (and `township`) over [start, end]."""
    tz = calendar.tz
    period = Period.of(start, end, now.astimezone(tz).date())
    pairs = areas.list_areas(session)
    registered = sorted({t for t, _ in pairs})
    # the townships the actor sees some of (a village officer sees their village's township)
    visible = sorted({t for t, v in pairs if actor.covers(t, v)})
    if township is not None:
        if township not in registered:
            raise InvalidInputError(
                _("--township {township!r} is not a registered township", township=township),
                hint=did_you_mean(township, registered) or _("`aidflow area list` shows them"),
            )
        if township not in visible:
            require_area(actor, township, "", _("township {name}", name=township), say_where=False)
    first = datetime(period.first.year, period.first.month, period.first.day, tzinfo=tz)
    after = period.last + timedelta(days=1)
    end_at = datetime(after.year, after.month, after.day, tzinfo=tz)
    months = [m for m in period.months() if m.end(calendar) <= now]  # months that have ended
    query = aggregates.Query(
        area=actor.scope,
        township=township,
        start=first,
        end=end_at,
        now=now,
        programmes=policy.programmes,
        emergency=policy.emergency,
        centralized=policy.centralized,
        care=_care_rules(care),
        months=tuple((str(m), m.start(calendar), m.end(calendar)) for m in months),
        first_period=str(period.months()[0]),
        last_period=str(period.months()[-1]),
        lookback_note=OPENED_NOTE,
    )
    values = {f.name: f.aggregate(session, query) for f in FIGURES}
    context = Context(policy, care, tz)
    towns = [t for t in visible if township is None or t == township]
    for value in values.values():
        towns += [t for t in value if t != aggregates.COUNTY and t not in towns]

    def one(key: str) -> dict[str, Any]:
        return {f.name: f.shape(values[f.name].get(key), context) for f in FIGURES}

    with use_language(lang):
        figures = [
            {"name": f.name, "label": f.label(lang), "zh": f.zh, "en": f.en, "source": _(f.source)}
            for f in FIGURES
        ]
    return {
        "format": FORMAT,
        "generated_at": now.astimezone(tz).isoformat(),
        "area": actor.area,
        "township": township,
        "period": {"from": period.first.isoformat(), "to": period.last.isoformat()},
        "care_months": [str(m) for m in months],
        "lang": lang,
        "figures": figures,
        "kinds": {k: r.labels.get(lang) for k, r in care.kinds.items()},
        "workflows": _workflow_labels(session, lang),
        "total": one(aggregates.COUNTY),
        "townships": {t: one(t) for t in sorted(towns)},
    }


def _workflow_labels(session: Session, lang: str) -> dict[str, Any]:
    """Each deployed workflow's label and its states' labels (the latest version's wording),
    so a rendering names programmes and steps in the reader's language."""
    out: dict[str, Any] = {}
    for _version, wf in sorted(workflow_store.deployed_definitions(session), key=lambda v: v[0]):
        out[wf.name] = {
            "label": wf.labels.get(lang),
            "states": {name: st.labels.get(lang) for name, st in wf.states.items()},
        }
    return out
