"""The fast path: fixed Core statements run straight on the DB-API cursor.

A command reads and writes a handful of rows; SQLAlchemy's own execute spends several
times what SQLite needs on each statement (execution context, result object, event
dispatch). `Fast` keeps what SQLAlchemy is good at, the SQL text, the parameter order and
the type processors (UTC datetimes, JSON, booleans), compiled once per dialect, and runs
the statement on the transaction's own cursor. tests/test_store_fast.py checks every
`Fast` statement of the store against plain `conn.execute(stmt)` on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from aidflow.i18n import _

_CONNECTION = "aidflow.store.fast.connection"


def connection(session: Session) -> Connection:
    """session.connection(), remembered for the session's current transaction: the fast path
    asks for it once per statement, and SQLAlchemy's own lookup is not free."""
    tx = session.get_transaction()
    held = session.info.get(_CONNECTION)
    if (
        held is not None
        and tx is not None
        and held[0] is tx
        and tx.is_active
        and not held[1].closed
    ):
        conn: Connection = held[1]
        return conn
    conn = session.connection()
    session.info[_CONNECTION] = (session.get_transaction(), conn)
    return conn


class _Plan:
    """One statement compiled for one dialect: SQL text, parameters in order, type processors."""

    __slots__ = ("copy", "names", "params", "results", "sql")

    def __init__(
        self, stmt: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> None:
        # a SQLCompiler: bind names, positions; an INSERT names its columns by column_keys
        compiled: Any = stmt.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys else None
        )
        self.sql = str(compiled)
        # per rendered parameter: (caller's key, bind processor) or (None, constant), the
        # constants (e.g. the 1 of version + 1) processed here once
        by_name: dict[str, tuple[str | None, Any]] = {}
        for bp, name in compiled.bind_names.items():
            if bp.expanding:
                raise TypeError(_("expanding parameters are not supported on the fast path"))
            proc = bp.type.dialect_impl(dialect).bind_processor(dialect)
            if bp.required:
                by_name[name] = (bp.key, proc)
            else:
                value = bp.effective_value
                by_name[name] = (None, proc(value) if proc is not None else value)
        # positional drivers (sqlite3: qmark) take a tuple in this order; named ones a dict
        self.names: tuple[str, ...] | None = None if compiled.positional else tuple(by_name)
        order = compiled.positiontup if compiled.positional else list(by_name)
        self.params = tuple(by_name[n] for n in order or ())
        cols = list(getattr(stmt, "selected_columns", ()))
        procs = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in cols]
        self.results = tuple((i, p) for i, p in enumerate(procs) if p is not None)
        # an INSERT of plain column values can go by COPY on psycopg (see Fast.many)
        self.copy: str | None = None
        if column_keys and dialect.name == "postgresql" and dialect.driver == "psycopg":
            table: Any = stmt.table  # type: ignore[attr-defined]  # an Insert's table
            quote = dialect.identifier_preparer
            names = ", ".join(quote.quote(table.c[key].name) for key, _ in self.params)
            self.copy = f"COPY {quote.format_table(table)} ({names}) FROM STDIN"


def _converted(proc: Any, values: list[Any]) -> list[Any]:
    """proc(value) for each value, once per distinct one: a bulk write repeats its timestamps
    and shares objects (one clocks dict for many cases). A datetime is known by its value and
    its UTC offset (the same wall time: SQLite's DATETIME writes it without the zone),
    anything else by its identity, so an object
    counts as distinct unless it is the very same one (all are alive, in `values`, and not
    changed during the call)."""
    memo: dict[Any, Any] = {}
    out = []
    for value in values:
        key = (value, value.utcoffset()) if type(value) is datetime else id(value)
        try:
            out.append(memo[key])
        except KeyError:
            converted = memo[key] = proc(value)
            out.append(converted)
    return out


