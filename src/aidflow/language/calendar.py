"""Working-day and duration arithmetic for a PRC county.

Durations are strings such as ``24h``, ``7d``, ``10wd`` and ``12mo``; `parse_duration`
turns them into a `Duration` and `WorkCalendar.add` turns a start instant plus a
duration into a deadline:

- ``h``: N elapsed hours.
- ``d``: N days on the county's local wall clock (local time + N days, back to UTC).
- ``mo``: the same local time of day N calendar months later; the day is clamped to
  the month's end (Jan 31 + 1mo = Feb 28, or Feb 29 in a leap year).
- ``wd``: statutory counting. The start's local day does not count; N working days
  are counted from the next local day on, and the deadline is the *end* of the Nth
  working day, i.e. 00:00 local time of the following calendar day. Friday
  2023-09-22 10:00 +08:00 plus 1wd is 2023-09-26 00:00 +08:00 (end of Monday).

Every instant taken must be timezone-aware (naive ones raise ValueError, because
guessing their zone would move deadlines by hours); every instant returned is in UTC.
Wall times that a zone with daylight saving skips or repeats resolve as `zoneinfo`
does with ``fold=0``; Asia/Shanghai has had no such times since 1991.

Working days come from the ``chinesecalendar`` package (State Council holiday
notices), overridden by the county's calendar file (workflows/policy/calendar.yaml).
A year the package does not know and the file does not declare complete raises
`CalendarError`: a weekends-only guess would silently put deadlines inside holidays.
In a year the file declares complete but the package does not know, a day is a
working day if listed ``work``, not if listed ``off``, and otherwise if it is Mon-Fri.

This module imports no heavy libraries at import time; ``chinese_calendar`` and
``yaml`` are imported when first needed, to keep CLI start-up fast.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aidflow.errors import (
    CalendarError,
    DurationError,
    InvalidInputError,
    NotFoundError,
    Problem,
    WorkflowInvalidError,
    did_you_mean,
)
from aidflow.i18n import N_, _

__all__ = ["UNITS", "Duration", "WorkCalendar", "duration_words", "last_day", "parse_duration"]

UNITS = ("h", "d", "wd", "mo")
MAX_AMOUNT = 99_999

DEFAULT_CALENDAR_FILE = "workflows/policy/calendar.yaml"
_NTH_CACHE_SIZE = 4096

_DURATION_RE = re.compile(r"([1-9][0-9]{0,4})(h|d|wd|mo)")
_DURATION_FORMS = N_(
    "write a whole number followed by h (hours), d (days), wd (working days) "
    "or mo (months), e.g. 24h, 7d, 10wd, 12mo"
)
# A duration as the reader says it ("7d" in English, "7 天" in Chinese), by its unit.
_DURATION_WORDS = {"h": N_("{n}h"), "d": N_("{n}d"), "wd": N_("{n}wd"), "mo": N_("{n}mo")}


@dataclass(frozen=True)
class Duration:
    """A whole number of hours, calendar days, PRC working days or calendar months."""

    amount: int
    unit: str  # 'h', 'd', 'wd' or 'mo'

    def __post_init__(self) -> None:
        # bool is an int subclass; Duration(True, 'd') is a bug, not one day.
        valid_amount = (
            isinstance(self.amount, int)
            and not isinstance(self.amount, bool)
            and 1 <= self.amount <= MAX_AMOUNT
        )
        if not valid_amount or self.unit not in UNITS:
            raise DurationError(
                _(
                    "invalid duration amount={amount}, unit={unit}: amount must be a whole "
                    "number from 1 to {most} and unit one of {units}",
                    amount=repr(self.amount),
                    unit=repr(self.unit),
                    most=MAX_AMOUNT,
                    units=", ".join(UNITS),
                )
            )

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_duration(text: str) -> Duration:
    """Parse ``24h``, ``7d``, ``10wd`` or ``12mo``; raise DurationError for anything else.

    Surrounding whitespace is ignored; nothing else is lenient (no ``7 d``, ``24H``,
    ``1.5d`` or ``0d``), so a typo in a workflow file is reported, not reinterpreted.
    """
    if not isinstance(text, str):
        raise DurationError(_invalid_duration(text))
    return _parse_duration(text)


# Every deadline, dwell time and clock parses one of a workflow's few duration texts, once
# per case touched; a Duration is immutable, so one per text serves every caller.
@lru_cache(maxsize=256)
def _parse_duration(text: str) -> Duration:
    # fullmatch, not `$`: `$` would accept a trailing newline.
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise DurationError(_invalid_duration(text))
    return Duration(int(match.group(1)), match.group(2))


def _invalid_duration(text: object) -> str:
    return _("invalid duration {text}: {forms}", text=repr(text), forms=_(_DURATION_FORMS))


def duration_words(text: str) -> str:
    """A duration text (``7d``, ``10wd``) as the reader says it: itself in English,
    ``7 天`` / ``10 个工作日`` in Chinese; a text that is no duration is returned as it is."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        return text
    return _(_DURATION_WORDS[match.group(2)], n=int(match.group(1)))


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            _(
                "{name} {at} has no time zone: pass an aware datetime (UTC usually)",
                name=name,
                at=at.isoformat(),
            )
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(
            _("unknown time zone {name}: use an IANA name such as Asia/Shanghai", name=repr(name))
        ) from exc


