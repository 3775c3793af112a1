"""Reading JSON (and YAML-made data) that people wrote, without letting its nesting crash the portal.

`json.loads` recurses once per level and stops with RecursionError near Python's recursion limit; the portal's own
walkers (defaults, references, expressions, rendering, writing) recurse per level too. So every reader of user
input goes through `loads` (or calls `check_depth` on what another parser made): anything nested deeper than
`MAX_DEPTH` levels is a `NestingError` (a ValueError) that the caller turns into a message naming the file.
ADF's own documents are far shallower (a deep pipeline is some 30 levels).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 100


class NestingError(ValueError):
    """The document is nested deeper than the portal reads."""

    def __init__(self, limit: int = MAX_DEPTH):
        self.limit = limit
        super().__init__(f"is nested deeper than {limit} levels (the portal reads at most {limit})")


def loads(text: str | bytes, *, limit: int = MAX_DEPTH, **options: Any) -> Any:
    """`json.loads(text, **options)`, refusing documents nested deeper than `limit` (NestingError).

    Syntax errors stay `json.JSONDecodeError`, with their line and column."""
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise NestingError(limit) from None
    check_depth(value, limit)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise NestingError when lists and mappings in `value` nest deeper than `limit` levels.

    Iterative (it never recurses itself), and it ends on self-referencing data too (a YAML alias of its own
    parent), which counts as nested without end."""
    deepest: dict[int, int] = {}  # container id → the deepest level it was reached at
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth > limit:
            raise NestingError(limit)
        if deepest.get(id(node), 0) >= depth:
            continue  # shared (a YAML alias) and already walked at least this deep
        deepest[id(node)] = depth
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))


# Quoted scalars and comments, whose brackets nest nothing (YAML's '' and JSON's \" escapes included).
_NOT_FLOW = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|(?:^|(?<=\s))#[^\n]*', re.MULTILINE)
_BRACKET = re.compile(r"[\[\]{}]")


def check_text_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Raise NestingError when the brackets of `text` (YAML flow collections, JSON) nest deeper than `limit`,
    before a parser spends its time on them (ruamel.yaml takes seconds on a few thousand levels)."""
    depth = 0
    for bracket in _BRACKET.finditer(_NOT_FLOW.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > limit:
                raise NestingError(limit)
        else:
            depth = max(depth - 1, 0)
