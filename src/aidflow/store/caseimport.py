"""Cases brought in from a county ledger (`aidflow case import`), in bulk.

The reads: the persons' ids by ID number, the open cases of those persons (for the
programmes' exclusions) and the cases a ledger brought in before (the latest "imported" or
"import_corrected" event of each, whose fields hold the row's content hash). The write,
`insert_cases`, is `cases.insert_case` for many cases at once: the cases are inserted by
one executemany (ids returned in order), each gets one "imported" event as #1 of its hash
chain, inserted in bulk and appended to the global audit log as one entry per page of
events (`auditlog.append_written`: a row set whose digest covers every event),
and the cases' heads are set by one executemany UPDATE.

Functions take the caller's Session; the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Text, bindparam, cast, insert, select, update
from sqlalchemy.orm import Session

from aidflow.errors import ConflictError
from aidflow.i18n import _
from aidflow.store import audit, auditlog
from aidflow.store.fast import Fast
from aidflow.store.rehoming import INSERT_EVENTS
from aidflow.store.tables import CASES, EVENTS, HOUSEHOLD_MEMBERS, PERSONS

IMPORTED = "imported"
CORRECTED = "import_corrected"
_CHUNK = 500  # ids per IN list


class Imported(NamedTuple):
    """A case a ledger brought in, as a later import of the same ledger needs it."""

    case_id: int
    person_id: int
    state: str
    data: dict[str, Any]
    deadline_at: datetime | None
    last_seq: int
    head_hash: str
    version: int
    row: dict[str, Any]  # the row's values as last imported (the event's `row` field)
    row_sha256: str


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def person_ids(session: Session, id_numbers: Collection[str]) -> dict[str, int]:
    """id number -> person id, for those registered."""
    out: dict[str, int] = {}
    for part in _chunks(sorted(id_numbers)):
        stmt = select(PERSONS.c.id_number, PERSONS.c.id).where(PERSONS.c.id_number.in_(part))
        out.update({n: i for n, i in session.execute(stmt)})
    return out


def open_cases(
    session: Session, person_ids: Collection[int], workflows: Collection[str]
) -> dict[int, list[tuple[int, str]]]:
    """person id -> (case id, workflow) of the persons' open cases of `workflows`."""
    out: dict[int, list[tuple[int, str]]] = {}
    if not workflows:
        return out
    for part in _chunks(sorted(person_ids)):
        stmt = select(CASES.c.person_id, CASES.c.id, CASES.c.workflow_name).where(
            CASES.c.person_id.in_(part),
            CASES.c.workflow_name.in_(sorted(workflows)),
            CASES.c.closed_at.is_(None),
        )
        for pid, cid, wf in session.execute(stmt):
            out.setdefault(pid, []).append((cid, wf))
    return out


def refuse_taken(session: Session, person_ids: Collection[int], workflow: str) -> None:
    """ConflictError if any of the persons has an open case of `workflow`: the rows that
    would open their cases were checked earlier, and someone opened one since."""
    taken = open_cases(session, person_ids, [workflow])
    if taken:
        raise ConflictError(
            _(
                "{n} person(s) got an open {workflow} case while the ledger was being checked "
                "(e.g. case {case}); nothing was imported",
                n=len(taken),
                workflow=workflow,
                case=min(c for cs in taken.values() for c, _wf in cs),
            ),
            hint=_("run the import again: the rows already imported are recognised"),
        )


def households_of(
    session: Session, person_ids: Collection[int], workflow: str
) -> tuple[dict[int, int], dict[int, list[tuple[int, int, str]]]]:
    """(person id -> household id, for those in one; household id -> (case id, holder,
    state) of its members' open cases of `workflow`)."""
    m, other = HOUSEHOLD_MEMBERS, HOUSEHOLD_MEMBERS.alias("other")
    homes: dict[int, int] = {}
    cases: dict[int, list[tuple[int, int, str]]] = {}
    for part in _chunks(sorted(person_ids)):
        stmt = select(m.c.person_id, m.c.household_id).where(m.c.person_id.in_(part))
        homes.update({p: h for p, h in session.execute(stmt)})
    for part in _chunks(sorted(set(homes.values()))):
        stmt = (
            select(other.c.household_id, CASES.c.id, CASES.c.person_id, CASES.c.state)
            .join_from(other, CASES, CASES.c.person_id == other.c.person_id)
            .where(
                other.c.household_id.in_(part),
                CASES.c.workflow_name == workflow,
                CASES.c.closed_at.is_(None),
            )
        )
        for row in session.execute(stmt):
            cases.setdefault(row[0], []).append((row[1], row[2], row[3]))
    return homes, cases


def imported_cases(session: Session, workflow: str) -> dict[int, Imported]:
    """person id -> the open case of `workflow` a ledger brought in, with its last row."""
    stmt = (
        select(
            CASES.c.id,
            CASES.c.person_id,
            CASES.c.state,
            CASES.c.data,
            CASES.c.deadline_at,
            CASES.c.last_seq,
            CASES.c.head_hash,
            CASES.c.version,
            EVENTS.c.fields,
        )
        .join_from(EVENTS, CASES, CASES.c.id == EVENTS.c.case_id)
        .where(
            CASES.c.workflow_name == workflow,
            CASES.c.closed_at.is_(None),
            EVENTS.c.kind.in_((IMPORTED, CORRECTED)),
        )
        .order_by(EVENTS.c.case_id, EVENTS.c.seq)
    )
    out: dict[int, Imported] = {}
    for cid, pid, state, data, deadline, seq, head, version, fields in session.execute(stmt):
        fields = fields or {}
        out[pid] = Imported(
            cid,
            pid,
            state,
            data or {},
            deadline,
            seq,
            head,
            version,
            fields.get("row", {}),
            fields.get("row_sha256", ""),
        )
    return out


