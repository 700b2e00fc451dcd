"""Case events: appending one to a case's audit chain, and reading them back.

`write_event` is the one way an event is written: it hashes the event onto the case's
chain (aidflow.store.audit), moves the case's head (and, for a state change, its state,
deadline, data and clocks) with one versioned UPDATE, inserts the event and appends it to
the global audit log (aidflow.store.auditlog).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aidflow.errors import ConflictError, DuplicateError, RefusedError
from aidflow.i18n import _
from aidflow.store import audit, auditlog
from aidflow.store.fast import Fast
from aidflow.store.models import Case
from aidflow.store.records import EventRecord, Recorded
from aidflow.store.tables import CASES, EVENTS


@dataclass(frozen=True)
class EventInput:
    """What happened, as the command that writes the event knows it."""

    kind: str
    actor: str
    at: datetime
    entered_by: str | None = None  # the administrator who entered it for `actor` (--as)
    trigger: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    fields: dict[str, Any] | None = None
    note: str | None = None


@dataclass(frozen=True)
class Move:
    """The case columns a state change sets."""

    state: str
    entered_at: datetime
    deadline_at: datetime | None
    data: dict[str, Any] | None  # None: the case's data stays as it is
    closed_at: datetime | None
    clocks: dict[str, Any] | None = None  # None: the case's clocks stay as they are


_MOVE_VALUES: dict[str, Any] = {
    "state": bindparam("b_state"),
    "state_entered_at": bindparam("b_entered", type_=CASES.c.state_entered_at.type),
    "entry_seq": bindparam("b_entry_seq"),
    "deadline_at": bindparam("b_deadline", type_=CASES.c.deadline_at.type),
    "closed_at": bindparam("b_closed", type_=CASES.c.closed_at.type),
    "last_seq": bindparam("b_seq"),
    "head_hash": bindparam("b_hash"),
    "version": CASES.c.version + 1,
}
_MOVE_OPTIONAL: dict[str, Any] = {
    "data": bindparam("b_data", type_=CASES.c.data.type),
    "clocks": bindparam("b_clocks", type_=CASES.c.clocks.type),
}


# No event is dated before its case's last one: the UPDATE that moves the case's head
# matches only while the event at the head is not later than the new one (a lookup by the
# unique (case_id, seq) key), so the rule costs no statement of its own and holds against
# a concurrent writer too.
_IN_ORDER = ~exists().where(
    EVENTS.c.case_id == CASES.c.id,
    EVENTS.c.seq == CASES.c.last_seq,
    EVENTS.c.at > bindparam("b_at", type_=EVENTS.c.at.type),
)


@lru_cache(maxsize=4)
def move_statement(optional: tuple[str, ...]) -> Fast:
    """The versioned state-change UPDATE, also setting those of data and clocks that changed
    (an unchanged JSON column is neither encoded nor written)."""
    return Fast(
        CASES.update()
        .where(
            CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"), _IN_ORDER
        )
        .values(**_MOVE_VALUES, **{name: _MOVE_OPTIONAL[name] for name in optional})
    )


_HEAD = Fast(
    CASES.update()
    .where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"), _IN_ORDER)
    .values(last_seq=bindparam("b_seq"), head_hash=bindparam("b_hash"), version=CASES.c.version + 1)
)
_HEAD_ANY_VERSION = Fast(
    CASES.update()
    .where(CASES.c.id == bindparam("b_id"), _IN_ORDER)
    .values(last_seq=bindparam("b_seq"), head_hash=bindparam("b_hash"), version=CASES.c.version + 1)
)
# why the head did not move: the case's version and the time of its last event
_LAST_AT = Fast(
    select(CASES.c.version, EVENTS.c.at)
    .select_from(
        CASES.outerjoin(
            EVENTS, and_(EVENTS.c.case_id == CASES.c.id, EVENTS.c.seq == CASES.c.last_seq)
        )
    )
    .where(CASES.c.id == bindparam("b_id"))
)
_INSERT = Fast(
    EVENTS.insert().values(
        case_id=bindparam("b_case_id"),
        seq=bindparam("b_seq"),
        at=bindparam("b_at", type_=EVENTS.c.at.type),
        actor=bindparam("b_actor"),
        kind=bindparam("b_kind"),
        trigger=bindparam("b_trigger"),
        from_state=bindparam("b_from"),
        to_state=bindparam("b_to"),
        fields=bindparam("b_fields", type_=EVENTS.c.fields.type),
        note=bindparam("b_note"),
        prev_hash=bindparam("b_prev"),
        hash=bindparam("b_hash"),
        command_id=bindparam("b_command"),
        entered_by=bindparam("b_entered_by"),
    )
)
# every transition/objection of the case: a case has a few dozen events at most, and a fixed
# statement (no IN list) stays on the fast path; fired_by filters the triggers itself
_FIRED = Fast(
    select(EVENTS.c.trigger, EVENTS.c.actor).where(
        EVENTS.c.case_id == bindparam("b_id"),
        or_(EVENTS.c.kind == "transition", EVENTS.c.kind == "objection"),
    )
)
_OF_CASE = Fast(select(EVENTS).where(EVENTS.c.case_id == bindparam("b_id")).order_by(EVENTS.c.seq))
_BY_COMMAND = Fast(select(EVENTS).where(EVENTS.c.command_id == bindparam("b_key")))
_STATE_AT = Fast(
    select(EVENTS.c.to_state).where(
        EVENTS.c.case_id == bindparam("b_id"), EVENTS.c.seq == bindparam("b_seq")
    )
)


class EventOrderError(RefusedError):
    """An event dated before its case's last event (the times said in `tz`)."""

    def __init__(self, case_id: int, last_at: datetime, at: datetime, tz: tzinfo) -> None:
        self.case_id, self.last_at, self.at = case_id, last_at, at

        def shown(t: datetime) -> str:
            return t.astimezone(tz).isoformat(sep=" ", timespec="seconds")

        super().__init__(
            _(
                "case {case}'s last event is at {last}; an event cannot be dated before it "
                "(this one is at {at})",
                case=case_id,
                last=shown(last_at),
                at=shown(at),
            ),
            hint=_(
                "the events of a case are in time order; give a --now at or after the "
                "case's last event"
            ),
        )

    def in_zone(self, tz: str | tzinfo) -> EventOrderError:
        """The same refusal with its times in `tz` (a zone name or object)."""
        from zoneinfo import ZoneInfo

        return EventOrderError(
            self.case_id, self.last_at, self.at, ZoneInfo(tz) if isinstance(tz, str) else tz
        )


