"""SQLAlchemy models: workflow versions, persons, users, cases, events, votes and the audit log.

Schema changes go through Alembic (src/aidflow/migrations); SCHEMA_REVISION names the
head revision this code expects, so commands can check it without importing Alembic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aidflow.i18n import _

SCHEMA_REVISION = "0014"


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones), always returned aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(_("naive datetime given to the database; use the Clock"))
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class WorkflowVersion(Base):
    __tablename__ = "workflow_versions"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_workflow_version"),
        UniqueConstraint("name", "content_hash", name="uq_workflow_content"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    declared_version: Mapped[str] = mapped_column(String(32))
    file: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(Text)
    definition_json: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str] = mapped_column(String(64))


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))  # 'M' or 'F', from the ID number
    township: Mapped[str] = mapped_column(String(100))
    village: Mapped[str] = mapped_column(String(100))
    hukou: Mapped[str] = mapped_column(String(10))  # 'rural' or 'urban'
    disability_grade: Mapped[int | None]
    disability_type: Mapped[str | None] = mapped_column(String(20))
    mental_illness: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_poor: Mapped[bool] = mapped_column(Boolean, default=False)
    dibao_status: Mapped[str | None] = mapped_column(String(20))
    tekun_status: Mapped[str | None] = mapped_column(String(20))
    supporter_able: Mapped[bool | None] = mapped_column(Boolean)
    living_alone: Mapped[bool | None] = mapped_column(Boolean)
    related_users: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime]


class Household(Base):
    """A household (户): persons who live together, registered under its head (户主).

    Dibao is granted to a household on its members' per-capita income (L21 §3, §9)."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    head_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), unique=True)
    township: Mapped[str] = mapped_column(String(100))
    village: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class HouseholdMember(Base):
    """A person's place in one household: relationship to the head, living together or not."""

    __tablename__ = "household_members"
    __table_args__ = (Index("ix_household_members_household", "household_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    # a person belongs to one household: two would count their income twice
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), unique=True)
    relationship: Mapped[str] = mapped_column(String(20))  # policy.households.RELATIONSHIPS
    lives_together: Mapped[bool] = mapped_column(Boolean)  # 共同生活
    added_at: Mapped[datetime]
    added_by: Mapped[str] = mapped_column(String(64))


