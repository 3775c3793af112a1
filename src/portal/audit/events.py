"""The event trail: appending events, reading and counting them by filters, the chain head (and an anchor of it for
the Git notes), and the export as CSV or JSON lines."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, TextIO

from sqlalchemy import func, select

from portal.audit import models
from portal.audit.anchors import Anchor
from portal.audit.appends import _prepared
from portal.audit.chain import HASHED_FIELDS, RESERVED_KINDS, StoredRow, canonical_json
from portal.audit.database import Database
from portal.audit.records import AuditEvent, NewEvent
from portal.audit.times import _normal_time, now_iso
from portal.errors import ErrorCode, PortalError

EXPORT_COLUMNS = (*HASHED_FIELDS, "hash", "mac", "key_id")
_EVENT_FIELDS = tuple(f.name for f in fields(AuditEvent))


class EventLog:
    """The events of one store's trail: what AuditStore's event methods do (documented there)."""

    def __init__(self, db: Database):
        self._db = db

    def append(self, event: NewEvent) -> AuditEvent:
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[NewEvent]) -> list[AuditEvent]:
        for event in events:
            if event.kind in RESERVED_KINDS:
                raise PortalError(
                    f"audit event {event.kind!r}", "is written by the audit store itself", code=ErrorCode.AUDIT_DATA
                )
        prepared = [(*_prepared(e), None) for e in events]
        if not prepared:
            return []
        with self._db.recording() as (_conn, chain):
            done = chain.add(prepared)
        return done

    def head(self) -> tuple[int, str, str | None]:
        head, table = models.chain_head, models.events
        with self._db.read() as conn:
            top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
            if top is None:
                raise PortalError(
                    self._db.url_for_display,
                    "the audit trail's chain head is missing",
                    hint="run `portal audit verify`",
                    code=ErrorCode.AUDIT_STORE,
                )
            mac = conn.scalar(select(table.c.mac).where(table.c.seq == top.seq)) if top.seq else None
        return int(top.seq), top.hash, mac

    def anchor(self, *, promotion: str | None = None, environment: str | None = None) -> Anchor:
        seq, digest, mac = self.head()
        return Anchor(
            seq=seq,
            hash=digest,
            promotion=promotion,
            environment=environment,
            at=now_iso(),
            mac=mac,
            key_id=self._db.key.key_id if mac and self._db.key else None,
        )

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
        if offset < 0 or limit < 0:
            raise PortalError("events", "offset and limit cannot be negative", code=ErrorCode.BAD_FILTER)
        table = models.events
        order = table.c.seq.desc() if newest_first else table.c.seq.asc()
        query = self._filtered(select(table), environment, actor, kind, promotion_id, since, until)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(order).offset(offset).limit(limit)).mappings().all()
        return [_event(row) for row in rows]

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
        query = self._filtered(
            select(func.count()).select_from(models.events), environment, actor, kind, promotion_id, since, until
        )
        with self._db.read() as conn:
            return int(conn.scalar(query) or 0)

    def event(self, seq: int) -> AuditEvent | None:
        with self._db.read() as conn:
            row = conn.execute(select(models.events).where(models.events.c.seq == seq)).mappings().first()
        return _event(row) if row else None

    @staticmethod
    def _filtered(
        query: Any,
        environment: str | None,
        actor: str | None,
        kind: str | None,
        promotion_id: str | None,
        since: str | None,
        until: str | None,
    ) -> Any:
        c = models.events.c
        for column, value in (
            (c.environment, environment),
            (c.actor, actor),
            (c.kind, kind),
            (c.promotion_id, promotion_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(c.at >= _normal_time(since, f"since {since}", ErrorCode.BAD_FILTER))
        if until is not None:
            query = query.where(c.at < _normal_time(until, f"until {until}", ErrorCode.BAD_FILTER))
        return query

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
        batch_size: int,
    ) -> int:
        if fmt not in ("csv", "jsonl"):
            raise PortalError(
                f"export format {fmt!r}", "is not known", hint="use csv or jsonl", code=ErrorCode.EXPORT_FORMAT
            )
        table = models.events
        query = self._filtered(select(table), environment, actor, kind, promotion_id, since, until)
        writer = None
        if fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(EXPORT_COLUMNS)
        written, last = 0, 0
        with self._db.read(snapshot=True) as conn:
            while True:
                rows = (
                    conn.execute(query.where(table.c.seq > last).order_by(table.c.seq).limit(batch_size))
                    .mappings()
                    .all()
                )
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


def _event(row: StoredRow) -> AuditEvent:
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