def _not_moved(
    session: Session, case_id: int, version: int | None, at: datetime
) -> RefusedError | ConflictError:
    """Why the head UPDATE matched no row: an event out of order, else a concurrent change."""
    from datetime import UTC

    row = _LAST_AT.one_or_none(session, {"b_id": case_id})
    last_version, last_at = row if row is not None else (None, None)
    same = row is not None and (version is None or last_version == version)
    if same and last_at is not None and last_at > at:
        return EventOrderError(case_id, last_at, at, UTC)
    return _changed(case_id)


def _changed(case_id: int) -> ConflictError:
    return ConflictError(
        _("case {case} changed since you loaded it; reload and retry", case=case_id),
        hint=_("`aidflow case show {case}` shows what changed", case=case_id),
    )


def write_event(
    session: Session,
    case_id: int,
    last_seq: int,
    head_hash: str,
    ev: EventInput,
    move: Move | None,
    version: int | None,
    command_id: str | None = None,
) -> Recorded:
    """Append the next event and move the case's head, in two statements.

    With `version` the case UPDATE only matches that version (optimistic locking): a case
    changed by someone else since it was read raises ConflictError. The event's unique keys
    (case and seq; the idempotency key) are a second guard: a concurrent command that wrote
    first raises DuplicateError.
    """
    auditlog.lock(session)  # before the case's row lock: see auditlog.lock
    seq = last_seq + 1
    fields = ev.fields or {}
    prev = head_hash or audit.GENESIS
    digest = audit.event_hash(
        case_id,
        seq,
        ev.at,
        ev.actor,
        ev.kind,
        ev.trigger,
        ev.from_state,
        ev.to_state,
        fields,
        ev.note,
        prev,
    )
    if len(session.identity_map):  # an ORM copy loaded earlier in this session is stale now
        stale = session.identity_map.get(session.identity_key(Case, (case_id,)))
        if stale is not None:
            session.expire(stale)
    params: dict[str, Any] = {"b_id": case_id, "b_seq": seq, "b_hash": digest, "b_at": ev.at}
    if move is not None:
        params.update(
            b_state=move.state,
            b_entered=move.entered_at,
            b_entry_seq=seq,
            b_deadline=move.deadline_at,
            b_data=move.data,
            b_closed=move.closed_at,
            b_clocks=move.clocks,
        )
    if version is None:
        assert move is None, "a state change always checks the case's version"
        stmt = _HEAD_ANY_VERSION
    else:
        params["b_version"] = version
        stmt = (
            _HEAD
            if move is None
            else move_statement(
                ("data",) * (move.data is not None) + ("clocks",) * (move.clocks is not None)
            )
        )
    if stmt.rowcount(session, params) != 1:
        raise _not_moved(session, case_id, version, ev.at)
    try:
        _INSERT.rowcount(
            session,
            {
                "b_case_id": case_id,
                "b_seq": seq,
                "b_at": ev.at,
                "b_actor": ev.actor,
                "b_kind": ev.kind,
                "b_trigger": ev.trigger,
                "b_from": ev.from_state,
                "b_to": ev.to_state,
                "b_fields": fields,
                "b_note": ev.note,
                "b_prev": prev,
                "b_hash": digest,
                "b_command": command_id,
                "b_entered_by": ev.entered_by,
            },
        )
    except IntegrityError as exc:
        if command_id is not None and "command_id" in str(exc.orig):
            raise DuplicateError(
                _(
                    "idempotency key {key} was just used by a concurrent command",
                    key=repr(command_id),
                ),
                hint=_("repeat this same command with the same key to see its result"),
            ) from None
        error = _changed(case_id)
        raise DuplicateError(error.message, hint=error.hint) from None
    auditlog.append(
        session,
        at=ev.at,
        actor=auditlog.actor_label(ev.actor, ev.entered_by),
        kind="case_event",
        table="case_events",
        row={
            "case_id": case_id,
            "seq": seq,
            "at": ev.at,
            "actor": ev.actor,
            "kind": ev.kind,
            "trigger": ev.trigger,
            "from_state": ev.from_state,
            "to_state": ev.to_state,
            "fields": fields,
            "note": ev.note,
            "entered_by": ev.entered_by,
        },
    )
    return Recorded(
        case_id,
        seq,
        ev.kind,
        ev.actor,
        ev.at,
        ev.trigger,
        ev.from_state,
        ev.to_state,
        fields,
        ev.note,
        digest,
    )


