"""Values as ARM expressions see them.

`Secret` (a secure value known only by where it comes from), JSON type names, and the helpers that look into
values: the secrets inside a value, deep equality, case-insensitive keys, ARM's text of a number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from portal.secret_sources import SecretSource


@dataclass(frozen=True)
class Secret:
    """A secure value that must never be shown: rendering keeps only where it comes from."""

    source: str  # in words, e.g. "Key Vault kv-prod / sql-password" or "environment variable SQL_PASSWORD"
    # The source as a value, for the deploy to fetch it; None for a secret an expression derived from others
    # (base64 of a secret, say), which only ARM itself could work out.
    origin: SecretSource | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"«secret: {self.source}»"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # bool is an int in Python, not in ARM


def json_type_name(value: Any) -> str:
    """The JSON/ARM name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, Secret):
        return "secret"
    return type(value).__name__


def _secrets(value: Any) -> Iterator[Secret]:
    if isinstance(value, Secret):
        yield value
    elif isinstance(value, dict):
        for child in value.values():
            yield from _secrets(child)
    elif isinstance(value, list):
        for child in value:
            yield from _secrets(child)


def _combined(function: str, args: Sequence[Any]) -> Secret | None:
    """The Secret a string function yields when any argument holds one, naming every source once."""
    sources: list[str] = []
    for arg in args:
        for secret in _secrets(arg):
            if secret.source not in sources:
                sources.append(secret.source)
    return Secret(f"{function} of {' and '.join(sources)}") if sources else None


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _float_text(value: float) -> str:
    # .NET writes whole doubles without a fraction.
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_deep_equal(a[key], b[key]) for key in a)
    return a is None and b is None


def _find_key(mapping: Mapping[str, Any], name: str) -> str | None:
    """The key for `name`: exact, else the one key equal ignoring case (ARM names are case-insensitive)."""
    if name in mapping:
        return name
    matches = [key for key in mapping if isinstance(key, str) and key.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def _names(mapping: Mapping[str, Any], limit: int = 12) -> str:
    keys = [str(key) for key in mapping]
    return ", ".join(keys[:limit]) + (f" (and {len(keys) - limit} more)" if len(keys) > limit else "")