class HouseholdIncome(Base):
    """A member's monthly income as recorded at investigation, in integer fen.

    Append-only: a new record supersedes the member's earlier ones, which stay as history."""

    __tablename__ = "household_incomes"
    __table_args__ = (Index("ix_household_incomes_household", "household_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("os_login", name="uq_users_os_login"),)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]]
    area: Mapped[str] = mapped_column(String(200))  # '*' (county), 'township' or 'township/village'
    created_at: Mapped[datetime]
    # the operating-system account that acts as this user in local mode
    os_login: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id (PHC string)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # failed logins since the last success; the backoff and the lockout are computed from it
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    # the name emails greet the user by (张建国); the login name when none is given
    display_name: Mapped[str | None] = mapped_column(String(100))


class Token(Base):
    """A login token, stored only as the SHA-256 of the token (the client holds the token)."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_user", "user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AreaRow(Base):
    """A township (village '') or a village of one, as the county's registry lists them."""

    __tablename__ = "areas"

    township: Mapped[str] = mapped_column(String(100), primary_key=True)
    village: Mapped[str] = mapped_column(String(100), primary_key=True)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # also the timed-transition sweep's: a closed case (final state) has no deadline
        Index("ix_cases_deadline", "deadline_at"),
        Index("ix_cases_area_state", "township", "state"),
        Index("ix_cases_person", "person_id"),
        Index("ix_cases_version_state_entered", "workflow_version_id", "state", "state_entered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    workflow_version_id: Mapped[int] = mapped_column(ForeignKey("workflow_versions.id"))
    workflow_name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64))
    state_entered_at: Mapped[datetime]
    entry_seq: Mapped[int] = mapped_column(Integer, default=1)  # event seq that entered the state
    deadline_at: Mapped[datetime | None]
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str] = mapped_column(String(100))
    village: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the workflow's named clocks (clocks.ClockState as JSON): running, paused or stopped
    clocks: Mapped[dict[str, Any]] = mapped_column(default=dict)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    head_hash: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class CaseEvent(Base):
    """One thing that happened to a case. Append-only; hash-chained per case."""

    __tablename__ = "case_events"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_event_seq"),
        UniqueConstraint("command_id", name="uq_event_command_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # open, transition, vote, objection, note
    trigger: Mapped[str | None] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # set by a caller retrying over a dropped connection (--idempotency-key); not hashed,
    # so chains written before it existed still verify
    command_id: Mapped[str | None] = mapped_column(String(100))
    # the administrator who entered the event on the actor's behalf (local mode, --as)
    entered_by: Mapped[str | None] = mapped_column(String(64))


class AuditEntry(Base):
    """One security- or money-relevant change, in the one global append-only log.

    `digest` is the SHA-256 of the changed row's content as written (store/auditlog.py);
    `hash` chains the entry onto the one before it. Signed checkpoints of (size, head hash)
    kept outside the database are what make a rewrite of the log itself visible.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    # the user, and the administrator who entered it for them: "li (entered by admin)"
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # case_event, vote, user_added, ...
    subject_table: Mapped[str] = mapped_column(String(40))
    subject_key: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class DatabaseInfo(Base):
    """The one row saying what the database is for: 'production' or 'training'.

    Set when the database is created (aidflow.store.database.upgrade) and never changed;
    logged in the global audit log, so a change made with SQL is found.
    """

    __tablename__ = "database_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    mode: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime]


class Vote(Base):
    """One voter's vote in one round (one entry into a voting state)."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("case_id", "round", "voter", name="uq_vote_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    round: Mapped[int] = mapped_column(Integer)  # seq of the event that entered the state
    voter: Mapped[str] = mapped_column(String(64))
    choice: Mapped[str] = mapped_column(String(10))  # yes, no, abstain
    at: Mapped[datetime]
    entered_by: Mapped[str | None] = mapped_column(String(64))  # as on case_events


class Escalation(Base):
    """One rung of a ladder fired for one recipient, once per state entry (and repeat).

    The unique key is what makes sweeps idempotent: a second sweep, or a second scheduler
    process, inserts nothing for a rung already fired.
    """

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint(
            "case_id", "entry_seq", "rung", "repeat_no", "recipient", name="uq_escalation_once"
        ),
        Index("ix_escalations_open", "acknowledged_at", "fired_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    entry_seq: Mapped[int] = mapped_column(Integer)  # the event seq that entered the state
    state: Mapped[str] = mapped_column(String(64))
    ladder: Mapped[str] = mapped_column(String(64))
    rung: Mapped[int] = mapped_column(Integer)
    repeat_no: Mapped[int] = mapped_column(Integer)  # 0 for the first firing
    role: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    ack_note: Mapped[str | None] = mapped_column(Text)
    # set when no user held the rung's role over the case's area: the role it was meant
    # for, and why it went to `role` instead (services.escalations.Recipients.route)
    meant_for: Mapped[str | None] = mapped_column(String(64))
    rerouted: Mapped[str | None] = mapped_column(String(300))


class OutboxMessage(Base):
    """An email waiting for, or past, delivery. Written in the transaction that causes it.

    Escalation emails are queued unrendered (`template`, `lang`; subject, text and html
    NULL) and rendered by the first delivery attempt, which stores the result on the row;
    other producers queue rows already rendered.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    to_addr: Mapped[str] = mapped_column(String(200))
    template: Mapped[str | None] = mapped_column(String(64))
    lang: Mapped[str | None] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class Visit(Base):
    """A care visit, cleaning or haircut given to the person of a case (county plan,
    care services)."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_case_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(20))  # visit, cleaning, haircut (policy file)
    at: Mapped[datetime]
    by_user: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    logged_at: Mapped[datetime]
    logged_by: Mapped[str] = mapped_column(String(64))
    command_id: Mapped[str | None] = mapped_column(String(100), unique=True)


class VisitAlert(Base):
    """A warning or escalation about a month's missing visits, once per case, month, kind,
    recipient."""

    __tablename__ = "visit_alerts"
    __table_args__ = (
        UniqueConstraint("case_id", "month", "kind", "recipient", name="uq_visit_alert_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    kind: Mapped[str] = mapped_column(String(20))  # warning, escalation
    recipient: Mapped[str] = mapped_column(String(64))
    shortfall: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class PaymentRun(Base):
    __tablename__ = "payment_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    started_by: Mapped[str] = mapped_column(String(64))
    created: Mapped[int] = mapped_column(Integer, default=0)


class Payment(Base):
    """One payment of one kind to one case for one month; money in integer fen."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "period", name="uq_payment_once"),
        Index("ix_payments_period_status", "period", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("payment_runs.id"))
    kind: Mapped[str] = mapped_column(
        String(40)
    )  # dibao, basic_living_allowance, care_allowance, ...
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM the money is for
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    basis: Mapped[dict[str, Any]] = mapped_column(default=dict)  # which standard, tier, arrears
    status: Mapped[str] = mapped_column(String(10))  # pending, exported, paid, failed
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]
    bank_ref: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # the bank file (export batch) it was sent in: a payment is in at most one
    export_id: Mapped[int | None] = mapped_column(ForeignKey("payment_exports.id"))


class PaymentExport(Base):
    """A bank file written: its period, file, content hash, control count and total, by whom."""

    __tablename__ = "payment_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    format: Mapped[str] = mapped_column(String(8))  # csv, xlsx
    file: Mapped[str] = mapped_column(String(500))
    file_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the file as written
    rows: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))


class Reconciliation(Base):
    """A bank's answer recorded: its file, content hash, what it settled, by whom."""

    __tablename__ = "reconciliations"

    id: Mapped[int] = mapped_column(primary_key=True)
    file: Mapped[str] = mapped_column(String(500))
    file_hash: Mapped[str] = mapped_column(String(64))
    paid: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))


class ImportRun(Base):
    """One import of a survey list (CSV or XLSX) from one source department."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    file: Mapped[str] = mapped_column(String(500))
    file_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(
        String(40)
    )  # civil_affairs, health, disabled_federation, ...
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    started_by: Mapped[str] = mapped_column(String(64))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    rows_skipped: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12))  # running, done, failed


class PersonSource(Base):
    """What one row of one imported list said about a person (provenance for merges)."""

    __tablename__ = "person_sources"
    __table_args__ = (
        UniqueConstraint("import_run_id", "line", name="uq_source_row_once"),
        Index("ix_person_sources_person", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    import_run_id: Mapped[int] = mapped_column(ForeignKey("import_runs.id"))
    source: Mapped[str] = mapped_column(String(40))
    line: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported_at: Mapped[datetime]
