"""ARM template expressions, evaluated offline to render what an environment will receive.

A JSON string is an expression when it starts with '[' and ends with ']' and its second character is not '['
(ARM's own rule); a string that starts with '[[' and ends with ']' is a literal whose first '[' is dropped. Any
other string, including '[[abc' without a closing bracket, is a literal as written (ARM's docs and parser agree:
only strings that would otherwise be expressions are escaped).

Inside the brackets: function calls `name(arg, ...)` (names case-insensitive, optionally `namespace.name`),
string literals in single quotes with '' for a quote, integers, and `.property` / `[index]` chained after a call.
The module parses that into a small AST (`parse_expression`) and evaluates it with ARM's semantics for the
functions ADF templates and parameter files use. Whatever cannot be known offline (`reference`, `list*`,
`utcNow`, ...) or is not implemented raises ExpressionError: nothing passes through unevaluated.

Secure values are `Secret`s: they carry where they come from, never a value. A Secret may flow through string
functions (the result is a Secret naming what was done); a function that needs its value (comparisons, tests,
lengths) raises, because the value is unknown offline.

Limits, on purpose: strings count code points (ARM counts UTF-16 units; they differ only outside the BMP), string
ordering is ordinal, `uri` resolves by RFC 3986 without .NET's normalisation, and `format` supports only the
numeric specifiers N, D and X.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator, Literal, Mapping, NoReturn, Sequence, Union

from portal import safe_json
from portal.errors import PortalError

DEFAULT_ID = "00000000-0000-0000-0000-000000000000"
# Errors quote the expression, shortened to this many characters.
QUOTE_LIMIT = 120
# ARM integers are 64-bit.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class ExpressionError(PortalError):
    """An ARM expression that cannot be parsed, or whose value cannot be known offline."""

    def __init__(self, where: str, what: str, hint: str | None = None):
        super().__init__(where, what, hint, code="EXPRESSION")


@dataclass(frozen=True)
class Secret:
    """A secure value that must never be shown: rendering keeps only where it comes from."""

    source: str  # e.g. "Key Vault kv-prod / sql-password" or "environment variable SQL_PASSWORD"

    def __str__(self) -> str:
        return f"«secret: {self.source}»"


@dataclass
class EvaluationContext:
    """What expressions may read. Parameter and variable values are evaluated lazily, once, when first used;
    treat the mappings as fixed once evaluation has started (results are cached here)."""

    parameters: Mapping[str, Any]
    variables: Mapping[str, Any] = field(default_factory=dict)
    subscription_id: str = DEFAULT_ID
    resource_group: str = "resource-group"
    location: str = "westeurope"
    tenant_id: str = DEFAULT_ID
    deployment_name: str = "deployment"
    # Evaluated parameters and variables by (kind, name), and those being evaluated (to name a cycle).
    _done: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _active: list[tuple[str, str]] = field(default_factory=list, init=False, repr=False, compare=False)


# --- syntax ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StringLiteral:
    value: str
    column: int


@dataclass(frozen=True)
class IntegerLiteral:
    value: int
    column: int


@dataclass(frozen=True)
class Call:
    name: str  # as written, e.g. "concat" or "ns.fn"
    args: tuple[Node, ...]
    column: int


@dataclass(frozen=True)
class Property:
    target: Node
    name: str
    column: int


@dataclass(frozen=True)
class Index:
    target: Node
    index: Node
    column: int


Node = Union[StringLiteral, IntegerLiteral, Call, Property, Index]


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "int", "name", one of "()[],.", or "end"
    text: str
    value: Any
    column: int  # 1-based


class _SyntaxProblem(Exception):
    """Raised inside the parser; turned into an ExpressionError once the place is known."""

    def __init__(self, column: int, detail: str, hint: str | None = None):
        super().__init__(detail)
        self.column, self.detail, self.hint = column, detail, hint


def is_expression(text: str) -> bool:
    """True for a string ARM evaluates: '[...]' that does not start with '[['."""
    return isinstance(text, str) and len(text) >= 2 and text[0] == "[" and text[-1] == "]" and text[1] != "["


def _tokens(text: str, offset: int) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        column = i + 1 + offset
        if ch.isspace():
            i += 1
        elif ch == "'":
            parts: list[str] = []
            j = i + 1
            while True:
                if j >= n:
                    raise _SyntaxProblem(column, "the string that starts here has no closing quote",
                                         "a quote inside a string is written ''")
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        parts.append("'")
                        j += 2
                        continue
                    break
                parts.append(text[j])
                j += 1
            tokens.append(_Token("string", text[i:j + 1], "".join(parts), column))
            i = j + 1
        elif ch.isascii() and ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isascii()
                                                and text[i + 1].isdigit()):
            j = i + 1
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
            if j + 1 < n and text[j] == "." and text[j + 1].isdigit():
                raise _SyntaxProblem(column, "decimal numbers are not part of ARM expressions",
                                     "write json('1.5') or float('1.5')")
            tokens.append(_Token("int", text[i:j], int(text[i:j]), column))
            i = j
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            j = i + 1
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(_Token("name", text[i:j], text[i:j], column))
            i = j
        elif ch in "()[],.":
            tokens.append(_Token(ch, ch, ch, column))
            i += 1
        else:
            raise _SyntaxProblem(column, f"unexpected character {ch!r}")
    tokens.append(_Token("end", "", None, n + 1 + offset))
    return tokens


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    return f"the string {token.text}" if token.kind == "string" else f"'{token.text}'"


class _Parser:
    """Recursive descent over ARM's grammar:
    expression := string | integer | call ; call := name ['.' name] '(' [expression {',' expression}] ')'
    {'.' name | '[' expression ']'}."""

    def __init__(self, tokens: list[_Token]):
        self.tokens = tokens
        self.at = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at += 1
        return token

    def expect(self, kind: str, wanted: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            raise _SyntaxProblem(token.column, f"expected {wanted}, found {_describe(token)}")
        return self.take()

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise _SyntaxProblem(self.peek().column, "the expression is empty")
        node = self.expression()
        self.expect("end", "the end of the expression")
        return node

    def expression(self) -> Node:
        token = self.peek()
        if token.kind == "string":
            self.take()
            return StringLiteral(token.value, token.column)
        if token.kind == "int":
            self.take()
            return IntegerLiteral(token.value, token.column)
        if token.kind == "name":
            return self.call()
        raise _SyntaxProblem(token.column, "expected a function call, a string in single quotes or an integer, "
                                           f"found {_describe(token)}")

    def call(self) -> Node:
        first = self.take()
        name = first.text
        # A user-defined function is called as namespace.name(...).
        if self.peek().kind == "." and self.peek(1).kind == "name" and self.peek(2).kind == "(":
            self.take()
            name = f"{name}.{self.take().text}"
        if self.peek().kind != "(":
            hint = (f"ARM writes {name}() with parentheses" if name.lower() in ("true", "false", "null")
                    else "functions are called as name(...); strings are written in single quotes")
            raise _SyntaxProblem(self.peek().column, f"expected '(' after {name}, found {_describe(self.peek())}",
                                 hint)
        self.take()
        args: list[Node] = []
        if self.peek().kind == ")":
            self.take()
        else:
            while True:
                args.append(self.expression())
                if self.peek().kind == ",":
                    self.take()
                    continue
                self.expect(")", "',' or ')'")
                break
        node: Node = Call(name, tuple(args), first.column)
        while True:
            if self.peek().kind == ".":
                self.take()
                prop = self.expect("name", "a property name after '.'")
                node = Property(node, prop.text, prop.column)
            elif self.peek().kind == "[":
                bracket = self.take()
                index = self.expression()
                self.expect("]", "']'")
                node = Index(node, index, bracket.column)
            else:
                return node


@lru_cache(maxsize=4096)
def _parse_cached(body: str, offset: int) -> Node | _SyntaxProblem:
    # Templates repeat the same expressions; a problem is cached too and raised with each caller's place.
    try:
        return _Parser(_tokens(body, offset)).parse()
    except _SyntaxProblem as problem:
        return problem


def _quote(text: str) -> str:
    shown = text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT - 3] + "..."
    return f'"{shown}"'


def _parse(body: str, offset: int, where: str, shown: str) -> Node:
    result = _parse_cached(body, offset)
    if isinstance(result, _SyntaxProblem):
        raise ExpressionError(where, f"syntax error at column {result.column}: {result.detail} in {_quote(shown)}",
                              result.hint)
    return result


def parse_expression(text: str) -> Node:
    """The AST of an expression given without its outer brackets; columns count from 1 in `text`."""
    return _parse(text, 0, "expression", text)


# --- values ---------------------------------------------------------------------------------------------------

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
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b))
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


# --- evaluation -----------------------------------------------------------------------------------------------

# How a function treats Secret arguments: "value" needs every value (any Secret inside an argument is an error),
# "shallow" needs only the arguments themselves (elements may be secret), "propagate" yields a Secret when any
# argument holds one, "handled" decides itself.
SecretMode = Literal["value", "shallow", "propagate", "handled"]


@dataclass(frozen=True)
class _Function:
    name: str  # ARM's spelling, for messages
    min_args: int
    max_args: int | None
    secrets: SecretMode
    impl: Callable[[_Invocation, list[Any]], Any]


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
            self.fail(f"if takes 3 arguments (condition, value if true, value if false), got {len(node.args)}",
                      node.column)
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
        self.fail(f"unknown function {node.name}", node.column,
                  "see the ARM template functions reference for the names ARM knows")

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
            chain = self.ctx._active[self.ctx._active.index(slot):] + [slot]
            self.fail("a cycle: " + " → ".join(f"{k}s('{n}')" for k, n in chain), column,
                      "a value cannot depend on itself")
        self.ctx._active.append(slot)
        try:
            # Default values and variables may be expressions themselves, or hold expressions inside.
            value = evaluate_value(table[key], self.ctx, f"{self.where}, in {kind} '{key}'")
        finally:
            self.ctx._active.pop()
        self.ctx._done[slot] = value
        return value


def _arity(spec: _Function) -> str:
    def args(n: int) -> str:
        return f"{n} argument" + ("" if n == 1 else "s")
    if spec.max_args is None:
        return f"at least {args(spec.min_args)}"
    if spec.min_args == spec.max_args:
        return args(spec.min_args)
    return f"{spec.min_args} to {args(spec.max_args)}"


@dataclass
class _Invocation:
    """One call being evaluated: argument checks and errors that name the function."""

    evaluator: _Evaluator
    name: str
    column: int

    @property
    def ctx(self) -> EvaluationContext:
        return self.evaluator.ctx

    def fail(self, what: str, hint: str | None = None) -> NoReturn:
        self.evaluator.fail(f"{self.name}: {what}", self.column, hint)

    def secret(self, secret: Secret) -> NoReturn:
        self.fail(f"needs the value of {secret}, which is unknown offline",
                  "a secure value can be passed on or combined into a string, not tested or compared")

    def wrong(self, args: list[Any], i: int, wanted: str) -> NoReturn:
        self.fail(f"argument {i + 1} must be {wanted}, got a {json_type_name(args[i])}")

    def string(self, args: list[Any], i: int) -> str:
        value = args[i]
        if not isinstance(value, str):
            self.wrong(args, i, "a string")
        return value

    def integer(self, args: list[Any], i: int) -> int:
        value = args[i]
        if not isinstance(value, int) or isinstance(value, bool):
            self.wrong(args, i, "an int")
        return value

    def boolean(self, args: list[Any], i: int) -> bool:
        value = args[i]
        if not isinstance(value, bool):
            self.wrong(args, i, "a bool")
        return value

    def array(self, args: list[Any], i: int) -> list[Any]:
        value = args[i]
        if not isinstance(value, list):
            self.wrong(args, i, "an array")
        return value

    def text(self, value: Any, what: str) -> str:
        """ARM's conversion of a scalar to text (bools are True/False as .NET writes them)."""
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "True" if value else "False"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return _float_text(value)
        self.fail(f"{what} is a {json_type_name(value)}, which cannot be written into a string")

    def checked(self, value: int) -> int:
        if not INT_MIN <= value <= INT_MAX:
            self.fail(f"the result {value} does not fit in a 64-bit integer")
        return value


