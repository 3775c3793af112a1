"""The per-environment promotion locks: one row per environment (its primary key is the lock), held for a lease,
taken over when the lease ran out. Not chained: a lock decides nothing that outlives its lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete as sql_delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.audit import models
from portal.audit.database import Database
from portal.audit.records import Lock, LockResult, _record_values
from portal.audit.times import _iso
from portal.errors import ErrorCode, PortalError


class Locks:
    """The locks of one store: what AuditStore's lock methods do (documented there)."""

    def __init__(self, db: Database):
        self._db = db

    def acquire_lock(self, environment: str, promotion_id: str, owner: str, lease_seconds: float) -> LockResult:
        if lease_seconds <= 0:
            raise PortalError(
                f"environment {environment}", "a lock's lease must be positive", code=ErrorCode.AUDIT_DATA
            )
        table = models.locks
        for _ in range(10):
            try:
                with self._db.write() as conn:
                    now = datetime.now(UTC)
                    until = now + timedelta(seconds=lease_seconds)
                    ours = Lock(environment, promotion_id, owner, _iso(now), _iso(until))
                    row = (
                        conn.execute(select(table).where(table.c.environment == environment).with_for_update())
                        .mappings()
                        .first()
                    )
                    if row is None:
                        conn.execute(insert(table).values(**_record_values(ours)))
                        return LockResult(True, ours, None)
                    held = Lock(**row)
                    if held.expires_at >= ours.acquired_at:
                        return LockResult(False, held, None)
                    taken = conn.execute(
                        update(table)
                        .where(
                            table.c.environment == environment,
                            table.c.promotion_id == held.promotion_id,
                            table.c.owner == held.owner,
                            table.c.expires_at == held.expires_at,
                        )
                        .values(
                            promotion_id=promotion_id,
                            owner=owner,
                            acquired_at=ours.acquired_at,
                            expires_at=ours.expires_at,
                        )
                    )
                    if taken.rowcount == 1:
                        return LockResult(True, ours, held)
            except IntegrityError:
                pass  # another process inserted the lock first: look at it again
        raise PortalError(
            f"environment {environment}", "its lock keeps changing hands; try again", code=ErrorCode.LOCK_CONTENDED
        )

    def renew_lock(self, environment: str, promotion_id: str, lease_seconds: float) -> bool:
        table = models.locks
        with self._db.write() as conn:
            expires = _iso(datetime.now(UTC) + timedelta(seconds=lease_seconds))
            done = conn.execute(
                update(table)
                .where(table.c.environment == environment, table.c.promotion_id == promotion_id)
                .values(expires_at=expires)
            )
            return done.rowcount == 1

    def release_lock(self, environment: str, promotion_id: str) -> None:
        table = models.locks
        with self._db.write() as conn:
            conn.execute(
                sql_delete(table).where(table.c.environment == environment, table.c.promotion_id == promotion_id)
            )

    def lock(self, environment: str) -> Lock | None:
        table = models.locks
        with self._db.read() as conn:
            row = conn.execute(select(table).where(table.c.environment == environment)).mappings().first()
        return Lock(**row) if row else None
