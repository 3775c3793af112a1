"""The audit store: an append-only, hash-chained event trail, deployed artifacts by content, snapshots, promotions,
approvals, and the per-environment promotion locks, in one database reached through SQLAlchemy.

Where it is: an embedded SQLite file, `.portal/audit.db` under the data repository's root, unless portal.yaml
(`audit.url`) or the environment variable PORTAL_AUDIT_URL names another database; several portal replicas share a
PostgreSQL database given by URL (`postgresql+psycopg://user@host/db`, the password in PORTAL_AUDIT_URL only).
`AuditStore.open` brings the schema to the newest Alembic revision every time.

Writes are serialized where they must be, across threads, processes and replicas:
- PostgreSQL: an append locks the one row of `audit_chain_head` (SELECT ... FOR UPDATE) and updates it in the same
  transaction, so appends take turns and `seq` has no gaps; a lock is taken by INSERT on the primary key
  `environment` (a second INSERT fails with an integrity error: it lost the race) or, when the lease ran out, by an
  UPDATE conditional on the old holder and expiry.
- SQLite: every write transaction starts with BEGIN IMMEDIATE (SQLAlchemy's documented pysqlite hooks: the driver's
  own BEGIN is switched off and the engine's "begin" event emits ours), so one writer at a time holds the file; others
  wait up to the busy timeout. The file is in WAL mode, so reads do not wait for writers.

Times are Python's clock in UTC, stored as fixed-width ISO-8601 text with milliseconds, so text order is time order on
both databases. Leases compare these times, so the clocks of the machines running replicas must be in sync (NTP); a
lease of minutes leaves ample margin. An event's `at` never goes back: it is at least its predecessor's.

Secrets: the store does not look into what it is given. Callers record summaries (names, hashes, counts, sources of
secrets), never secret values; the portal's promotion code passes shown (masked) content only.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TextIO

from sqlalchemy import Connection, Engine, create_engine, func, insert, select, text, update
from sqlalchemy import delete as sql_delete
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from portal.audit import models
from portal.audit.chain import HASHED_FIELDS, ChainChecker, canonical_json, event_hash, sha256_hex
from portal.errors import PortalError

DEFAULT_AUDIT_FILE = ".portal/audit.db"  # relative to the data repository's root, when it is no Git checkout
AUDIT_URL_ENV = "PORTAL_AUDIT_URL"

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a write waits for another writer of the same SQLite file
POSTGRES_CONNECT_TIMEOUT = 10  # seconds, unless the URL says connect_timeout=
VERIFY_BATCH = 1000  # events read at a time by verify and export
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
    """The repository's common Git folder (shared by its worktrees), if `root` is a Git checkout."""
    try:
        import git

        return Path(git.Repo(root, search_parent_directories=True).common_dir).resolve()
    except Exception:  # noqa: BLE001 - not a Git repository (or no Git): the plain folder then
        return None


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: hide whatever sits between user: and @
        return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


# --- records -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    kind: str
    actor: str
    actor_verified: bool
    environment: str | None = None
    promotion_id: str | None = None
    snapshot_id: str | None = None
    summary: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: str  # ISO-8601 UTC with milliseconds, given by the store
    kind: str
    actor: str
    actor_verified: bool
    environment: str | None
    promotion_id: str | None
    snapshot_id: str | None
    summary: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # events that passed (all of them when ok)
    first_broken: int | None  # seq of the first broken (or missing) event
    reason: str | None


@dataclass(frozen=True)
class Snapshot:
    id: str
    source_commit: str | None
    template_hash: str
    notebook_hash: str | None
    created_at: str
    created_by: str


@dataclass(frozen=True)
class Promotion:
    id: str
    environment: str
    snapshot_id: str
    status: str
    requested_by: str
    requested_at: str
    is_rollback: bool
    skip_reason: str | None
    plan_hash: str | None
    plan_summary: dict[str, Any]
    parameters_hash: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    version: int
    approvals_required: int
    expires_at: str | None


@dataclass(frozen=True)
class Approval:
    promotion_id: str
    actor: str
    decision: str  # "approve" | "reject"
    comment: str
    at: str


@dataclass(frozen=True)
class Lock:
    environment: str
    promotion_id: str
    owner: str
    acquired_at: str
    expires_at: str


@dataclass(frozen=True)
class LockResult:
    acquired: bool
    lock: Lock  # the lock now held: ours when acquired, else the holder's
    taken_over: Lock | None  # an expired lock replaced by ours: its promotion was interrupted


