"""Which JSON strings are ARM expressions (`is_expression`), and the tokens of an expression's body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.adf.expressions.errors import _SyntaxProblem


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "int", "name", one of "()[],.", or "end"
    text: str
    value: Any
    column: int  # 1-based


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
                    raise _SyntaxProblem(
                        column,
                        "the string that starts here has no closing quote",
                        "a quote inside a string is written ''",
                    )
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        parts.append("'")
                        j += 2
                        continue
                    break
                parts.append(text[j])
                j += 1
            tokens.append(_Token("string", text[i : j + 1], "".join(parts), column))
            i = j + 1
        elif (
            ch.isascii()
            and ch.isdigit()
            or (ch == "-" and i + 1 < n and text[i + 1].isascii() and text[i + 1].isdigit())
        ):
            j = i + 1
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
            if j + 1 < n and text[j] == "." and text[j + 1].isdigit():
                raise _SyntaxProblem(
                    column, "decimal numbers are not part of ARM expressions", "write json('1.5') or float('1.5')"
                )
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