# --- functions: strings ---------------------------------------------------------------------------------------

def _concat(call: _Invocation, args: list[Any]) -> Any:
    if isinstance(args[0], list):
        joined: list[Any] = []
        for i, arg in enumerate(args):
            if not isinstance(arg, list):
                call.fail(f"argument {i + 1} is a {json_type_name(arg)}; concat joins only arrays or only strings")
            joined.extend(arg)
        return joined
    for i, arg in enumerate(args):
        if isinstance(arg, (list, dict)) or arg is None:
            call.fail(f"argument {i + 1} is a {json_type_name(arg)}; concat joins only arrays or only strings")
    combined = _combined("concat", args)
    if combined is not None:
        return combined
    return "".join(call.text(arg, f"argument {i + 1}") for i, arg in enumerate(args))


_PLACEHOLDER = re.compile(r"\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?(?::(.*))?", re.S)


def _format(call: _Invocation, args: list[Any]) -> str:
    # .NET composite formatting: {index[,alignment][:format]}, with {{ and }} for literal braces.
    template = call.string(args, 0)
    values = args[1:]
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "{" and template[i + 1:i + 2] == "{" or ch == "}" and template[i + 1:i + 2] == "}":
            out.append(ch)
            i += 2
        elif ch == "{":
            end = template.find("}", i)
            if end < 0:
                call.fail("the format string has a '{' without a matching '}'", "write '{{' for a literal brace")
            item = template[i + 1:end]
            match = _PLACEHOLDER.fullmatch(item)
            if not match:
                call.fail(f"'{{{item}}}' is not a placeholder such as {{0}}")
            position = int(match[1])
            if position >= len(values):
                call.fail(f"placeholder {{{position}}} has no value ({len(values)} given after the format string)")
            text = _format_item(call, values[position], match[3], position)
            if match[2]:
                width = int(match[2])
                text = text.rjust(width) if width > 0 else text.ljust(-width)
            out.append(text)
            i = end + 1
        elif ch == "}":
            call.fail("the format string has a '}' without a matching '{'", "write '}}' for a literal brace")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _format_item(call: _Invocation, value: Any, spec: str | None, position: int) -> str:
    if not spec:
        if isinstance(value, (list, dict)):
            call.fail(f"value {position} is an {json_type_name(value)}", "convert it with string() first")
        return call.text(value, f"value {position}")
    match = re.fullmatch(r"([NnDdXx])(\d{0,2})", spec)
    if not match or not _is_int(value):
        call.fail(f"the format specifier ':{spec}' is not supported offline for a {json_type_name(value)}",
                  "supported: N, D and X with an optional precision, for ints")
    kind, digits = match[1], match[2]
    if kind in "Nn":
        return f"{value:,.{int(digits) if digits else 2}f}"
    if kind in "Dd":
        return ("-" if value < 0 else "") + str(abs(value)).zfill(int(digits or 0))
    if value < 0:
        call.fail("hexadecimal formatting of a negative number is not supported offline")
    return format(value, "X" if kind == "X" else "x").zfill(int(digits or 0))


