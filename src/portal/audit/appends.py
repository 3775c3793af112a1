"""Appending to the hash chain inside one write transaction: `_prepared` turns a NewEvent into its hashed fields, and
`_Chain` holds the chain head for the transaction, adds the events (hash, MAC) and moves the head at its end."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from portal.audit import models
from portal.audit.chain import canonical_json, event_hash
from portal.audit.keys import AuditKey
from portal.audit.records import AuditEvent, NewEvent
from portal.audit.times import now_iso
from portal.errors import ErrorCode, PortalError


def _prepared(event: NewEvent) -> tuple[dict[str, Any], str]:
    """The hashed fields of a new event (without seq, at and prev_hash) and its data as canonical JSON text."""
    where = f"audit event {event.kind!r}"
    if not isinstance(event.data, Mapping):
        raise PortalError(
            where, f"its data must be a mapping, not {type(event.data).__name__}", code=ErrorCode.AUDIT_DATA
        )
    try:
        data_text = canonical_json(dict(event.data))
    except (TypeError, ValueError) as error:
        raise PortalError(where, f"its data is not JSON: {error}", code=ErrorCode.AUDIT_DATA) from None
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


class _Chain:
    """Appends within one write transaction: locks the chain head when made (so the writes of the transaction take
    their turn with every other append), and moves it in `finish`."""

    def __init__(self, conn: Connection, key: AuditKey | None, where: str):
        head, table = models.chain_head, models.events
        top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()).first()
        if top is None:
            raise PortalError(
                where,
                "the audit trail's chain head is missing; nothing can be appended",
                hint="run `portal audit verify`",
                code=ErrorCode.AUDIT_STORE,
            )
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
            rows.append({**fields_, "data": data_text, "hash": digest, "mac": mac, "key_id": key_id, "record": record})
            done.append(AuditEvent(**fields_, hash=digest, mac=mac, key_id=key_id))
            self.hash = digest
        if rows:
            self._conn.execute(insert(models.events), rows)
        return done

    def finish(self) -> None:
        if self.seq == self._start:
            return
        head = models.chain_head
        moved = self._conn.execute(
            update(head).where(head.c.id == 1, head.c.seq == self._start).values(seq=self.seq, hash=self.hash)
        )
        if moved.rowcount != 1:  # cannot happen while every writer locks the head; never append past it
            raise PortalError("audit trail", "the chain head moved during an append", code=ErrorCode.CONFLICT)