def fired_by(session: Session, case_id: int, triggers: Sequence[str]) -> dict[str, set[str]]:
    """Which actors fired each of `triggers` on the case."""
    if not triggers:
        return {}
    wanted = set(triggers)
    out: dict[str, set[str]] = {}
    for trigger, actor in _FIRED.rows(session, {"b_id": case_id}):
        if trigger in wanted:
            out.setdefault(trigger, set()).add(actor)
    return out


def events_of_case(session: Session, case_id: int) -> list[EventRecord]:
    """Every event of the case, oldest first."""
    return [EventRecord(*row) for row in _OF_CASE.rows(session, {"b_id": case_id})]


def state_entered_by(session: Session, case_id: int, seq: int) -> str | None:
    """The state event #seq of the case moved it into (None for an event that moved nothing)."""
    row = _STATE_AT.one_or_none(session, {"b_id": case_id, "b_seq": seq})
    return None if row is None else row[0]


def event_by_command(session: Session, command_id: str) -> EventRecord | None:
    """The event an idempotent command wrote earlier under `command_id`, or None."""
    row = _BY_COMMAND.one_or_none(session, {"b_key": command_id})
    return None if row is None else EventRecord(*row)


def recorded_of(event: EventRecord) -> Recorded:
    """A stored event as the Recorded a command returns."""
    return Recorded(
        event.case_id,
        event.seq,
        event.kind,
        event.actor,
        event.at,
        event.trigger,
        event.from_state,
        event.to_state,
        event.fields or {},
        event.note,
        event.hash,
    )