def _replace(call: _Invocation, args: list[Any]) -> str:
    original, old, new = (call.string(args, i) for i in range(3))
    if not old:
        call.fail("the string to replace is empty")
    return original.replace(old, new)


def _substring(call: _Invocation, args: list[Any]) -> str:
    text = call.string(args, 0)
    start = call.integer(args, 1) if len(args) > 1 else 0
    if not 0 <= start <= len(text):
        call.fail(f"the start index {start} is outside the string (length {len(text)})")
    if len(args) < 3:
        return text[start:]
    length = call.integer(args, 2)
    if length < 0 or start + length > len(text):
        call.fail("the index and length must refer to a location within the string: "
                  f"index {start}, length {length}, string length {len(text)}")
    return text[start:start + length]


def _pad_left(call: _Invocation, args: list[Any]) -> str:
    value = args[0]
    if not (isinstance(value, str) or _is_int(value)):
        call.fail(f"argument 1 must be a string or an int, got a {json_type_name(value)}")
    total = call.integer(args, 1)
    pad = call.string(args, 2) if len(args) > 2 else " "
    if len(pad) != 1:
        call.fail(f"the padding must be a single character, got {pad!r}")
    if total < 0:
        call.fail(f"the total length {total} is negative")
    return str(value).rjust(total, pad)


