"""How a deadline and the time left before it are shown: the one home of that rule.

A working-day deadline is stored as 00:00 local time after its last working day (see
language.calendar). People count such a limit by the day that ends it, so it is shown as
that last day, with its weekday: ``2023-10-20 (Fri) end of day`` / ``2023-10-20（周五）当日``,
never as ``2023-10-21 00:00``; the time left before it is counted in working days after
today (``3 working days left`` / ``剩余 3 个工作日``). Any other deadline is shown with its
time of day, and the time left in days and hours. A stopped clock has no time left.

The case operations (for `case show` and `case list`, as `Due.to_json`), the escalation
emails and the daily digest all call `describe`, `show_due` and `show_left`; nothing else
formats a deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from aidflow.engine.clocks import working_days_left
from aidflow.i18n import N_, _, ngettext, use_language
from aidflow.language.calendar import WorkCalendar, parse_duration
from aidflow.language.definition import Workflow

_WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


@dataclass(frozen=True)
class Due:
    """A deadline as of one instant: when, whether it counts working days, and what is left.

    `left_wd` is set for a working-day deadline (working days after today; 0 on its last
    day, negative when overdue), `left` for any other (negative when overdue); neither for
    a stopped clock.
    """

    at: datetime
    working_days: bool
    left: timedelta | None = None
    left_wd: int | None = None
    stopped: bool = False

    @property
    def overdue(self) -> bool:
        if self.stopped:
            return False
        if self.left_wd is not None:
            return self.left_wd < 0
        return self.left is not None and self.left < timedelta(0)

    def to_json(self, lang: str, tz: tzinfo) -> dict[str, Any]:
        """For an operation's result: the values, and the texts in `lang` the CLI prints
        (a CLI talking to a server imports nothing of the engine)."""
        return {
            "at": self.at.isoformat(),
            "working_days": self.working_days,
            "left_seconds": None if self.left is None else int(self.left.total_seconds()),
            "left_wd": self.left_wd,
            "stopped": self.stopped,
            "overdue": self.overdue,
            "text": show_due(self, lang, tz),
            "left_text": show_left(self, lang),
        }


def counts_working_days(wf: Workflow, state: str, at: datetime, tz: tzinfo) -> bool:
    """Whether `at`, a deadline of `state`, was counted in working days.

    A state whose deadline alternatives (`deadline_when`) mix units is told apart by the
    time: a working-day deadline always falls at local midnight.
    """
    st = wf.states.get(state)
    if st is None:
        return False
    specs = [s for s in (st.deadline, *(alt.deadline for alt in st.deadline_when)) if s]
    units = {parse_duration(s).unit for s in specs}
    if units == {"wd"}:
        return True
    if "wd" not in units:
        return False
    return at.astimezone(tz).time() == time(0)


def describe(
    at: datetime,
    now: datetime,
    calendar: WorkCalendar,
    *,
    working_days: bool,
    stopped: bool = False,
) -> Due:
    """The deadline `at` as of `now` (`stopped`: its clock was stopped, nothing is left)."""
    if stopped:
        return Due(at, working_days, stopped=True)
    if working_days:
        n = working_days_left(calendar, now, at)
        if now >= at and n == 0:
            # past its last day, on a weekend or holiday: no working day is late yet, but the
            # deadline has passed; say by how long rather than "due today"
            return Due(at, True, left=at - now)
        return Due(at, True, left_wd=n)
    return Due(at, False, left=at - now)


def last_day(due: Due, tz: tzinfo) -> datetime:
    """The local instant shown: the last working day itself for a working-day deadline."""
    local = due.at.astimezone(tz)
    return local - timedelta(microseconds=1) if due.working_days else local


def show_due(due: Due, lang: str, tz: tzinfo) -> str:
    """``2023-10-20 (Fri) end of day`` / ``2023-10-20（周五）当日``, or with the time of day."""
    local = last_day(due, tz)
    with use_language(lang):
        day = _(_WEEKDAYS[local.weekday()])
        if due.working_days:
            return _("{date} ({weekday}) end of day", date=local.strftime("%Y-%m-%d"), weekday=day)
        return _(
            "{date} ({weekday}) {time}",
            date=local.strftime("%Y-%m-%d"),
            weekday=day,
            time=local.strftime("%H:%M"),
        )


def _span(left: timedelta) -> str:
    secs = int(abs(left.total_seconds()))
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    if days:
        said = ngettext("{n} day", "{n} days", days)
        if hours:
            return _("{days} {hours}", days=said, hours=ngettext("{n} hour", "{n} hours", hours))
        return said
    if hours:
        said = ngettext("{n} hour", "{n} hours", hours)
        if minutes:
            return _(
                "{hours} {minutes}",
                hours=said,
                minutes=ngettext("{n} minute", "{n} minutes", minutes),
            )
        return said
    return ngettext("{n} minute", "{n} minutes", minutes)


def show_span(due: Due, lang: str) -> str:
    """How long before or past the deadline, without a direction (for "due in ..." and
    "overdue by ..."): ``3 working days`` / ``3 个工作日``, or ``14 days 14 hours``."""
    with use_language(lang):
        if due.left_wd is not None:
            n = abs(due.left_wd)
            return ngettext("{n} working day", "{n} working days", n)
        return _span(due.left or timedelta(0))


def show_left(due: Due, lang: str) -> str:
    """``3 working days left`` / ``剩余 3 个工作日``, ``overdue by 2 days 3 hours``, ..."""
    with use_language(lang):
        if due.stopped:
            return _("clock stopped")
        if due.left_wd is not None:
            n = due.left_wd
            if n > 0:
                return ngettext("{n} working day left", "{n} working days left", n)
            if n == 0:
                return _("due by the end of today")
            return ngettext("overdue by {n} working day", "overdue by {n} working days", -n)
        if due.left is None:
            return ""
        if due.left >= timedelta(0):
            return _("{span} left", span=_span(due.left))
        return _("overdue by {span}", span=_span(due.left))
