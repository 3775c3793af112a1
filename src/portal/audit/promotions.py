"""Snapshots, promotions and approvals: the decision rows of promotions, each write chained through its `record
written` event (decision_rows.py) and each read checked against it; promotions change by optimistic versions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.audit import models
from portal.audit.chain import RECORD_WRITTEN, StoredRow, canonical_json
from portal.audit.database import Database
from portal.audit.decision_rows import DecisionRows, _json_or_none, _recorded, _tampered
from portal.audit.records import Approval, Promotion, Snapshot, _record_values
from portal.audit.times import _normal_time
from portal.audit.vocabulary import Decision, PromotionStatus
from portal.errors import ErrorCode, PortalError

DECISIONS = tuple(Decision)
PROMOTION_TIMES = ("requested_at", "started_at", "finished_at", "expires_at")
_PROMOTION_CHANGEABLE = frozenset(f.name for f in fields(Promotion)) - {"id", "version"}
PROMOTION_FIELDS = tuple(f.name for f in fields(Promotion))


class Snapshots:
    """The snapshots of one store: what AuditStore.put_snapshot and AuditStore.snapshot do (documented there)."""

    def __init__(self, db: Database, rows: DecisionRows):
        self._db = db
        self._rows = rows

    def put_snapshot(self, snapshot: Snapshot, *, actor: str = "portal", actor_verified: bool = False) -> Snapshot:
        table = models.snapshots
        values = {
            **_record_values(snapshot),
            "created_at": _normal_time(snapshot.created_at, f"snapshot {snapshot.id}: created_at"),
        }
        with self._db.recording() as (conn, chain):
            if conn.scalar(select(table.c.id).where(table.c.id == snapshot.id)) is None:
                conn.execute(insert(table).values(**values, record_seq=chain.next_seq))
                commit = (snapshot.source_commit or "no commit")[:10]
                self._rows.record(
                    conn,
                    chain,
                    table,
                    table.c.id == snapshot.id,
                    actor=actor,
                    actor_verified=actor_verified,
                    snapshot_id=snapshot.id,
                    summary=f"snapshot {snapshot.id} (commit {commit})",
                )
        stored = self.snapshot(snapshot.id)
        assert stored is not None
        return stored

    def snapshot(self, snapshot_id: str) -> Snapshot | None:
        table = models.snapshots
        with self._db.read() as conn:
            row = conn.execute(_recorded(table).where(table.c.id == snapshot_id)).mappings().first()
            if row is None:
                self._rows.missing(conn, table, snapshot_id)
                return None
        self._rows.checked(table, [row])
        return Snapshot(**{f.name: row[f.name] for f in fields(Snapshot)})


class Promotions:
    """The promotions of one store: what AuditStore's promotion methods do (documented there)."""

    def __init__(self, db: Database, rows: DecisionRows):
        self._db = db
        self._rows = rows

    def create_promotion(
        self, promotion: Promotion, *, actor: str = "portal", actor_verified: bool = False
    ) -> Promotion:
        table = models.promotions
        values = _promotion_values(promotion.id, _record_values(promotion))
        snapshots = models.snapshots
        try:
            with self._db.recording() as (conn, chain):
                if conn.scalar(select(snapshots.c.id).where(snapshots.c.id == promotion.snapshot_id)) is None:
                    raise PortalError(
                        f"promotion {promotion.id}",
                        f"snapshot {promotion.snapshot_id} is not in the audit store",
                        hint="put_snapshot first",
                        code=ErrorCode.NOT_FOUND,
                    )
                if conn.scalar(select(table.c.id).where(table.c.id == promotion.id)) is not None:
                    raise PortalError(f"promotion {promotion.id}", "exists already", code=ErrorCode.CONFLICT)
                conn.execute(insert(table).values(**values, record_seq=chain.next_seq))
                row = self._rows.record(
                    conn,
                    chain,
                    table,
                    table.c.id == promotion.id,
                    actor=actor,
                    actor_verified=actor_verified,
                    environment=promotion.environment,
                    promotion_id=promotion.id,
                    snapshot_id=promotion.snapshot_id,
                    summary=f"promotion {promotion.id}: requested for {promotion.environment}, "
                    f"status {values['status']} (version {values['version']})",
                )
        except IntegrityError:
            raise PortalError(f"promotion {promotion.id}", "exists already", code=ErrorCode.CONFLICT) from None
        return _promotion(row)

    def promotion(self, promotion_id: str) -> Promotion | None:
        table = models.promotions
        with self._db.read() as conn:
            row = conn.execute(_recorded(table).where(table.c.id == promotion_id)).mappings().first()
            if row is None:
                self._rows.missing(conn, table, promotion_id)
                return None
        self._rows.checked(table, [row])
        return _promotion(row)

    def update_promotion(
        self,
        promotion_id: str,
        expected_version: int,
        *,
        actor: str = "portal",
        actor_verified: bool = False,
        **changes: Any,
    ) -> Promotion:
        unknown = set(changes) - _PROMOTION_CHANGEABLE
        if unknown:
            raise TypeError(f"update_promotion cannot change {', '.join(sorted(unknown))}")
        table = models.promotions
        values = _promotion_values(promotion_id, changes)
        with self._db.recording() as (conn, chain):
            current = conn.execute(_recorded(table).where(table.c.id == promotion_id)).mappings().first()
            if current is None:
                self._rows.missing(conn, table, promotion_id)
                raise PortalError(f"promotion {promotion_id}", "does not exist", code=ErrorCode.NOT_FOUND)
            self._rows.checked(table, [current])  # a changed row is never recorded as if the portal had written it
            if current["version"] != expected_version:
                raise PortalError(
                    f"promotion {promotion_id}",
                    f"changed meanwhile (version {current['version']}, expected {expected_version})",
                    hint="read it again and retry",
                    code=ErrorCode.CONFLICT,
                )
            conn.execute(
                update(table)
                .where(table.c.id == promotion_id, table.c.version == expected_version)
                .values(**values, version=expected_version + 1, record_seq=chain.next_seq)
            )
            status = values.get("status", current["status"])
            what = f"status {status}" if "status" in values else (", ".join(sorted(values)) or "nothing") + " changed"
            row = self._rows.record(
                conn,
                chain,
                table,
                table.c.id == promotion_id,
                actor=actor,
                actor_verified=actor_verified,
                environment=current["environment"],
                promotion_id=promotion_id,
                snapshot_id=current["snapshot_id"],
                summary=f"promotion {promotion_id}: {what} (version {expected_version + 1})",
            )
        return _promotion(row)

    def promotions(
        self, *, environment: str | None = None, statuses: Sequence[str] | None = None, limit: int = 100
    ) -> list[Promotion]:
        table = models.promotions
        query = _recorded(table)
        if environment is not None:
            query = query.where(table.c.environment == environment)
        if statuses is not None:
            query = query.where(table.c.status.in_(list(statuses)))
        query = query.order_by(table.c.requested_at.desc(), table.c.id.desc()).limit(limit)
        with self._db.read() as conn:
            rows = conn.execute(query).mappings().all()
        self._rows.checked(table, rows)
        return [_promotion(row) for row in rows]

    def last_succeeded(self, environment: str, *, before: str | None = None) -> Promotion | None:
        table = models.promotions
        query = _recorded(table).where(table.c.environment == environment, table.c.status == PromotionStatus.SUCCEEDED)
        with self._db.read() as conn:
            if before is not None:
                mark = conn.execute(_recorded(table).where(table.c.id == before)).mappings().first()
                if mark is None:
                    self._rows.missing(conn, table, before)
                    raise PortalError(f"promotion {before}", "does not exist", code=ErrorCode.NOT_FOUND)
                self._rows.checked(table, [mark])
                query = query.where(table.c.id != before)
                if mark["finished_at"] is not None:
                    query = query.where(
                        (table.c.finished_at < mark["finished_at"])
                        | ((table.c.finished_at == mark["finished_at"]) & (table.c.id < before))
                    )
            order = (table.c.finished_at.desc(), table.c.requested_at.desc(), table.c.id.desc())
            row = conn.execute(query.order_by(*order).limit(1)).mappings().first()
        if row is None:
            return None
        self._rows.checked(table, [row])
        return _promotion(row)


