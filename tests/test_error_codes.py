"""The error codes are one vocabulary: portal.errors.ErrorCode, a StrEnum whose members are their plain strings."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

from portal.errors import ErrorCode, Finding, FindingsError, PortalError

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "src" / "portal", ROOT / "ui"]
DEMO_NOTEBOOKS = ROOT / "src" / "portal" / "sandbox" / "demo"  # the demo's notebook sources, not the portal's code


def _modules() -> Iterator[tuple[Path, ast.AST]]:
    for folder in SOURCES:
        for path in sorted(folder.rglob("*.py")):
            if DEMO_NOTEBOOKS not in path.parents:
                yield path, ast.parse(path.read_text(encoding="utf-8"))


def _codes_used() -> Iterator[tuple[str, int, str]]:
    """(file, line, code) of every code the sources name: ErrorCode.X, and string literals given as a code
    (`code="X"`, Finding's first argument, PortalError's fourth)."""
    for path, tree in _modules():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ErrorCode":
                yield where, node.lineno, node.attr
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            given = [keyword.value for keyword in node.keywords if keyword.arg == "code"]
            if name == "Finding" and node.args:
                given.append(node.args[0])
            if name == "PortalError" and len(node.args) >= 4:
                given.append(node.args[3])
            for value in given:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    yield where, value.lineno, value.value


def test_each_member_is_named_as_its_value() -> None:
    assert [member.name for member in ErrorCode] == [member.value for member in ErrorCode]


def test_every_code_the_sources_use_is_a_member() -> None:
    unknown = [f"{where}:{line}: {code}" for where, line, code in _codes_used() if code not in ErrorCode.__members__]
    assert unknown == []


def test_every_member_is_used() -> None:
    used = {code for _, _, code in _codes_used()}
    assert [member.name for member in ErrorCode if member.name not in used] == []


def test_a_code_is_its_plain_string() -> None:
    error = PortalError("here", "broken", code=ErrorCode.ORDER)
    assert error.code == "ORDER"
    assert f"[{error.code}]" == "[ORDER]"
    assert json.dumps({"code": error.code}) == '{"code": "ORDER"}'
    assert str(error.as_finding()) == "error: here: broken [ORDER]"


def test_the_default_code() -> None:
    assert PortalError("here", "broken").code is ErrorCode.PORTAL
    assert FindingsError([Finding(ErrorCode.TYPE, "there", "wrong")]).code is ErrorCode.TYPE
