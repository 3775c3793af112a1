"""Chained records and signed events: `mac`, `key_id` and `record` on events; `record_seq` on promotions, approvals,
snapshots and artifacts, backfilled with a `record written` event for every existing row.

Trust on first use: the rows as they are at the upgrade are recorded as they are (each record's data says
"migration": "0002"). The events are chained with chain.event_hash after the newest one, and the head moves, all in
the upgrade's transaction; with an audit key (AuditStore.open passes it in config.attributes["audit_key"]) they are
signed too. Events from before the upgrade stay unsigned until `portal audit seal`. Then `record_seq` becomes NOT NULL,
so a row inserted later without a record is refused. SQLite alters the columns in Alembic's batch mode (the table is
copied) with foreign keys off (store._upgrade; audit_approvals refers to the audit_promotions being copied), and
checks them all before the upgrade commits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-06-01
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from portal.audit.chain import canonical_json, event_hash, record_digest, record_name

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.String(32)
HASH = sa.String(64)

# The decision tables as revision 0001 made them (without `content`, which an artifact's digest covers), in the
# order their rows are recorded, with their primary keys and the event columns each record fills.
TABLES: dict[str, tuple[list[str], dict[str, sa.types.TypeEngine[Any]], list[str]]] = {
    "audit_snapshots": (
        ["id", "source_commit", "template_hash", "notebook_hash", "created_at", "created_by"],
        {"created_at": TIME},
        ["id"],
    ),
    "audit_artifacts": (
        ["digest", "media_type", "name", "size", "stored_at"],
        {"size": sa.Integer(), "stored_at": TIME},
        ["digest"],
    ),
    "audit_promotions": (
        [
            "id",
            "environment",
            "snapshot_id",
            "status",
            "requested_by",
            "requested_at",
            "is_rollback",
            "skip_reason",
            "plan_hash",
            "plan_summary",
            "parameters_hash",
            "started_at",
            "finished_at",
            "error",
            "version",
            "approvals_required",
            "expires_at",
        ],
        {"is_rollback": sa.Boolean(), "version": sa.Integer(), "approvals_required": sa.Integer()},
        ["id"],
    ),
    "audit_approvals": (
        ["promotion_id", "actor", "decision", "comment", "at"],
        {},
        ["promotion_id", "actor"],
    ),
}

events = sa.table(
    "audit_events",
    sa.column("seq", sa.Integer()),
    sa.column("at", TIME),
    sa.column("kind", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("actor_verified", sa.Boolean()),
    sa.column("environment", sa.String()),
    sa.column("promotion_id", sa.String()),
    sa.column("snapshot_id", sa.String()),
    sa.column("summary", sa.Text()),
    sa.column("data", sa.Text()),
    sa.column("prev_hash", HASH),
    sa.column("hash", HASH),
    sa.column("mac", HASH),
    sa.column("key_id", sa.String()),
    sa.column("record", sa.Text()),
)
head = sa.table(
    "audit_chain_head", sa.column("id", sa.Integer()), sa.column("seq", sa.Integer()), sa.column("hash", HASH)
)


def _table(name: str) -> sa.TableClause:
    columns, types, _ = TABLES[name]
    return sa.table(
        name, *(sa.column(c, types.get(c, sa.String())) for c in columns), sa.column("record_seq", sa.Integer())
    )


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("mac", HASH, nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(16), nullable=True))
        batch.add_column(sa.Column("record", sa.Text(), nullable=True))
    op.create_index("ix_audit_events_record_seq", "audit_events", ["record", "seq"])
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("record_seq", sa.Integer(), nullable=True))

    _backfill(bind, context.config.attributes.get("audit_key"))

    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.alter_column("record_seq", existing_type=sa.Integer(), nullable=False)
    _check_foreign_keys(bind)


def _check_foreign_keys(bind: sa.Connection) -> None:
    """SQLite: the batch copies ran with foreign keys off (see store._upgrade); they must all still hold."""
    if bind.dialect.name == "sqlite":
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")


def _backfill(bind: sa.Connection, key) -> None:
    """One `record written` event for every row, chained after the newest event; the head moves at the end."""
    top = bind.execute(sa.select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
    if top is None:
        raise RuntimeError(
            "the audit trail's chain head is missing; run `portal audit verify` with the previous "
            "portal version before upgrading"
        )
    seq, prev_hash = top.seq, top.hash
    last_at = bind.scalar(sa.select(events.c.at).where(events.c.seq == seq)) if seq else None
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    at = max(now, last_at or "")
    for name, (columns, _, key_columns) in TABLES.items():
        table = _table(name)
        rows = (
            bind.execute(sa.select(*(table.c[c] for c in columns)).order_by(*(table.c[c] for c in key_columns)))
            .mappings()
            .all()
        )
        for row in rows:
            seq += 1
            values = {c: row[c] for c in columns}
            row_key = values[key_columns[0]] if len(key_columns) == 1 else [values[c] for c in key_columns]
            data = {"table": name, "key": row_key, "digest": record_digest(values), "migration": "0002"}
            fields = {
                "seq": seq,
                "at": at,
                "kind": "record written",
                "actor": "portal",
                "actor_verified": False,
                "environment": values.get("environment"),
                "promotion_id": values.get("promotion_id") or (values["id"] if name == "audit_promotions" else None),
                "snapshot_id": values.get("snapshot_id") or (values["id"] if name == "audit_snapshots" else None),
                "summary": f"{name} row {row_key}: recorded as it was at the upgrade to schema 0002",
                "data": data,
                "prev_hash": prev_hash,
            }
            digest = event_hash(fields)
            bind.execute(
                sa.insert(events).values(
                    **{**fields, "data": canonical_json(data)},
                    hash=digest,
                    mac=key.mac(digest) if key is not None else None,
                    key_id=key.key_id if key is not None else None,
                    record=record_name(name, row_key),
                )
            )
            bind.execute(sa.update(table).where(*(table.c[c] == values[c] for c in key_columns)).values(record_seq=seq))
            prev_hash = digest
    if seq != top.seq:
        bind.execute(sa.update(head).where(head.c.id == 1, head.c.seq == top.seq).values(seq=seq, hash=prev_hash))


def downgrade() -> None:
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.drop_column("record_seq")
    op.drop_index("ix_audit_events_record_seq", "audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("record")
        batch.drop_column("key_id")
        batch.drop_column("mac")
    _check_foreign_keys(op.get_bind())
