"""Engines, sessions and the schema check; the only place that knows database URLs.

SQLite is the default (a file, WAL mode, a busy timeout so writers queue instead of
failing at once); PostgreSQL is used by URL. `upgrade` runs the Alembic migrations;
`check_schema` compares the stored revision with models.SCHEMA_REVISION without
importing Alembic, so ordinary commands start fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from aidflow.errors import RefusedError, UnavailableError
from aidflow.i18n import _
from aidflow.store import auditlog
from aidflow.store.models import SCHEMA_REVISION
from aidflow.store.tables import DATABASE_INFO

DEFAULT_BUSY_TIMEOUT_MS = 30000


def database_url(url: str) -> str:
    """The SQLAlchemy URL for a setting's value: a bare path means SQLite, postgresql:// psycopg."""
    if "://" not in url:
        url = f"sqlite:///{Path(url)}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, **kwargs: Any) -> Engine:
    """An engine for `url`; on SQLite a writer waits `busy_timeout_ms` for another one.

    A driver's error never carries the statement's parameters into its message: they hold
    names, ID numbers and amounts, and such a message may reach a terminal or a log."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000}, **kwargs)

        def pragmas(dbapi_conn: Any, _record: Any) -> None:
            _sqlite_pragmas(dbapi_conn, busy_timeout_ms)

        event.listen(engine, "connect", pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so that writers
        # take the lock up front ("BEGIN IMMEDIATE") instead of failing when a read
        # transaction tries to upgrade. Readers (engine.execution_options(readonly=True))
        # use a plain BEGIN and never block anyone in WAL mode.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_begin(conn: Any) -> None:
    readonly = conn.get_execution_options().get("readonly", False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work (no write lock on SQLite)."""
    return engine.execution_options(readonly=True)


def _sqlite_pragmas(dbapi_conn: Any, busy_timeout_ms: int) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see make_engine)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cur.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def stored_revision(engine: Engine) -> str | None:
    try:
        # a read: on SQLite it must not take the write lock (BEGIN IMMEDIATE), or a command
        # would wait for (and then blame) another writer before it even starts
        with reader(engine).connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError) as exc:
        if _is_missing_table(exc):
            return None
        if "locked" in str(exc.orig) or "busy" in str(exc.orig):
            raise UnavailableError(
                _("the database is busy: {orig}", orig=exc.orig),
                hint=_("another writer holds it; retry"),
            ) from exc
        raise UnavailableError(
            _("cannot open the database: {orig}", orig=" ".join(str(exc.orig).split())),
            hint=_(
                "check --db / AIDFLOW_DATABASE_URL ({url}) and that the server is up; then retry",
                url=engine.url.render_as_string(hide_password=True),
            ),
        ) from exc


