"""The audit store: an append-only, hash-chained trail of what was done, by whom; the artifacts that were deployed
(by content); snapshots, promotions and approvals, each chained through a `record written` event; and the
per-environment promotion locks. With the audit key (PORTAL_AUDIT_KEY or PORTAL_AUDIT_KEY_FILE) every event is
signed; anchors put the chain head in Git notes on the promoted commits.

SQLite in `.portal/audit.db` of the data repository by default, PostgreSQL by URL for several portal replicas;
Alembic migrations run on every open. See store.py for what is chained and how writes are serialized.
"""

from portal.audit.anchors import (
    NOTES_REF,
    Anchor,
    AnchorReading,
    fetch_anchors,
    push_anchors,
    read_anchors,
    write_anchor,
)
from portal.audit.chain import GENESIS_HASH, RECORD_WRITTEN, canonical_json, event_hash
from portal.audit.keys import (
    AUDIT_KEY_ENV,
    AUDIT_KEY_FILE_ENV,
    AuditKey,
    audit_key_from_environment,
)
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
    "AUDIT_KEY_ENV",
    "AUDIT_KEY_FILE_ENV",
    "AUDIT_URL_ENV",
    "DEFAULT_AUDIT_FILE",
    "GENESIS_HASH",
    "NOTES_REF",
    "RECORD_WRITTEN",
    "Anchor",
    "AnchorReading",
    "Approval",
    "AuditEvent",
    "AuditKey",
    "AuditStore",
    "Lock",
    "LockResult",
    "NewEvent",
    "Promotion",
    "Snapshot",
    "VerifyResult",
    "audit_key_from_environment",
    "audit_url",
    "canonical_json",
    "event_hash",
    "fetch_anchors",
    "push_anchors",
    "read_anchors",
    "redact_url",
    "write_anchor",
]
