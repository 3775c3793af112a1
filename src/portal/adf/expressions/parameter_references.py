"""Which parameters expressions name (`references_parameters`), read from the AST without evaluating."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from portal.adf.expressions.errors import _SyntaxProblem
from portal.adf.expressions.lexer import is_expression
from portal.adf.expressions.parser import (
    Call,
    Index,
    Node,
    Property,
    StringLiteral,
    _parse_cached,
)

_PARAMETER_CALL = re.compile(r"parameters\s*\(\s*'((?:[^']|'')*)'\s*\)", re.I)


def _parameter_names(node: Node) -> Iterator[str]:
    if isinstance(node, Call):
        if node.name.lower() == "parameters" and len(node.args) == 1 and isinstance(node.args[0], StringLiteral):
            yield node.args[0].value
        for arg in node.args:
            yield from _parameter_names(arg)
    elif isinstance(node, Property):
        yield from _parameter_names(node.target)
    elif isinstance(node, Index):
        yield from _parameter_names(node.target)
        yield from _parameter_names(node.index)


def references_parameters(value: Any) -> set[str]:
    """Names used as parameters('name') in the expressions anywhere inside `value` (direct uses only: a
    variable that uses a parameter is not followed, and a computed name cannot be known)."""
    names: set[str] = set()
    if isinstance(value, str):
        if is_expression(value):
            result = _parse_cached(value[1:-1], 1)
            if isinstance(result, _SyntaxProblem):
                # Still report what it names; evaluating it will report the syntax error.
                names.update(m.replace("''", "'") for m in _PARAMETER_CALL.findall(value))
            else:
                names.update(_parameter_names(result))
    elif isinstance(value, dict):
        for child in value.values():
            names |= references_parameters(child)
    elif isinstance(value, list):
        for child in value:
            names |= references_parameters(child)
    return names
