"""The audit store's first schema: events with their chain head, artifacts, snapshots, promotions, approvals, locks.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.String(32)
HASH = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("actor_verified", sa.Boolean(), nullable=False),
        sa.Column("environment", sa.String(), nullable=True),
        sa.Column("promotion_id", sa.String(), nullable=True),
        sa.Column("snapshot_id", sa.String(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    for name, columns in (
        ("ix_audit_events_environment_seq", ["environment", "seq"]),
        ("ix_audit_events_actor_seq", ["actor", "seq"]),
        ("ix_audit_events_kind_seq", ["kind", "seq"]),
        ("ix_audit_events_promotion_id_seq", ["promotion_id", "seq"]),
        ("ix_audit_events_at", ["at"]),
    ):
        op.create_index(name, "audit_events", columns)

    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_chain_head_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])

    op.create_table(
        "audit_artifacts",
        sa.Column("digest", HASH, nullable=False),
        sa.Column("media_type", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_audit_artifacts"),
    )

    op.create_table(
        "audit_snapshots",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("source_commit", sa.String(), nullable=True),
        sa.Column("template_hash", sa.String(), nullable=False),
        sa.Column("notebook_hash", sa.String(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_snapshots"),
    )

    op.create_table(
        "audit_promotions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("environment", sa.String(), nullable=False),
        sa.Column("snapshot_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("requested_at", TIME, nullable=False),
        sa.Column("is_rollback", sa.Boolean(), nullable=False),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("plan_hash", sa.String(), nullable=True),
        sa.Column("plan_summary", sa.Text(), nullable=False),
        sa.Column("parameters_hash", sa.String(), nullable=True),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("approvals_required", sa.Integer(), nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["snapshot_id"], ["audit_snapshots.id"], name="fk_audit_promotions_snapshot_id"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_promotions"),
    )
    op.create_index("ix_audit_promotions_environment_requested_at", "audit_promotions", ["environment", "requested_at"])
    op.create_index(
        "ix_audit_promotions_environment_status_finished_at",
        "audit_promotions",
        ["environment", "status", "finished_at"],
    )
    op.create_index("ix_audit_promotions_status", "audit_promotions", ["status"])

    op.create_table(
        "audit_approvals",
        sa.Column("promotion_id", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.CheckConstraint("decision IN ('approve', 'reject')", name="ck_audit_approvals_decision"),
        sa.ForeignKeyConstraint(["promotion_id"], ["audit_promotions.id"], name="fk_audit_approvals_promotion_id"),
        sa.PrimaryKeyConstraint("promotion_id", "actor", name="pk_audit_approvals"),
    )

    op.create_table(
        "audit_locks",
        sa.Column("environment", sa.String(), nullable=False),
        sa.Column("promotion_id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("acquired_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("environment", name="pk_audit_locks"),
    )


def downgrade() -> None:
    for table in (
        "audit_locks",
        "audit_approvals",
        "audit_promotions",
        "audit_snapshots",
        "audit_artifacts",
        "audit_chain_head",
        "audit_events",
    ):
        op.drop_table(table)
