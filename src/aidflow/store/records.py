"""Typed records: what the store hands to the layers above instead of ORM objects or rows.

Each is a frozen copy of one row's columns, so a service can neither lazy-load nor write
through it by accident, and type checkers know every attribute. The store builds them;
nothing above it needs SQLAlchemy to read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: int
    person_id: int
    workflow_version_id: int
    workflow_name: str
    state: str
    state_entered_at: datetime
    entry_seq: int
    deadline_at: datetime | None
    assigned_to: str | None
    township: str
    village: str
    data: dict[str, Any]
    clocks: dict[str, Any]
    emergency: bool
    opened_at: datetime
    closed_at: datetime | None
    last_seq: int
    head_hash: str
    version: int


@dataclass(frozen=True, slots=True)
class PersonRecord:
    id: int
    id_number: str
    name: str
    birth_date: date
    sex: str
    township: str
    village: str
    hukou: str
    disability_grade: int | None
    disability_type: str | None
    mental_illness: bool
    registered_poor: bool
    dibao_status: str | None
    tekun_status: str | None
    supporter_able: bool | None
    living_alone: bool | None
    related_users: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    email: str
    roles: list[str]
    area: str
    created_at: datetime
    os_login: str | None = None
    must_change_password: bool = False
    disabled: bool = False
    display_name: str | None = None

    @property
    def greeting_name(self) -> str:
        """What an email calls the user: the display name, else the login name."""
        return self.display_name or self.name


@dataclass(frozen=True, slots=True)
class VersionRecord:
    id: int
    name: str
    version: int
    declared_version: str
    file: str
    source: str
    definition_json: str
    content_hash: str
    deployed_at: datetime
    deployed_by: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    case_id: int
    seq: int
    at: datetime
    actor: str
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    fields: dict[str, Any]
    note: str | None
    prev_hash: str
    hash: str
    command_id: str | None
    entered_by: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event as a command wrote it: what fire, vote, object and note return."""

    case_id: int
    seq: int
    kind: str
    actor: str
    at: datetime
    trigger: str | None
    from_state: str | None
    to_state: str | None
    fields: dict[str, Any]
    note: str | None
    hash: str


@dataclass(frozen=True, slots=True)
class LedgerFacts:
    """What the ledger shows of one page of persons beyond their own columns, by person id."""

    cases: dict[int, list[CaseRecord]]  # oldest first
    paid: dict[int, tuple[int, str]]  # (fen paid in total, latest period paid)
    visits: dict[int, dict[str, int]]  # visit kind -> count in the month
    sources: dict[int, set[str]]  # the lists the person was imported from
