"""The audit trail's hash chain: canonical JSON, event hashes, record digests and the check of a stream of events.

Every event stores the hash of the one before it (`prev_hash`, 64 zeros for the first) and its own `hash`: the
SHA-256 of the canonical JSON of all its other fields (HASHED_FIELDS). Canonical JSON is `json.dumps` with sorted keys,
no spaces and UTF-8 text (not \\u escapes), so the same event gives the same bytes on every database and platform.

A changed field changes the event's hash (edited); a removed event leaves a gap in `seq` (deleted); an event put back
with a recomputed hash breaks the `prev_hash` of the next one; removed last events no longer match the chain head that
the store keeps in the same transaction as every append.

That much only catches naive edits: whoever can write the database can recompute every hash after the one changed,
and the head. Three things go further (see store.py): with the audit key (keys.py) every event carries an HMAC of its
hash that nobody without the key can recompute; anchors (anchors.py) put the head's seq and hash in signed Git notes
on the promoted commits, out of the database writer's reach once pushed; and the rows that decide anything
(promotions, approvals, snapshots, artifacts) are chained too: every write of one appends a `record written` event
whose data holds the row's digest (record_digest), and the row keeps that event's seq (`record_seq`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from portal.audit.vocabulary import EventKind

GENESIS_HASH = "0" * 64

# A row of the store as read (SQLAlchemy's RowMapping, keyed by column name or by the column itself) or as a dict.
StoredRow = Mapping[Any, Any]

# Events the store writes itself (AuditStore.append refuses them from callers).
RECORD_WRITTEN = EventKind.RECORD_WRITTEN
AUDIT_SEALED = EventKind.AUDIT_SEALED
RESERVED_KINDS = frozenset({RECORD_WRITTEN, AUDIT_SEALED})

# The fields an event's hash covers, in the order they are exported; `hash` itself is not among them.
HASHED_FIELDS = (
    "seq",
    "at",
    "kind",
    "actor",
    "actor_verified",
    "environment",
    "promotion_id",
    "snapshot_id",
    "summary",
    "data",
    "prev_hash",
)


def canonical_json(value: Any) -> str:
    """The one JSON text of `value`: sorted keys, compact separators, UTF-8 characters as they are, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def event_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the hashed fields of an event (`data` as a JSON value, not as text)."""
    return sha256_hex(canonical_json({name: fields[name] for name in HASHED_FIELDS}).encode("utf-8"))


def record_digest(values: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a row's columns (without `record_seq`; for an artifact, its metadata
    with the content's SHA-256, which is its `digest` column, not the content itself)."""
    return sha256_hex(canonical_json(dict(values)).encode("utf-8"))


def record_name(table: str, key: Any) -> str:
    """The one text naming a row of a decision table: the canonical JSON of [table, key] (key: the primary key's
    value, or the list of its values when it has several columns)."""
    return canonical_json([table, key])


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


class ChainChecker:
    """Checks stored events fed in `seq` order, one batch at a time, and remembers the first break.

    Feed rows (mappings with the HASHED_FIELDS, `data` as stored JSON text, and `hash`) with `feed`, then call
    `finish(head_seq, head_hash)` with the store's chain head. `checked` counts the events that passed.
    """

    def __init__(self) -> None:
        self.checked = 0
        self.last_seq = 0
        self.last_hash = GENESIS_HASH
        self.broken: ChainBreak | None = None

    def feed(self, rows: Iterable[StoredRow]) -> bool:
        """Check the next rows; False as soon as the chain is broken (the rest need not be read)."""
        if self.broken:
            return False
        for row in rows:
            seq = row["seq"]
            expected = self.last_seq + 1
            if seq != expected:
                self.broken = ChainBreak(expected, f"event {expected} is missing (deleted)")
                return False
            if content_hash(row) != row["hash"]:
                self.broken = ChainBreak(seq, f"event {seq}: its content does not match its hash (edited)")
                return False
            if row["prev_hash"] != self.last_hash:
                if seq > 1:
                    what = f"event {seq}: prev_hash does not match event {seq - 1} (event {seq - 1} was replaced)"
                else:
                    what = f"event {seq}: prev_hash is not the start of the chain"
                self.broken = ChainBreak(seq, what)
                return False
            self.checked += 1
            self.last_seq = seq
            self.last_hash = row["hash"]
        return True

    def finish(self, head_seq: int, head_hash: str) -> ChainBreak | None:
        """Compare the end of the chain with the head; the first break found, or None when the trail is intact."""
        if self.broken:
            return self.broken
        found = self.last_seq
        if head_seq > found:
            self.broken = ChainBreak(
                found + 1, f"the chain head says {head_seq} events, found {found} (the last ones were deleted)"
            )
        elif head_seq < found:
            self.broken = ChainBreak(
                head_seq + 1,
                f"the chain head says {head_seq} events, found {found} (events were added outside the store)",
            )
        elif head_hash != self.last_hash:
            self.broken = ChainBreak(
                max(found, 1), f"the chain head's hash does not match event {found} (the chain was rewritten)"
            )
        return self.broken


def content_hash(row: Mapping[str, Any]) -> str | None:
    """The hash an event's stored content should have; None when its data is not JSON any more."""
    try:
        data = json.loads(row["data"])
        fields = {name: row[name] for name in HASHED_FIELDS}
        fields["data"] = data
        fields["actor_verified"] = bool(fields["actor_verified"])
        return event_hash(fields)
    except (TypeError, ValueError):
        return None
