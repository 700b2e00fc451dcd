"""Named clocks over several states: start, pause, resume, extend, stop.

A workflow declares clocks under `clocks` (definition.ClockSpec); a state lists the
clocks that stand still while a case is in it under `pauses`. A case keeps one entry
per clock in `cases.clocks` (JSON):

    {"status": "running", "started_at": ISO, "due_at": ISO}
    {"status": "paused", "started_at": ISO, "paused_at": ISO, "left": {"wd": 12}}
    {"status": "stopped", "started_at": ISO, "stopped_at": ISO, "due_at": ISO}
    (+ "extended": [trigger, ...] once an `extended_by` trigger has fired)

Time left is kept in the clock's own unit: whole working days for a `wd` clock (so that
resuming recomputes the due date on the PRC calendar), seconds otherwise. The day a
working-day clock is paused counts as used and the day it resumes does not, so pausing
and resuming on the same day changes nothing. A clock already overdue when paused keeps
its due date: a pause never turns an overdue case into one on time.

No database here: `service` stores what `advance` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from aidflow.language.calendar import Duration, WorkCalendar, last_day, parse_duration
from aidflow.language.definition import ClockSpec, Workflow

RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"


@dataclass(frozen=True)
class ClockReport:
    """What `case show` says about one clock at one instant."""

    name: str
    spec: ClockSpec
    status: str
    due_at: datetime | None
    left: timedelta | None  # for h/d/mo clocks; negative when overdue
    left_wd: int | None  # for wd clocks: whole working days after today; negative when overdue
    duration: str = ""  # the duration in force under the workflow's settings (duration_of)

    @property
    def overdue(self) -> bool:
        return (self.left is not None and self.left < timedelta(0)) or (
            self.left_wd is not None and self.left_wd < 0
        )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def working_days_left(calendar: WorkCalendar, now: datetime, due: datetime) -> int:
    """Working days after `now`'s local date up to the last one before `due`; negative when overdue.

    `due` is a working-day deadline (00:00 local after its last working day). When it has
    passed, minus the working days from that last day (exclusive) to today (inclusive).
    """
    tz = calendar.tz
    today = now.astimezone(tz).date()
    last = last_day(due, tz)
    count = 0
    day, end, sign = (today, last, 1) if today <= last else (last, today, -1)
    while day < end:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            count += 1
    return sign * count


def _resume_due(calendar: WorkCalendar, unit: str, left: dict[str, int], now: datetime) -> datetime:
    if unit == "wd":
        n = left["wd"]
        if n <= 0:  # paused on its last working day: the rest of the day it resumes
            day = now.astimezone(calendar.tz).date() + timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=calendar.tz)
        return calendar.add(now, Duration(n, "wd"))
    return now + timedelta(seconds=left["seconds"])


def _extend_due(calendar: WorkCalendar, due: datetime, ext: Duration) -> datetime:
    if ext.unit == "wd":  # counted from the clock's last working day
        return calendar.add(due - timedelta(microseconds=1), ext)
    return calendar.add(due, ext)


def _extend_left(
    calendar: WorkCalendar, left: dict[str, int], ext: Duration, paused_at: datetime
) -> dict[str, int]:
    if ext.unit == "wd":
        return {"wd": left["wd"] + ext.amount}
    return {
        "seconds": left["seconds"] + int((calendar.add(paused_at, ext) - paused_at).total_seconds())
    }


def start(
    wf: Workflow,
    state: str,
    now: datetime,
    calendar: WorkCalendar,
    clocks: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The clocks that start on entering `state` (a case opened in it, or moved into it)."""
    out = dict(clocks or {})
    for name, spec in wf.clocks.items():
        if spec.starts_at == state and name not in out:
            out[name] = {
                "status": RUNNING,
                "started_at": _iso(now),
                "due_at": _iso(calendar.add(now, parse_duration(duration_of(wf, spec)))),
            }
    return out


def duration_of(wf: Workflow, spec: ClockSpec) -> str:
    """The clock's duration under the workflow's settings: the first true `duration_when`."""
    if spec.duration_when:
        from aidflow.language.expressions import compile_expression

        scope = {"setting": wf.setting_values}
        for alt in spec.duration_when:
            if compile_expression(alt.when, namespaces=("setting",)).evaluate(scope):
                return alt.duration
    return spec.duration


def advance(
    wf: Workflow,
    clocks: dict[str, Any],
    trigger: str,
    dest: str,
    now: datetime,
    calendar: WorkCalendar,
) -> dict[str, Any]:
    """The clocks after `trigger` moved a case into `dest` at `now` (a new dict; input kept)."""
    out: dict[str, Any] = {}
    for name, entry in clocks.items():
        spec = wf.clocks.get(name)
        out[name] = (
            entry
            if spec is None
            else _advance_one(spec, name, dict(entry), trigger, dest, wf, now, calendar)
        )
    return start(wf, dest, now, calendar, out)


