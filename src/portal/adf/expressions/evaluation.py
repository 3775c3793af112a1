"""The evaluator of a parsed expression, and the entry points `evaluate_string` and `evaluate_value`.

`_Evaluator` evaluates calls (through the function table), properties, indexes, and parameters and variables
(lazily, once, naming a cycle).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Literal, NoReturn

from portal.adf.expressions.context import EvaluationContext
from portal.adf.expressions.errors import ExpressionError, _quote
from portal.adf.expressions.functions import _FUNCTIONS, _OFFLINE, _UNSUPPORTED
from portal.adf.expressions.invocation import _arity, _Invocation
from portal.adf.expressions.lexer import is_expression
from portal.adf.expressions.parser import (
    Call,
    IntegerLiteral,
    Node,
    Property,
    StringLiteral,
    _parse,
)
from portal.adf.expressions.values import (
    Secret,
    _combined,
    _find_key,
    _is_int,
    _names,
    _secrets,
    json_type_name,
)


class _Evaluator:
    """Evaluates one expression string; errors name its place and quote it."""

    def __init__(self, ctx: EvaluationContext, where: str, text: str):
        self.ctx, self.where, self.text = ctx, where, text

    def fail(self, what: str, column: int | None = None, hint: str | None = None) -> NoReturn:
        at = f" at column {column}" if column is not None else ""
        raise ExpressionError(self.where, f"{what} in {_quote(self.text)}{at}", hint)

    def eval(self, node: Node) -> Any:
        if isinstance(node, (StringLiteral, IntegerLiteral)):
            return node.value
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Property):
            return self.member(self.eval(node.target), node.name, node.column)
        return self.index(self.eval(node.target), self.eval(node.index), node.column)

    def member(self, target: Any, name: str, column: int) -> Any:
        if isinstance(target, dict):
            key = _find_key(target, name)
            if key is None:
                hint = f"its properties: {_names(target)}" if target else "it has no properties"
                self.fail(f"the object has no property '{name}'", column, hint)
            return target[key]
        if isinstance(target, Secret):
            self.fail(f"cannot read property '{name}' of {target}: its value is unknown offline", column)
        self.fail(f"cannot read property '{name}' of a {json_type_name(target)}", column)

    def index(self, target: Any, key: Any, column: int) -> Any:
        if isinstance(target, list) and _is_int(key):
            if not 0 <= key < len(target):
                self.fail(f"index {key} is out of range (the array has {len(target)} elements)", column)
            return target[key]
        if isinstance(target, dict) and isinstance(key, str):
            return self.member(target, key, column)
        if isinstance(target, Secret):
            self.fail(f"cannot index {target}: its value is unknown offline", column)
        self.fail(f"cannot index a {json_type_name(target)} with a {json_type_name(key)}", column)

    def call(self, node: Call) -> Any:
        key = node.name.lower()
        if key == "if":
            return self.if_(node)
        spec = _FUNCTIONS.get(key)
        if spec is None:
            self.unknown(node)
        count = len(node.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            self.fail(f"{spec.name} takes {_arity(spec)}, got {count}", node.column)
        args = [self.eval(arg) for arg in node.args]
        invocation = _Invocation(self, spec.name, node.column)
        if spec.secrets in ("value", "shallow"):
            shallow = spec.secrets == "shallow"
            found = next((s for a in args for s in ([a] if shallow else _secrets(a)) if isinstance(s, Secret)), None)
            if found is not None:
                invocation.secret(found)
        elif spec.secrets == "propagate":
            combined = _combined(spec.name, args)
            if combined is not None:
                return combined
        return spec.impl(invocation, args)

    def if_(self, node: Call) -> Any:
        # Only the chosen branch is evaluated: the other may hold what is only valid in the other case.
        if len(node.args) != 3:
            self.fail(
                f"if takes 3 arguments (condition, value if true, value if false), got {len(node.args)}", node.column
            )
        condition = self.eval(node.args[0])
        secret = next(_secrets(condition), None)
        if secret is not None:
            _Invocation(self, "if", node.column).secret(secret)
        if not isinstance(condition, bool):
            self.fail(f"if needs a bool condition, got a {json_type_name(condition)}", node.column)
        return self.eval(node.args[1] if condition else node.args[2])

    def unknown(self, node: Call) -> NoReturn:
        key = node.name.lower()
        if key in _OFFLINE or (key.startswith("list") and key not in _FUNCTIONS):
            reason = _OFFLINE.get(key, "it calls the deployed resource's provider (keys, secrets, settings)")
            self.fail(f"function {node.name} cannot be evaluated offline: {reason}", node.column)
        if key in _UNSUPPORTED:
            name, reason = _UNSUPPORTED[key]
            self.fail(f"function {name} is not supported by the offline evaluator", node.column, reason)
        if "." in key:
            self.fail(f"user-defined function {node.name} is not supported by the offline evaluator", node.column)
        self.fail(
            f"unknown function {node.name}",
            node.column,
            "see the ARM template functions reference for the names ARM knows",
        )

    def resolve(self, kind: Literal["parameter", "variable"], name: str, column: int) -> Any:
        table = self.ctx.parameters if kind == "parameter" else self.ctx.variables
        key = _find_key(table, name)
        if key is None:
            defined = f"defined {kind}s: {_names(table)}" if table else f"no {kind}s are defined"
            if kind == "variable" and "copy" in table:
                defined += "; variables made by a copy loop are not supported"
            self.fail(f"{kind} '{name}' is not defined", column, defined)
        slot = (kind, key)
        if slot in self.ctx._done:
            return self.ctx._done[slot]
        if slot in self.ctx._active:
            chain = self.ctx._active[self.ctx._active.index(slot) :] + [slot]
            self.fail(
                "a cycle: " + " → ".join(f"{k}s('{n}')" for k, n in chain), column, "a value cannot depend on itself"
            )
        self.ctx._active.append(slot)
        try:
            # Default values and variables may be expressions themselves, or hold expressions inside.
            value = evaluate_value(table[key], self.ctx, f"{self.where}, in {kind} '{key}'")
        finally:
            self.ctx._active.pop()
        self.ctx._done[slot] = value
        return value


# --- public entry points --------------------------------------------------------------------------------------


def evaluate_string(text: str, ctx: EvaluationContext, where: str) -> Any:
    """The value of a JSON string as ARM sees it: an expression is evaluated, '[[...]' loses its first bracket,
    any other string is returned unchanged."""
    if not is_expression(text):
        if isinstance(text, str) and text.startswith("[[") and text.endswith("]"):
            return text[1:]
        return text
    node = _parse(text[1:-1], 1, where, text)  # columns count in the whole string, '[' being column 1
    value = _Evaluator(ctx, where, text).eval(node)
    # Parameter and variable values are cached in the context: callers get their own copy.
    return copy.deepcopy(value) if isinstance(value, (dict, list)) else value


def _child(where: str, key: str) -> str:
    return f"{where}.{key}" if re.fullmatch(r"[A-Za-z_$@][\w$@-]*", key) else f"{where}[{json.dumps(key)}]"


def evaluate_value(value: Any, ctx: EvaluationContext, where: str) -> Any:
    """`value` with every string evaluated, recursively through objects and arrays; property names are kept as
    they are. Errors name the JSON path below `where`."""
    try:
        return _evaluate_quickly(value, ctx)
    except Exception:  # noqa: BLE001 - evaluated again, this time keeping the path, to raise with the place
        return _evaluate_tree(value, ctx, where, ())


_PLAIN = (int, float, bool, type(None))


def _evaluate_quickly(value: Any, ctx: EvaluationContext) -> Any:
    # A rendered template has hundreds of thousands of nodes and few expressions: no paths, no call per plain
    # value. Evaluation is deterministic, so a failure here fails the same way in `_evaluate_tree`.
    kind = type(value)
    if kind is str:
        return evaluate_string(value, ctx, "") if value.startswith("[") else value
    if kind is dict:
        return {key: child if type(child) in _PLAIN else _evaluate_quickly(child, ctx) for key, child in value.items()}
    if kind is list:
        return [child if type(child) in _PLAIN else _evaluate_quickly(child, ctx) for child in value]
    return _evaluate_tree(value, ctx, "", ())


def _evaluate_tree(value: Any, ctx: EvaluationContext, where: str, path: tuple[str | int, ...]) -> Any:
    # The path of a string is only spelled out for expressions (the only strings that can fail): a rendered
    # template has hundreds of thousands of plain strings.
    if isinstance(value, str):
        if not value.startswith("["):
            return value
        return evaluate_string(value, ctx, _spelled(where, path))
    if isinstance(value, dict):
        return {key: _evaluate_tree(child, ctx, where, (*path, str(key))) for key, child in value.items()}
    if isinstance(value, list):
        return [_evaluate_tree(child, ctx, where, (*path, i)) for i, child in enumerate(value)]
    return value


def _spelled(where: str, path: tuple[str | int, ...]) -> str:
    for step in path:
        where = f"{where}[{step}]" if isinstance(step, int) else _child(where, step)
    return where
