"""The audit key: an HMAC key that the deployment holds and the audit database never does.

With a key, every event the store appends carries `mac` = HMAC-SHA256(key, the event's hash) and `key_id`, the key's
fingerprint (HMAC(key, "portal-audit-key-id"), 16 hex digits). Someone who can write the database but does not hold
the key can still recompute hashes, but no MAC: verify names the first event without a valid one, and the reads of
promotions, approvals, snapshots and artifacts refuse a row whose record event is not signed.

The key comes from the environment of the portal's processes (all replicas and the CLI share it):
PORTAL_AUDIT_KEY (the key text itself) or PORTAL_AUDIT_KEY_FILE (a file holding it; keep it outside the repository
and outside the database's reach, readable by the portal's user only). At least 32 characters; surrounding
whitespace (a file's last newline) is not part of it. The key is never stored, printed or put in an error message:
only its fingerprint is.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from portal.errors import ErrorCode, PortalError

AUDIT_KEY_ENV = "PORTAL_AUDIT_KEY"
AUDIT_KEY_FILE_ENV = "PORTAL_AUDIT_KEY_FILE"
MIN_KEY_LENGTH = 32
_KEY_ID_MESSAGE = b"portal-audit-key-id"


class AuditKey:
    """An HMAC-SHA256 key. Its repr and str show the fingerprint only."""

    __slots__ = ("_secret", "key_id")

    def __init__(self, text: str, *, where: str = "the audit key"):
        if not isinstance(text, str):
            raise TypeError(f"an audit key is text, not {type(text).__name__}")
        text = text.strip()
        if len(text) < MIN_KEY_LENGTH:
            raise PortalError(
                where,
                f"is {len(text)} characters long; an audit key needs at least {MIN_KEY_LENGTH}",
                hint="e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'",
                code=ErrorCode.AUDIT_KEY,
            )
        self._secret = text.encode("utf-8")
        self.key_id = hmac.new(self._secret, _KEY_ID_MESSAGE, hashlib.sha256).hexdigest()[:16]

    def mac(self, message: str) -> str:
        """HMAC-SHA256 (hex) of `message` (UTF-8)."""
        return hmac.new(self._secret, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def valid(self, message: str, mac: str | None) -> bool:
        """Whether `mac` is this key's MAC of `message` (compared in constant time)."""
        return isinstance(mac, str) and hmac.compare_digest(self.mac(message), mac)

    def __repr__(self) -> str:
        return f"AuditKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self):  # never pickled (into a process pool, a cache, a log): pass the environment instead
        raise TypeError("an audit key is not pickled; let the other process read it from its environment")


def audit_key_from_environment() -> AuditKey | None:
    """The key from PORTAL_AUDIT_KEY or PORTAL_AUDIT_KEY_FILE, or None when neither is set.

    Both set, an unreadable file, or a key shorter than 32 characters → PortalError AUDIT_KEY (naming the variable,
    never the key)."""
    text = os.environ.get(AUDIT_KEY_ENV, "")
    path = os.environ.get(AUDIT_KEY_FILE_ENV, "").strip()
    if text.strip() and path:
        raise PortalError(
            f"{AUDIT_KEY_ENV} and {AUDIT_KEY_FILE_ENV}", "are both set; set one of them", code=ErrorCode.AUDIT_KEY
        )
    if text.strip():
        return AuditKey(text, where=AUDIT_KEY_ENV)
    if path:
        try:
            content = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise PortalError(
                f"{AUDIT_KEY_FILE_ENV} ({path})",
                f"cannot be read: {type(error).__name__}: {getattr(error, 'strerror', None) or error}",
                code=ErrorCode.AUDIT_KEY,
            ) from None
        return AuditKey(content, where=f"the key in {AUDIT_KEY_FILE_ENV} ({path})")
    return None


class _FromEnvironment:
    def __repr__(self) -> str:
        return "FROM_ENVIRONMENT"


# The default of every `key=` parameter: the deployment's key, read from the environment, so that every process
# that opens the store signs (and checks) alike without each caller having to remember it.
FROM_ENVIRONMENT = _FromEnvironment()


def resolve_key(key: object) -> AuditKey | None:
    """An AuditKey from a `key=` argument: FROM_ENVIRONMENT → the environment's (or None); None → no key; text →
    that key."""
    if key is FROM_ENVIRONMENT:
        return audit_key_from_environment()
    if key is None or isinstance(key, AuditKey):
        return key
    if isinstance(key, str):
        return AuditKey(key)
    raise TypeError(f"an audit key is an AuditKey or text, not {type(key).__name__}")
