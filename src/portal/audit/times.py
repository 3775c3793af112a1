"""The audit store's times: Python's clock in UTC, as fixed-width ISO-8601 text with milliseconds (models.py), so
that text order is time order on SQLite and PostgreSQL; times given by callers are brought to that one form."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.errors import ErrorCode, PortalError


def now_iso() -> str:
    return _iso(datetime.now(UTC))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse_time(value: str, where: str, code: ErrorCode) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise PortalError(
            where, f"{value!r} is not an ISO-8601 time", hint="e.g. 2026-11-23T22:40:01+00:00", code=code
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _normal_time(value: str | None, where: str, code: ErrorCode = ErrorCode.AUDIT_DATA) -> str | None:
    """A time in the store's one form (UTC, milliseconds, fixed width); a time without zone is taken as UTC."""
    return None if value is None else _iso(_parse_time(value, where, code))
