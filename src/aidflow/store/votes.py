"""Votes of a democratic review: one row per voter per round (one entry into the voting state).

Each vote is appended to the global audit log (aidflow.store.auditlog) as it is cast.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aidflow.errors import DuplicateError
from aidflow.i18n import _
from aidflow.store import auditlog
from aidflow.store.fast import Fast
from aidflow.store.tables import VOTES

_OF_ROUND = Fast(
    select(VOTES.c.voter, VOTES.c.choice)
    .where(VOTES.c.case_id == bindparam("b_id"), VOTES.c.round == bindparam("b_round"))
    .order_by(VOTES.c.id)
)
_INSERT = Fast(
    VOTES.insert().values(
        case_id=bindparam("b_case_id"),
        round=bindparam("b_round"),
        voter=bindparam("b_voter"),
        choice=bindparam("b_choice"),
        at=bindparam("b_at", type_=VOTES.c.at.type),
        entered_by=bindparam("b_entered_by"),
    )
)


def votes_of(session: Session, case_id: int, round_: int) -> list[tuple[str, str]]:
    """(voter, choice) of the round, in the order cast."""
    return [(v, c) for v, c in _OF_ROUND.rows(session, {"b_id": case_id, "b_round": round_})]


def insert_vote(
    session: Session,
    case_id: int,
    round_: int,
    voter: str,
    choice: str,
    at: datetime,
    entered_by: str | None = None,
) -> None:
    """One vote; the unique key (case, round, voter) refuses a second one with DuplicateError."""
    try:
        _INSERT.rowcount(
            session,
            {
                "b_case_id": case_id,
                "b_round": round_,
                "b_voter": voter,
                "b_choice": choice,
                "b_at": at,
                "b_entered_by": entered_by,
            },
        )
    except IntegrityError:
        raise DuplicateError(
            _(
                "{voter} already voted in round {round} of case {case}",
                voter=voter,
                round=round_,
                case=case_id,
            )
        ) from None
    auditlog.append(
        session,
        at=at,
        actor=auditlog.actor_label(voter, entered_by),
        kind="vote",
        table="votes",
        row={
            "case_id": case_id,
            "round": round_,
            "voter": voter,
            "choice": choice,
            "at": at,
            "entered_by": entered_by,
        },
    )
