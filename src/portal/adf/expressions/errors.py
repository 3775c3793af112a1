"""The expression engine's errors, and how their messages quote an expression.

`ExpressionError` is what callers see; `_SyntaxProblem` is raised by the lexer and the parser and turned into
an ExpressionError once the place is known.
"""

from __future__ import annotations

from portal.errors import ErrorCode, PortalError

# Errors quote the expression, shortened to this many characters.
QUOTE_LIMIT = 120


class ExpressionError(PortalError):
    """An ARM expression that cannot be parsed, or whose value cannot be known offline."""

    def __init__(self, where: str, what: str, hint: str | None = None):
        super().__init__(where, what, hint, code=ErrorCode.EXPRESSION)


class _SyntaxProblem(Exception):
    """Raised inside the parser; turned into an ExpressionError once the place is known."""

    def __init__(self, column: int, detail: str, hint: str | None = None):
        super().__init__(detail)
        self.column, self.detail, self.hint = column, detail, hint


def _quote(text: str) -> str:
    shown = text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 3] + "..."
    return f'"{shown}"'
