"""ARM template expressions, evaluated offline to render what an environment will receive.

A JSON string is an expression when it starts with '[' and ends with ']' and its second character is not '['
(ARM's own rule); a string that starts with '[[' and ends with ']' is a literal whose first '[' is dropped. Any
other string, including '[[abc' without a closing bracket, is a literal as written (ARM's docs and parser agree:
only strings that would otherwise be expressions are escaped).

Inside the brackets: function calls `name(arg, ...)` (names case-insensitive, optionally `namespace.name`),
string literals in single quotes with '' for a quote, integers, and `.property` / `[index]` chained after a call.
The package parses that into a small AST (`parse_expression`) and evaluates it with ARM's semantics for the
functions ADF templates and parameter files use. Whatever cannot be known offline (`reference`, `list*`,
`utcNow`, ...) or is not implemented raises ExpressionError: nothing passes through unevaluated.

Secure values are `Secret`s: they carry where they come from, never a value. A Secret may flow through string
functions (the result is a Secret naming what was done); a function that needs its value (comparisons, tests,
lengths) raises, because the value is unknown offline.

Limits, on purpose: strings count code points (ARM counts UTF-16 units; they differ only outside the BMP), string
ordering is ordinal, `uri` resolves by RFC 3986 without .NET's normalisation, and `format` supports only the
numeric specifiers N, D and X.

The package, from the bottom up: `errors`, `lexer` and `parser` (syntax), `values` and `context` (what
expressions compute with and read), `invocation` (how a function is called), `uri` and `hashing` (ARM's
algorithms), `functions` (the function table), `evaluation` (the evaluator and entry points) and
`parameter_references`. Each imports only modules before it.
"""

from portal.adf.expressions.context import EvaluationContext
from portal.adf.expressions.errors import ExpressionError
from portal.adf.expressions.evaluation import evaluate_string, evaluate_value
from portal.adf.expressions.functions import SUPPORTED_FUNCTIONS
from portal.adf.expressions.hashing import unique_string
from portal.adf.expressions.lexer import is_expression
from portal.adf.expressions.parameter_references import references_parameters
from portal.adf.expressions.parser import (
    Call,
    Index,
    IntegerLiteral,
    Property,
    StringLiteral,
    parse_expression,
)
from portal.adf.expressions.uri import resolve_uri
from portal.adf.expressions.values import Secret, json_type_name

__all__ = [
    "SUPPORTED_FUNCTIONS",
    "Call",
    "EvaluationContext",
    "ExpressionError",
    "Index",
    "IntegerLiteral",
    "Property",
    "Secret",
    "StringLiteral",
    "evaluate_string",
    "evaluate_value",
    "is_expression",
    "json_type_name",
    "parse_expression",
    "references_parameters",
    "resolve_uri",
    "unique_string",
]
