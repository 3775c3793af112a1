"""JSON text exactly as ADF Publish writes it: tab indentation, `": "` separators, UTF-8, no final newline."""

from __future__ import annotations

import json
from typing import Any


def dumps_adf(value: Any) -> str:
    return json.dumps(value, indent="\t", ensure_ascii=False)


def dumps_bytes(value: Any) -> bytes:
    return dumps_adf(value).encode("utf-8")
