"""How an ARM function is called: its table entry and the `_Invocation` its implementation receives.

`_Function` holds a function's arity and `SecretMode`; `_Invocation` checks arguments and raises errors that
name the function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol

from portal.adf.expressions.context import EvaluationContext
from portal.adf.expressions.values import Secret, _float_text, json_type_name

# ARM integers are 64-bit.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


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


def _arity(spec: _Function) -> str:
    def args(n: int) -> str:
        return f"{n} argument" + ("" if n == 1 else "s")

    if spec.max_args is None:
        return f"at least {args(spec.min_args)}"
    if spec.min_args == spec.max_args:
        return args(spec.min_args)
    return f"{spec.min_args} to {args(spec.max_args)}"


class _EvaluatorProtocol(Protocol):
    """What an `_Invocation` uses of the evaluator that runs it (`evaluation._Evaluator`, which imports this
    module, so it is named here by its shape)."""

    ctx: EvaluationContext

    def fail(self, what: str, column: int | None = None, hint: str | None = None) -> NoReturn: ...

    def resolve(self, kind: Literal["parameter", "variable"], name: str, column: int) -> Any: ...


@dataclass
class _Invocation:
    """One call being evaluated: argument checks and errors that name the function."""

    evaluator: _EvaluatorProtocol
    name: str
    column: int

    @property
    def ctx(self) -> EvaluationContext:
        return self.evaluator.ctx

    def fail(self, what: str, hint: str | None = None) -> NoReturn:
        self.evaluator.fail(f"{self.name}: {what}", self.column, hint)

    def secret(self, secret: Secret) -> NoReturn:
        self.fail(
            f"needs the value of {secret}, which is unknown offline",
            "a secure value can be passed on or combined into a string, not tested or compared",
        )

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
