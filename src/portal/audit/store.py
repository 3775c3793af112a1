"""The audit store: an append-only, hash-chained event trail, deployed artifacts by content, snapshots, promotions,
approvals, and the per-environment promotion locks, in one database reached through SQLAlchemy.

Where it is: an embedded SQLite file, `.portal/audit.db` under the data repository's root, unless portal.yaml
(`audit.url`) or the environment variable PORTAL_AUDIT_URL names another database; several portal replicas share a
PostgreSQL database given by URL (`postgresql+psycopg://user@host/db`, the password in PORTAL_AUDIT_URL only).
`AuditStore.open` brings the schema to the newest Alembic revision every time.

What is chained, and how far it can be trusted:
- Events are hash-chained (chain.py). The rows that decide anything — promotions, approvals, snapshots and the
  artifacts' metadata — are chained too: every insert or update of one appends, in the same transaction, a
  `record written` event holding the digest of the row's columns (chain.record_digest), and the row keeps that
  event's seq in `record_seq`. Every read of such a row joins its record event and raises PortalError TAMPERED when
  the event is missing, is not this row's newest record, was edited, or holds another digest; `artifact()` also
  recomputes the content's SHA-256. Locks are not chained: they decide nothing that outlives their lease.
- With the audit key (keys.py; PORTAL_AUDIT_KEY or PORTAL_AUDIT_KEY_FILE, read from the environment by default,
  never stored here), every event carries an HMAC of its hash. Verify then requires a valid MAC on every event, and
  the reads above on every record event: someone who can write the database but lacks the key can no longer rewrite
  the chain or forge a row undetected. `seal()` signs the events written before a key was introduced, once, after
  checking that the trail is intact (trust on first use).
- Without the key, whoever can write the database can recompute every hash and forge rows with matching records;
  only anchors (anchors.py: the head's seq and hash as Git notes on the promoted commits, signed with the key when
  there is one) show that the trail was rewritten or truncated up to the newest anchor. `verify(anchors=...)` checks
  them. No anchor and no key: the trail proves nothing against its database's writers.

Writes are serialized where they must be, across threads, processes and replicas:
- PostgreSQL: an append locks the one row of `audit_chain_head` (SELECT ... FOR UPDATE) and updates it in the same
  transaction, so appends take turns and `seq` has no gaps; the writes of promotions, approvals, snapshots and
  artifacts take the same lock first (their record event is appended in their transaction). A lock is taken by
  INSERT on the primary key `environment` (a second INSERT fails with an integrity error: it lost the race) or, when
  the lease ran out, by an UPDATE conditional on the old holder and expiry.
- SQLite: every write transaction starts with BEGIN IMMEDIATE (SQLAlchemy's documented pysqlite hooks: the driver's
  own BEGIN is switched off and the engine's "begin" event emits ours), so one writer at a time holds the file; others
  wait up to the busy timeout. The file is in WAL mode, so reads do not wait for writers.

Times are Python's clock in UTC, stored as fixed-width ISO-8601 text with milliseconds, so text order is time order on
both databases. Leases compare these times, so the clocks of the machines running replicas must be in sync (NTP); a
lease of minutes leaves ample margin. An event's `at` never goes back: it is at least its predecessor's.

A later migration that adds a column to a chained table changes the digest of every row in it, so it must append a
new record for each row, as 0002 does.

Secrets: the store does not look into what it is given. Callers record summaries (names, hashes, counts, sources of
secrets), never secret values; the portal's promotion code passes shown (masked) content only. The audit key is never
stored, printed or put in an error; only its fingerprint (key_id) is.
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
from typing import Any, Iterable, Iterator, Mapping, Sequence, TextIO

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    exists,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from portal.audit import models
from portal.audit.anchors import Anchor, AnchorReading
from portal.audit.chain import (
    AUDIT_SEALED,
    HASHED_FIELDS,
    RECORD_WRITTEN,
    RESERVED_KINDS,
    ChainChecker,
    canonical_json,
    content_hash,
    event_hash,
    record_digest,
    record_name,
    sha256_hex,
)
from portal.audit.keys import FROM_ENVIRONMENT, AuditKey, resolve_key
from portal.errors import PortalError

DEFAULT_AUDIT_FILE = ".portal/audit.db"  # relative to the data repository's root, when it is no Git checkout
AUDIT_URL_ENV = "PORTAL_AUDIT_URL"

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a write waits for another writer of the same SQLite file
POSTGRES_CONNECT_TIMEOUT = 10  # seconds, unless the URL says connect_timeout=
VERIFY_BATCH = 1000  # events (and rows) read at a time by verify and export
VERIFY_ARTIFACT_BATCH = 20  # artifacts (with their content) read at a time by verify
# Taken (per transaction) while the schema is migrated, so that two processes opening a new store take turns.
MIGRATION_LOCK_KEY = 0x706F7274616C  # "portal"

_WRITE = "portal_audit_write"  # execution option: this connection's transactions begin IMMEDIATE on SQLite

TAMPERED_HINT = ("the audit store was changed outside the portal; run `portal audit verify`, and act on nothing it "
                 "records until that is explained")
SEAL_HINT = ("forged, or written before the audit key was set (only then: `portal audit seal` signs the trail as "
             "it is)")


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
    mac: str | None = None  # HMAC-SHA256 of `hash` under the audit key (not hashed: seal adds it later)
    key_id: str | None = None  # the key's fingerprint

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # events whose hash chain passed (all of them when ok)
    first_broken: int | None  # seq of the first broken (or missing, or unsigned) event; None for a row or a note
    reason: str | None  # the first problem (None when ok)
    rows_checked: int = 0  # rows of promotions, approvals, snapshots and artifacts checked against their records
    anchors_checked: int = 0  # Git anchors compared with the trail
    signed: bool = False  # MACs were checked with the audit key (else the trail is hash-chained only)
    key_id: str | None = None  # the key's fingerprint, when signed
    unsigned: int = 0  # events without a MAC (with a key: each is a problem; seal signs them once)
    anchored_seq: int | None = None  # the newest event an anchor vouches for (matching the trail)
    problems: tuple[str, ...] = ()  # every problem found, the first being `reason`


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
EXPORT_COLUMNS = (*HASHED_FIELDS, "hash", "mac", "key_id")
PROMOTION_FIELDS = tuple(f.name for f in fields(Promotion))


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

    def __init__(self, engine: Engine, url_for_display: str, key: AuditKey | None = None):
        self._engine = engine
        self.url_for_display = url_for_display
        self._postgres = engine.dialect.name == "postgresql"
        self._key = key

    # -- opening --------------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, key: AuditKey | str | None | object = FROM_ENVIRONMENT) -> "AuditStore":
        """Connect to the store at `url` and bring its schema to the newest revision.

        `key`: the audit key that signs every event appended and is required on every event checked; by default the
        deployment's (PORTAL_AUDIT_KEY or PORTAL_AUDIT_KEY_FILE, see keys.py), None for none."""
        audit_key = resolve_key(key)
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
            _upgrade(engine, audit_key)
        except Exception as error:  # noqa: BLE001 - whatever stops the store from opening is reported the same way
            engine.dispose()
            raise PortalError(shown, f"cannot open the audit store: {_describe(error, parsed.password)}",
                              hint=_open_hint(backend, error), code="AUDIT_STORE") from None
        return cls(engine, shown, audit_key)

    @property
    def key(self) -> AuditKey | None:
        """The audit key this store signs and checks with (its repr shows the fingerprint only)."""
        return self._key

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
    def _recording(self) -> Iterator[tuple[Connection, "_Chain"]]:
        """A write transaction that holds the chain head from its start and appends to the chain; the head moves
        when the block ends without an error, in the same transaction."""
        with self._write() as conn:
            chain = _Chain(conn, self._key, self.url_for_display)
            yield conn, chain
            chain.finish()

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
        """Add one event at the end of the chain; returns it with its seq, time and hashes (and MAC, with a key)."""
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[NewEvent]) -> list[AuditEvent]:
        """Add events at the end of the chain in one transaction (all or none), in the order given. The kinds the
        store writes itself (`record written`, `audit sealed`) are refused."""
        for event in events:
            if event.kind in RESERVED_KINDS:
                raise PortalError(f"audit event {event.kind!r}", "is written by the audit store itself",
                                  code="AUDIT_DATA")
        prepared = [(*_prepared(e), None) for e in events]
        if not prepared:
            return []
        with self._recording() as (_conn, chain):
            done = chain.add(prepared)
        return done

    def head(self) -> tuple[int, str, str | None]:
        """The chain head: (seq, hash, MAC) of the newest event; (0, 64 zeros, None) for an empty trail."""
        head, table = models.chain_head, models.events
        with self._read() as conn:
            top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
            if top is None:
                raise PortalError(self.url_for_display, "the audit trail's chain head is missing",
                                  hint="run `portal audit verify`", code="AUDIT_STORE")
            mac = conn.scalar(select(table.c.mac).where(table.c.seq == top.seq)) if top.seq else None
        return int(top.seq), top.hash, mac

    def anchor(self, *, promotion: str | None = None, environment: str | None = None) -> Anchor:
        """An anchor of the chain head as it is now, for anchors.write_anchor (which signs it with the key)."""
        seq, digest, mac = self.head()
        return Anchor(seq=seq, hash=digest, promotion=promotion, environment=environment, at=now_iso(), mac=mac,
                      key_id=self._key.key_id if mac and self._key else None)

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

    def verify(self, *, anchors: AnchorReading | Iterable[Anchor] | None = None) -> VerifyResult:
        """Check the whole trail in one consistent snapshot, reading VERIFY_BATCH events (and rows) at a time:

        - the hash chain: every event's hash, the gaps, the links and the chain head;
        - with the audit key: a valid MAC on every event (the first event without one, or with a wrong one, is
          named);
        - every row of promotions, approvals, snapshots and artifacts against its newest `record written` event, an
          artifact's content against its digest, and that every row recorded is still there;
        - each anchor (anchors.read_anchors): the event at its seq exists and has its hash, and, with the key, the
          anchor's signature is valid; a note that is no anchor is a problem too.

        Every problem found is in `problems`; `reason` is the first."""
        reading = _reading(anchors)
        with self._read(snapshot=True) as conn:
            return _verify(conn, self._key, reading).result

    def seal(self, *, anchors: AnchorReading | Iterable[Anchor] | None = None, actor: str = "portal",
             actor_verified: bool = False) -> int:
        """With the audit key: check the trail as verify does (events not signed yet aside), then sign every event
        that has no MAC, and record that as an `audit sealed` event; returns how many were signed (0: nothing to
        do, nothing recorded). Trust on first use: run it once when a key is introduced to an existing store.

        No key → PortalError AUDIT_KEY; a trail that is not intact (or has events signed with another key, or a
        wrong MAC) → PortalError TAMPERED, and nothing is signed."""
        if self._key is None:
            raise PortalError("portal audit seal", "needs the audit key",
                              hint="set PORTAL_AUDIT_KEY or PORTAL_AUDIT_KEY_FILE", code="AUDIT_KEY")
        reading = _reading(anchors)
        table = models.events
        with self._recording() as (conn, chain):
            checked = _verify(conn, self._key, reading, sealing=True)
            if not checked.result.ok:
                raise PortalError("the audit trail", f"is not intact, so it was not sealed: {checked.result.reason}",
                                  hint="run `portal audit verify`; sealing now would vouch for what was changed",
                                  code="TAMPERED")
            if not checked.unsigned:
                return 0
            statement = (update(table).where(table.c.seq == bindparam("b_seq"))
                         .values(mac=bindparam("b_mac"), key_id=bindparam("b_key_id")))
            conn.execute(statement, [{"b_seq": seq, "b_mac": self._key.mac(digest), "b_key_id": self._key.key_id}
                                     for seq, digest in checked.unsigned])
            through = checked.unsigned[-1][0]
            sealed = NewEvent(kind=AUDIT_SEALED, actor=actor, actor_verified=actor_verified,
                              summary=f"{len(checked.unsigned)} events signed with audit key {self._key.key_id} "
                                      f"(through event {through}), after the trail verified intact",
                              data={"keyId": self._key.key_id, "signed": len(checked.unsigned), "through": through})
            chain.add([(*_prepared(sealed), None)])
        return len(checked.unsigned)

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

    # -- records (rows of the decision tables) ----------------------------------------------------------------

    def _record(self, conn: Connection, chain: "_Chain", table: Table, where: Any, *, actor: str,
                actor_verified: bool, summary: str, environment: str | None = None,
                promotion_id: str | None = None, snapshot_id: str | None = None) -> Mapping[str, Any]:
        """Append the `record written` event of the row just written (its record_seq set to chain.next_seq) and
        return the row as stored."""
        row = conn.execute(select(*_record_columns(table)).where(where)).mappings().one()
        if row["record_seq"] != chain.next_seq:  # cannot happen while the head is held; never record another seq
            raise PortalError(self.url_for_display, "a record's seq moved during its write", code="CONFLICT")
        key = _row_key(table, row)
        data = {"table": table.name, "key": key, "digest": record_digest(_row_values(table, row))}
        event = NewEvent(kind=RECORD_WRITTEN, actor=actor, actor_verified=actor_verified, environment=environment,
                         promotion_id=promotion_id, snapshot_id=snapshot_id, summary=summary, data=data)
        chain.add([(*_prepared(event), record_name(table.name, key))])
        return row

    def _checked(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Raise TAMPERED for the first row that does not match its newest record event."""
        for row in rows:
            problem = _record_problem(table, row, self._key)
            if problem is not None:
                raise _tampered(table, _row_key(table, row), problem)

    @staticmethod
    def _missing(conn: Connection, table: Table, key: Any) -> None:
        """A row that is not there: TAMPERED when the trail recorded it (it was deleted outside the portal)."""
        events = models.events
        seq = conn.scalar(select(events.c.seq).where(events.c.record == record_name(table.name, key))
                          .order_by(events.c.seq.desc()).limit(1))
        if seq is not None:
            raise _tampered(table, key, f"was recorded in event {seq} but is missing (deleted outside the portal)")

    # -- artifacts ------------------------------------------------------------------------------------------------

    def put_artifact(self, content: bytes, *, media_type: str, name: str, actor: str = "portal",
                     actor_verified: bool = False) -> str:
        """Store content under its SHA-256 (hex), which is returned; storing it again changes nothing."""
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"artifact content must be bytes, not {type(content).__name__}")
        content = bytes(content)
        digest = sha256_hex(content)
        table = models.artifacts
        with self._recording() as (conn, chain):
            if conn.scalar(select(table.c.digest).where(table.c.digest == digest)) is None:
                conn.execute(insert(table).values(digest=digest, media_type=media_type, name=name,
                                                  size=len(content), content=content, stored_at=now_iso(),
                                                  record_seq=chain.next_seq))
                self._record(conn, chain, table, table.c.digest == digest, actor=actor, actor_verified=actor_verified,
                             summary=f"artifact {name} ({len(content)} bytes, sha256 {digest[:12]})")
        return digest

    def artifact(self, digest: str) -> tuple[bytes, str, str] | None:
        """(content, media_type, name) of a stored artifact, or None. Its content's SHA-256 is recomputed and its
        metadata checked against its record: a mismatch → PortalError TAMPERED."""
        table = models.artifacts
        digest = digest.lower()
        with self._read() as conn:
            row = conn.execute(_recorded(table).where(table.c.digest == digest)).mappings().first()
            if row is None:
                self._missing(conn, table, digest)
                return None
        content = bytes(row["content"])
        if sha256_hex(content) != row["digest"]:
            raise _tampered(table, digest, "its content does not match its digest (changed outside the portal)")
        self._checked(table, [row])
        return content, row["media_type"], row["name"]

    # -- snapshots ------------------------------------------------------------------------------------------------

    def put_snapshot(self, snapshot: Snapshot, *, actor: str = "portal", actor_verified: bool = False) -> Snapshot:
        """Record a snapshot; one with the same id already stored is kept, and returned."""
        table = models.snapshots
        values = {**_record_values(snapshot),
                  "created_at": _normal_time(snapshot.created_at, f"snapshot {snapshot.id}: created_at")}
        with self._recording() as (conn, chain):
            if conn.scalar(select(table.c.id).where(table.c.id == snapshot.id)) is None:
                conn.execute(insert(table).values(**values, record_seq=chain.next_seq))
                commit = (snapshot.source_commit or "no commit")[:10]
                self._record(conn, chain, table, table.c.id == snapshot.id, actor=actor,
                             actor_verified=actor_verified, snapshot_id=snapshot.id,
                             summary=f"snapshot {snapshot.id} (commit {commit})")
        stored = self.snapshot(snapshot.id)
        assert stored is not None
        return stored

    def snapshot(self, snapshot_id: str) -> Snapshot | None:
        table = models.snapshots
        with self._read() as conn:
            row = conn.execute(_recorded(table).where(table.c.id == snapshot_id)).mappings().first()
            if row is None:
                self._missing(conn, table, snapshot_id)
                return None
        self._checked(table, [row])
        return Snapshot(**{f.name: row[f.name] for f in fields(Snapshot)})

    # -- promotions -----------------------------------------------------------------------------------------------

    def create_promotion(self, promotion: Promotion, *, actor: str = "portal",
                         actor_verified: bool = False) -> Promotion:
        """Record a new promotion of a stored snapshot; an id already used → PortalError CONFLICT."""
        table = models.promotions
        values = _promotion_values(promotion.id, _record_values(promotion))
        snapshots = models.snapshots
        try:
            with self._recording() as (conn, chain):
                if conn.scalar(select(snapshots.c.id).where(snapshots.c.id == promotion.snapshot_id)) is None:
                    raise PortalError(f"promotion {promotion.id}",
                                      f"snapshot {promotion.snapshot_id} is not in the audit store",
                                      hint="put_snapshot first", code="NOT_FOUND")
                if conn.scalar(select(table.c.id).where(table.c.id == promotion.id)) is not None:
                    raise PortalError(f"promotion {promotion.id}", "exists already", code="CONFLICT")
                conn.execute(insert(table).values(**values, record_seq=chain.next_seq))
                row = self._record(conn, chain, table, table.c.id == promotion.id, actor=actor,
                                   actor_verified=actor_verified, environment=promotion.environment,
                                   promotion_id=promotion.id, snapshot_id=promotion.snapshot_id,
                                   summary=f"promotion {promotion.id}: requested for {promotion.environment}, "
                                           f"status {values['status']} (version {values['version']})")
        except IntegrityError:
            raise PortalError(f"promotion {promotion.id}", "exists already", code="CONFLICT") from None
        return _promotion(row)

    def promotion(self, promotion_id: str) -> Promotion | None:
        table = models.promotions
        with self._read() as conn:
            row = conn.execute(_recorded(table).where(table.c.id == promotion_id)).mappings().first()
            if row is None:
                self._missing(conn, table, promotion_id)
                return None
        self._checked(table, [row])
        return _promotion(row)

    def update_promotion(self, promotion_id: str, expected_version: int, *, actor: str = "portal",
                         actor_verified: bool = False, **changes: Any) -> Promotion:
        """Change fields of a promotion that is still at `expected_version`; it moves to the next version.
        Changed by someone else meanwhile → PortalError CONFLICT; no such promotion → PortalError NOT_FOUND; a row
        that no longer matches its record → PortalError TAMPERED (it is not written over)."""
        unknown = set(changes) - _PROMOTION_CHANGEABLE
        if unknown:
            raise TypeError(f"update_promotion cannot change {', '.join(sorted(unknown))}")
        table = models.promotions
        values = _promotion_values(promotion_id, changes)
        with self._recording() as (conn, chain):
            current = conn.execute(_recorded(table).where(table.c.id == promotion_id)).mappings().first()
            if current is None:
                self._missing(conn, table, promotion_id)
                raise PortalError(f"promotion {promotion_id}", "does not exist", code="NOT_FOUND")
            self._checked(table, [current])  # a changed row is never recorded as if the portal had written it
            if current["version"] != expected_version:
                raise PortalError(f"promotion {promotion_id}",
                                  f"changed meanwhile (version {current['version']}, expected {expected_version})",
                                  hint="read it again and retry", code="CONFLICT")
            conn.execute(update(table).where(table.c.id == promotion_id, table.c.version == expected_version)
                         .values(**values, version=expected_version + 1, record_seq=chain.next_seq))
            status = values.get("status", current["status"])
            what = f"status {status}" if "status" in values else (", ".join(sorted(values)) or "nothing") + " changed"
            row = self._record(conn, chain, table, table.c.id == promotion_id, actor=actor,
                               actor_verified=actor_verified, environment=current["environment"],
                               promotion_id=promotion_id, snapshot_id=current["snapshot_id"],
                               summary=f"promotion {promotion_id}: {what} (version {expected_version + 1})")
        return _promotion(row)

    def promotions(self, *, environment: str | None = None, statuses: Sequence[str] | None = None,
                   limit: int = 100) -> list[Promotion]:
        """Promotions, newest request first."""
        table = models.promotions
        query = _recorded(table)
        if environment is not None:
            query = query.where(table.c.environment == environment)
        if statuses is not None:
            query = query.where(table.c.status.in_(list(statuses)))
        query = query.order_by(table.c.requested_at.desc(), table.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        self._checked(table, rows)
        return [_promotion(row) for row in rows]

    def last_succeeded(self, environment: str, *, before: str | None = None) -> Promotion | None:
        """The promotion of `environment` that succeeded last (by finished_at): what the environment runs now.

        With `before` (a promotion id): the one that succeeded before it, never it, i.e. finished earlier than
        `before` finished (any, when `before` has not finished): the rollback target of the current promotion."""
        table = models.promotions
        query = _recorded(table).where(table.c.environment == environment, table.c.status == "succeeded")
        with self._read() as conn:
            if before is not None:
                mark = conn.execute(_recorded(table).where(table.c.id == before)).mappings().first()
                if mark is None:
                    self._missing(conn, table, before)
                    raise PortalError(f"promotion {before}", "does not exist", code="NOT_FOUND")
                self._checked(table, [mark])
                query = query.where(table.c.id != before)
                if mark["finished_at"] is not None:
                    query = query.where((table.c.finished_at < mark["finished_at"])
                                        | ((table.c.finished_at == mark["finished_at"]) & (table.c.id < before)))
            order = (table.c.finished_at.desc(), table.c.requested_at.desc(), table.c.id.desc())
            row = conn.execute(query.order_by(*order).limit(1)).mappings().first()
        if row is None:
            return None
        self._checked(table, [row])
        return _promotion(row)

    # -- approvals ------------------------------------------------------------------------------------------------

    def add_approval(self, approval: Approval, *, actor: str = "portal", actor_verified: bool = False) -> None:
        """Record a vote; a second vote of the same actor on the same promotion → PortalError ALREADY_VOTED.
        `actor`: who records it (the approval's own `actor` is whose vote it is)."""
        if approval.decision not in DECISIONS:
            raise PortalError(f"promotion {approval.promotion_id}",
                              f"a decision is approve or reject, not {approval.decision!r}", code="AUDIT_DATA")
        values = {**_record_values(approval),
                  "at": _normal_time(approval.at, f"approval of {approval.promotion_id}: at")}
        promotions, table = models.promotions, models.approvals
        voted = PortalError(f"promotion {approval.promotion_id}", f"{approval.actor} has voted already",
                            code="ALREADY_VOTED")
        try:
            with self._recording() as (conn, chain):
                found = conn.execute(select(promotions.c.environment, promotions.c.snapshot_id)
                                     .where(promotions.c.id == approval.promotion_id)).first()
                if found is None:
                    raise PortalError(f"promotion {approval.promotion_id}", "does not exist", code="NOT_FOUND")
                if conn.scalar(select(table.c.actor).where(table.c.promotion_id == approval.promotion_id,
                                                          table.c.actor == approval.actor)) is not None:
                    raise voted
                conn.execute(insert(table).values(**values, record_seq=chain.next_seq))
                self._record(conn, chain, table,
                             (table.c.promotion_id == approval.promotion_id) & (table.c.actor == approval.actor),
                             actor=actor, actor_verified=actor_verified, environment=found.environment,
                             promotion_id=approval.promotion_id, snapshot_id=found.snapshot_id,
                             summary=f"promotion {approval.promotion_id}: {approval.decision} by {approval.actor}")
        except IntegrityError:
            raise voted from None

    def approvals(self, promotion_id: str) -> list[Approval]:
        """The votes on a promotion, oldest first; each checked against its record, and none recorded missing."""
        table, events = models.approvals, models.events
        with self._read() as conn:
            rows = conn.execute(_recorded(table).where(table.c.promotion_id == promotion_id)
                                .order_by(table.c.at, table.c.actor)).mappings().all()
            recorded = conn.execute(select(events.c.seq, events.c.data)
                                    .where(events.c.promotion_id == promotion_id, events.c.kind == RECORD_WRITTEN)
                                    ).all()
        self._checked(table, rows)
        present = {(row["promotion_id"], row["actor"]) for row in rows}
        for seq, data_text in recorded:
            data = _json_or_none(data_text)
            if isinstance(data, dict) and data.get("table") == table.name and isinstance(data.get("key"), list) \
                    and len(data["key"]) == 2 and tuple(data["key"]) not in present:
                raise _tampered(table, data["key"], f"was recorded in event {seq} but is missing (deleted outside "
                                                    "the portal)")
        return [Approval(**{f.name: row[f.name] for f in fields(Approval)}) for row in rows]

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
    values = {name: row[name] for name in _EVENT_FIELDS}
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
    values = {name: row[name] for name in PROMOTION_FIELDS}
    values["plan_summary"] = json.loads(values["plan_summary"])
    values["is_rollback"] = bool(values["is_rollback"])
    return Promotion(**values)


# --- the chain within a write transaction --------------------------------------------------------------------------

_EVENT_FIELDS = tuple(f.name for f in fields(AuditEvent))
_EVENT_COLUMNS = tuple(c.name for c in models.events.c)


class _Chain:
    """Appends within one write transaction: locks the chain head when made (so the writes of the transaction take
    their turn with every other append), and moves it in `finish`."""

    def __init__(self, conn: Connection, key: AuditKey | None, where: str):
        head, table = models.chain_head, models.events
        top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()).first()
        if top is None:
            raise PortalError(where, "the audit trail's chain head is missing; nothing can be appended",
                              hint="run `portal audit verify`", code="AUDIT_STORE")
        self._conn = conn
        self._key = key
        self._start = top.seq
        self.seq = top.seq
        self.hash = top.hash
        last_at = conn.scalar(select(table.c.at).where(table.c.seq == top.seq)) if top.seq else None
        self._at = max(now_iso(), last_at or "")

    @property
    def next_seq(self) -> int:
        return self.seq + 1

    def add(self, prepared: Sequence[tuple[dict[str, Any], str, str | None]]) -> list[AuditEvent]:
        """Insert events (hashed fields without seq, at and prev_hash; data as text; record name or None)."""
        rows, done = [], []
        for content, data_text, record in prepared:
            self.seq += 1
            fields_ = {**content, "seq": self.seq, "at": self._at, "prev_hash": self.hash}
            digest = event_hash(fields_)
            mac, key_id = (self._key.mac(digest), self._key.key_id) if self._key else (None, None)
            rows.append({**fields_, "data": data_text, "hash": digest, "mac": mac, "key_id": key_id,
                         "record": record})
            done.append(AuditEvent(**fields_, hash=digest, mac=mac, key_id=key_id))
            self.hash = digest
        if rows:
            self._conn.execute(insert(models.events), rows)
        return done

    def finish(self) -> None:
        if self.seq == self._start:
            return
        head = models.chain_head
        moved = self._conn.execute(update(head).where(head.c.id == 1, head.c.seq == self._start)
                                   .values(seq=self.seq, hash=self.hash))
        if moved.rowcount != 1:  # cannot happen while every writer locks the head; never append past it
            raise PortalError("audit trail", "the chain head moved during an append", code="CONFLICT")


# --- records: rows checked against their `record written` events --------------------------------------------------

RECORD_TABLES = (models.promotions, models.approvals, models.snapshots, models.artifacts)
_NOT_RECORDED = frozenset({"record_seq", "content"})  # an artifact's content is covered by its digest column
_REC = models.events.alias("rec")
_NEWER = models.events.alias("rec_newer")


def _record_columns(table: Table) -> list[Any]:
    return [c for c in table.c if c.name != "content"]


def _recorded(table: Table, *, newer: bool = True) -> Any:
    """SELECT of a decision table's rows (all columns) with their record event's columns (rec_*) and whether a
    later record of the same row exists (rec_newer): one outer join, one indexed EXISTS, no query per row."""
    columns: list[Any] = [*table.c, *(_REC.c[name].label(f"rec_{name}") for name in _EVENT_COLUMNS)]
    if newer:
        later = exists().where(_NEWER.c.record == _REC.c.record, _NEWER.c.seq > _REC.c.seq)
        columns.append(later.label("rec_newer"))
    return select(*columns).select_from(table.outerjoin(_REC, _REC.c.seq == table.c.record_seq))


def _row_key(table: Table, row: Mapping[str, Any]) -> Any:
    """The row's primary key: its value, or the list of its values when it has several columns."""
    values = [row[c.name] for c in table.primary_key.columns]
    return values[0] if len(values) == 1 else values


def _row_values(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    return {c.name: row[c.name] for c in table.c if c.name not in _NOT_RECORDED}


def _row_label(table: Table | str, key: Any) -> str:
    name = table if isinstance(table, str) else table.name
    if isinstance(key, (list, tuple)):
        return f"{name} row ({', '.join(str(k) for k in key)})"
    return f"{name} row {key}"


def _tampered(table: Table | str, key: Any, problem: str) -> PortalError:
    return PortalError(_row_label(table, key), problem, hint=TAMPERED_HINT, code="TAMPERED")


def _json_or_none(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _mac_problem(event: Mapping[str, Any], key: AuditKey | None) -> str | None:
    """What is wrong with an event's MAC under `key` (nothing to check without a key)."""
    if key is None:
        return None
    seq = event["seq"]
    if event["mac"] is None:
        return f"event {seq} is not signed (it has no MAC): {SEAL_HINT}"
    if event["key_id"] != key.key_id:
        return f"event {seq} is signed with another key (id {event['key_id']}; this key's id is {key.key_id})"
    if not key.valid(event["hash"], event["mac"]):
        return f"event {seq}: its MAC is wrong (the event was rewritten by someone without the audit key)"
    return None


def _record_problem(table: Table, row: Mapping[str, Any], key: AuditKey | None) -> str | None:
    """What is wrong with a row of a decision table selected by _recorded, or None when it matches its record."""
    seq = row["record_seq"]
    if row["rec_seq"] is None:
        return ("has no record in the audit trail" + (f" (its record_seq {seq} names no event)" if seq is not None
                                                      else "") + ": it was written outside the portal")
    event = {name: row[f"rec_{name}"] for name in _EVENT_COLUMNS}
    if event["kind"] != RECORD_WRITTEN:
        return f"its record_seq {seq} names a {event['kind']!r} event, not a record of it"
    if content_hash(event) != event["hash"]:
        return f"its record, event {seq}, was edited (its content does not match its hash)"
    data = _json_or_none(event["data"])
    row_key = _row_key(table, row)
    if not isinstance(data, dict) or data.get("table") != table.name or data.get("key") != row_key:
        return f"its record_seq {seq} names the record of another row: it was written outside the portal"
    if data.get("digest") != record_digest(_row_values(table, row)):
        return f"its content differs from what event {seq} recorded (it was changed outside the portal)"
    problem = _mac_problem(event, key)
    if problem is not None:
        return f"its record: {problem}"
    if event["record"] != record_name(table.name, row_key):
        return f"the record column of its record, event {seq}, was altered"
    if row.get("rec_newer"):
        return (f"its record, event {seq}, is not its newest one: an older version of the row was put back "
                "(changed outside the portal)")
    return None


# --- verify --------------------------------------------------------------------------------------------------------


@dataclass
class _Verified:
    result: VerifyResult
    unsigned: list[tuple[int, str]]  # (seq, hash) of the events without a MAC, for seal


def _reading(anchors: AnchorReading | Iterable[Anchor] | None) -> AnchorReading | None:
    if anchors is None or isinstance(anchors, AnchorReading):
        return anchors
    return AnchorReading(tuple(anchors))


def _verify(conn: Connection, key: AuditKey | None, reading: AnchorReading | None, *,
            sealing: bool = False) -> _Verified:
    """verify() and seal()'s check, on one connection (a consistent snapshot, or seal's write transaction).
    sealing: events without a MAC are collected, not reported."""
    table, head = models.events, models.chain_head
    checker = ChainChecker()
    top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
    wanted = {a.seq for a in reading.anchors} if reading else set()
    hashes_at: dict[int, str] = {}
    latest: dict[str, tuple[int, str, Any]] = {}  # record name → (seq, table, key) of its newest record
    unsigned: list[tuple[int, str]] = []
    mac_broken: tuple[int, str] | None = None
    column_broken: tuple[int, str] | None = None
    sealed_from: int | None = None  # the first `audit sealed` event of this key: unsigned anchors before it count
    end = 0
    last = 0
    while True:
        rows = conn.execute(select(table).where(table.c.seq > last).order_by(table.c.seq)
                            .limit(VERIFY_BATCH)).mappings().all()
        if not rows:
            break
        checker.feed(rows)  # remembers the first break; the other checks read on
        for row in rows:
            seq = row["seq"]
            end = seq
            if seq in wanted:
                hashes_at[seq] = row["hash"]
            if key is not None:
                if row["mac"] is None:
                    unsigned.append((seq, row["hash"]))
                if not (sealing and row["mac"] is None):
                    problem = _mac_problem(row, key)
                    if problem is not None and mac_broken is None:
                        mac_broken = (seq, problem)
            data = _json_or_none(row["data"]) if row["kind"] in (RECORD_WRITTEN, AUDIT_SEALED) else None
            if row["kind"] == RECORD_WRITTEN:
                if not isinstance(data, dict) or not isinstance(data.get("table"), str) or "key" not in data:
                    column_broken = column_broken or (seq, f"event {seq} is a record that names no row")
                    continue
                name = record_name(data["table"], data["key"])
                if row["record"] != name and column_broken is None:
                    column_broken = (seq, f"event {seq}: its record column was altered")
                latest[name] = (seq, data["table"], data["key"])
            elif row["record"] is not None and column_broken is None:
                column_broken = (seq, f"event {seq} is no record, but its record column names one")
            if row["kind"] == AUDIT_SEALED and key is not None and sealed_from is None \
                    and isinstance(data, dict) and data.get("keyId") == key.key_id:
                sealed_from = seq
        last = rows[-1]["seq"]

    problems: list[str] = []
    first_broken: int | None = None
    if top is None:
        broken_reason = "the chain head is missing (the table was altered)" if checker.broken is None else None
        broken = checker.broken
    else:
        broken = checker.finish(top.seq, top.hash)
        broken_reason = None
    if broken is not None:
        problems.append(broken.reason)
        first_broken = broken.seq
    elif broken_reason:
        problems.append(broken_reason)
    later: list[tuple[int, str]] = []
    if mac_broken is not None:
        seq, problem = mac_broken
        count = len(unsigned)
        if count > 1 and not sealing:
            problem += f" ({count} events are not signed)"
        later.append((seq, problem))
    if column_broken is not None:
        later.append(column_broken)

    # Anchors: what the Git notes say the trail was, against what it is.
    anchors_checked, anchored_seq = 0, None
    anchor_problems: list[tuple[int, str]] = []
    for anchor in reading.anchors if reading else ():
        anchors_checked += 1
        where = anchor.where()
        if key is not None:
            if anchor.sig is None:
                # Unsigned anchors from before the key (before its first seal, or while sealing) are compared below.
                if not sealing and (sealed_from is None or anchor.seq >= sealed_from):
                    anchor_problems.append((anchor.seq, f"{where} is not signed: forged, or written without the "
                                                        "audit key"))
                    continue
            elif anchor.key_id != key.key_id:
                anchor_problems.append((anchor.seq, f"{where} is signed with another key (id {anchor.key_id})"))
                continue
            elif not anchor.signature_valid(key):
                anchor_problems.append((anchor.seq, f"{where}: its signature is wrong (the note was forged or "
                                                    "changed)"))
                continue
        found = hashes_at.get(anchor.seq)
        if anchor.seq > end:
            anchor_problems.append((anchor.seq, f"{where} vouches for event {anchor.seq}, but the trail ends at "
                                                f"event {end}: the trail was truncated"))
        elif found is None:
            anchor_problems.append((anchor.seq, f"{where} vouches for event {anchor.seq}, which is missing"))
        elif found != anchor.hash:
            anchor_problems.append((anchor.seq, f"{where} says event {anchor.seq} has hash {anchor.hash[:16]}…, "
                                                f"the trail's has {found[:16]}…: the chain was rewritten"))
        else:
            anchored_seq = max(anchored_seq or 0, anchor.seq)
    later.extend(anchor_problems)
    later.sort(key=lambda item: item[0])
    if later:
        first_broken = first_broken if first_broken is not None else later[0][0]
        problems.extend(problem for _, problem in later)
    problems.extend(reading.findings if reading else ())

    # Rows of the decision tables: each against its newest record; every row recorded still there.
    rows_checked = 0
    seen: set[str] = set()
    for records in RECORD_TABLES:
        batch = VERIFY_ARTIFACT_BATCH if records is models.artifacts else VERIFY_BATCH
        pk = list(records.primary_key.columns)
        after: Any = None
        while True:
            query = _recorded(records, newer=False).order_by(*pk).limit(batch)
            if after is not None:
                query = query.where(tuple_(*pk) > tuple_(*after) if len(pk) > 1 else pk[0] > after[0])
            rows = conn.execute(query).mappings().all()
            if not rows:
                break
            for row in rows:
                rows_checked += 1
                row_key = _row_key(records, row)
                name = record_name(records.name, row_key)
                seen.add(name)
                problem = None
                if records is models.artifacts and sha256_hex(bytes(row["content"])) != row["digest"]:
                    problem = "its content does not match its digest (changed outside the portal)"
                problem = problem or _record_problem(records, row, None if sealing else key)
                if problem is None and sealing:
                    problem = _mac_problem({name_: row[f"rec_{name_}"] for name_ in _EVENT_COLUMNS}, key) \
                        if row["rec_mac"] is not None else None
                newest = latest.get(name)
                if problem is None and newest is not None and newest[0] != row["record_seq"]:
                    problem = (f"its record, event {row['record_seq']}, is not its newest one (event {newest[0]} "
                               "recorded it later): an older version was put back")
                if problem is not None:
                    problems.append(f"{_row_label(records, row_key)}: {problem}")
            after = [rows[-1][c.name] for c in pk]
    names = {t.name for t in RECORD_TABLES}
    for name, (seq, table_name, row_key) in latest.items():
        if name not in seen and table_name in names:
            problems.append(f"{_row_label(table_name, row_key)}: recorded in event {seq} but missing (deleted "
                            "outside the portal)")

    result = VerifyResult(
        ok=not problems, checked=checker.checked, first_broken=first_broken if problems else None,
        reason=problems[0] if problems else None, rows_checked=rows_checked, anchors_checked=anchors_checked,
        signed=key is not None, key_id=key.key_id if key else None, unsigned=len(unsigned),
        anchored_seq=anchored_seq, problems=tuple(problems))
    return _Verified(result, unsigned)
