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

The code, by part (AuditStore is the one façade; each part is a small class holding the store's Database):
- models.py: the tables; records.py: the value types; times.py: the store's form of times;
- database.py: the URL, the engine, the migrations, and the read and write transactions (Database);
- chain.py: hashes and the check of the chain; appends.py: appending to it inside a write transaction;
- events.py: appending, reading and exporting events (EventLog);
- decision_rows.py: the records of promotions, approvals, snapshots and artifacts, and their checks (DecisionRows);
- artifacts.py, promotions.py (snapshots, promotions, approvals), locks.py: those rows;
- verification.py: verify and seal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from sqlalchemy import Engine

from portal.audit.anchors import Anchor, AnchorReading
from portal.audit.artifacts import Artifacts
from portal.audit.chain import sha256_hex
from portal.audit.database import (
    AUDIT_URL_ENV,
    DEFAULT_AUDIT_FILE,
    MIGRATIONS,
    Database,
    _upgrade,
    audit_url,
    open_engine,
    redact_url,
)
from portal.audit.decision_rows import DecisionRows
from portal.audit.events import EventLog
from portal.audit.keys import FROM_ENVIRONMENT, AuditKey, resolve_key
from portal.audit.locks import Locks
from portal.audit.promotions import Approvals, Promotions, Snapshots
from portal.audit.records import (
    Approval,
    AuditEvent,
    Lock,
    LockResult,
    NewEvent,
    Promotion,
    Snapshot,
    VerifyResult,
)
from portal.audit.verification import Verification

# What other modules import from here; _upgrade and sha256_hex moved out, and the tests still reach them as
# store._upgrade and store.sha256_hex.
__all__ = [
    "AUDIT_URL_ENV",
    "DEFAULT_AUDIT_FILE",
    "MIGRATIONS",
    "VERIFY_BATCH",
    "Approval",
    "AuditEvent",
    "AuditStore",
    "Lock",
    "LockResult",
    "NewEvent",
    "Promotion",
    "Snapshot",
    "VerifyResult",
    "_upgrade",
    "audit_url",
    "redact_url",
    "sha256_hex",
]

VERIFY_BATCH = 1000  # events (and rows) read at a time by verify and export


class AuditStore:
    """The audit store on one database. Thread-safe: every call takes its own connection from the engine's pool."""

    def __init__(self, engine: Engine, url_for_display: str, key: AuditKey | None = None):
        self.url_for_display = url_for_display
        self._db = Database(engine, url_for_display, key)
        rows = DecisionRows(self._db)
        self._events = EventLog(self._db)
        self._verification = Verification(self._db)
        self._artifacts = Artifacts(self._db, rows)
        self._snapshots = Snapshots(self._db, rows)
        self._promotions = Promotions(self._db, rows)
        self._approvals = Approvals(self._db, rows)
        self._locks = Locks(self._db)

    # -- opening --------------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, key: AuditKey | str | None | object = FROM_ENVIRONMENT) -> AuditStore:
        """Connect to the store at `url` and bring its schema to the newest revision.

        `key`: the audit key that signs every event appended and is required on every event checked; by default the
        deployment's (PORTAL_AUDIT_KEY or PORTAL_AUDIT_KEY_FILE, see keys.py), None for none."""
        audit_key = resolve_key(key)
        engine, shown = open_engine(url, audit_key)
        return cls(engine, shown, audit_key)

    @property
    def key(self) -> AuditKey | None:
        """The audit key this store signs and checks with (its repr shows the fingerprint only)."""
        return self._db.key

    def close(self) -> None:
        self._db.engine.dispose()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditStore({self.url_for_display!r})"

    # -- events ---------------------------------------------------------------------------------------------------

    def append(self, event: NewEvent) -> AuditEvent:
        """Add one event at the end of the chain; returns it with its seq, time and hashes (and MAC, with a key)."""
        return self._events.append(event)

    def append_many(self, events: Sequence[NewEvent]) -> list[AuditEvent]:
        """Add events at the end of the chain in one transaction (all or none), in the order given. The kinds the
        store writes itself (`record written`, `audit sealed`) are refused."""
        return self._events.append_many(events)

    def head(self) -> tuple[int, str, str | None]:
        """The chain head: (seq, hash, MAC) of the newest event; (0, 64 zeros, None) for an empty trail."""
        return self._events.head()

    def anchor(self, *, promotion: str | None = None, environment: str | None = None) -> Anchor:
        """An anchor of the chain head as it is now, for anchors.write_anchor (which signs it with the key)."""
        return self._events.anchor(promotion=promotion, environment=environment)

    def events(
        self,
        *,
        environment: str | None = None,
        actor: str | None = None,
        kind: str | None = None,
        promotion_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        offset: int = 0,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[AuditEvent]:
        """Events matching every filter given; `since` is inclusive, `until` exclusive (ISO-8601 times)."""
        return self._events.events(
            environment=environment,
            actor=actor,
            kind=kind,
            promotion_id=promotion_id,
            since=since,
            until=until,
            offset=offset,
            limit=limit,
            newest_first=newest_first,
        )

    def count_events(
        self,
        *,
        environment: str | None = None,
        actor: str | None = None,
        kind: str | None = None,
        promotion_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> int:
        return self._events.count_events(
            environment=environment, actor=actor, kind=kind, promotion_id=promotion_id, since=since, until=until
        )

    def event(self, seq: int) -> AuditEvent | None:
        return self._events.event(seq)

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
        return self._verification.verify(anchors=anchors, batch_size=VERIFY_BATCH)

    def seal(
        self,
        *,
        anchors: AnchorReading | Iterable[Anchor] | None = None,
        actor: str = "portal",
        actor_verified: bool = False,
    ) -> int:
        """With the audit key: check the trail as verify does (events not signed yet aside), then sign every event
        that has no MAC, and record that as an `audit sealed` event; returns how many were signed (0: nothing to
        do, nothing recorded). Trust on first use: run it once when a key is introduced to an existing store.

        No key → PortalError AUDIT_KEY; a trail that is not intact (or has events signed with another key, or a
        wrong MAC) → PortalError TAMPERED, and nothing is signed."""
        return self._verification.seal(
            anchors=anchors, actor=actor, actor_verified=actor_verified, batch_size=VERIFY_BATCH
        )

    def export(
        self,
        out: TextIO,
        fmt: str,
        *,
        environment: str | None = None,
        actor: str | None = None,
        kind: str | None = None,
        promotion_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> int:
        """Write the matching events, oldest first, as "csv" (a header row; data as JSON text) or "jsonl" (one
        canonical JSON object a line); returns the number of events written."""
        return self._events.export(
            out,
            fmt,
            environment=environment,
            actor=actor,
            kind=kind,
            promotion_id=promotion_id,
            since=since,
            until=until,
            batch_size=VERIFY_BATCH,
        )

    # -- artifacts ------------------------------------------------------------------------------------------------

    def put_artifact(
        self, content: bytes, *, media_type: str, name: str, actor: str = "portal", actor_verified: bool = False
    ) -> str:
        """Store content under its SHA-256 (hex), which is returned; storing it again changes nothing."""
        return self._artifacts.put_artifact(
            content, media_type=media_type, name=name, actor=actor, actor_verified=actor_verified
        )

    def artifact(self, digest: str) -> tuple[bytes, str, str] | None:
        """(content, media_type, name) of a stored artifact, or None. Its content's SHA-256 is recomputed and its
        metadata checked against its record: a mismatch → PortalError TAMPERED."""
        return self._artifacts.artifact(digest)

    # -- snapshots ------------------------------------------------------------------------------------------------

    def put_snapshot(self, snapshot: Snapshot, *, actor: str = "portal", actor_verified: bool = False) -> Snapshot:
        """Record a snapshot; one with the same id already stored is kept, and returned."""
        return self._snapshots.put_snapshot(snapshot, actor=actor, actor_verified=actor_verified)

    def snapshot(self, snapshot_id: str) -> Snapshot | None:
        return self._snapshots.snapshot(snapshot_id)

    # -- promotions -----------------------------------------------------------------------------------------------

    def create_promotion(
        self, promotion: Promotion, *, actor: str = "portal", actor_verified: bool = False
    ) -> Promotion:
        """Record a new promotion of a stored snapshot; an id already used → PortalError CONFLICT."""
        return self._promotions.create_promotion(promotion, actor=actor, actor_verified=actor_verified)

    def promotion(self, promotion_id: str) -> Promotion | None:
        return self._promotions.promotion(promotion_id)

    def update_promotion(
        self,
        promotion_id: str,
        expected_version: int,
        *,
        actor: str = "portal",
        actor_verified: bool = False,
        **changes: Any,
    ) -> Promotion:
        """Change fields of a promotion that is still at `expected_version`; it moves to the next version.
        Changed by someone else meanwhile → PortalError CONFLICT; no such promotion → PortalError NOT_FOUND; a row
        that no longer matches its record → PortalError TAMPERED (it is not written over)."""
        return self._promotions.update_promotion(
            promotion_id, expected_version, actor=actor, actor_verified=actor_verified, **changes
        )

    def promotions(
        self, *, environment: str | None = None, statuses: Sequence[str] | None = None, limit: int = 100
    ) -> list[Promotion]:
        """Promotions, newest request first."""
        return self._promotions.promotions(environment=environment, statuses=statuses, limit=limit)

    def last_succeeded(self, environment: str, *, before: str | None = None) -> Promotion | None:
        """The promotion of `environment` that succeeded last (by finished_at): what the environment runs now.

        With `before` (a promotion id): the one that succeeded before it, never it, i.e. finished earlier than
        `before` finished (any, when `before` has not finished): the rollback target of the current promotion."""
        return self._promotions.last_succeeded(environment, before=before)

    # -- approvals ------------------------------------------------------------------------------------------------

    def add_approval(self, approval: Approval, *, actor: str = "portal", actor_verified: bool = False) -> None:
        """Record a vote; a second vote of the same actor on the same promotion → PortalError ALREADY_VOTED.
        `actor`: who records it (the approval's own `actor` is whose vote it is)."""
        self._approvals.add_approval(approval, actor=actor, actor_verified=actor_verified)

    def approvals(self, promotion_id: str) -> list[Approval]:
        """The votes on a promotion, oldest first; each checked against its record, and none recorded missing."""
        return self._approvals.approvals(promotion_id)

    # -- locks ----------------------------------------------------------------------------------------------------

    def acquire_lock(self, environment: str, promotion_id: str, owner: str, lease_seconds: float) -> LockResult:
        """Take the environment's lock for `lease_seconds`: free → ours; held past its lease → ours, and the old
        one comes back as taken_over; held → not acquired, with the holder. Race-free across processes."""
        return self._locks.acquire_lock(environment, promotion_id, owner, lease_seconds)

    def renew_lock(self, environment: str, promotion_id: str, lease_seconds: float) -> bool:
        """Extend our lease from now; False when the lock is no longer ours (taken over or released)."""
        return self._locks.renew_lock(environment, promotion_id, lease_seconds)

    def release_lock(self, environment: str, promotion_id: str) -> None:
        """Give the lock up (nothing happens when it is not ours any more)."""
        self._locks.release_lock(environment, promotion_id)

    def lock(self, environment: str) -> Lock | None:
        """The environment's lock as stored (its lease may have run out: compare expires_at with now)."""
        return self._locks.lock(environment)
