"""Errors answered in the ARM shape: {"error": {"code", "message", "target", "details"}}."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApiResponse:
    status: int
    body: Any = None  # a JSON value, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A refusal the way the service words it; raised anywhere in a handler, answered by the dispatcher."""

    def __init__(
        self, status: int, code: str, message: str, target: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.headers = headers or {}

    def response(self) -> ApiResponse:
        error = {"code": self.code, "message": self.message, "target": self.target, "details": None}
        return ApiResponse(self.status, {"error": error}, dict(self.headers))
