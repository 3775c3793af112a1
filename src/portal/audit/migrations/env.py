"""Alembic environment of the audit store.

Runs only online, on the connection that AuditStore.open passes in `config.attributes["connection"]`, inside the
transaction that it has begun (and, on PostgreSQL, under an advisory lock), so that two processes opening a new store
at once do not both create the tables. The version table is `audit_alembic_version`, so the store can share a database
(or schema) with other applications' Alembic histories.
"""

from __future__ import annotations

from alembic import context

from portal.audit.models import metadata

VERSION_TABLE = "audit_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the audit store's migrations run through AuditStore.open, which passes a connection")

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