def _length(call: _Invocation, args: list[Any]) -> int:
    value = args[0]
    if not isinstance(value, (str, list, dict)):
        call.fail(f"needs a string, an array or an object, got a {json_type_name(value)}")
    return len(value)


def _empty(call: _Invocation, args: list[Any]) -> bool:
    value = args[0]
    if value is None:
        return True
    if not isinstance(value, (str, list, dict)):
        call.fail(f"needs a string, an array or an object, got a {json_type_name(value)}")
    return len(value) == 0


def _contains(call: _Invocation, args: list[Any]) -> bool:
    container, item = args
    if isinstance(container, dict):
        # Only the keys are looked at, so secret values do not matter; keys match ignoring case.
        if isinstance(item, Secret):
            call.secret(item)
        if not isinstance(item, str):
            call.fail(f"an object's keys are strings; the item is a {json_type_name(item)}")
        return any(key.lower() == item.lower() for key in container)
    found = next((s for value in (container, item) for s in _secrets(value)), None)
    if found is not None:
        call.secret(found)
    if isinstance(container, str):
        if not (isinstance(item, str) or _is_int(item)):
            call.fail(f"a string can contain a string or an int, not a {json_type_name(item)}")
        return str(item) in container  # case-sensitive, as ARM documents
    if isinstance(container, list):
        return any(_deep_equal(element, item) for element in container)
    call.fail(f"needs a string, an array or an object, got a {json_type_name(container)}")


def _starts_with(call: _Invocation, args: list[Any]) -> bool:
    return call.string(args, 0).lower().startswith(call.string(args, 1).lower())  # case-insensitive in ARM


def _ends_with(call: _Invocation, args: list[Any]) -> bool:
    return call.string(args, 0).lower().endswith(call.string(args, 1).lower())


def _index_of(call: _Invocation, args: list[Any]) -> int:
    if isinstance(args[0], list):
        return next((i for i, element in enumerate(args[0]) if _deep_equal(element, args[1])), -1)
    return call.string(args, 0).lower().find(call.string(args, 1).lower())


def _last_index_of(call: _Invocation, args: list[Any]) -> int:
    if isinstance(args[0], list):
        return next((i for i in range(len(args[0]) - 1, -1, -1) if _deep_equal(args[0][i], args[1])), -1)
    return call.string(args, 0).lower().rfind(call.string(args, 1).lower())


def _split(call: _Invocation, args: list[Any]) -> list[str]:
    text = call.string(args, 0)
    delimiters = args[1]
    if isinstance(delimiters, str):
        delimiters = [delimiters]
    if not isinstance(delimiters, list) or not all(isinstance(d, str) for d in delimiters):
        call.fail("the delimiter must be a string or an array of strings")
    delimiters = [d for d in delimiters if d]  # .NET ignores empty separators
    if not delimiters:
        call.fail("the delimiter is empty")
    # At each position the first delimiter (in the given order) that matches wins, as in .NET's Split.
    parts: list[str] = []
    start = i = 0
    while i < len(text):
        hit = next((d for d in delimiters if text.startswith(d, i)), None)
        if hit is None:
            i += 1
        else:
            parts.append(text[start:i])
            i += len(hit)
            start = i
    parts.append(text[start:])
    return parts


def _join(call: _Invocation, args: list[Any]) -> str:
    items = call.array(args, 0)
    delimiter = call.string(args, 1)
    return delimiter.join(call.text(item, f"element {i}") for i, item in enumerate(items))


def _string(call: _Invocation, args: list[Any]) -> str:
    value = args[0]
    if isinstance(value, (list, dict)):
        return _compact_json(value)
    if value is None:
        call.fail("cannot convert null to a string offline")
    return call.text(value, "the value")


def _base64(call: _Invocation, args: list[Any]) -> str:
    return base64.b64encode(call.string(args, 0).encode("utf-8")).decode("ascii")


def _decode_base64(call: _Invocation, text: str) -> str:
    try:
        return base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        call.fail("the value is not base64 of UTF-8 text")


def _base64_to_string(call: _Invocation, args: list[Any]) -> str:
    return _decode_base64(call, call.string(args, 0))


def _parse_json(call: _Invocation, text: str) -> Any:
    def reject(constant: str) -> NoReturn:
        call.fail(f"{constant} is not valid JSON")
    try:
        return safe_json.loads(text, parse_constant=reject)
    except json.JSONDecodeError as error:
        call.fail(f"the string is not valid JSON ({error.msg} at character {error.pos + 1})")
    except safe_json.NestingError as error:
        call.fail(f"the string's JSON {error}")


def _json(call: _Invocation, args: list[Any]) -> Any:
    return _parse_json(call, call.string(args, 0))


def _base64_to_json(call: _Invocation, args: list[Any]) -> Any:
    return _parse_json(call, _decode_base64(call, call.string(args, 0)))


def _uri_component(call: _Invocation, args: list[Any]) -> str:
    return urllib.parse.quote(call.string(args, 0), safe="")  # keeps only RFC 3986 unreserved characters


