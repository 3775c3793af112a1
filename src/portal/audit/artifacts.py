"""Artifacts: the rendered content that was deployed, stored by its SHA-256. Their metadata is chained like every
decision row (decision_rows.py), and every read recomputes the content's digest."""

from __future__ import annotations

from sqlalchemy import insert, select

from portal.audit import models
from portal.audit.chain import sha256_hex
from portal.audit.database import Database
from portal.audit.decision_rows import DecisionRows, _recorded, _tampered
from portal.audit.times import now_iso


class Artifacts:
    """The artifacts of one store: what AuditStore.put_artifact and AuditStore.artifact do (documented there)."""

    def __init__(self, db: Database, rows: DecisionRows):
        self._db = db
        self._rows = rows

    def put_artifact(
        self, content: bytes, *, media_type: str, name: str, actor: str = "portal", actor_verified: bool = False
    ) -> str:
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"artifact content must be bytes, not {type(content).__name__}")
        content = bytes(content)
        digest = sha256_hex(content)
        table = models.artifacts
        with self._db.recording() as (conn, chain):
            if conn.scalar(select(table.c.digest).where(table.c.digest == digest)) is None:
                conn.execute(
                    insert(table).values(
                        digest=digest,
                        media_type=media_type,
                        name=name,
                        size=len(content),
                        content=content,
                        stored_at=now_iso(),
                        record_seq=chain.next_seq,
                    )
                )
                self._rows.record(
                    conn,
                    chain,
                    table,
                    table.c.digest == digest,
                    actor=actor,
                    actor_verified=actor_verified,
                    summary=f"artifact {name} ({len(content)} bytes, sha256 {digest[:12]})",
                )
        return digest

    def artifact(self, digest: str) -> tuple[bytes, str, str] | None:
        table = models.artifacts
        digest = digest.lower()
        with self._db.read() as conn:
            row = conn.execute(_recorded(table).where(table.c.digest == digest)).mappings().first()
            if row is None:
                self._rows.missing(conn, table, digest)
                return None
        content = bytes(row["content"])
        if sha256_hex(content) != row["digest"]:
            raise _tampered(table, digest, "its content does not match its digest (changed outside the portal)")
        self._rows.checked(table, [row])
        return content, row["media_type"], row["name"]
