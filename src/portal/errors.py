"""Errors and findings that carry a place.

Every problem the portal reports names where it is (a file with line and column, or an object and property)
so the CLI and the pages can print it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem found in a factory: what is wrong, where, and how to fix it."""

    code: str
    where: str
    what: str
    severity: Severity = Severity.ERROR
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.severity.value}: {self.where}: {self.what} [{self.code}]"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class PortalError(Exception):
    """An error with a place, raised when work cannot go on."""

    def __init__(self, where: str, what: str, hint: str | None = None, code: str = "PORTAL"):
        self.where = where
        self.what = what
        self.hint = hint
        self.code = code
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def as_finding(self) -> Finding:
        return Finding(code=self.code, where=self.where, what=self.what, hint=self.hint)


class FindingsError(PortalError):
    """Several findings of severity error at once (for example, a factory that does not load)."""

    def __init__(self, findings: list[Finding]):
        self.findings = list(findings)
        first = self.findings[0]
        more = f" (and {len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        super().__init__(first.where, first.what + more, first.hint, first.code)