def _uri_component_to_string(call: _Invocation, args: list[Any]) -> str:
    try:
        return urllib.parse.unquote(call.string(args, 0), errors="strict")
    except UnicodeDecodeError:
        call.fail("the value has %-escapes that are not UTF-8")


_URI = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.-]*):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.S)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 section 5.2.4.
    out: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("/./") or path == "/.":
            path = "/" + path[3:]
        elif path.startswith("/../") or path == "/..":
            path = "/" + path[4:]
            if out:
                out.pop()
        elif path in (".", ".."):
            path = ""
        else:
            cut = path.find("/", 1)
            segment, path = (path, "") if cut < 0 else (path[:cut], path[cut:])
            out.append(segment)
    return "".join(out)


def _uri_parts(text: str) -> tuple[str | None, str | None, str, str | None, str | None]:
    match = _URI.fullmatch(text)
    assert match is not None  # every part is optional, so any text matches
    scheme, authority, path, query, fragment = match.groups()
    return scheme, authority, path, query, fragment


def resolve_uri(base: str, reference: str) -> str:
    """RFC 3986 section 5.2 resolution, which ARM's uri() documents. Raises ValueError for a relative base."""
    b_scheme, b_auth, b_path, b_query, _ = _uri_parts(base)
    if b_scheme is None:
        raise ValueError("the base URI must be absolute (with a scheme such as https://)")
    r_scheme, r_auth, r_path, r_query, r_fragment = _uri_parts(reference)
    if r_scheme is not None:
        scheme, auth, path, query = r_scheme, r_auth, _remove_dot_segments(r_path), r_query
    else:
        scheme = b_scheme
        if r_auth is not None:
            auth, path, query = r_auth, _remove_dot_segments(r_path), r_query
        else:
            auth = b_auth
            if not r_path:
                path, query = b_path, (r_query if r_query is not None else b_query)
            else:
                if r_path.startswith("/"):
                    path = _remove_dot_segments(r_path)
                elif b_auth is not None and not b_path:
                    path = _remove_dot_segments("/" + r_path)
                else:
                    path = _remove_dot_segments(b_path[:b_path.rfind("/") + 1] + r_path)
                query = r_query
    text = f"{scheme}:"
    if auth is not None:
        text += f"//{auth}"
    text += path
    if query is not None:
        text += f"?{query}"
    if r_fragment is not None:
        text += f"#{r_fragment}"
    return text


def _uri(call: _Invocation, args: list[Any]) -> str:
    try:
        return resolve_uri(call.string(args, 0), call.string(args, 1))
    except ValueError as error:
        call.fail(str(error))


# uniqueString: ARM hashes the '-'-joined UTF-8 arguments with a MurmurHash64 variant and writes the 64 bits as
# 13 base32 characters (a-z, 2-7), most significant first. Checked against published values: 'test' →
# rbgf3xv4ufgzg, 'hello','world' → a7wkljktk6wne, 'tyeth' → zcztcwvu6iyg6.
_MASK32 = 0xFFFFFFFF


