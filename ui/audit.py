"""The Audit page's data: filters, pages, details and exports of the audit trail."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from portal.audit import AuditEvent, AuditStore
from portal.audit.vocabulary import EventKind

# The kinds of event the portal writes, for the audit page's filter.
EVENT_KINDS = tuple(EventKind)
PAGE_SIZES = (25, 50, 100, 200)
EXPORT_FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


# --- the audit trail -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    environment: str | None = None
    actor: str | None = None
    kind: str | None = None
    promotion_id: str | None = None
    since: str | None = None  # inclusive, ISO-8601
    until: str | None = None  # exclusive

    def kwargs(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "actor": self.actor,
            "kind": self.kind,
            "promotion_id": self.promotion_id,
            "since": self.since,
            "until": self.until,
        }


def audit_filter(
    *,
    environment: str | None = None,
    actor: str | None = None,
    kind: str | None = None,
    promotion_id: str | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
) -> AuditFilter:
    """A filter from what a form gives: blanks mean any; days are whole UTC days, the last one included."""

    def given(value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    since = datetime.combine(first_day, time(), UTC).isoformat() if first_day else None
    until = datetime.combine(last_day + timedelta(days=1), time(), UTC).isoformat() if last_day else None
    return AuditFilter(given(environment), given(actor), given(kind), given(promotion_id), since, until)


@dataclass(frozen=True)
class AuditPage:
    events: tuple[AuditEvent, ...]
    total: int  # events matching the filter
    page: int  # 1-based
    pages: int
    page_size: int

    @property
    def first(self) -> int:
        """Position (1-based, newest first) of the page's first event among the matching ones."""
        return 0 if not self.events else (self.page - 1) * self.page_size + 1

    @property
    def last(self) -> int:
        return self.first + len(self.events) - 1 if self.events else 0


def audit_page(store: AuditStore, where: AuditFilter, page: int = 1, page_size: int = 50) -> AuditPage:
    """One page of the matching events, newest first: a count and one indexed query, whatever the trail's size."""
    total = store.count_events(**where.kwargs())
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, page), pages)
    events = store.events(**where.kwargs(), offset=(page - 1) * page_size, limit=page_size)
    return AuditPage(tuple(events), total, page, pages, page_size)


def event_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at,
        "environment": event.environment or "",
        "actor": event.actor if event.actor_verified else f"{event.actor} (unverified)",
        "kind": event.kind,
        "promotion": event.promotion_id or "",
        "summary": event.summary,
    }


@dataclass(frozen=True)
class ArtifactRef:
    role: str  # "template", "parameters", "rendered", "plan", "notebookManifest"
    digest: str


def event_artifacts(event: AuditEvent) -> list[ArtifactRef]:
    """The artifacts a "promotion requested" event names (what went out, by content)."""
    found = event.data.get("artifacts") if isinstance(event.data, dict) else None
    if not isinstance(found, dict):
        return []
    return [ArtifactRef(str(role), str(digest)) for role, digest in found.items() if isinstance(digest, str)]


def export_bytes(store: AuditStore, fmt: str, where: AuditFilter) -> tuple[bytes, int]:
    """The matching events as CSV or JSON lines (oldest first), and how many there are."""
    out = io.StringIO()
    count = store.export(out, fmt, **where.kwargs())
    return out.getvalue().encode("utf-8"), count


def export_file_name(fmt: str, where: AuditFilter) -> str:
    parts = [p for p in (where.environment, where.kind, where.promotion_id) if p]
    stem = "audit" + ("-" + "-".join(parts) if parts else "")
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) + f".{fmt}"