class NewCase(NamedTuple):
    """One case to insert: its columns, and the fields of its "imported" event."""

    columns: dict[str, Any]
    fields: dict[str, Any]


# the cases by the store's fast path (COPY on PostgreSQL); head_hash stays '' until each
# case's event is hashed: only cases inserted by this transaction have no head yet
_CASE_COLUMNS = (
    "person_id",
    "workflow_version_id",
    "workflow_name",
    "state",
    "state_entered_at",
    "deadline_at",
    "assigned_to",
    "township",
    "village",
    "data",
    "clocks",
    "emergency",
    "opened_at",
    "closed_at",
    "entry_seq",
    "last_seq",
    "head_hash",
    "version",
)
_INSERT_CASES = Fast(insert(CASES), column_keys=_CASE_COLUMNS)
_HEADLESS = Fast(
    select(CASES.c.person_id, CASES.c.id).where(
        CASES.c.workflow_name == bindparam("b_workflow"), CASES.c.head_hash == ""
    )
)
_SET_HEAD = Fast(
    update(CASES).where(CASES.c.id == bindparam("b_id")).values(head_hash=bindparam("b_hash"))
)


def insert_cases(
    session: Session, new: Sequence[NewCase], *, at: datetime, actor: str, note: str
) -> list[int]:
    """Insert the cases, each with its "imported" event (#1 of its chain); their ids.

    The caller has made sure no person gets two open cases of one workflow: the new cases
    are told apart by their person."""
    if not new:
        return []
    auditlog.lock(session)  # before any case row, as write_event does
    workflow = new[0].columns["workflow_name"]
    # checked before, outside this transaction: an import of the same persons that committed
    # meanwhile (it held this lock) makes this one write nothing
    refuse_taken(session, [n.columns["person_id"] for n in new], workflow)
    _INSERT_CASES.many(
        session,
        [n.columns for n in new],
        {"entry_seq": 1, "last_seq": 1, "head_hash": "", "version": 1},
    )
    by_person = dict(_HEADLESS.rows(session, {"b_workflow": workflow}))
    ids = [by_person[n.columns["person_id"]] for n in new]
    at_text = at.astimezone(UTC).isoformat()
    events: list[dict[str, Any]] = []
    logged: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    for cid, n in zip(ids, new, strict=True):
        state = n.columns["state"]
        # the fields' canonical JSON once, for the event's hash and the log's set digest
        fields_json = auditlog.canonical_json(n.fields)
        digest = audit.event_hash_of(
            cid, 1, at, actor, IMPORTED, None, None, state, fields_json, note, audit.GENESIS
        )
        events.append({"case_id": cid, "to_state": state, "fields": n.fields, "hash": digest})
        logged.append(
            {
                "case_id": cid,
                "seq": 1,
                "at": at_text,
                "actor": actor,
                "kind": IMPORTED,
                "trigger": None,
                "from_state": None,
                "to_state": state,
                "fields": fields_json,
                "note": note,
                "entered_by": None,
            }
        )
        heads.append({"b_id": cid, "b_hash": digest})
    after = auditlog.last_id(session, "event_sets")
    INSERT_EVENTS.many(
        session,
        events,
        {
            "seq": 1,
            "at": at,
            "actor": actor,
            "kind": IMPORTED,
            "trigger": None,
            "from_state": None,
            "note": note,
            "prev_hash": audit.GENESIS,
            "command_id": None,
            "entered_by": None,
        },
    )
    _SET_HEAD.many(session, heads, {})
    # the page's events as one entry of the log (auditlog.RowSet)
    auditlog.append_written(
        session,
        at=at,
        actor=actor,
        kind="case_event",
        name="event_sets",
        rows=logged,
        after=after,
        encoded="fields",
    )
    return ids


class Figure(NamedTuple):
    """One open imported case as the reconciliation reads it back."""

    case_id: int
    township: str
    state: str
    data: dict[str, Any]


def imported_figures(session: Session, workflow: str, case_ids: Collection[int]) -> list[Figure]:
    """The township, state and data of the given cases, as stored."""
    out: list[Figure] = []
    # the data as its stored text, decoded once per distinct text: a ledger's cases repeat
    # a few amounts and flags (the figures are only read)
    decoded: dict[str | None, dict[str, Any]] = {}
    text = cast(CASES.c.data, Text)
    for part in _chunks(sorted(case_ids)):
        stmt = select(CASES.c.id, CASES.c.township, CASES.c.state, text).where(
            CASES.c.id.in_(part), CASES.c.workflow_name == workflow
        )
        for i, t, s, d in session.execute(stmt):
            data = decoded.get(d)
            if data is None:
                data = decoded[d] = (json.loads(d) if d is not None else None) or {}
            out.append(Figure(i, t, s, data))
    return out