def _rotl32(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK32


def _fmix32(h: int) -> int:
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & _MASK32
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def _murmur64(data: bytes) -> int:
    c1, c2 = 0x239B961B, 0xAB0E9789
    h1 = h2 = 0
    i, n = 0, len(data)
    while i + 8 <= n:
        k1 = int.from_bytes(data[i:i + 4], "little")
        k2 = int.from_bytes(data[i + 4:i + 8], "little")
        h1 ^= _rotl32((k1 * c1) & _MASK32, 15) * c2 & _MASK32
        h1 = (_rotl32(h1, 19) + h2) & _MASK32
        h1 = (h1 * 5 + 0x561CCD1B) & _MASK32
        h2 ^= _rotl32((k2 * c2) & _MASK32, 17) * c1 & _MASK32
        h2 = (_rotl32(h2, 13) + h1) & _MASK32
        h2 = (h2 * 5 + 0x0BCAA747) & _MASK32
        i += 8
    tail = n - i
    if tail > 0:
        k1 = int.from_bytes(data[i:i + min(tail, 4)], "little")
        h1 ^= _rotl32((k1 * c1) & _MASK32, 15) * c2 & _MASK32
        if tail > 4:
            k2 = int.from_bytes(data[i + 4:n], "little")
            h2 ^= _rotl32((k2 * c2) & _MASK32, 17) * c1 & _MASK32
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    h1, h2 = _fmix32(h1), _fmix32(h2)
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    return (h2 << 32) | h1


def unique_string(*values: str) -> str:
    """ARM's uniqueString(values...)."""
    digest = _murmur64("-".join(values).encode("utf-8"))
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    letters = []
    for _ in range(13):  # 65 bits: the last letter takes the 4 lowest bits and a zero
        letters.append(alphabet[digest >> 59])
        digest = (digest << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(letters)


def _unique_string(call: _Invocation, args: list[Any]) -> str:
    return unique_string(*(call.string(args, i) for i in range(len(args))))


# --- functions: arrays and objects ----------------------------------------------------------------------------

def _sliced(call: _Invocation, args: list[Any], take: bool) -> Any:
    value = args[0]
    if isinstance(args[1], Secret):
        call.secret(args[1])
    count = call.integer(args, 1)
    if isinstance(value, Secret):
        return Secret(f"{call.name} of {value.source}")
    if not isinstance(value, (str, list)):
        call.fail(f"needs an array or a string, got a {json_type_name(value)}")
    count = max(count, 0)  # 0 or less: take nothing, skip nothing
    return value[:count] if take else value[count:]


def _take(call: _Invocation, args: list[Any]) -> Any:
    return _sliced(call, args, take=True)


def _skip(call: _Invocation, args: list[Any]) -> Any:
    return _sliced(call, args, take=False)


def _end(call: _Invocation, args: list[Any], first: bool) -> Any:
    value = args[0]
    if isinstance(value, Secret):
        return Secret(f"{call.name} of {value.source}")
    if isinstance(value, str):
        return (value[:1] if first else value[-1:])
    if isinstance(value, list):
        return (value[0] if first else value[-1]) if value else None
    call.fail(f"needs an array or a string, got a {json_type_name(value)}")


def _first(call: _Invocation, args: list[Any]) -> Any:
    return _end(call, args, first=True)


def _last(call: _Invocation, args: list[Any]) -> Any:
    return _end(call, args, first=False)


def _create_object(call: _Invocation, args: list[Any]) -> dict[str, Any]:
    if len(args) % 2:
        call.fail(f"needs key and value pairs, got {len(args)} arguments")
    result: dict[str, Any] = {}
    for i in range(0, len(args), 2):
        if isinstance(args[i], Secret):
            call.secret(args[i])
        key = call.string(args, i)
        if key in result:
            call.fail(f"the key '{key}' is given twice")
        result[key] = args[i + 1]
    return result


def _array(call: _Invocation, args: list[Any]) -> list[Any]:
    return list(args[0]) if isinstance(args[0], list) else [args[0]]


def _same_kind(call: _Invocation, args: list[Any]) -> type:
    kind = list if isinstance(args[0], list) else dict if isinstance(args[0], dict) else None
    if kind is None or not all(isinstance(arg, kind) for arg in args):
        call.fail("needs only arrays or only objects, got " + ", ".join(json_type_name(a) for a in args))
    return kind


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    # Nested objects merge; anything else (arrays included) is replaced by the later value, as ARM documents.
    merged = dict(first)
    for key, value in second.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _union(call: _Invocation, args: list[Any]) -> Any:
    if _same_kind(call, args) is dict:
        result: dict[str, Any] = {}
        for arg in args:
            result = _merge(result, arg)
        return result
    found = next((s for arg in args for s in _secrets(arg)), None)
    if found is not None:
        call.secret(found)  # duplicates are found by comparing values
    elements: list[Any] = []
    for arg in args:
        for element in arg:
            if not any(_deep_equal(element, kept) for kept in elements):
                elements.append(element)
    return elements


def _intersection(call: _Invocation, args: list[Any]) -> Any:
    if _same_kind(call, args) is dict:
        return {key: value for key, value in args[0].items()
                if all(key in other and _deep_equal(other[key], value) for other in args[1:])}
    elements: list[Any] = []
    for element in args[0]:
        if all(any(_deep_equal(element, x) for x in other) for other in args[1:]) \
                and not any(_deep_equal(element, kept) for kept in elements):
            elements.append(element)
    return elements


def _coalesce(call: _Invocation, args: list[Any]) -> Any:
    return next((arg for arg in args if arg is not None), None)  # a Secret is a value, so it is not null


def _ints(call: _Invocation, args: list[Any]) -> list[int]:
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not values:
        call.fail("needs at least one int")
    for value in values:
        if not _is_int(value):
            call.fail(f"needs ints, got a {json_type_name(value)}")
    return values


def _range(call: _Invocation, args: list[Any]) -> list[int]:
    start, count = call.integer(args, 0), call.integer(args, 1)
    if not 0 <= count <= 10000:
        call.fail(f"the count {count} must be between 0 and 10000")
    if start + count > 2147483647:
        call.fail("the start index plus the count must not exceed 2147483647")
    return list(range(start, start + count))


# --- functions: logic, comparison, numbers, conversions -------------------------------------------------------

def _compare(call: _Invocation, args: list[Any]) -> int:
    a, b = args
    if _is_int(a) and _is_int(b) or isinstance(a, str) and isinstance(b, str):
        return int(a > b) - int(a < b)  # strings: ordinal
    call.fail(f"compares two ints or two strings, not a {json_type_name(a)} and a {json_type_name(b)}")


def _bools(call: _Invocation, args: list[Any]) -> list[bool]:
    return [call.boolean(args, i) for i in range(len(args))]


def _div(call: _Invocation, args: list[Any]) -> int:
    a, b = call.integer(args, 0), call.integer(args, 1)
    if b == 0:
        call.fail("division by zero")
    quotient = abs(a) // abs(b)
    return call.checked(quotient if (a < 0) == (b < 0) else -quotient)  # truncates toward zero, as .NET


def _mod(call: _Invocation, args: list[Any]) -> int:
    a, b = call.integer(args, 0), call.integer(args, 1)
    if b == 0:
        call.fail("division by zero")
    quotient = abs(a) // abs(b)
    return a - b * (quotient if (a < 0) == (b < 0) else -quotient)  # the sign follows the dividend


def _int(call: _Invocation, args: list[Any]) -> int:
    value = args[0]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
        return call.checked(int(value))
    call.fail(f"cannot convert the {json_type_name(value)} {value!r} to an int")


def _bool(call: _Invocation, args: list[Any]) -> bool:
    value = args[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    call.fail(f"cannot convert the {json_type_name(value)} {value!r} to a bool")


def _float(call: _Invocation, args: list[Any]) -> float:
    value = args[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", value):
        return float(value)
    call.fail(f"cannot convert the {json_type_name(value)} {value!r} to a number")


# --- functions: deployment ------------------------------------------------------------------------------------

def _resource_path(call: _Invocation, args: list[Any], at: int) -> str:
    """'providers/<namespace>/<type>/<name>[/<child type>/<child name>...]' from the type at `at` and the names
    after it."""
    resource_type = args[at]
    segments = resource_type.split("/")
    names = args[at + 1:]
    if len(segments) < 2 or not all(segments):
        call.fail(f"'{resource_type}' is not a resource type such as 'Microsoft.Storage/storageAccounts'")
    if len(names) != len(segments) - 1:
        call.fail(f"the resource type '{resource_type}' needs {len(segments) - 1} name(s), got {len(names)}")
    path = f"providers/{segments[0]}"
    for segment, name in zip(segments[1:], names):
        path += f"/{segment}/{name}"
    return path


def _type_position(call: _Invocation, args: list[Any], most_leading: int) -> int:
    for i in range(len(args)):
        call.string(args, i)
    at = next((i for i, arg in enumerate(args) if "/" in arg), None)
    if at is None:
        call.fail("needs a resource type such as 'Microsoft.Storage/storageAccounts'")
    if at > most_leading:
        call.fail(f"takes at most {most_leading} argument(s) before the resource type, got {at}")
    return at


def _resource_id(call: _Invocation, args: list[Any]) -> str:
    # resourceId([subscriptionId], [resourceGroupName], resourceType, name1, [name2], ...)
    at = _type_position(call, args, 2)
    subscription = args[0] if at == 2 else call.ctx.subscription_id
    group = args[at - 1] if at >= 1 else call.ctx.resource_group
    return f"/subscriptions/{subscription}/resourceGroups/{group}/{_resource_path(call, args, at)}"


def _subscription_resource_id(call: _Invocation, args: list[Any]) -> str:
    at = _type_position(call, args, 1)
    subscription = args[0] if at == 1 else call.ctx.subscription_id
    return f"/subscriptions/{subscription}/{_resource_path(call, args, at)}"


def _tenant_resource_id(call: _Invocation, args: list[Any]) -> str:
    _type_position(call, args, 0)
    return f"/{_resource_path(call, args, 0)}"


def _subscription(call: _Invocation, args: list[Any]) -> dict[str, Any]:
    ctx = call.ctx
    return {"id": f"/subscriptions/{ctx.subscription_id}", "subscriptionId": ctx.subscription_id,
            "tenantId": ctx.tenant_id, "displayName": ctx.subscription_id}


def _resource_group(call: _Invocation, args: list[Any]) -> dict[str, Any]:
    ctx = call.ctx
    return {"id": f"/subscriptions/{ctx.subscription_id}/resourceGroups/{ctx.resource_group}",
            "name": ctx.resource_group, "location": ctx.location}


def _function(name: str, min_args: int, max_args: int | None, secrets: SecretMode,
              impl: Callable[[_Invocation, list[Any]], Any]) -> tuple[str, _Function]:
    return name.lower(), _Function(name, min_args, max_args, secrets, impl)


_FUNCTIONS: dict[str, _Function] = dict([
    _function("parameters", 1, 1, "value",
              lambda c, a: c.evaluator.resolve("parameter", c.string(a, 0), c.column)),
    _function("variables", 1, 1, "value",
              lambda c, a: c.evaluator.resolve("variable", c.string(a, 0), c.column)),
    # strings
    _function("concat", 1, None, "handled", _concat),
    _function("format", 1, None, "propagate", _format),
    _function("replace", 3, 3, "propagate", _replace),
    _function("toLower", 1, 1, "propagate", lambda c, a: c.string(a, 0).lower()),
    _function("toUpper", 1, 1, "propagate", lambda c, a: c.string(a, 0).upper()),
    _function("trim", 1, 1, "propagate", lambda c, a: c.string(a, 0).strip()),
    _function("substring", 1, 3, "propagate", _substring),
    _function("padLeft", 2, 3, "propagate", _pad_left),
    _function("string", 1, 1, "propagate", _string),
    _function("join", 2, 2, "propagate", _join),
    _function("base64", 1, 1, "propagate", _base64),
    _function("base64ToString", 1, 1, "propagate", _base64_to_string),
    _function("base64ToJson", 1, 1, "value", _base64_to_json),
    _function("uriComponent", 1, 1, "propagate", _uri_component),
    _function("uriComponentToString", 1, 1, "propagate", _uri_component_to_string),
    _function("uri", 2, 2, "propagate", _uri),
    _function("uniqueString", 1, None, "value", _unique_string),
    _function("startsWith", 2, 2, "value", _starts_with),
    _function("endsWith", 2, 2, "value", _ends_with),
    _function("indexOf", 2, 2, "value", _index_of),
    _function("lastIndexOf", 2, 2, "value", _last_index_of),
    _function("split", 2, 2, "value", _split),
    _function("json", 1, 1, "value", _json),
    # arrays and objects
    _function("length", 1, 1, "shallow", _length),
    _function("empty", 1, 1, "shallow", _empty),
    _function("contains", 2, 2, "handled", _contains),
    _function("first", 1, 1, "handled", _first),
    _function("last", 1, 1, "handled", _last),
    _function("take", 2, 2, "handled", _take),
    _function("skip", 2, 2, "handled", _skip),
    _function("createArray", 0, None, "handled", lambda c, a: list(a)),
    _function("createObject", 0, None, "handled", _create_object),
    _function("array", 1, 1, "handled", _array),
    _function("union", 1, None, "handled", _union),
    _function("intersection", 1, None, "value", _intersection),
    _function("coalesce", 1, None, "handled", _coalesce),
    _function("min", 1, None, "value", lambda c, a: min(_ints(c, a))),
    _function("max", 1, None, "value", lambda c, a: max(_ints(c, a))),
    _function("range", 2, 2, "value", _range),
    # logic and comparison
    _function("equals", 2, 2, "value", lambda c, a: _deep_equal(a[0], a[1])),
    _function("not", 1, 1, "value", lambda c, a: not c.boolean(a, 0)),
    _function("and", 2, None, "value", lambda c, a: all(_bools(c, a))),
    _function("or", 2, None, "value", lambda c, a: any(_bools(c, a))),
    _function("greater", 2, 2, "value", lambda c, a: _compare(c, a) > 0),
    _function("greaterOrEquals", 2, 2, "value", lambda c, a: _compare(c, a) >= 0),
    _function("less", 2, 2, "value", lambda c, a: _compare(c, a) < 0),
    _function("lessOrEquals", 2, 2, "value", lambda c, a: _compare(c, a) <= 0),
    _function("true", 0, 0, "value", lambda c, a: True),
    _function("false", 0, 0, "value", lambda c, a: False),
    _function("null", 0, 0, "value", lambda c, a: None),
    # numbers and conversions
    _function("add", 2, 2, "value", lambda c, a: c.checked(c.integer(a, 0) + c.integer(a, 1))),
    _function("sub", 2, 2, "value", lambda c, a: c.checked(c.integer(a, 0) - c.integer(a, 1))),
    _function("mul", 2, 2, "value", lambda c, a: c.checked(c.integer(a, 0) * c.integer(a, 1))),
    _function("div", 2, 2, "value", _div),
    _function("mod", 2, 2, "value", _mod),
    _function("int", 1, 1, "value", _int),
    _function("bool", 1, 1, "value", _bool),
    _function("float", 1, 1, "value", _float),
    # deployment
    _function("resourceId", 2, None, "value", _resource_id),
    _function("subscriptionResourceId", 2, None, "value", _subscription_resource_id),
    _function("tenantResourceId", 2, None, "value", _tenant_resource_id),
    _function("subscription", 0, 0, "value", _subscription),
    _function("resourceGroup", 0, 0, "value", _resource_group),
    _function("deployment", 0, 0, "value", lambda c, a: {"name": c.ctx.deployment_name}),
    _function("environment", 0, 0, "value", lambda c, a: {"name": "AzureCloud"}),
])

# ARM functions whose value exists only at deployment time (any other list* function is one too).
_OFFLINE: dict[str, str] = {
    "reference": "it reads the deployed resource's runtime state",
    "listkeys": "it reads keys from the deployed resource",
    "listsecrets": "it reads secrets from the deployed resource",
    "newguid": "it returns a new random GUID on every deployment",
    "utcnow": "it returns the time of the deployment",
    "pickzones": "it asks Azure which availability zones a region has",
    "providers": "it asks Azure for a resource provider's details",
    "managementgroup": "it needs the deployment's management group",
    "tenant": "it needs the deployment's tenant details",
    "deployer": "it needs the identity that deploys",
    "copyindex": "it only has a value inside a copy loop",
}
# ARM functions this evaluator does not implement, by lowercase name: (ARM's spelling, why).
_UNSUPPORTED: dict[str, tuple[str, str]] = {name.lower(): (name, why) for name, why in [
    ("guid", "ARM derives it with a hash this evaluator does not reproduce"),
    ("dataUri", "not needed by ADF templates"),
    ("dataUriToString", "not needed by ADF templates"),
    ("dateTimeAdd", "date functions are not implemented"),
    ("dateTimeFromEpoch", "date functions are not implemented"),
    ("dateTimeToEpoch", "date functions are not implemented"),
    ("items", "not needed by ADF templates"),
    ("objectKeys", "not needed by ADF templates"),
    ("shallowMerge", "not needed by ADF templates"),
    ("tryGet", "not needed by ADF templates"),
    ("flatten", "not needed by ADF templates"),
    ("filter", "lambda functions are not implemented"),
    ("map", "lambda functions are not implemented"),
    ("mapValues", "lambda functions are not implemented"),
    ("reduce", "lambda functions are not implemented"),
    ("sort", "lambda functions are not implemented"),
    ("groupBy", "lambda functions are not implemented"),
    ("toObject", "lambda functions are not implemented"),
    ("lambda", "lambda functions are not implemented"),
    ("lambdaVariables", "lambda functions are not implemented"),
    ("extensionResourceId", "not needed by ADF templates"),
    ("managementGroupResourceId", "not needed by ADF templates"),
    ("parseCidr", "CIDR functions are not implemented"),
    ("cidrSubnet", "CIDR functions are not implemented"),
    ("cidrHost", "CIDR functions are not implemented"),
]}

SUPPORTED_FUNCTIONS: tuple[str, ...] = tuple(sorted(["if", *(f.name for f in _FUNCTIONS.values())], key=str.lower))


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
