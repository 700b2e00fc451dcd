"""Idempotency keys: a command repeated with the same key is applied once.

A caller that lost its connection cannot know whether its command was applied; it
repeats the command with the same key (`--idempotency-key`). `replayed` finds the event
the first run wrote under that key, so the repeat returns the first result instead of
applying it again or being refused because the case moved on. `run_keyed` covers the
race of two runs at once: the loser's conflict (the key's unique index, the case's
version counter or the one-vote-per-voter key) is looked up again in a fresh
transaction, and if the winner's event is there the command's result is produced from it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from aidflow.engine.access import Actor
from aidflow.errors import ConflictError, InvalidInputError, RefusedError
from aidflow.i18n import _
from aidflow.store import cases, events
from aidflow.store.records import Recorded
from aidflow.store.session import Session


class Unit(Protocol):
    """A unit of work: anything that carries the transaction's session (a Service does)."""

    session: Session


U = TypeVar("U", bound=Unit)
T = TypeVar("T")


def replayed(
    session: Session,
    actor: Actor,
    command_id: str | None,
    kind: str,
    case_id: int | None,
    trigger: str | None,
    detail: Any = None,
) -> Recorded | None:
    """The event an earlier run of this same command wrote under `command_id`, if any.

    Checked before anything else, so a retry after the case moved on returns the first
    result instead of a refusal. A key used for a different command is an input error.
    `detail` is what else makes the command the same: (person id, workflow) for an open,
    the choice of a vote, the text of a note.
    """
    if command_id is None:
        return None
    if not command_id.strip() or len(command_id) > 100 or not command_id.isprintable():
        raise InvalidInputError(
            _(
                "idempotency key {key} must be 1 to 100 printable characters",
                key=repr(command_id),
            ),
            hint=_("use a fresh UUID per command, e.g. from `uuidgen`"),
        )
    event = events.event_by_command(session, command_id)
    if event is None:
        return None
    same = event.kind == kind and event.actor == actor.name
    if kind == "open":
        person_id, workflow = detail
        case = cases.get_case(session, event.case_id)
        same = same and (case.person_id, case.workflow_name) == (person_id, workflow)
    else:
        same = same and event.case_id == case_id and (trigger is None or event.trigger == trigger)
        if kind == "vote":
            same = same and (event.fields or {}).get("choice") == detail
        if kind == "note":
            same = same and event.note == detail
    if not same:
        what = f"{event.kind} {event.trigger or ''}".strip()
        raise InvalidInputError(
            _(
                "idempotency key {key} was already used for a different command "
                "({what} on case {case} by {actor})",
                key=repr(command_id),
                what=what,
                case=event.case_id,
                actor=event.actor,
            ),
            hint=_(
                "use a new key for each new command; repeat a key only to retry that same command"
            ),
        )
    return events.recorded_of(event)


def run_keyed(
    transaction: Callable[[], AbstractContextManager[U]],
    key: str | None,
    command: Callable[[U], T],
) -> T:
    """Run `command` in a transaction of its own; with a key, survive losing a race to itself.

    If the command fails with a conflict or a refusal and a key was given, a fresh
    transaction checks whether an event was written under the key meanwhile: if so the
    command runs again there (and replays that event); if not, the original error stands.
    """
    try:
        with transaction() as unit:
            return command(unit)
    except (ConflictError, RefusedError) as exc:
        if key is None:
            raise
        with transaction() as unit:
            if events.event_by_command(unit.session, key) is None:
                raise exc from None
            return command(unit)