def _is_missing_table(exc: Exception) -> bool:
    msg = str(exc).lower()
    return "no such table" in msg or "does not exist" in msg


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database that aidflow has not set up (and never create one)."""
    db_file = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if db_file and db_file != ":memory:" and not Path(db_file).exists():
        raise UnavailableError(
            _("the database file {db_file} does not exist", db_file=db_file),
            hint=_("check --db / AIDFLOW_DATABASE_URL, or create it with `aidflow db upgrade`"),
        )
    rev = stored_revision(engine)
    if rev is None:
        raise UnavailableError(
            _(
                "the database {url} has no aidflow tables",
                url=engine.url.render_as_string(hide_password=True),
            ),
            hint=_("run `aidflow db upgrade` first"),
        )
    if rev != SCHEMA_REVISION:
        raise UnavailableError(
            _(
                "the database schema is at revision {rev}, this aidflow expects {expected}",
                rev=rev,
                expected=SCHEMA_REVISION,
            ),
            hint=_("run `aidflow db upgrade`"),
        )


PRODUCTION = "production"
TRAINING = "training"


def upgrade(
    engine: Engine,
    *,
    training: bool = False,
    at: datetime | None = None,
    actor: str = "system",
) -> None:
    """Bring the schema to the head revision (idempotent) and settle the database's mode.

    A database created by this call (it had no aidflow tables) is a training database with
    `training`, else a production one; a database that already existed keeps its mode, and
    one from before modes existed becomes production. Asking for training on an existing
    production database is refused before anything is written. `at` (the clock's time,
    else the system's) and `actor` are logged with the mode row when it is written.
    """
    from alembic import command
    from alembic.config import Config

    before = stored_revision(engine)
    if training and before is not None and read_mode(engine) != TRAINING:
        raise RefusedError(
            _(
                "the database {url} is a production database; its mode is set when it is "
                "created and cannot be changed",
                url=engine.url.render_as_string(hide_password=True),
            ),
            hint=_(
                "create a training database from empty: `aidflow --db training.db db upgrade "
                "--training`"
            ),
        )
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        if conn.execute(select(DATABASE_INFO.c.mode)).first() is None:
            _write_mode(conn, TRAINING if training and before is None else PRODUCTION, at, actor)


def _write_mode(conn: Connection, mode: str, at: datetime | None, actor: str) -> None:
    from aidflow.clock import SystemClock
    from aidflow.store import auditlog

    created = at or SystemClock().now()
    row = {"id": 1, "mode": mode, "created_at": created}
    conn.execute(DATABASE_INFO.insert().values(**row))
    with Session(bind=conn) as session:
        auditlog.append(
            session,
            at=created,
            actor=actor,
            kind="database_created",
            table="database_info",
            row=row,
        )


def read_mode(engine: Engine) -> str:
    """The database's mode: 'production' or 'training' (production when no row says so)."""
    try:
        with reader(engine).connect() as conn:
            mode = conn.execute(select(DATABASE_INFO.c.mode)).scalar()
    except (OperationalError, ProgrammingError) as exc:
        if _is_missing_table(exc):  # a database from before modes existed
            return PRODUCTION
        raise
    return TRAINING if mode == TRAINING else PRODUCTION


class Database:
    """One database as the layers above see it: units of work, never an engine or SQL.

    `transaction()` is one writing unit of work (committed at the end, rolled back on any
    error, so a refused command leaves the database exactly as it was); `reading()` a
    read-only one that never takes SQLite's write lock; `session()` a session whose caller
    commits per item (outbox delivery: one short transaction per message). The engine is
    made on first use and the schema checked before the first unit of work.
    """

    def __init__(self, url: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.busy_timeout_ms = busy_timeout_ms
        self._engine: Engine | None = None
        self._mode: str | None = None

    @classmethod
    def open(cls, url: str, busy_timeout_ms: int = 30000) -> Database:
        """The database at `url` (a SQLite file path or URL, or a PostgreSQL URL); an unknown
        scheme or a URL no driver accepts is an InvalidInputError naming the fix."""
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        from aidflow.errors import InvalidInputError

        url = database_url(url)
        scheme = url.split("://", 1)[0]
        hint = _("write sqlite:///FILE, a file path, or postgresql://USER@HOST/DB")
        if not (scheme == "sqlite" or scheme.startswith("postgresql")):
            raise InvalidInputError(
                _(
                    "--db {scheme}://...: aidflow supports SQLite and PostgreSQL only",
                    scheme=scheme,
                ),
                hint=hint,
            )
        database = cls(url, busy_timeout_ms)
        try:
            database.engine  # noqa: B018 - a URL that names no usable database fails here
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
            raise InvalidInputError(
                _(
                    "--db {scheme}://... is not a usable database URL ({exc})",
                    scheme=scheme,
                    exc=exc,
                ),
                hint=hint,
            ) from None
        return database

    def upgrade(
        self, *, training: bool = False, at: datetime | None = None, actor: str = "system"
    ) -> tuple[str | None, str | None]:
        """Migrate the schema to the head revision; (revision before, revision after).

        A database created here is a training database with `training` (see `upgrade`)."""
        before = stored_revision(self.engine)
        upgrade(self.engine, training=training, at=at, actor=actor)
        self._mode = None
        return before, stored_revision(self.engine)

    @property
    def mode(self) -> str:
        """'production' or 'training', read once (a database's mode never changes)."""
        if self._mode is None:
            check_schema(self.engine)
            self._mode = read_mode(self.engine)
        return self._mode

    @property
    def training(self) -> bool:
        return self.mode == TRAINING

    def stored_revision(self) -> str | None:
        """The schema revision the database is at (None: it has no aidflow tables; a SQLite
        file that does not exist is not created by asking)."""
        url = self.engine.url
        db_file = url.database if url.get_backend_name() == "sqlite" else None
        if db_file and db_file != ":memory:" and not Path(db_file).exists():
            return None
        return stored_revision(self.engine)

    def stored_training(self) -> bool:
        """Whether the database already is a training one, at whatever revision (False for an
        empty database or one from before modes existed)."""
        return self.stored_revision() is not None and read_mode(self.engine) == TRAINING

    def check(self) -> None:
        """Refuse a database aidflow has not set up, or one at another schema revision."""
        check_schema(self.engine)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url, self.busy_timeout_ms)
        return self._engine

    def describe(self) -> str:
        """The URL with its password hidden, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self, check: bool = True) -> Iterator[Session]:
        if check:
            check_schema(self.engine)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            auditlog.lock(session)  # first, before any row lock (see auditlog.lock)
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        check_schema(self.engine)
        with Session(reader(self.engine), expire_on_commit=False) as session:
            yield session

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        """Close pooled connections (a command's last act; a scheduler's between rounds)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
