"""The AST of an ARM expression (`Node`) and the parser that builds it from the lexer's tokens.

Parses are cached; a syntax problem becomes an ExpressionError that names the caller's place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from portal.adf.expressions.errors import ExpressionError, _quote, _SyntaxProblem
from portal.adf.expressions.lexer import _describe, _Token, _tokens


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


Node = StringLiteral | IntegerLiteral | Call | Property | Index


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
        raise _SyntaxProblem(
            token.column, f"expected a function call, a string in single quotes or an integer, found {_describe(token)}"
        )

    def call(self) -> Node:
        first = self.take()
        name = first.text
        # A user-defined function is called as namespace.name(...).
        if self.peek().kind == "." and self.peek(1).kind == "name" and self.peek(2).kind == "(":
            self.take()
            name = f"{name}.{self.take().text}"
        if self.peek().kind != "(":
            hint = (
                f"ARM writes {name}() with parentheses"
                if name.lower() in ("true", "false", "null")
                else "functions are called as name(...); strings are written in single quotes"
            )
            raise _SyntaxProblem(self.peek().column, f"expected '(' after {name}, found {_describe(self.peek())}", hint)
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


def _parse(body: str, offset: int, where: str, shown: str) -> Node:
    result = _parse_cached(body, offset)
    if isinstance(result, _SyntaxProblem):
        raise ExpressionError(
            where, f"syntax error at column {result.column}: {result.detail} in {_quote(shown)}", result.hint
        )
    return result


def parse_expression(text: str) -> Node:
    """The AST of an expression given without its outer brackets; columns count from 1 in `text`."""
    return _parse(text, 0, "expression", text)
