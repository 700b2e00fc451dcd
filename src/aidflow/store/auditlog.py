"""The one global audit log: an entry appended with each change, and its check.

Every security- or money-relevant change (a case event, a vote, a user added, a workflow
version deployed, a person, a payment and its runs, exports and reconciliations) appends one
entry with `append`, called by the store module that writes the change, in the same
transaction; a bulk write appends its entries with one bulk insert (`append_many`,
`log_rows`). An entry names its subject row (table and key) and
carries `digest`, the SHA-256 of that row's content as written; its `hash` chains it onto
the entry before it (sequence, time, actor, kind, subject, digest and the previous hash).

`check` recomputes everything from the rows themselves and never trusts a stored hash: each
entry against its own hash, each link, the order of a case's events in the log, and each
subject row against the digest logged for it. What it cannot see alone (a log rewritten
with its chain recomputed, or cut at its end) shows against the signed checkpoints, which
compare the recomputed heads it returns (aidflow.services.auditlog).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, func, or_, select
from sqlalchemy.orm import Session

from aidflow.i18n import N_, _
from aidflow.store.fast import Fast, connection
from aidflow.store.tables import (
    AREAS,
    AUDIT_LOG,
    CASES,
    DATABASE_INFO,
    EVENTS,
    HOUSEHOLD_INCOMES,
    HOUSEHOLD_MEMBERS,
    HOUSEHOLDS,
    IMPORT_RUNS,
    PAYMENT_EXPORTS,
    PAYMENT_RUNS,
    PAYMENTS,
    PERSONS,
    RECONCILIATIONS,
    USERS,
    VERSIONS,
    VOTES,
)

GENESIS = "0" * 64

# Appends are serialised so that each entry links to the one committed before it: SQLite's
# writers already are (BEGIN IMMEDIATE); on PostgreSQL a transaction-scoped advisory lock
# does it, taken before the head is read and held until the commit. Its key names the
# schema as well (one log per schema; advisory locks are per database), so the counties or
# test runs in other schemas of the same database do not wait for each other. While it is
# held, no one else appends, so the head this transaction wrote last is remembered (in the
# session, for this transaction and savepoint only) instead of read again.
_PG_LOCK = "SELECT pg_advisory_xact_lock(730610142, hashtext(current_schema()))"
_HELD = "aidflow.store.auditlog.head"


@dataclass(frozen=True)
class Subject:
    """A kind of row the log covers: its table, the columns of its key and of its content.

    `optional` are content columns added after rows were logged, each with the value such a
    row holds: a column enters the digest only while it differs from that value, so the
    digests logged before it existed still verify and any later change of it shows.
    """

    table: Table
    key: tuple[str, ...]
    content: tuple[str, ...]
    optional: tuple[tuple[str, object], ...] = ()


# A case event's content leaves out its place in the chain (seq, prev_hash, hash): those
# the case's own chain checks, and without them an event moved to another place still
# matches the digest logged for where it was, so a reordering is named as one.
SUBJECTS: dict[str, Subject] = {
    "case_events": Subject(
        EVENTS,
        ("case_id", "seq"),
        ("case_id", "at", "actor", "kind", "trigger", "from_state", "to_state", "fields", "note"),
        (("entered_by", None),),
    ),
    "votes": Subject(
        VOTES,
        ("case_id", "round", "voter"),
        ("case_id", "round", "voter", "choice", "at"),
        (("entered_by", None),),
    ),
    # the security columns: who may act, where, with which credential, bound to which login
    "users": Subject(
        USERS,
        ("name",),
        ("name", "email", "roles", "area", "created_at"),
        (
            ("os_login", None),
            ("password_hash", None),
            ("must_change_password", False),
            ("disabled", False),
        ),
    ),
    "areas": Subject(AREAS, ("township", "village"), ("township", "village")),
    "workflow_versions": Subject(
        VERSIONS,
        ("name", "version"),
        (
            "name",
            "version",
            "declared_version",
            "file",
            "source",
            "definition_json",
            "content_hash",
            "deployed_at",
            "deployed_by",
        ),
    ),
    # the mode decides whether writes may take a simulated time (--now)
    "database_info": Subject(DATABASE_INFO, ("id",), ("mode", "created_at")),
    # persons and money: a row is logged when written and again on every change, with its
    # content as the database then holds it (read back by `log_rows`, or, on the bulk paths,
    # the values just written); the row's id is its key only, so two rows whose ids were
    # swapped are named as reordered
    "persons": Subject(
        PERSONS,
        ("id",),
        (
            "id_number",
            "name",
            "birth_date",
            "sex",
            "township",
            "village",
            "hukou",
            "disability_grade",
            "disability_type",
            "mental_illness",
            "registered_poor",
            "dibao_status",
            "tekun_status",
            "supporter_able",
            "living_alone",
            "related_users",
            "created_at",
        ),
    ),
    # households decide who is covered and the incomes decide the amount: both are money
    "households": Subject(
        HOUSEHOLDS, ("id",), ("head_person_id", "township", "village", "created_at", "created_by")
    ),
    "household_members": Subject(
        HOUSEHOLD_MEMBERS,
        ("id",),
        ("household_id", "person_id", "relationship", "lives_together", "added_at", "added_by"),
    ),
    "household_incomes": Subject(
        HOUSEHOLD_INCOMES,
        ("id",),
        ("household_id", "person_id", "amount_fen", "recorded_at", "recorded_by"),
    ),
    "import_runs": Subject(
        IMPORT_RUNS,
        ("id",),
        (
            "file",
            "file_hash",
            "source",
            "started_at",
            "finished_at",
            "started_by",
            "rows_total",
            "rows_imported",
            "rows_skipped",
            "status",
        ),
    ),
    "payment_runs": Subject(
        PAYMENT_RUNS, ("id",), ("period", "started_at", "finished_at", "started_by", "created")
    ),
    "payments": Subject(
        PAYMENTS,
        ("id",),
        (
            "case_id",
            "person_id",
            "run_id",
            "kind",
            "period",
            "amount_fen",
            "basis",
            "status",
            "created_at",
            "settled_at",
            "bank_ref",
            "failure_reason",
        ),
        (("export_id", None),),
    ),
    "payment_exports": Subject(
        PAYMENT_EXPORTS,
        ("id",),
        ("period", "format", "file", "file_hash", "rows", "total_fen", "at", "actor"),
    ),
    "reconciliations": Subject(
        RECONCILIATIONS,
        ("id",),
        ("file", "file_hash", "paid", "failed", "unchanged", "at", "actor"),
    ),
}

# how a finding names a subject row of these tables: "payment 12"
_NOUNS = {
    "persons": N_("person {key}"),
    "households": N_("household {key}"),
    "household_members": N_("household member {key}"),
    "household_incomes": N_("household income {key}"),
    "import_runs": N_("import run {key}"),
    "payment_runs": N_("payment run {key}"),
    "payments": N_("payment {key}"),
    "payment_exports": N_("payment export {key}"),
    "reconciliations": N_("reconciliation {key}"),
}
# how a finding names rows a set logged together: one, or several ("payments 3 to 9")
_SET_NOUNS = {
    "payment": (N_("payment {names}"), N_("payments {names}")),
    "person": (N_("person {names}"), N_("persons {names}")),
    "event": (N_("event {names}"), N_("events {names}")),
}


@dataclass(frozen=True)
class RowSet:
    """Rows of a subject table that one bulk write made, logged together by one entry.

    A bulk write (a payment run, a survey import, a case import, a migration) writes a page
    of rows at a time; logging each row as an entry of its own cost two SHA-256 of canonical
    JSON and an audit row per row, more than writing the row. One entry per page instead
    names the rows by their ids (subject key `[GROUP/]FIRST..LAST[,FIRST..LAST...]`: the
    value of the column that says which write made them, when the table has one, and the id
    ranges the page's rows took), and its digest covers, in id order, each row's id and
    `fixed` columns: those no later change touches. The other content columns hold their
    `initial` values until a change logs the whole row in an entry of its own (an export,
    the bank's answer). So a row of the set edited, added inside its ranges or removed
    changes the set's digest, and a row whose later columns changed with no entry of its own
    is named on its own. A set whose rows may all change later (`refreshed`: a person a
    later list fills in) is logged again, whole, with the change (`refresh_sets`); the last
    entry for a set's key is what its rows must match.
    """

    table: str
    group: str | None
    fixed: tuple[str, ...]
    initial: tuple[tuple[str, object], ...] = ()
    refreshed: bool = False
    noun: str = ""  # how a finding names the rows: "payments", "persons"


ROW_SETS: dict[str, RowSet] = {
    "payment_sets": RowSet(
        "payments",
        "run_id",
        ("case_id", "person_id", "run_id", "kind", "period", "amount_fen", "basis", "created_at"),
        (
            ("status", "pending"),
            ("settled_at", None),
            ("bank_ref", None),
            ("failure_reason", None),
            ("export_id", None),
        ),
        noun="payment",
    ),
    # persons an import added: every content column, logged again when a later list fills
    # one in (the person's own entry says what changed, the set's new entry covers it)
    "person_sets": RowSet(
        "persons", None, SUBJECTS["persons"].content, refreshed=True, noun="person"
    ),
    # events a bulk write appended (imported cases, a migration): never changed later
    "event_sets": RowSet(
        "case_events",
        None,
        (*SUBJECTS["case_events"].content, "seq"),
        (("entered_by", None),),
        noun="event",
    ),
}


def _plain(value: object) -> str:
    if isinstance(value, datetime):  # one spelling of an instant, whatever its zone
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# the canonical JSON: keys sorted, no spaces, text as UTF-8 (one encoder, made once)
_CANONICAL = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain
)


def canonical_json(value: object) -> str:
    """A JSON value (no dates) as the canonical JSON spells it: audit.event_hash's spelling
    too, so an event's fields encoded once serve its hash and its set's digest."""
    return _CANONICAL.encode(value)


def _sha256(values: list[Any]) -> str:
    return hashlib.sha256(_CANONICAL.encode(values).encode()).hexdigest()


def actor_label(actor: str, entered_by: str | None) -> str:
    """An entry's actor: the user, and the administrator who entered it for them (--as)."""
    return actor if entered_by is None else f"{actor} (entered by {entered_by})"


def subject_key(table: str, row: Mapping[str, Any]) -> str:
    """The key an entry names its subject row by: the key columns joined by '/'."""
    return "/".join(str(row[c]) for c in SUBJECTS[table].key)


def digest(table: str, row: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the row's content columns (an optional column
    only while it differs from its value for rows logged before it existed)."""
    subject = SUBJECTS[table]
    values: list[Any] = [table, [row[c] for c in subject.content]]
    extra = {c: row[c] for c, usual in subject.optional if row.get(c, usual) != usual}
    if extra:
        values.append(extra)
    return _sha256(values)


def entry_hash(
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    table: str,
    key: str,
    row_digest: str,
    prev_hash: str,
) -> str:
    return _sha256([seq, at, actor, kind, table, key, row_digest, prev_hash])


_HEAD = Fast(select(AUDIT_LOG.c.seq, AUDIT_LOG.c.hash).order_by(AUDIT_LOG.c.seq.desc()).limit(1))
_INSERT = Fast(
    AUDIT_LOG.insert().values(
        seq=bindparam("b_seq"),
        at=bindparam("b_at", type_=AUDIT_LOG.c.at.type),
        actor=bindparam("b_actor"),
        kind=bindparam("b_kind"),
        subject_table=bindparam("b_table"),
        subject_key=bindparam("b_key"),
        digest=bindparam("b_digest"),
        prev_hash=bindparam("b_prev"),
        hash=bindparam("b_hash"),
    )
)


_LOCKED = "aidflow.store.auditlog.locked"


def lock(session: Session) -> None:
    """Take the append lock for the rest of this transaction (PostgreSQL; once per transaction).

    A writer takes it before its first row lock (a case's UPDATE), not only at its first
    append: were one transaction to hold a case row and wait for this lock while another
    held this lock and waited for the row, PostgreSQL would abort one of them as a deadlock.
    With this lock always first, writers queue instead.
    """
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite's writers are serialised already
    tx = session.get_transaction()
    if tx is not None and session.info.get(_LOCKED) is tx:
        return
    connection(session).exec_driver_sql(_PG_LOCK)
    session.info[_LOCKED] = session.get_transaction()


def _next(session: Session) -> tuple[int, str]:
    """(seq, prev hash) of the next entry, taking the append lock first when not yet held."""
    tx, nested = session.get_transaction(), session.get_nested_transaction()
    held = session.info.get(_HELD)
    if held is not None and held[0] is tx and held[1] is nested and tx is not None and tx.is_active:
        return held[2] + 1, held[3]
    lock(session)
    last = _HEAD.one_or_none(session, {})
    return (1, GENESIS) if last is None else (last[0] + 1, last[1])


def _held(session: Session, seq: int, last_hash: str) -> None:
    session.info[_HELD] = (
        session.get_transaction(),
        session.get_nested_transaction(),
        seq,
        last_hash,
    )


def append(
    session: Session, *, at: datetime, actor: str, kind: str, table: str, row: Mapping[str, Any]
) -> None:
    """Log the change of `row` (its columns as written to `table`) as the next entry."""
    _append_entry(session, at, actor, kind, table, subject_key(table, row), digest(table, row))


def _append_entry(
    session: Session, at: datetime, actor: str, kind: str, table: str, key: str, row_digest: str
) -> None:
    seq, prev = _next(session)
    new_hash = entry_hash(seq, at, actor, kind, table, key, row_digest, prev)
    _INSERT.rowcount(
        session,
        {
            "b_seq": seq,
            "b_at": at,
            "b_actor": actor,
            "b_kind": kind,
            "b_table": table,
            "b_key": key,
            "b_digest": row_digest,
            "b_prev": prev,
            "b_hash": new_hash,
        },
    )
    _held(session, seq, new_hash)


_COLUMNS = ("seq", "at", "actor", "kind", "subject_table", "subject_key", "digest", "prev_hash")
_INSERT_MANY = Fast(AUDIT_LOG.insert(), column_keys=(*_COLUMNS, "hash"))


def append_many(
    session: Session,
    *,
    at: datetime,
    actor: str,
    kind: str,
    table: str,
    rows: Iterable[Mapping[str, Any]],
) -> int:
    """Log the change of each of `rows` (in order) by one actor at one time, in one bulk
    insert (COPY on PostgreSQL): a bulk write is logged in bulk. The number logged."""
    entries: list[dict[str, Any]] = []
    seq = prev = None
    at_text = _plain(at)  # the same in every entry: converted once (hashes as `at` would)
    for row in rows:
        if seq is None:
            seq, prev = _next(session)
        else:
            seq += 1
        key = subject_key(table, row)
        row_digest = digest(table, row)
        assert prev is not None
        new_hash = _sha256([seq, at_text, actor, kind, table, key, row_digest, prev])
        entries.append(
            {
                "seq": seq,
                "subject_key": key,
                "digest": row_digest,
                "prev_hash": prev,
                "hash": new_hash,
            }
        )
        prev = new_hash
    if seq is None or prev is None:
        return 0
    _INSERT_MANY.many(
        session, entries, {"at": at, "actor": actor, "kind": kind, "subject_table": table}
    )
    _held(session, seq, prev)
    return len(entries)


SetLine = tuple[int, Sequence[Any]]  # a row's id and its fixed columns, in ROW_SETS order


def set_digest(name: str, rows: Iterable[Mapping[str, Any]]) -> str:
    """The digest of a row set (ROW_SETS[name]) from its rows: ids and fixed columns, by id."""
    fixed = ROW_SETS[name].fixed
    return _set_digest(name, [(r["id"], [r[c] for c in fixed]) for r in rows])


def _set_digest(name: str, lines: list[SetLine], encoded: int | None = None) -> str:
    """`encoded`: the position among the fixed columns of one given as its canonical JSON
    text (the text a hash over the row made already), not encoded again."""
    lines.sort(key=lambda line: line[0])
    if encoded is None:
        return _sha256([name, lines])
    # the texts go where a mark stands; a fresh mark per call, which no value can hold
    mark = f"\x00{secrets.token_hex(16)}"
    texts = [line[1][encoded] for line in lines]
    body = _CANONICAL.encode(
        [name, [(i, (*f[:encoded], mark, *f[encoded + 1 :])) for i, f in lines]]
    )
    parts = body.split(_CANONICAL.encode(mark))
    if len(parts) != len(texts) + 1:
        raise AssertionError(_("a set's mark found in its rows"))
    whole = [parts[0]]
    for text, part in zip(texts, parts[1:], strict=True):
        whole += (text, part)
    return hashlib.sha256("".join(whole).encode()).hexdigest()


def _ranges(ids: Iterable[int]) -> str:
    """Ids as ranges of consecutive ids: "1..5,7..7"."""
    out: list[str] = []
    first = last = None
    for i in sorted(ids):
        if last is not None and i == last + 1:
            last = i
            continue
        if first is not None:
            out.append(f"{first}..{last}")
        first = last = i
    if first is not None:
        out.append(f"{first}..{last}")
    return ",".join(out)


def _parse_set_key(name: str, key: str) -> tuple[int | None, list[tuple[int, int]]]:
    """A set entry's key: (its group, or None where the set has none; its id ranges)."""
    group: int | None = None
    if ROW_SETS[name].group is not None:
        group_text, _sep, key = key.partition("/")
        group = int(group_text)
    spans = []
    for span in key.split(","):
        first, _sep, last = span.partition("..")
        spans.append((int(first), int(last)))
    return group, spans


def append_set(
    session: Session,
    *,
    at: datetime,
    actor: str,
    kind: str,
    name: str,
    lines: list[SetLine],
    group: int | None = None,
    encoded: str | None = None,
) -> None:
    """Log the rows of `lines` (id, fixed columns), just written by one bulk write (of
    `group`, the value of the set's group column, where it has one), as one entry. No one
    else writes a row with an id in their ranges until the commit: ids are handed out in
    order under the log's lock. A datetime may come as its canonical text
    (`canonical_time`), converted once for all the rows; the fixed column `encoded` comes
    as its canonical JSON text (`canonical_json`)."""
    if not lines:
        return
    ranges = _ranges(line[0] for line in lines)
    key = ranges if group is None else f"{group}/{ranges}"
    at_column = None if encoded is None else ROW_SETS[name].fixed.index(encoded)
    _append_entry(session, at, actor, kind, name, key, _set_digest(name, lines, at_column))


# rows per set entry where one write makes more (a migration): verifying an entry reads its
# rows back in one query
SET_PAGE = 1000


def last_id(session: Session, name: str) -> int:
    """The highest id in the table of set `name` (0: none): read under the log's lock before
    a bulk insert, so the rows with a higher id are the ones it wrote (`append_written`)."""
    found = session.execute(select(func.max(SUBJECTS[ROW_SETS[name].table].table.c.id))).scalar()
    return int(found or 0)


def append_written(
    session: Session,
    *,
    at: datetime,
    actor: str,
    kind: str,
    name: str,
    rows: Sequence[Mapping[str, Any]],
    after: int,
    encoded: str | None = None,
) -> None:
    """Log `rows` (each with its key and fixed columns), just inserted in one bulk write that
    gave them the ids above `after` (`last_id`), as one entry of set `name` per SET_PAGE of
    them; their ids are read back, matched to the rows by their key. The fixed column
    `encoded` may come as its canonical JSON text (see append_set)."""
    if not rows:
        return
    spec = ROW_SETS[name]
    subject = SUBJECTS[spec.table]
    fixed, key = itemgetter(*spec.fixed), itemgetter(*subject.key)
    by_key = {key(row): row for row in rows}
    stmt = select(*[subject.table.c[c] for c in subject.key], subject.table.c.id).where(
        subject.table.c.id > after
    )
    lines: list[SetLine] = [
        (found[-1], fixed(by_key[found[0] if len(found) == 2 else tuple(found[:-1])]))
        for found in connection(session).execute(stmt)
    ]
    if len(lines) != len(rows):  # someone wrote beside us: the lock is not held
        raise AssertionError(
            _("{written} rows written, {expected} expected", written=len(lines), expected=len(rows))
        )
    lines.sort(key=lambda line: line[0])
    for i in range(0, len(lines), SET_PAGE):
        page = lines[i : i + SET_PAGE]
        append_set(session, at=at, actor=actor, kind=kind, name=name, lines=page, encoded=encoded)


def canonical_time(at: datetime) -> str:
    """An instant as the canonical JSON writes it."""
    return _plain(at)


def _set_rows(session: Session, name: str, key: str) -> list[dict[str, Any]]:
    """The rows a set entry's key names, as they are now (key and content columns)."""
    spec = ROW_SETS[name]
    table = SUBJECTS[spec.table].table
    group, spans = _parse_set_key(name, key)
    columns = _columns(spec.table)
    if "id" not in columns:
        columns = [*columns, "id"]
    where = [or_(*[table.c.id.between(first, last) for first, last in spans])]
    if spec.group is not None:
        where.append(table.c[spec.group] == group)
    stmt = select(*[table.c[c] for c in columns]).where(*where).order_by(table.c.id)
    return [dict(zip(columns, r, strict=True)) for r in session.execute(stmt)]


def current_set_digest(session: Session, name: str, key: str) -> str:
    """A set entry's digest recomputed from the rows as they are now."""
    return set_digest(name, _set_rows(session, name, key))


_SET_ENTRIES = Fast(
    select(AUDIT_LOG.c.subject_key, AUDIT_LOG.c.digest)
    .where(AUDIT_LOG.c.subject_table == bindparam("b_name"))
    .order_by(AUDIT_LOG.c.seq)
)


def sets_of(session: Session, name: str, ids: Iterable[int]) -> dict[str, str]:
    """The sets (key -> digest of its last entry) holding any of these ids, still matching
    their rows as they are now: read BEFORE the rows change (see `refresh_sets`)."""
    wanted = set(ids)
    last: dict[str, str] = {}
    for key, row_digest in _SET_ENTRIES.rows(session, {"b_name": name}):
        last[key] = row_digest
    out: dict[str, str] = {}
    for key, row_digest in last.items():
        _group, spans = _parse_set_key(name, key)
        holds = any(first <= i <= last_id for i in wanted for first, last_id in spans)
        if holds and current_set_digest(session, name, key) == row_digest:
            out[key] = row_digest
    return out


def refresh_sets(
    session: Session, *, at: datetime, actor: str, kind: str, name: str, keys: Iterable[str]
) -> None:
    """Log again, as they are now, the sets `sets_of` found matching before their rows were
    changed (and logged on their own). A set that already did not match is left as it was
    logged, so what changed it behind the log's back still shows."""
    assert ROW_SETS[name].refreshed
    for key in sorted(keys):
        _append_entry(session, at, actor, kind, name, key, current_set_digest(session, name, key))


def log_rows(
    session: Session,
    *,
    at: datetime,
    actor: str,
    kind: str,
    table: str,
    where: ColumnElement[bool],
    params: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Log the rows of subject `table` that `where` selects, as they are now (read back after
    the caller wrote them, so each digest is of what the database holds), in key order; the
    rows logged (their key and content columns)."""
    subject = SUBJECTS[table]
    columns = _columns(table)
    stmt = (
        select(*[subject.table.c[c] for c in columns])
        .where(where)
        .order_by(*[subject.table.c[c] for c in subject.key])
    )
    found = [
        dict(zip(columns, r, strict=True))
        for r in connection(session).execute(stmt, dict(params or {}))
    ]
    append_many(session, at=at, actor=actor, kind=kind, table=table, rows=found)
    return found


def head(session: Session) -> tuple[int, str]:
    """(size, head hash) of the log as stored: what a checkpoint signs."""
    row = _HEAD.one_or_none(session, {})
    return (0, GENESIS) if row is None else (row[0], row[1])


# --- checking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFinding:
    """One thing found wrong, and where."""

    where: str
    message: str
    case_id: int | None = None  # set for a case event's finding
    seq: int | None = None

    def __str__(self) -> str:
        return _("{where}: {message}", where=self.where, message=self.message)


@dataclass(frozen=True)
class LogCheck:
    """The log as recomputed: heads[i] is the hash after its first i + 1 entries."""

    heads: list[str]
    findings: list[LogFinding]


@dataclass(frozen=True)
class _Entry:
    seq: int
    at: datetime
    actor: str
    kind: str
    subject_table: str
    subject_key: str
    digest: str
    prev_hash: str
    hash: str


def _describe(table: str, key: str) -> tuple[str, int | None, int | None]:
    """A subject as the user says it, and its case and event seq for a case event."""
    parts = key.split("/")
    if table == "case_events":
        where = _("case {case} event #{seq}", case=parts[0], seq=parts[1])
        return where, int(parts[0]), int(parts[1])
    if table == "votes":
        where = _(
            "case {case} round {round} vote of {voter}",
            case=parts[0],
            round=parts[1],
            voter=parts[2],
        )
        return where, int(parts[0]), None
    if table == "users":
        return _("user {key}", key=key), None, None
    if table == "database_info":
        return _("the database's mode"), None, None
    if table in _NOUNS:
        return _(_NOUNS[table], key=key), None, None
    if table in ROW_SETS:
        spec = ROW_SETS[table]
        group, spans = _parse_set_key(table, key)
        names = ", ".join(
            str(a) if a == b else _("{first} to {last}", first=a, last=b) for a, b in spans
        )
        plural = len(spans) > 1 or spans[0][0] != spans[0][1]
        one, several = _SET_NOUNS.get(spec.noun, (spec.noun + " {names}",) * 2)
        rows = _(several if plural else one, names=names)
        if group is None:
            return rows, None, None
        return _("{rows} of payment run {group}", rows=rows, group=group), None, None
    if table == "areas":
        return _("area {key}", key=key.rstrip("/")), None, None
    return _("workflow {name} version {version}", name=parts[0], version=parts[1]), None, None


def _entry(where: str, entry: int) -> str:
    return _("{where} (log entry #{entry})", where=where, entry=entry)


def _events(case: str, seqs: Sequence[int], entries: str) -> str:
    return _(
        "case {case} events {span} (log entries {entries})",
        case=case,
        span=_span(seqs),
        entries=entries,
    )


def _span(seqs: Sequence[int]) -> str:
    return f"#{seqs[0]}" if len(seqs) == 1 else f"#{seqs[0]}..#{seqs[-1]}"


def check(session: Session) -> LogCheck:
    """Recompute the log and every subject row it names; the recomputed heads and findings."""
    entries = [_Entry(*row) for row in session.execute(select(AUDIT_LOG).order_by(AUDIT_LOG.c.seq))]
    findings: list[LogFinding] = []
    heads: list[str] = []
    prev = GENESIS
    stored_prev = GENESIS
    expected = 1
    for e in entries:
        if e.seq != expected:
            findings.append(
                LogFinding(
                    _("log entries {span}", span=_span(list(range(expected, e.seq)))),
                    _("missing: removed from the middle of the log"),
                )
            )
        own = entry_hash(
            e.seq, e.at, e.actor, e.kind, e.subject_table, e.subject_key, e.digest, e.prev_hash
        )
        if own != e.hash:
            findings.append(
                LogFinding(
                    _("log entry #{seq}", seq=e.seq),
                    _("does not match its hash: the entry was edited"),
                )
            )
        elif e.prev_hash != stored_prev:
            findings.append(
                LogFinding(
                    _("log entry #{seq}", seq=e.seq),
                    _(
                        "link to the entry before it is broken: an earlier entry was changed "
                        "or gone"
                    ),
                )
            )
        prev = entry_hash(
            e.seq, e.at, e.actor, e.kind, e.subject_table, e.subject_key, e.digest, prev
        )
        heads.append(prev)
        stored_prev = e.hash
        expected = e.seq + 1
    findings.extend(_order(entries))
    findings.extend(_subjects(session, entries))
    return LogCheck(heads, findings)


def _order(entries: Iterable[_Entry]) -> list[LogFinding]:
    """A case's events are logged in the order of the case's chain."""
    last: dict[str, tuple[int, int]] = {}  # case id -> (event seq, entry seq) last seen
    out: list[LogFinding] = []
    for e in entries:
        if e.subject_table != "case_events":
            continue
        case, _sep, seq_text = e.subject_key.partition("/")
        seq = int(seq_text)
        before = last.get(case)
        if before is not None and before[0] >= seq:
            out.append(
                LogFinding(
                    _("log entry #{seq}", seq=e.seq),
                    _(
                        "records case {case} event #{seq} after event #{before} "
                        "(entry #{entry}): entries reordered",
                        case=case,
                        seq=seq,
                        before=before[0],
                        entry=before[1],
                    ),
                    int(case),
                    seq,
                )
            )
        last[case] = (seq, e.seq)
    return out


def _columns(table: str) -> list[str]:
    subject = SUBJECTS[table]
    return sorted(set(subject.key) | set(subject.content) | {c for c, _ in subject.optional})


def _rows(session: Session, table: str) -> dict[str, str]:
    """Every row of the subject table: key -> digest of its content as it is now."""
    subject = SUBJECTS[table]
    columns = _columns(table)
    stmt = select(*[subject.table.c[c] for c in columns])
    out: dict[str, str] = {}
    for found in session.execute(stmt):
        row = dict(zip(columns, found, strict=True))
        out[subject_key(table, row)] = digest(table, row)
    return out


def _subjects(session: Session, entries: Sequence[_Entry]) -> list[LogFinding]:
    now = {table: _rows(session, table) for table in SUBJECTS}
    logged: dict[str, dict[str, int]] = {table: {} for table in SUBJECTS}  # key -> entry seq
    by_digest: dict[str, dict[str, str]] = {table: {} for table in SUBJECTS}  # digest -> key
    for e in entries:
        if e.subject_table in SUBJECTS:  # the last entry for a key is its current content
            logged[e.subject_table][e.subject_key] = e.seq
            by_digest[e.subject_table][e.digest] = e.subject_key
    out: list[LogFinding] = []
    gone: dict[str, list[tuple[int, int]]] = defaultdict(list)  # case -> [(event seq, entry)]
    digests = {(e.subject_table, e.subject_key): e.digest for e in entries}
    in_sets: dict[str, dict[str, tuple[int, bool]]] = defaultdict(dict)  # key -> (entry, as set)
    changed_sets: list[tuple[_Entry, list[tuple[int, int]]]] = []
    set_ids: dict[str, dict[str, int]] = defaultdict(dict)  # a set's row key -> its id
    last_sets = {
        (e.subject_table, e.subject_key): e for e in entries if e.subject_table in ROW_SETS
    }
    for e in last_sets.values():  # the last entry for a set's key is its current content
        spec = ROW_SETS[e.subject_table]
        found = _set_rows(session, e.subject_table, e.subject_key)
        for r in found:
            untouched = all(r.get(c, v) == v for c, v in spec.initial)
            row_key = subject_key(spec.table, r)
            in_sets[spec.table][row_key] = (e.seq, untouched)
            set_ids[spec.table][row_key] = r["id"]
        if set_digest(e.subject_table, found) != e.digest:
            changed_sets.append((e, _parse_set_key(e.subject_table, e.subject_key)[1]))
    named: dict[str, set[str]] = defaultdict(set)  # rows a finding names, per table
    for table, keys in logged.items():
        rows = now[table]
        for key, entry in keys.items():
            where, case_id, seq = _describe(table, key)
            if key not in rows:
                if table == "case_events":
                    gone[key.partition("/")[0]].append((int(key.partition("/")[2]), entry))
                else:
                    out.append(LogFinding(_entry(where, entry), _("deleted"), case_id))
                    named[table].add(key)
                continue
            if rows[key] == digests[(table, key)]:
                continue
            named[table].add(key)
            other = by_digest[table].get(rows[key])
            if other is not None and other != key:
                other_where = _describe(table, other)[0]
                message = _("holds what was logged for {other}: reordered", other=other_where)
            else:
                message = _("changed after it was logged")
            out.append(LogFinding(_entry(where, entry), message, case_id, seq))
        for key in rows.keys() - keys.keys():
            where, case_id, seq = _describe(table, key)
            logged_in = in_sets[table].get(key)
            if logged_in is None:
                out.append(
                    LogFinding(
                        where, _("not in the audit log: written behind its back"), case_id, seq
                    )
                )
            elif not logged_in[1]:
                out.append(
                    LogFinding(_entry(where, logged_in[0]), _("changed after it was logged"))
                )
                named[table].add(key)
    named_ids = {
        table: {
            set_ids[table][k] if k in set_ids[table] else int(k)
            for k in keys
            if k in set_ids[table] or SUBJECTS[table].key == ("id",)
        }
        for table, keys in named.items()
        if table in set_ids
    }
    for e, spans in changed_sets:
        # a row of the set already named (changed or deleted since its own entry) explains it
        table = ROW_SETS[e.subject_table].table
        if any(lo <= k <= hi for k in named_ids.get(table, ()) for lo, hi in spans):
            continue
        out.append(
            LogFinding(
                _entry(_describe(e.subject_table, e.subject_key)[0], e.seq),
                _("a row was changed, added or removed after they were logged"),
            )
        )
    if gone:
        out.extend(_gone_events(session, gone))
    return out


def _gone_events(session: Session, gone: Mapping[str, list[tuple[int, int]]]) -> list[LogFinding]:
    """Logged events whose rows are gone, said per case: the whole case, or some events."""
    heads: dict[int, int] = {i: s for i, s in session.execute(select(CASES.c.id, CASES.c.last_seq))}
    out: list[LogFinding] = []
    for case, lost in sorted(gone.items(), key=lambda item: int(item[0])):
        lost.sort()
        seqs = [s for s, _ in lost]
        entries = _span(sorted(e for _, e in lost))
        case_id = int(case)
        if case_id not in heads:
            out.append(
                LogFinding(
                    _("case {case} (log entries {entries})", case=case, entries=entries),
                    _(
                        "deleted with its events: {n} logged event(s) are gone",
                        n=len(seqs),
                    ),
                    case_id,
                )
            )
        elif seqs[0] > heads[case_id]:
            out.append(
                LogFinding(
                    _events(case, seqs, entries),
                    _("removed from the end of the case"),
                    case_id,
                    seqs[0],
                )
            )
        else:
            out.append(LogFinding(_events(case, seqs, entries), _("deleted"), case_id, seqs[0]))
    return out