class WorkCalendar:
    """PRC working days (chinesecalendar data plus county overrides) and deadline arithmetic."""

    def __init__(
        self,
        tz: str = "Asia/Shanghai",
        overrides: Mapping[date, bool] | None = None,
        covered_years: Iterable[int] = (),
    ) -> None:
        """Build a calendar for the zone `tz`.

        `overrides` maps a date to True (working day) or False (day off) and wins over
        the package data; `covered_years` are years the county's file lists completely,
        so working-day arithmetic is allowed there even without package data.
        """
        self._tz = _zone(tz)
        self._overrides: dict[date, bool] = dict(overrides or {})
        self._covered_years = frozenset(covered_years)
        self._cache: dict[date, bool] = {}
        # (start day, count) -> the count-th working day after it: every command that moves a
        # case computes a wd deadline, mostly from the same few days; bounded (see there)
        self._nth_cache: dict[tuple[date, int], date] = {}
        # Named in CalendarError so the administrator knows which file to extend.
        self._source = DEFAULT_CALENDAR_FILE

    @classmethod
    def from_file(cls, path: str | Path, tz: str = "Asia/Shanghai") -> WorkCalendar:
        """Read a county calendar file such as workflows/policy/calendar.yaml.

        The file's ``timezone`` key, when present, wins over `tz` (the file describes
        the county). Every problem in the file is reported at once as a
        WorkflowInvalidError (an InvalidInputError) with file, line, column and key.
        """
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise NotFoundError(
                _("calendar file {name} not found", name=name),
                hint=_(
                    "create it (see {example}) or point to the right path",
                    example=DEFAULT_CALENDAR_FILE,
                ),
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(
                _("cannot read calendar file {name}: {reason}", name=name, reason=exc)
            ) from exc
        zone, overrides, covered = _parse_calendar_file(text, name)
        calendar = cls(tz=zone or tz, overrides=overrides, covered_years=covered)
        calendar._source = name
        return calendar

    @classmethod
    def from_file_when_needed(cls, path: str | Path, tz: str = "Asia/Shanghai") -> WorkCalendar:
        """Like `from_file`, but the file is read on first use: its time zone, a working
        day or a deadline. A command that computes none (``aidflow case list``) does not
        pay for YAML; a bad file raises the same errors as `from_file`, at that first use.
        """
        return _CalendarFromFile(Path(path), tz)

    @property
    def tz(self) -> ZoneInfo:
        """The county's time zone; local dates and wall times are taken in it."""
        return self._tz

    def is_workday(self, day: date) -> bool:
        """Whether `day` is a PRC working day; CalendarError for a year with no data."""
        if isinstance(day, datetime):
            # Its date depends on the zone; make the caller pick it.
            raise TypeError(
                _(
                    "is_workday takes a date, not the datetime {day}: "
                    "convert it to local time and call .date()",
                    day=day.isoformat(),
                )
            )
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        result = self._lookup(day)
        self._cache[day] = result
        return result

    def _lookup(self, day: date) -> bool:
        override = self._overrides.get(day)
        if override is not None:
            return override
        import chinese_calendar  # lazy: its import is felt, and many commands never need it

        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            # The package signals "no data for this year" this way.
            if day.year in self._covered_years:
                return day.weekday() < 5
            raise CalendarError(
                _(
                    "no PRC holiday calendar for {year}: add the year's holidays and "
                    "adjusted working days to {file} (covered_years, days) "
                    "or upgrade chinesecalendar",
                    year=day.year,
                    file=self._source,
                )
            ) from None

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The deadline `duration` after `start`, in UTC (see the module docstring)."""
        _require_aware(start, "start")
        amount, unit = duration.amount, duration.unit
        try:
            if unit == "h":
                # In UTC: aware arithmetic in a local zone would be wall-clock arithmetic.
                result = start.astimezone(UTC) + timedelta(hours=amount)
            elif unit == "d":
                result = start.astimezone(self._tz) + timedelta(days=amount)
            elif unit == "mo":
                result = _add_months(start.astimezone(self._tz), amount)
            else:  # "wd"; Duration admits no other unit
                last = self._nth_workday_after(start.astimezone(self._tz).date(), amount)
                result = datetime.combine(last + timedelta(days=1), time(0), tzinfo=self._tz)
            return result.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            # Only date-range errors get here: the inputs were checked above.
            raise DurationError(
                _(
                    "{duration} after {start} is past the year 9999",
                    duration=duration,
                    start=start.isoformat(),
                )
            ) from exc

    def _nth_workday_after(self, day: date, count: int) -> date:
        key = (day, count)
        found = self._nth_cache.get(key)
        if found is None:
            if len(self._nth_cache) >= _NTH_CACHE_SIZE:
                self._nth_cache.clear()  # a long-running scheduler must not grow it forever
            found = self._nth_cache[key] = self._count_workdays(day, count)
        return found

    def _count_workdays(self, day: date, count: int) -> date:
        seen = 0
        while seen < count:
            day += timedelta(days=1)
            if self.is_workday(day):
                seen += 1
        return day

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days from the local day after `start`'s up to and including `end`'s.

        This is the statutory day number of `end` in a period opened at `start` (a case
        opened on Friday is on working day 1 all Monday), so "days left" is
        ``N - working_days_between(opened, now)``. Passing a ``wd`` deadline as `end`
        also counts the deadline's own date (00:00 of the next day). 0 when `end`'s
        local date is not after `start`'s.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        day = start.astimezone(self._tz).date()
        last = end.astimezone(self._tz).date()
        count = 0
        while day < last:
            day += timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return count


# What WorkCalendar.__init__ sets; _CalendarFromFile has none of it until the file is read.
_STATE = frozenset({"_tz", "_overrides", "_covered_years", "_cache", "_nth_cache", "_source"})


class _CalendarFromFile(WorkCalendar):
    """A WorkCalendar whose file is read on first use (WorkCalendar.from_file_when_needed)."""

    def __init__(
        self, path: Path, tz: str
    ) -> None:  # no super().__init__: that state comes from the file
        self._path = path
        self._default_tz = tz

    def _load(self) -> None:
        if "_tz" not in vars(self):
            vars(self).update(vars(WorkCalendar.from_file(self._path, self._default_tz)))

    # Each public entry point reads the file first, so that the file's errors are raised as
    # they are, never inside a method's own error handling (add turns ValueError into
    # "past the year 9999", and a bad file is an InvalidInputError, a ValueError).
    @property
    def tz(self) -> ZoneInfo:
        self._load()
        return self._tz

    def is_workday(self, day: date) -> bool:
        self._load()
        return super().is_workday(day)

    def add(self, start: datetime, duration: Duration) -> datetime:
        self._load()
        return super().add(start, duration)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        self._load()
        return super().working_days_between(start, end)

    def __getattr__(self, name: str) -> Any:
        # Only for attributes not set: the calendar state, if another path reaches it first.
        if name not in _STATE:
            raise AttributeError(
                _(
                    "{kind} object has no attribute {name}",
                    kind=repr(type(self).__name__),
                    name=repr(name),
                )
            )
        self._load()
        return vars(self)[name]


def _add_months(local: datetime, months: int) -> datetime:
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    day = min(local.day, monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


# problem(node, key_path, message, hint=None): records one Problem at the node's mark.
_Report = Callable[..., None]

_FILE_KEYS = ("timezone", "covered_years", "days")
_DAY_VALUES = {"work": True, "off": False}
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_YEAR_RE = re.compile(r"[0-9]{4}")


def _parse_calendar_file(text: str, name: str) -> tuple[str | None, dict[date, bool], list[int]]:
    """Validate a calendar file's text; return (timezone, overrides, covered years).

    Works on the YAML node tree rather than yaml.safe_load's objects: safe_load would
    turn an unquoted ``off`` into False (YAML 1.1) and silently keep the last of two
    entries for the same date, and nodes carry the line and column for each problem.
    """
    import yaml  # lazy: only commands that read the calendar need it

    # libyaml composes the file many times faster than the pure-Python loader, and every
    # command that computes a deadline reads it. The same resolver tags the nodes, so a valid
    # file reads the same; any problem is reported from the pure loader's parse, so the
    # messages and their line:column stay those of the strict path.
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        with suppress(yaml.YAMLError, WorkflowInvalidError):  # reported by the strict path below
            return _read_calendar_root(yaml.compose(text, Loader=fast), name)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        reason = getattr(exc, "problem", None) or str(exc)
        raise WorkflowInvalidError(
            [Problem(name, line, column, "", _("not valid YAML: {reason}", reason=reason))]
        ) from None
    return _read_calendar_root(root, name)


def _read_calendar_root(root: Any, name: str) -> tuple[str | None, dict[date, bool], list[int]]:
    """The checks of _parse_calendar_file on a composed node tree."""
    import yaml

    problems: list[Problem] = []

    def problem(node: Any, key: str, message: str, hint: str | None = None) -> None:
        mark = node.start_mark
        problems.append(Problem(name, mark.line + 1, mark.column + 1, key, message, hint))

    zone: str | None = None
    overrides: dict[date, bool] = {}
    covered: list[int] = []
    if root is None:  # an empty file adds nothing
        return zone, overrides, covered
    if not isinstance(root, yaml.MappingNode):
        problem(root, "", _("expected a mapping with keys timezone, covered_years, days"))
        raise WorkflowInvalidError(problems)

    seen_keys: set[str] = set()
    for key_node, value_node in root.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in _FILE_KEYS:
            hint = did_you_mean(str(key), _FILE_KEYS)
            if hint is not None:  # calendar hints are written as sentences
                hint = hint[:1].upper() + hint[1:]
            allowed = ", ".join(_FILE_KEYS)
            problem(
                key_node,
                "",
                _("unknown key {key}: allowed keys are {allowed}", key=repr(key), allowed=allowed),
                hint,
            )
            continue
        if key in seen_keys:
            problem(key_node, key, _("duplicate key: give it once"))
            continue
        seen_keys.add(key)
        if key == "timezone":
            zone = _read_timezone(value_node, problem)
        elif key == "covered_years":
            covered = _read_years(value_node, problem)
        else:
            overrides = _read_days(value_node, problem)

    if problems:
        raise WorkflowInvalidError(problems)
    return zone, overrides, covered


def _is_null(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _read_timezone(node: Any, problem: _Report) -> str | None:
    import yaml

    if not isinstance(node, yaml.ScalarNode) or _is_null(node):
        problem(node, "timezone", _("expected a time zone name such as Asia/Shanghai"))
        return None
    try:
        _zone(node.value)
    except InvalidInputError as exc:
        problem(node, "timezone", exc.message)
        return None
    return str(node.value)


def _read_years(node: Any, problem: _Report) -> list[int]:
    import yaml

    if _is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        problem(node, "covered_years", _("expected a list of years, e.g. [2027]"))
        return []
    years: list[int] = []
    for index, item in enumerate(node.value):
        path = f"covered_years[{index}]"
        value = item.value if isinstance(item, yaml.ScalarNode) else None
        if not isinstance(value, str) or not _YEAR_RE.fullmatch(value) or int(value) < 1:
            problem(
                item,
                path,
                _("{value} is not a year: write four digits, e.g. 2027", value=repr(value)),
            )
        elif int(value) in years:
            problem(item, path, _("year {value} is listed twice", value=value))
        else:
            years.append(int(value))
    return years


def _read_days(node: Any, problem: _Report) -> dict[date, bool]:
    import yaml

    if _is_null(node):
        return {}
    if not isinstance(node, yaml.MappingNode):
        problem(node, "days", _("expected a mapping of YYYY-MM-DD: work | off"))
        return {}
    days: dict[date, bool] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        path = f"days.{key}"
        day = _parse_date(key)
        if day is None:
            problem(
                key_node,
                path,
                _("{key} is not a date: write YYYY-MM-DD, e.g. 2027-01-01", key=repr(key)),
            )
            continue
        if day in days:
            problem(key_node, path, _("date listed twice: keep one entry"))
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            problem(value_node, path, _("expected work or off, found a list or mapping"))
            continue
        value = value_node.value
        if value not in _DAY_VALUES:
            problem(
                value_node,
                path,
                _("value {value} is not allowed: write work or off", value=repr(value)),
            )
            continue
        days[day] = _DAY_VALUES[value]
    return days


def _parse_date(text: str | None) -> date | None:
    if text is None or not _DATE_RE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def last_day(due: datetime, tz: tzinfo) -> date:
    """The last day that counts before the deadline `due`, in the zone `tz`.

    A deadline is an instant: a 7-day notice or a working-day clock ends at local 00:00
    after its last day, and that midnight belongs to no day of the period. People read a
    deadline as "by the end of this day", so this is the day a page or notice prints.
    """
    return (due.astimezone(tz) - timedelta(microseconds=1)).date()