DECISIONS = ("approve", "reject")
PROMOTION_TIMES = ("requested_at", "started_at", "finished_at", "expires_at")
_PROMOTION_CHANGEABLE = frozenset(f.name for f in fields(Promotion)) - {"id", "version"}
EXPORT_COLUMNS = (*HASHED_FIELDS, "hash")


# --- time ----------------------------------------------------------------------------------------------------------


def now_iso() -> str:
    return _iso(datetime.now(timezone.utc))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _parse_time(value: str, where: str, code: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise PortalError(where, f"{value!r} is not an ISO-8601 time", hint="e.g. 2026-11-23T22:40:01+00:00",
                          code=code) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _normal_time(value: str | None, where: str, code: str = "AUDIT_DATA") -> str | None:
    """A time in the store's one form (UTC, milliseconds, fixed width); a time without zone is taken as UTC."""
    return None if value is None else _iso(_parse_time(value, where, code))


# --- the store -----------------------------------------------------------------------------------------------------


class AuditStore:
    """The audit store on one database. Thread-safe: every call takes its own connection from the engine's pool."""

    def __init__(self, engine: Engine, url_for_display: str):
        self._engine = engine
        self.url_for_display = url_for_display
        self._postgres = engine.dialect.name == "postgresql"

    # -- opening --------------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> "AuditStore":
        """Connect to the store at `url` and bring its schema to the newest revision."""
        shown = redact_url(url)
        try:
            parsed = make_url(url)
        except Exception:
            raise PortalError(shown, "is not a database URL",
                              hint="e.g. sqlite:////srv/portal/audit.db or postgresql+psycopg://portal@db-host/portal",
                              code="AUDIT_STORE") from None
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False})
            sa_event.listen(engine, "connect", _sqlite_connect)
            sa_event.listen(engine, "begin", _sqlite_begin)
        elif backend == "postgresql":
            connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT}
            engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
        else:
            raise PortalError(shown, f"the audit store runs on SQLite or PostgreSQL, not {backend}",
                              code="AUDIT_STORE")
        try:
            _upgrade(engine)
        except Exception as error:  # noqa: BLE001 - whatever stops the store from opening is reported the same way
            engine.dispose()
            raise PortalError(shown, f"cannot open the audit store: {_describe(error, parsed.password)}",
                              hint=_open_hint(backend, error), code="AUDIT_STORE") from None
        return cls(engine, shown)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "AuditStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditStore({self.url_for_display!r})"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite), committed when the block ends without an error."""
        with self._database_errors(), self._engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A read transaction; with snapshot=True every statement in it sees the same state (PostgreSQL's
        REPEATABLE READ; a SQLite read transaction in WAL mode does so anyway)."""
        with self._database_errors(), self._engine.connect() as conn:
            if snapshot and self._postgres:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def _database_errors(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as error:
            raise PortalError(self.url_for_display,
                              f"the audit store failed: {_describe(error, self._engine.url.password)}",
                              code="AUDIT_STORE") from error

    # -- events ---------------------------------------------------------------------------------------------------

    def append(self, event: NewEvent) -> AuditEvent:
        """Add one event at the end of the chain; returns it with its seq, time and hashes."""
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[NewEvent]) -> list[AuditEvent]:
        """Add events at the end of the chain in one transaction (all or none), in the order given."""
        prepared = [_prepared(e) for e in events]
        if not prepared:
            return []
        table, head = models.events, models.chain_head
        with self._write() as conn:
            top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()).first()
            if top is None:
                raise PortalError(self.url_for_display, "the audit trail's chain head is missing; nothing can be "
                                  "appended", hint="run `portal audit verify`", code="AUDIT_STORE")
            last_at = conn.scalar(select(table.c.at).where(table.c.seq == top.seq)) if top.seq else None
            at = max(now_iso(), last_at or "")
            seq, prev_hash = top.seq, top.hash
            rows, done = [], []
            for content, data_text in prepared:
                seq += 1
                fields_ = {**content, "seq": seq, "at": at, "prev_hash": prev_hash}
                digest = event_hash(fields_)
                rows.append({**fields_, "data": data_text, "hash": digest})
                done.append(AuditEvent(**fields_, hash=digest))
                prev_hash = digest
            conn.execute(insert(table), rows)
            moved = conn.execute(update(head).where(head.c.id == 1, head.c.seq == top.seq)
                                 .values(seq=seq, hash=prev_hash))
            if moved.rowcount != 1:  # cannot happen while every writer locks the head; never append past it
                raise PortalError(self.url_for_display, "the chain head moved during an append", code="CONFLICT")
        return done

    def events(self, *, environment: str | None = None, actor: str | None = None, kind: str | None = None,
               promotion_id: str | None = None, since: str | None = None, until: str | None = None,
               offset: int = 0, limit: int = 100, newest_first: bool = True) -> list[AuditEvent]:
        """Events matching every filter given; `since` is inclusive, `until` exclusive (ISO-8601 times)."""
        if offset < 0 or limit < 0:
            raise PortalError("events", "offset and limit cannot be negative", code="BAD_FILTER")
        table = models.events
        order = table.c.seq.desc() if newest_first else table.c.seq.asc()
        query = self._filtered(select(table), environment, actor, kind, promotion_id, since, until)
        with self._read() as conn:
            rows = conn.execute(query.order_by(order).offset(offset).limit(limit)).mappings().all()
        return [_event(row) for row in rows]

    def count_events(self, *, environment: str | None = None, actor: str | None = None, kind: str | None = None,
                     promotion_id: str | None = None, since: str | None = None, until: str | None = None) -> int:
        query = self._filtered(select(func.count()).select_from(models.events), environment, actor, kind,
                               promotion_id, since, until)
        with self._read() as conn:
            return int(conn.scalar(query) or 0)

    def event(self, seq: int) -> AuditEvent | None:
        with self._read() as conn:
            row = conn.execute(select(models.events).where(models.events.c.seq == seq)).mappings().first()
        return _event(row) if row else None

    @staticmethod
    def _filtered(query: Any, environment: str | None, actor: str | None, kind: str | None,
                  promotion_id: str | None, since: str | None, until: str | None) -> Any:
        c = models.events.c
        for column, value in ((c.environment, environment), (c.actor, actor), (c.kind, kind),
                              (c.promotion_id, promotion_id)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(c.at >= _normal_time(since, f"since {since}", "BAD_FILTER"))
        if until is not None:
            query = query.where(c.at < _normal_time(until, f"until {until}", "BAD_FILTER"))
        return query

    def verify(self) -> VerifyResult:
        """Recompute every event's hash in seq order and check the gaps, the links and the chain head.

        Reads VERIFY_BATCH events at a time within one consistent snapshot, so it runs on trails of any length
        while appends go on."""
        table, head = models.events, models.chain_head
        checker = ChainChecker()
        with self._read(snapshot=True) as conn:
            top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
            last = 0
            while True:
                rows = conn.execute(select(table).where(table.c.seq > last).order_by(table.c.seq)
                                    .limit(VERIFY_BATCH)).mappings().all()
                if not rows or not checker.feed(rows):
                    break
                last = rows[-1]["seq"]
        if top is None and checker.broken is None:
            return VerifyResult(False, checker.checked, None, "the chain head is missing (the table was altered)")
        broken = checker.finish(top.seq, top.hash) if top is not None else checker.broken
        if broken is None:
            return VerifyResult(True, checker.checked, None, None)
        return VerifyResult(False, checker.checked, broken.seq, broken.reason)

    def export(self, out: TextIO, fmt: str, *, environment: str | None = None, actor: str | None = None,
               kind: str | None = None, promotion_id: str | None = None, since: str | None = None,
               until: str | None = None) -> int:
        """Write the matching events, oldest first, as "csv" (a header row; data as JSON text) or "jsonl" (one
        canonical JSON object a line); returns the number of events written."""
        if fmt not in ("csv", "jsonl"):
            raise PortalError(f"export format {fmt!r}", "is not known", hint="use csv or jsonl", code="EXPORT_FORMAT")
        table = models.events
        query = self._filtered(select(table), environment, actor, kind, promotion_id, since, until)
        writer = None
        if fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(EXPORT_COLUMNS)
        written, last = 0, 0
        with self._read(snapshot=True) as conn:
            while True:
                rows = conn.execute(query.where(table.c.seq > last).order_by(table.c.seq)
                                    .limit(VERIFY_BATCH)).mappings().all()
                if not rows:
                    break
                for row in rows:
                    if writer is not None:
                        writer.writerow(_csv_cell(row[name]) for name in EXPORT_COLUMNS)
                    else:
                        out.write(canonical_json(_event(row).as_json()) + "\n")
                written += len(rows)
                last = rows[-1]["seq"]
        return written

    # -- artifacts ------------------------------------------------------------------------------------------------

    def put_artifact(self, content: bytes, *, media_type: str, name: str) -> str:
        """Store content under its SHA-256 (hex), which is returned; storing it again changes nothing."""
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"artifact content must be bytes, not {type(content).__name__}")
        content = bytes(content)
        digest = sha256_hex(content)
        table = models.artifacts
        try:
            with self._write() as conn:
                if conn.scalar(select(table.c.digest).where(table.c.digest == digest)) is None:
                    conn.execute(insert(table).values(digest=digest, media_type=media_type, name=name,
                                                      size=len(content), content=content, stored_at=now_iso()))
        except IntegrityError:
            pass  # another replica stored the same content at the same moment
        return digest

    def artifact(self, digest: str) -> tuple[bytes, str, str] | None:
        """(content, media_type, name) of a stored artifact, or None."""
        table = models.artifacts
        with self._read() as conn:
            row = conn.execute(select(table.c.content, table.c.media_type, table.c.name)
                               .where(table.c.digest == digest.lower())).first()
        return (bytes(row.content), row.media_type, row.name) if row else None

    # -- snapshots ------------------------------------------------------------------------------------------------

    def put_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """Record a snapshot; one with the same id already stored is kept, and returned."""
        table = models.snapshots
        values = {**_record_values(snapshot),
                  "created_at": _normal_time(snapshot.created_at, f"snapshot {snapshot.id}: created_at")}
        try:
            with self._write() as conn:
                if conn.scalar(select(table.c.id).where(table.c.id == snapshot.id)) is None:
                    conn.execute(insert(table).values(**values))
        except IntegrityError:
            pass  # stored by another process meanwhile
        stored = self.snapshot(snapshot.id)
        assert stored is not None
        return stored

    def snapshot(self, snapshot_id: str) -> Snapshot | None:
        table = models.snapshots
        with self._read() as conn:
            row = conn.execute(select(table).where(table.c.id == snapshot_id)).mappings().first()
        return Snapshot(**row) if row else None

    # -- promotions -----------------------------------------------------------------------------------------------

    def create_promotion(self, promotion: Promotion) -> Promotion:
        """Record a new promotion of a stored snapshot; an id already used → PortalError CONFLICT."""
        table = models.promotions
        values = _promotion_values(promotion.id, _record_values(promotion))
        try:
            with self._write() as conn:
                snapshots = models.snapshots
                if conn.scalar(select(snapshots.c.id).where(snapshots.c.id == promotion.snapshot_id)) is None:
                    raise PortalError(f"promotion {promotion.id}",
                                      f"snapshot {promotion.snapshot_id} is not in the audit store",
                                      hint="put_snapshot first", code="NOT_FOUND")
                conn.execute(insert(table).values(**values))
                row = conn.execute(select(table).where(table.c.id == promotion.id)).mappings().one()
        except IntegrityError:
            raise PortalError(f"promotion {promotion.id}", "exists already", code="CONFLICT") from None
        return _promotion(row)

    def promotion(self, promotion_id: str) -> Promotion | None:
        table = models.promotions
        with self._read() as conn:
            row = conn.execute(select(table).where(table.c.id == promotion_id)).mappings().first()
        return _promotion(row) if row else None

    def update_promotion(self, promotion_id: str, expected_version: int, **changes: Any) -> Promotion:
        """Change fields of a promotion that is still at `expected_version`; it moves to the next version.
        Changed by someone else meanwhile → PortalError CONFLICT; no such promotion → PortalError NOT_FOUND."""
        unknown = set(changes) - _PROMOTION_CHANGEABLE
        if unknown:
            raise TypeError(f"update_promotion cannot change {', '.join(sorted(unknown))}")
        table = models.promotions
        values = _promotion_values(promotion_id, changes)
        with self._write() as conn:
            done = conn.execute(update(table).where(table.c.id == promotion_id, table.c.version == expected_version)
                                .values(**values, version=expected_version + 1))
            if done.rowcount != 1:
                now = conn.scalar(select(table.c.version).where(table.c.id == promotion_id))
                if now is None:
                    raise PortalError(f"promotion {promotion_id}", "does not exist", code="NOT_FOUND")
                raise PortalError(f"promotion {promotion_id}",
                                  f"changed meanwhile (version {now}, expected {expected_version})",
                                  hint="read it again and retry", code="CONFLICT")
            row = conn.execute(select(table).where(table.c.id == promotion_id)).mappings().one()
        return _promotion(row)

    def promotions(self, *, environment: str | None = None, statuses: Sequence[str] | None = None,
                   limit: int = 100) -> list[Promotion]:
        """Promotions, newest request first."""
        table = models.promotions
        query = select(table)
        if environment is not None:
            query = query.where(table.c.environment == environment)
        if statuses is not None:
            query = query.where(table.c.status.in_(list(statuses)))
        query = query.order_by(table.c.requested_at.desc(), table.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [_promotion(row) for row in rows]

    def last_succeeded(self, environment: str, *, before: str | None = None) -> Promotion | None:
        """The promotion of `environment` that succeeded last (by finished_at): what the environment runs now.

        With `before` (a promotion id): the one that succeeded before it, never it, i.e. finished earlier than
        `before` finished (any, when `before` has not finished): the rollback target of the current promotion."""
        table = models.promotions
        query = select(table).where(table.c.environment == environment, table.c.status == "succeeded")
        with self._read() as conn:
            if before is not None:
                mark = conn.execute(select(table.c.finished_at).where(table.c.id == before)).first()
                if mark is None:
                    raise PortalError(f"promotion {before}", "does not exist", code="NOT_FOUND")
                query = query.where(table.c.id != before)
                if mark.finished_at is not None:
                    query = query.where((table.c.finished_at < mark.finished_at)
                                        | ((table.c.finished_at == mark.finished_at) & (table.c.id < before)))
            order = (table.c.finished_at.desc(), table.c.requested_at.desc(), table.c.id.desc())
            row = conn.execute(query.order_by(*order).limit(1)).mappings().first()
        return _promotion(row) if row else None

    # -- approvals ------------------------------------------------------------------------------------------------

    def add_approval(self, approval: Approval) -> None:
        """Record a vote; a second vote of the same actor on the same promotion → PortalError ALREADY_VOTED."""
        if approval.decision not in DECISIONS:
            raise PortalError(f"promotion {approval.promotion_id}",
                              f"a decision is approve or reject, not {approval.decision!r}", code="AUDIT_DATA")
        values = {**_record_values(approval),
                  "at": _normal_time(approval.at, f"approval of {approval.promotion_id}: at")}
        promotions, table = models.promotions, models.approvals
        voted = PortalError(f"promotion {approval.promotion_id}", f"{approval.actor} has voted already",
                            code="ALREADY_VOTED")
        try:
            with self._write() as conn:
                if conn.scalar(select(promotions.c.id).where(promotions.c.id == approval.promotion_id)) is None:
                    raise PortalError(f"promotion {approval.promotion_id}", "does not exist", code="NOT_FOUND")
                if conn.scalar(select(table.c.actor).where(table.c.promotion_id == approval.promotion_id,
                                                          table.c.actor == approval.actor)) is not None:
                    raise voted
                conn.execute(insert(table).values(**values))
        except IntegrityError:
            raise voted from None

    def approvals(self, promotion_id: str) -> list[Approval]:
        table = models.approvals
        with self._read() as conn:
            rows = conn.execute(select(table).where(table.c.promotion_id == promotion_id)
                                .order_by(table.c.at, table.c.actor)).mappings().all()
        return [Approval(**row) for row in rows]

    # -- locks ----------------------------------------------------------------------------------------------------

    def acquire_lock(self, environment: str, promotion_id: str, owner: str, lease_seconds: float) -> LockResult:
        """Take the environment's lock for `lease_seconds`: free → ours; held past its lease → ours, and the old
        one comes back as taken_over; held → not acquired, with the holder. Race-free across processes."""
        if lease_seconds <= 0:
            raise PortalError(f"environment {environment}", "a lock's lease must be positive", code="AUDIT_DATA")
        table = models.locks
        for _ in range(10):
            try:
                with self._write() as conn:
                    now = datetime.now(timezone.utc)
                    until = now + timedelta(seconds=lease_seconds)
                    ours = Lock(environment, promotion_id, owner, _iso(now), _iso(until))
                    row = conn.execute(select(table).where(table.c.environment == environment)
                                       .with_for_update()).mappings().first()
                    if row is None:
                        conn.execute(insert(table).values(**_record_values(ours)))
                        return LockResult(True, ours, None)
                    held = Lock(**row)
                    if held.expires_at >= ours.acquired_at:
                        return LockResult(False, held, None)
                    taken = conn.execute(
                        update(table)
                        .where(table.c.environment == environment, table.c.promotion_id == held.promotion_id,
                               table.c.owner == held.owner, table.c.expires_at == held.expires_at)
                        .values(promotion_id=promotion_id, owner=owner, acquired_at=ours.acquired_at,
                                expires_at=ours.expires_at))
                    if taken.rowcount == 1:
                        return LockResult(True, ours, held)
            except IntegrityError:
                pass  # another process inserted the lock first: look at it again
        raise PortalError(f"environment {environment}", "its lock keeps changing hands; try again",
                          code="LOCK_CONTENDED")

    def renew_lock(self, environment: str, promotion_id: str, lease_seconds: float) -> bool:
        """Extend our lease from now; False when the lock is no longer ours (taken over or released)."""
        table = models.locks
        with self._write() as conn:
            expires = _iso(datetime.now(timezone.utc) + timedelta(seconds=lease_seconds))
            done = conn.execute(update(table)
                                .where(table.c.environment == environment, table.c.promotion_id == promotion_id)
                                .values(expires_at=expires))
            return done.rowcount == 1

    def release_lock(self, environment: str, promotion_id: str) -> None:
        """Give the lock up (nothing happens when it is not ours any more)."""
        table = models.locks
        with self._write() as conn:
            conn.execute(sql_delete(table).where(table.c.environment == environment,
                                                 table.c.promotion_id == promotion_id))

    def lock(self, environment: str) -> Lock | None:
        """The environment's lock as stored (its lease may have run out: compare expires_at with now)."""
        table = models.locks
        with self._read() as conn:
            row = conn.execute(select(table).where(table.c.environment == environment)).mappings().first()
        return Lock(**row) if row else None


# --- helpers -------------------------------------------------------------------------------------------------------


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


def _upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, in one transaction that other openers wait for."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


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


def _prepared(event: NewEvent) -> tuple[dict[str, Any], str]:
    """The hashed fields of a new event (without seq, at and prev_hash) and its data as canonical JSON text."""
    where = f"audit event {event.kind!r}"
    if not isinstance(event.data, Mapping):
        raise PortalError(where, f"its data must be a mapping, not {type(event.data).__name__}", code="AUDIT_DATA")
    try:
        data_text = canonical_json(dict(event.data))
    except (TypeError, ValueError) as error:
        raise PortalError(where, f"its data is not JSON: {error}", code="AUDIT_DATA") from None
    content = {
        "kind": event.kind,
        "actor": event.actor,
        "actor_verified": bool(event.actor_verified),
        "environment": event.environment,
        "promotion_id": event.promotion_id,
        "snapshot_id": event.snapshot_id,
        "summary": event.summary,
        "data": json.loads(data_text),  # as it will read back: tuples become lists, keys strings
    }
    return content, data_text


def _event(row: Mapping[str, Any]) -> AuditEvent:
    values = dict(row)
    try:
        values["data"] = json.loads(values["data"])
    except (TypeError, ValueError):
        values["data"] = {"unreadable": values["data"]}  # altered in the database; verify names it
    values["actor_verified"] = bool(values["actor_verified"])
    return AuditEvent(**values)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _record_values(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _promotion_values(promotion_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values of promotion fields: times in the store's form, plan_summary as canonical JSON."""
    out = dict(values)
    for name in PROMOTION_TIMES:
        if name in out:
            out[name] = _normal_time(out[name], f"promotion {promotion_id}: {name}")
    if "plan_summary" in out:
        try:
            out["plan_summary"] = canonical_json(dict(out["plan_summary"] or {}))
        except (TypeError, ValueError) as error:
            raise PortalError(f"promotion {promotion_id}", f"its plan summary is not JSON: {error}",
                              code="AUDIT_DATA") from None
    if "is_rollback" in out:
        out["is_rollback"] = bool(out["is_rollback"])
    return out


def _promotion(row: Mapping[str, Any]) -> Promotion:
    values = dict(row)
    values["plan_summary"] = json.loads(values["plan_summary"])
    values["is_rollback"] = bool(values["is_rollback"])
    return Promotion(**values)