def _advance_one(
    spec: ClockSpec,
    name: str,
    entry: dict[str, Any],
    trigger: str,
    dest: str,
    wf: Workflow,
    now: datetime,
    calendar: WorkCalendar,
) -> dict[str, Any]:
    if entry["status"] == STOPPED:
        return entry
    unit = parse_duration(spec.duration).unit
    if trigger in spec.extended_by and trigger not in entry.get("extended", []):
        ext = parse_duration(spec.extended_by[trigger])
        entry["extended"] = [*entry.get("extended", []), trigger]
        if entry["status"] == RUNNING:
            entry["due_at"] = _iso(_extend_due(calendar, _at(entry["due_at"]), ext))
        elif "left" in entry:
            entry["left"] = _extend_left(calendar, entry["left"], ext, _at(entry["paused_at"]))
    if dest in spec.stops_at:
        if entry["status"] == PAUSED:  # stopped while paused: freeze the due date as if resumed now
            entry["due_at"] = _iso(_resume_or_keep(calendar, unit, entry, now))
        entry.update(status=STOPPED, stopped_at=_iso(now))
        entry.pop("left", None)
        entry.pop("paused_at", None)
        return entry
    pause_here = name in wf.states[dest].pauses
    if entry["status"] == RUNNING and pause_here:
        due = _at(entry["due_at"])
        entry.update(status=PAUSED, paused_at=_iso(now))
        if due > now:  # an overdue clock keeps its due date (see the module docstring)
            entry.pop("due_at")
            entry["left"] = (
                {"wd": max(working_days_left(calendar, now, due), 0)}
                if unit == "wd"
                else {"seconds": int((due - now).total_seconds())}
            )
    elif entry["status"] == PAUSED and not pause_here:
        entry["due_at"] = _iso(_resume_or_keep(calendar, unit, entry, now))
        entry["status"] = RUNNING
        entry.pop("left", None)
        entry.pop("paused_at", None)
    return entry


def _resume_or_keep(
    calendar: WorkCalendar, unit: str, entry: dict[str, Any], now: datetime
) -> datetime:
    if "left" in entry:
        return _resume_due(calendar, unit, entry["left"], now)
    return _at(entry["due_at"])


def report(
    wf: Workflow, clocks: dict[str, Any], now: datetime, calendar: WorkCalendar
) -> list[ClockReport]:
    """Each of the case's clocks as of `now`, in the workflow's order."""
    out = []
    for name, spec in wf.clocks.items():
        entry = clocks.get(name)
        if entry is None:
            continue
        unit = parse_duration(spec.duration).unit
        status = entry["status"]
        due = _at(entry["due_at"]) if "due_at" in entry else None
        left: timedelta | None = None
        left_wd: int | None = None
        if status == PAUSED and "left" in entry:
            left_wd = entry["left"].get("wd")
            left = None if "wd" in entry["left"] else timedelta(seconds=entry["left"]["seconds"])
        elif due is not None:
            at = _at(entry["stopped_at"]) if status == STOPPED else now
            if status == PAUSED:
                at = _at(entry["paused_at"])
            if unit == "wd":
                left_wd = (
                    working_days_left(calendar, at, due)
                    if due > at
                    else -_wd_overdue(calendar, at, due)
                )
            else:
                left = due - at
        out.append(ClockReport(name, spec, status, due, left, left_wd, duration_of(wf, spec)))
    return out


def _wd_overdue(calendar: WorkCalendar, at: datetime, due: datetime) -> int:
    """Working days from the deadline's date to `at`'s date (at least 1 once it has passed)."""
    return max(-working_days_left(calendar, at, due), 1)


def carrier(
    old: Workflow, new: Workflow, calendar: WorkCalendar
) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """How a case's clocks move from version `old` of its workflow to version `new`.

    A clock `new` lacks is dropped; one `new` adds is not started (it starts when the case
    next enters its `starts_at`). A running clock keeps its start, its extensions and the
    time it stood paused before, and gets the due date the new duration gives: the start
    plus the new duration plus the extensions it had, pushed back by the time the old due
    date was pushed back by pauses. A paused clock keeps the time it had left; a stopped
    one is kept as it is. The durations are worked out once, for every case moved. None
    when the move changes no clock at all; the function returns its argument itself when
    it changes none of that case's clocks.
    """
    # per clock of both versions: (old duration, new duration, old spec, new spec)
    both = {
        name: (duration_of(old, old.clocks[name]), duration_of(new, spec), old.clocks[name], spec)
        for name, spec in new.clocks.items()
        if name in old.clocks
    }
    if set(old.clocks) <= set(both) and all(
        was == will and before.extended_by == spec.extended_by
        for was, will, before, spec in both.values()
    ):
        return None

    def carry(clocks: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        changed = False
        for name, entry in clocks.items():
            if name not in new.clocks:
                changed = True
                continue
            if entry["status"] != RUNNING or name not in both:
                out[name] = entry
                continue
            was_duration, duration, before, spec = both[name]
            extended = entry.get("extended", [])
            if was_duration == duration and all(
                before.extended_by.get(t) == spec.extended_by.get(t) for t in extended
            ):
                out[name] = entry
                continue
            started, due = _at(entry["started_at"]), _at(entry["due_at"])
            was = _planned(calendar, was_duration, before, started, extended)
            will = _planned(calendar, duration, spec, started, extended)
            moved = will
            if due > was:  # paused before: the pause still counts
                if parse_duration(duration).unit == "wd":
                    tick = timedelta(microseconds=1)
                    credit = calendar.working_days_between(was - tick, due - tick)
                    moved = calendar.add(will - tick, Duration(credit, "wd")) if credit else will
                else:
                    moved = will + (due - was)
            out[name] = {**entry, "due_at": _iso(moved)}
            changed = changed or out[name] != entry
        return out if changed else clocks

    return carry


def _planned(
    calendar: WorkCalendar, duration: str, spec: ClockSpec, started: datetime, extended: list[str]
) -> datetime:
    """The due date of a clock of `duration` started at `started` and never paused."""
    at = calendar.add(started, parse_duration(duration))
    for trigger in extended:
        if trigger in spec.extended_by:
            at = _extend_due(calendar, at, parse_duration(spec.extended_by[trigger]))
    return at