class Approvals:
    """The votes on promotions of one store: what AuditStore.add_approval and AuditStore.approvals do (documented
    there)."""

    def __init__(self, db: Database, rows: DecisionRows):
        self._db = db
        self._rows = rows

    def add_approval(self, approval: Approval, *, actor: str = "portal", actor_verified: bool = False) -> None:
        if approval.decision not in DECISIONS:
            raise PortalError(
                f"promotion {approval.promotion_id}",
                f"a decision is approve or reject, not {approval.decision!r}",
                code=ErrorCode.AUDIT_DATA,
            )
        values = {
            **_record_values(approval),
            "at": _normal_time(approval.at, f"approval of {approval.promotion_id}: at"),
        }
        promotions, table = models.promotions, models.approvals
        voted = PortalError(
            f"promotion {approval.promotion_id}", f"{approval.actor} has voted already", code=ErrorCode.ALREADY_VOTED
        )
        try:
            with self._db.recording() as (conn, chain):
                found = conn.execute(
                    select(promotions.c.environment, promotions.c.snapshot_id).where(
                        promotions.c.id == approval.promotion_id
                    )
                ).first()
                if found is None:
                    raise PortalError(f"promotion {approval.promotion_id}", "does not exist", code=ErrorCode.NOT_FOUND)
                if (
                    conn.scalar(
                        select(table.c.actor).where(
                            table.c.promotion_id == approval.promotion_id, table.c.actor == approval.actor
                        )
                    )
                    is not None
                ):
                    raise voted
                conn.execute(insert(table).values(**values, record_seq=chain.next_seq))
                self._rows.record(
                    conn,
                    chain,
                    table,
                    (table.c.promotion_id == approval.promotion_id) & (table.c.actor == approval.actor),
                    actor=actor,
                    actor_verified=actor_verified,
                    environment=found.environment,
                    promotion_id=approval.promotion_id,
                    snapshot_id=found.snapshot_id,
                    summary=f"promotion {approval.promotion_id}: {approval.decision} by {approval.actor}",
                )
        except IntegrityError:
            raise voted from None

    def approvals(self, promotion_id: str) -> list[Approval]:
        table, events = models.approvals, models.events
        with self._db.read() as conn:
            rows = (
                conn.execute(
                    _recorded(table).where(table.c.promotion_id == promotion_id).order_by(table.c.at, table.c.actor)
                )
                .mappings()
                .all()
            )
            recorded = conn.execute(
                select(events.c.seq, events.c.data).where(
                    events.c.promotion_id == promotion_id, events.c.kind == RECORD_WRITTEN
                )
            ).all()
        self._rows.checked(table, rows)
        present = {(row["promotion_id"], row["actor"]) for row in rows}
        for seq, data_text in recorded:
            data = _json_or_none(data_text)
            if (
                isinstance(data, dict)
                and data.get("table") == table.name
                and isinstance(data.get("key"), list)
                and len(data["key"]) == 2
                and tuple(data["key"]) not in present
            ):
                raise _tampered(
                    table, data["key"], f"was recorded in event {seq} but is missing (deleted outside the portal)"
                )
        return [Approval(**{f.name: row[f.name] for f in fields(Approval)}) for row in rows]


def _promotion_values(promotion_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values of promotion fields: times in the store's form, plan_summary as canonical JSON."""
    out = dict(values)
    for name in PROMOTION_TIMES:
        if name in out:
            out[name] = _normal_time(out[name], f"promotion {promotion_id}: {name}")
    if "plan_summary" in out:
        try:
            out["plan_summary"] = canonical_json(dict(out["plan_summary"] or {}))
        except (TypeError, ValueError) as error:
            raise PortalError(
                f"promotion {promotion_id}", f"its plan summary is not JSON: {error}", code=ErrorCode.AUDIT_DATA
            ) from None
    if "is_rollback" in out:
        out["is_rollback"] = bool(out["is_rollback"])
    return out


def _promotion(row: StoredRow) -> Promotion:
    values = {name: row[name] for name in PROMOTION_FIELDS}
    values["plan_summary"] = json.loads(values["plan_summary"])
    values["is_rollback"] = bool(values["is_rollback"])
    return Promotion(**values)