class Fast:
    """A fixed Core statement run on the DB-API cursor of the caller's transaction.

    The rows written and read are the ones `conn.execute(stmt)` would write and read;
    driver errors are wrapped as conn.execute wraps them (sqlalchemy.exc.IntegrityError,
    OperationalError, ...). Parameters are given by their bindparam keys; no expanding
    (IN) parameters. These statements bypass SQLAlchemy's cursor events (the transition
    benchmark counts statements at the driver).
    """

    def __init__(self, stmt: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = column_keys  # an INSERT's columns, given by these keys
        self._plans: dict[type, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(type(dialect))
        if plan is None:
            plan = self._plans[type(dialect)] = _Plan(self.stmt, dialect, self.column_keys)
        return plan

    def _run(self, session: Session, params: dict[str, Any]) -> tuple[_Plan, Any]:
        conn = connection(session)
        dialect = conn.dialect
        plan = self._plan(dialect)
        # as SQLAlchemy does, processors see None too (JSON writes it as 'null')
        values = [
            v if key is None else params[key] if v is None else v(params[key])
            for key, v in plan.params
        ]
        args: Any = (
            tuple(values) if plan.names is None else dict(zip(plan.names, values, strict=True))
        )
        cursor = conn.connection.cursor()
        try:
            cursor.execute(plan.sql, args)
        except dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(
                plan.sql, args, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        return plan, cursor

    def many(self, session: Session, rows: Sequence[dict[str, Any]], shared: dict[str, Any]) -> int:
        """Run for every row in one driver executemany; `shared` holds the parameters that are
        the same in every row, converted once instead of once per row (a bulk INSERT's
        timestamps and empty lists). An INSERT given by column keys goes by COPY on
        PostgreSQL (psycopg): one statement instead of one per row, less client and server
        work; the values are the ones the columns' types convert, as for executemany. The
        number of rows written or matched (both drivers sum executemany's counts)."""
        if not rows:
            return 0
        conn = connection(session)
        dialect = conn.dialect
        plan = self._plan(dialect)
        columns: list[Any] = []  # converted parameter by parameter, then zipped into rows
        for key, proc in plan.params:
            if key is None:
                columns.append(repeat(proc, len(rows)))
            elif key in shared:
                value = shared[key]
                columns.append(repeat(value if proc is None else proc(value), len(rows)))
            elif proc is None:
                columns.append([row[key] for row in rows])
            else:
                columns.append(_converted(proc, [row[key] for row in rows]))
        cursor = conn.connection.cursor()
        try:
            if plan.copy is not None:
                with cursor.copy(plan.copy) as copy:
                    for values in zip(*columns, strict=False):
                        copy.write_row(values)
            else:
                args: list[Any] = list(zip(*columns, strict=False))
                if plan.names is not None:
                    args = [dict(zip(plan.names, values, strict=True)) for values in args]
                cursor.executemany(plan.sql, args)
            count: int = cursor.rowcount
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                plan.copy or plan.sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        finally:
            cursor.close()
        return count

    def rowcount(self, session: Session, params: dict[str, Any]) -> int:
        """Run a write; the number of rows it matched."""
        _plan, cursor = self._run(session, params)
        count: int = cursor.rowcount
        cursor.close()
        return count

    def rows(self, session: Session, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """All rows, each a tuple of the selected columns' values as SQLAlchemy types them."""
        plan, cursor = self._run(session, params)
        try:
            raw = cursor.fetchall()
        finally:
            cursor.close()
        if not plan.results:
            return raw  # type: ignore[no-any-return]  # sqlite3's and psycopg's rows are tuples
        out = []
        for r in raw:
            r = list(r)
            for i, proc in plan.results:
                r[i] = proc(r[i])
            out.append(tuple(r))
        return out

    def one_or_none(self, session: Session, params: dict[str, Any]) -> tuple[Any, ...] | None:
        found = self.rows(session, params)
        if len(found) > 1:
            raise LookupError(_("more than one row where one was expected"))
        return found[0] if found else None
