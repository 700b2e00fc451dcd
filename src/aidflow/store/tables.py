"""The Core tables behind the models, and typed records built from ORM objects.

Store modules read and write with Core statements over these tables (no ORM bookkeeping
on the hot path); where the ORM still inserts a row, `record_of` copies it into the
record the layers above receive.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Table

from aidflow.store.models import (
    AreaRow,
    AuditEntry,
    Case,
    CaseEvent,
    DatabaseInfo,
    Household,
    HouseholdIncome,
    HouseholdMember,
    ImportRun,
    Payment,
    PaymentExport,
    PaymentRun,
    Person,
    Reconciliation,
    Token,
    User,
    Vote,
    WorkflowVersion,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

CASES = cast(Table, Case.__table__)
EVENTS = cast(Table, CaseEvent.__table__)
VOTES = cast(Table, Vote.__table__)
PERSONS = cast(Table, Person.__table__)
USERS = cast(Table, User.__table__)
VERSIONS = cast(Table, WorkflowVersion.__table__)
AUDIT_LOG = cast(Table, AuditEntry.__table__)
DATABASE_INFO = cast(Table, DatabaseInfo.__table__)
IMPORT_RUNS = cast(Table, ImportRun.__table__)
PAYMENT_RUNS = cast(Table, PaymentRun.__table__)
PAYMENTS = cast(Table, Payment.__table__)
PAYMENT_EXPORTS = cast(Table, PaymentExport.__table__)
RECONCILIATIONS = cast(Table, Reconciliation.__table__)
TOKENS = cast(Table, Token.__table__)
AREAS = cast(Table, AreaRow.__table__)
HOUSEHOLDS = cast(Table, Household.__table__)
HOUSEHOLD_MEMBERS = cast(Table, HouseholdMember.__table__)
HOUSEHOLD_INCOMES = cast(Table, HouseholdIncome.__table__)

R = TypeVar("R", bound="DataclassInstance")  # the records of aidflow.store.records


@cache
def field_names(record: type[DataclassInstance]) -> tuple[str, ...]:
    """A record's attribute names, in the order of its table's columns."""
    return tuple(f.name for f in fields(record))


def record_of(record: type[R], obj: Any) -> R:
    """`obj` (an ORM object or a row with the same attribute names) as a `record`."""
    return record(*[getattr(obj, name) for name in field_names(record)])
