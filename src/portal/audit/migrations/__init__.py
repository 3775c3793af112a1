"""Alembic migrations of the audit store; AuditStore.open runs them up to head (see env.py)."""
