"""The audit store's tables (SQLAlchemy Core). The Alembic migrations under migrations/versions create exactly these.

Conventions on both databases:
- times are text, ISO-8601 in UTC with milliseconds and a fixed width ("2026-11-23T22:40:01.123+00:00"), taken from
  Python's clock; a fixed width and one time zone make text order the same as time order on SQLite and PostgreSQL;
- JSON is canonical JSON text (see chain.canonical_json), so what is hashed is byte-for-byte what is stored;
- no secret is ever stored: callers record summaries (names, hashes, counts), never parameter values;
- every row of the tables that decide something (promotions, approvals, snapshots, artifacts) has `record_seq`: the
  seq of the `record written` event that holds the digest of its current content (see chain.record_digest). A row
  without one (NOT NULL), or whose content differs from its record, is refused or reported as tampered.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

TIME = String(32)
HASH = String(64)  # SHA-256 hex digests the store computes itself; hashes given by callers are free text

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# Append-only: rows are inserted by AuditStore.append and never updated or deleted by the portal (except that
# AuditStore.seal fills `mac` and `key_id` of events written before the audit key was set).
# Not hashed (chain.HASHED_FIELDS): `mac`, HMAC-SHA256 of `hash` under the audit key, and `key_id`, the key's
# fingerprint; `record`, for `record written` events only, the canonical JSON [table, key] of the row recorded (an
# index for finding a row's newest record; verify checks it against `data`).
events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", TIME, nullable=False),
    Column("kind", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("actor_verified", Boolean, nullable=False),
    Column("environment", String, nullable=True),
    Column("promotion_id", String, nullable=True),
    Column("snapshot_id", String, nullable=True),
    Column("summary", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("prev_hash", HASH, nullable=False),
    Column("hash", HASH, nullable=False),
    Column("mac", HASH, nullable=True),
    Column("key_id", String(16), nullable=True),
    Column("record", Text, nullable=True),
    Index("ix_audit_events_environment_seq", "environment", "seq"),
    Index("ix_audit_events_actor_seq", "actor", "seq"),
    Index("ix_audit_events_kind_seq", "kind", "seq"),
    Index("ix_audit_events_promotion_id_seq", "promotion_id", "seq"),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_record_seq", "record", "seq"),
)

# One row (id 1): the last event's seq and hash, updated in the transaction of every append. Appends lock it
# (SELECT ... FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE on SQLite), which serializes them across processes.
chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", HASH, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# Rendered artifacts that were deployed, by the SHA-256 of their content.
artifacts = Table(
    "audit_artifacts",
    metadata,
    Column("digest", HASH, primary_key=True),
    Column("media_type", String, nullable=False),
    Column("name", String, nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("stored_at", TIME, nullable=False),
    Column("record_seq", Integer, nullable=False),
)

snapshots = Table(
    "audit_snapshots",
    metadata,
    Column("id", String, primary_key=True),
    Column("source_commit", String, nullable=True),
    Column("template_hash", String, nullable=False),
    Column("notebook_hash", String, nullable=True),
    Column("created_at", TIME, nullable=False),
    Column("created_by", String, nullable=False),
    Column("record_seq", Integer, nullable=False),
)

promotions = Table(
    "audit_promotions",
    metadata,
    Column("id", String, primary_key=True),
    Column("environment", String, nullable=False),
    Column("snapshot_id", String, ForeignKey("audit_snapshots.id"), nullable=False),
    Column("status", String, nullable=False),
    Column("requested_by", String, nullable=False),
    Column("requested_at", TIME, nullable=False),
    Column("is_rollback", Boolean, nullable=False),
    Column("skip_reason", Text, nullable=True),
    Column("plan_hash", String, nullable=True),
    Column("plan_summary", Text, nullable=False),
    Column("parameters_hash", String, nullable=True),
    Column("started_at", TIME, nullable=True),
    Column("finished_at", TIME, nullable=True),
    Column("error", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("approvals_required", Integer, nullable=False),
    Column("expires_at", TIME, nullable=True),
    Column("record_seq", Integer, nullable=False),
    Index("ix_audit_promotions_environment_requested_at", "environment", "requested_at"),
    Index("ix_audit_promotions_environment_status_finished_at", "environment", "status", "finished_at"),
    Index("ix_audit_promotions_status", "status"),
)

approvals = Table(
    "audit_approvals",
    metadata,
    Column("promotion_id", String, ForeignKey("audit_promotions.id"), primary_key=True),
    Column("actor", String, primary_key=True),
    Column("decision", String, nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", TIME, nullable=False),
    Column("record_seq", Integer, nullable=False),
    CheckConstraint("decision IN ('approve', 'reject')", name="decision"),
)

# One promotion at a time per environment: the primary key on `environment` is the lock.
locks = Table(
    "audit_locks",
    metadata,
    Column("environment", String, primary_key=True),
    Column("promotion_id", String, nullable=False),
    Column("owner", String, nullable=False),
    Column("acquired_at", TIME, nullable=False),
    Column("expires_at", TIME, nullable=False),
)
