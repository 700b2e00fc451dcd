"""The tamper-evident event chain: each event's hash covers its content and the previous hash.

An event edited in the database no longer matches its hash; a deleted one leaves a gap
in the sequence or a broken link; a deleted last event no longer matches the case's
head hash. `verify` names each finding by case and event sequence number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidflow.i18n import _
from aidflow.store.models import Case, CaseEvent

GENESIS = "0" * 64


# the chain's JSON spelling: keys sorted, no spaces, text as UTF-8 (one encoder, made once)
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def event_hash(
    case_id: int,
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    trigger: str | None,
    from_state: str | None,
    to_state: str | None,
    fields: dict[str, Any],
    note: str | None,
    prev_hash: str,
) -> str:
    return event_hash_of(
        case_id,
        seq,
        at,
        actor,
        kind,
        trigger,
        from_state,
        to_state,
        _ENCODER.encode(fields),
        note,
        prev_hash,
    )


def event_hash_of(
    case_id: int,
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    trigger: str | None,
    from_state: str | None,
    to_state: str | None,
    fields_json: str,
    note: str | None,
    prev_hash: str,
) -> str:
    """event_hash, the fields given as their JSON in the chain's spelling (a bulk write
    encodes them once for the hash and the audit log's set digest)."""
    head = _ENCODER.encode(
        [case_id, seq, at.isoformat(), actor, kind, trigger, from_state, to_state]
    )
    tail = _ENCODER.encode([note, prev_hash])
    # the list's items joined by "," (no spaces): the fields' text between the two
    body = f"{head[:-1]},{fields_json},{tail[1:]}"
    return hashlib.sha256(body.encode()).hexdigest()


def hash_of(ev: CaseEvent) -> str:
    return event_hash(
        ev.case_id,
        ev.seq,
        ev.at,
        ev.actor,
        ev.kind,
        ev.trigger,
        ev.from_state,
        ev.to_state,
        ev.fields,
        ev.note,
        ev.prev_hash,
    )


@dataclass(frozen=True)
class Finding:
    case_id: int
    seq: int | None
    event_id: int | None
    message: str

    def __str__(self) -> str:
        where = _("case {case}", case=self.case_id)
        if self.seq is not None:
            where += _(" event #{seq} (row id {row})", seq=self.seq, row=self.event_id)
        return f"{where}: {self.message}"


def verify(session: Session, case_ids: list[int] | None = None) -> tuple[int, int, list[Finding]]:
    """Check every chain; returns (cases checked, events checked, findings)."""
    findings: list[Finding] = []
    cases = 0
    events = 0
    heads = {c.id: (c.last_seq, c.head_hash) for c in _cases(session, case_ids)}
    for case_id, chain in _chains(session, case_ids):
        cases += 1
        events += len(chain)
        findings.extend(_verify_chain(case_id, chain, heads.pop(case_id, None)))
    for case_id, (last_seq, _head) in heads.items():  # cases whose events are all gone
        cases += 1
        if last_seq:
            findings.append(
                Finding(case_id, None, None, _("all {n} events are missing", n=last_seq))
            )
    return cases, events, findings


def _verify_chain(
    case_id: int, chain: list[CaseEvent], head: tuple[int, str] | None
) -> Iterator[Finding]:
    prev = GENESIS
    expected_seq = 1
    for ev in chain:
        if ev.seq != expected_seq:
            yield Finding(
                case_id,
                expected_seq,
                None,
                _("event missing (found #{seq} next): a row was deleted", seq=ev.seq),
            )
        if ev.prev_hash != prev:
            yield Finding(
                case_id,
                ev.seq,
                ev.id,
                _("link to the previous event is broken (an earlier event was changed or removed)"),
            )
        if hash_of(ev) != ev.hash:
            yield Finding(
                case_id, ev.seq, ev.id, _("content does not match its hash: the row was edited")
            )
        prev = ev.hash
        expected_seq = ev.seq + 1
    if head is None:
        yield Finding(case_id, None, None, _("events exist for a case that does not"))
        return
    last_seq, head_hash = head
    if chain and (chain[-1].seq != last_seq or chain[-1].hash != head_hash):
        yield Finding(
            case_id,
            last_seq,
            None,
            _(
                "the case's last event is #{last} but the chain ends at #{end}: "
                "events were removed or replaced",
                last=last_seq,
                end=chain[-1].seq,
            ),
        )


def _cases(session: Session, case_ids: list[int] | None) -> list[Case]:
    stmt = select(Case)
    if case_ids:
        stmt = stmt.where(Case.id.in_(case_ids))
    return list(session.scalars(stmt))


def _chains(session: Session, case_ids: list[int] | None) -> Iterator[tuple[int, list[CaseEvent]]]:
    """Events grouped by case, streamed in (case, seq) order."""
    stmt = (
        select(CaseEvent)
        .order_by(CaseEvent.case_id, CaseEvent.seq)
        .execution_options(yield_per=2000)
    )
    if case_ids:
        stmt = stmt.where(CaseEvent.case_id.in_(case_ids))
    current: int | None = None
    chain: list[CaseEvent] = []
    for ev in session.scalars(stmt):
        if ev.case_id != current:
            if current is not None:
                yield current, chain
            current, chain = ev.case_id, []
        chain.append(ev)
    if current is not None:
        yield current, chain
