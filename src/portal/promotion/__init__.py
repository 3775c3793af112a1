"""Audited promotions: snapshots moving up the environments, roles, approvals, locks and rollback."""
