"""JSON text exactly as ADF Publish writes it: tab indentation, `": "` separators, UTF-8, no final newline."""

from __future__ import annotations

import json
from typing import IO, Any

_ENCODER = json.JSONEncoder(indent="\t", ensure_ascii=False)


def dumps_adf(value: Any) -> str:
    return json.dumps(value, indent="\t", ensure_ascii=False)


def dumps_bytes(value: Any) -> bytes:
    return dumps_adf(value).encode("utf-8")


def write_adf(value: Any, handle: IO[str]) -> None:
    """The same text as `dumps_adf`, written piece by piece (big templates are tens of MB)."""
    # The encoder yields millions of tiny pieces; joining a few thousand at a time keeps writes few and
    # memory flat.
    batch: list[str] = []
    for chunk in _ENCODER.iterencode(value):
        batch.append(chunk)
        if len(batch) >= 8192:
            handle.write("".join(batch))
            batch.clear()
    handle.write("".join(batch))
