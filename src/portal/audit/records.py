"""The audit store's value types (frozen dataclasses): the events that go in (NewEvent) and come out (AuditEvent),
verify's result, and the rows of snapshots, promotions, approvals and locks as the store's methods take and return
them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


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
    decision: str  # a Decision
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


def _record_values(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}
