"""The audit store's database: where it is (audit_url), the engine on SQLite or PostgreSQL (SQLite's writes begin
IMMEDIATE, its file in WAL mode), the Alembic migrations run on every open, and `Database`: the transactions that the
store's parts read and write in.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event as sa_event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from portal import git_repo
from portal.audit.appends import _Chain
from portal.audit.keys import AuditKey
from portal.errors import ErrorCode, PortalError

DEFAULT_AUDIT_FILE = ".portal/audit.db"  # relative to the data repository's root, when it is no Git checkout
AUDIT_URL_ENV = "PORTAL_AUDIT_URL"

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a write waits for another writer of the same SQLite file
POSTGRES_CONNECT_TIMEOUT = 10  # seconds, unless the URL says connect_timeout=
# Taken (per transaction) while the schema is migrated, so that two processes opening a new store take turns.
MIGRATION_LOCK_KEY = 0x706F7274616C  # "portal"

_WRITE = "portal_audit_write"  # execution option: this connection's transactions begin IMMEDIATE on SQLite


def audit_url(repo_root: Path, configured: str | None = None) -> str:
    """The audit store's URL: PORTAL_AUDIT_URL (the deployment's setting, where a password may go), else
    portal.yaml's `audit.url`, else a SQLite file kept with the repository's Git data (`.git/portal/audit.db`,
    so it is never committed by accident), or `.portal/audit.db` where the repository is not a Git checkout."""
    from_env = os.environ.get(AUDIT_URL_ENV, "").strip()
    if from_env:
        return from_env
    if configured:
        return configured
    root = Path(repo_root).resolve()
    git_dir = _git_dir(root)
    path = git_dir / "portal" / "audit.db" if git_dir is not None else root / DEFAULT_AUDIT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _git_dir(root: Path) -> Path | None:
    """The repository's common Git folder (shared by its worktrees), if `root` is a Git checkout; None where it is
    not a Git repository (or there is no Git): the plain folder then."""
    return git_repo.common_dir(root)


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: hide whatever sits between user: and @
        return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


def open_engine(url: str, audit_key: AuditKey | None) -> tuple[Engine, str]:
    """An engine on the store at `url`, its schema brought to the newest revision (the migrations get `audit_key`),
    and the URL as shown (password hidden). Used by AuditStore.open."""
    shown = redact_url(url)
    try:
        parsed = make_url(url)
    except Exception:
        raise PortalError(
            shown,
            "is not a database URL",
            hint="e.g. sqlite:////srv/portal/audit.db or postgresql+psycopg://portal@db-host/portal",
            code=ErrorCode.AUDIT_STORE,
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False})
        sa_event.listen(engine, "connect", _sqlite_connect)
        sa_event.listen(engine, "begin", _sqlite_begin)
    elif backend == "postgresql":
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT}
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    else:
        raise PortalError(
            shown, f"the audit store runs on SQLite or PostgreSQL, not {backend}", code=ErrorCode.AUDIT_STORE
        )
    try:
        _upgrade(engine, audit_key)
    except Exception as error:  # noqa: BLE001 - whatever stops the store from opening is reported the same way
        engine.dispose()
        raise PortalError(
            shown,
            f"cannot open the audit store: {_describe(error, parsed.password)}",
            hint=_open_hint(backend, error),
            code=ErrorCode.AUDIT_STORE,
        ) from None
    return engine, shown


class Database:
    """One store's database, for the parts of the store: its engine, the URL as shown and the audit key. Thread-safe:
    every transaction takes its own connection from the engine's pool."""

    def __init__(self, engine: Engine, url_for_display: str, key: AuditKey | None):
        self.engine = engine
        self.url_for_display = url_for_display
        self.postgres = engine.dialect.name == "postgresql"
        self.key = key

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite), committed when the block ends without an error."""
        with self.database_errors(), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def recording(self) -> Iterator[tuple[Connection, _Chain]]:
        """A write transaction that holds the chain head from its start and appends to the chain; the head moves
        when the block ends without an error, in the same transaction."""
        with self.write() as conn:
            chain = _Chain(conn, self.key, self.url_for_display)
            yield conn, chain
            chain.finish()

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A read transaction; with snapshot=True every statement in it sees the same state (PostgreSQL's
        REPEATABLE READ; a SQLite read transaction in WAL mode does so anyway)."""
        with self.database_errors(), self.engine.connect() as conn:
            if snapshot and self.postgres:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def database_errors(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as error:
            raise PortalError(
                self.url_for_display,
                f"the audit store failed: {_describe(error, self.engine.url.password)}",
                code=ErrorCode.AUDIT_STORE,
            ) from error


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own; _sqlite_begin does
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        _sqlite_wal(cursor)
    finally:
        cursor.close()


def _sqlite_wal(cursor: Any) -> None:
    """Put the file in WAL mode (it stays so). Switching needs the file to itself and, unlike other statements, may
    fail at once with "database is locked" while another process opens the new file too: retry for a while."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    pause = 0.01
    while True:
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() in ("wal", "memory"):
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if ("locked" not in str(error) and "busy" not in str(error)) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def _upgrade(engine: Engine, key: AuditKey | None = None, revision: str = "head") -> None:
    """Bring the schema to the newest Alembic revision (or `revision`), in one transaction that other openers wait
    for. The audit key, if any, is passed to migrations that append events (0002 signs the records it backfills)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        # SQLite: foreign keys off while the schema changes (it cannot be switched inside a transaction), as SQLite
        # documents for altering tables: a batch migration re-creates a table that others refer to. Migrations
        # that do so check the keys (PRAGMA foreign_key_check) before the transaction commits.
        driver = conn.connection.dbapi_connection if sqlite else None
        if driver is not None:
            driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                config.attributes["connection"] = conn
                config.attributes["audit_key"] = key
                command.upgrade(config, revision)
        finally:
            if driver is not None:
                driver.execute("PRAGMA foreign_keys=ON")


def _describe(error: BaseException, password: str | None) -> str:
    """The first line of an error's own message, without SQLAlchemy's background link and without the password."""
    orig = getattr(error, "orig", None)
    message = str(orig if orig is not None else error).strip().splitlines()
    line = message[0] if message else type(error).__name__
    if password:
        line = line.replace(password, "***")
    return line


def _open_hint(backend: str, error: BaseException) -> str:
    if "Can't locate revision" in str(error):
        return "the database was migrated by a newer portal version; upgrade this portal"
    if backend == "sqlite":
        return "does the folder exist, and may the portal write there?"
    return "is the server running and reachable, and are the user, database and password (PORTAL_AUDIT_URL) right?"
