"""The audit store: an append-only, hash-chained trail of what was done, by whom; the artifacts that were deployed
(by content); snapshots, promotions and approvals; and the per-environment promotion locks.

SQLite in `.portal/audit.db` of the data repository by default, PostgreSQL by URL for several portal replicas;
Alembic migrations run on every open. See store.py for how writes are serialized on each database.
"""

from portal.audit.chain import GENESIS_HASH, canonical_json, event_hash
from portal.audit.store import (
    AUDIT_URL_ENV,
    DEFAULT_AUDIT_FILE,
    Approval,
    AuditEvent,
    AuditStore,
    Lock,
    LockResult,
    NewEvent,
    Promotion,
    Snapshot,
    VerifyResult,
    audit_url,
    redact_url,
)

__all__ = [
    "AUDIT_URL_ENV",
    "DEFAULT_AUDIT_FILE",
    "GENESIS_HASH",
    "Approval",
    "AuditEvent",
    "AuditStore",
    "Lock",
    "LockResult",
    "NewEvent",
    "Promotion",
    "Snapshot",
    "VerifyResult",
    "audit_url",
    "canonical_json",
    "event_hash",
    "redact_url",
]
