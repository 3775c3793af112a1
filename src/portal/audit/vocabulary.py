"""The words the audit trail stores: a promotion's status and the kinds of event. As `StrEnum`s they compare equal
to the strings stored (and to what older rows hold), so the database and the JSON exports keep plain text."""

from __future__ import annotations

from enum import StrEnum


class PromotionStatus(StrEnum):
    """requested → awaiting approval (protected environments) → approved → running → succeeded | failed |
    interrupted; or rejected, or expired (superseded before it ran)."""

    AWAITING_APPROVAL = "awaiting approval"
    APPROVED = "approved"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Decision(StrEnum):
    """What an approver decided."""

    APPROVE = "approve"
    REJECT = "reject"


class EventKind(StrEnum):
    """Every kind of event the portal writes to the trail."""

    PROMOTION_REQUESTED = "promotion requested"
    PROMOTION_APPROVED = "promotion approved"
    PROMOTION_READY = "promotion ready"
    PROMOTION_REJECTED = "promotion rejected"
    PROMOTION_STARTED = "promotion started"
    PROMOTION_STEP = "promotion step"
    PROMOTION_FINISHED = "promotion finished"
    PROMOTION_FAILED = "promotion failed"
    PROMOTION_INTERRUPTED = "promotion interrupted"
    PROMOTION_EXPIRED = "promotion expired"
    ACTION_REFUSED = "action refused"
    PARAMETERS_EDITED = "parameters edited"
    RECORD_WRITTEN = "record written"  # data: {"table", "key", "digest"} of a row of a decision table, as written
    AUDIT_SEALED = "audit sealed"  # data: {"keyId", "signed", "through"}: events signed when a key was introduced
    ANCHOR_FAILED = "anchor failed"
    NOTIFICATION_SENT = "notification sent"  # data: {"channel", "notice"}; never the channel's address
    NOTIFICATION_FAILED = "notification failed"
    LINE_STOPPED = "line stopped"  # environment: the one stopped, or "*" for all; summary: the reason
    LINE_RESTARTED = "line restarted"
    ACTION_OVERRIDDEN = "action overridden"  # an admin promoted past a closed window or a stopped line
