"""The export's rules are ADF's, not the corpus's: nothing in src/portal names a corpus entry.

A string in the code that names one (a condition on a factory's name, a table keyed by it) would be a rule tuned
to that factory; comments and docstrings do not name them either (they say what ADF does, and "a corpus factory"
where an example is the evidence: the golden tests name the entries). Object names
inside the factories are too ordinary to tell apart ("pipeline1"), so the entries' names are what is checked:
`owner__repository`, and the repository part alone where it is distinctive.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

from tests.corpus import needs_corpus, paired_entries, source_only_entries

SRC = Path(__file__).resolve().parents[1] / "src" / "portal"


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


pytestmark = needs_corpus


def _names() -> set[str]:
    names: set[str] = set()
    for entry in paired_entries() + source_only_entries():
        names.add(entry.name.lower())
        repository = entry.name.split("__", 1)[-1].lower()
        if len(repository) >= 10:  # "ADF", "adf", "training" would match ordinary words
            names.add(repository)
    return names


def test_the_corpus_is_there_to_check_against() -> None:
    assert len(_names()) >= 44


def test_no_string_in_the_core_names_a_corpus_entry() -> None:
    names = _names()
    found = [
        f"{path.relative_to(SRC.parent)}:{line}: {text[:60]!r} names {name}"
        for path in sorted(SRC.rglob("*.py"))
        for line, text in _strings(path)
        for name in names
        if name in text.lower()
    ]
    assert found == []


def test_the_check_sees_a_string_that_names_one(tmp_path: Path) -> None:
    module = tmp_path / "rule.py"
    name = paired_entries()[0].name
    module.write_text(f'"""Cites {name} as evidence."""\n\nif factory.name == "{name}":\n    pass\n', encoding="utf-8")
    strings = _strings(module)
    assert [text for _, text in strings] == [name]


def test_no_data_file_of_the_core_names_a_corpus_entry() -> None:
    names = _names()
    files = [p for p in sorted(SRC.rglob("*")) if p.is_file() and p.suffix in (".json", ".lark", ".yaml")]
    assert files, "the core ships its rule tables as data files"
    found = [
        f"{p.relative_to(SRC.parent)} names {name}"
        for p in files
        for name in names
        if name in p.read_text(encoding="utf-8").lower()
    ]
    assert found == []


def _comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    docstrings = _docstrings(tree)
    found = [
        (node.lineno, node.value) for node in ast.walk(tree) if id(node) in docstrings and isinstance(node.value, str)
    ]
    comments = tokenize.generate_tokens(io.StringIO(source).readline)
    return found + [(t.start[0], t.string) for t in comments if t.type == tokenize.COMMENT]


def test_no_comment_or_docstring_of_the_core_names_a_corpus_entry() -> None:
    names = _names()
    found = [
        f"{path.relative_to(SRC.parent)}:{line} names {name}"
        for path in sorted(SRC.rglob("*.py"))
        for line, text in _comments_and_docstrings(path)
        for name in names
        if name in text.lower()
    ]
    assert found == []


def test_the_comment_check_sees_a_citation(tmp_path: Path) -> None:
    module = tmp_path / "rule.py"
    name = paired_entries()[0].name
    module.write_text(f'"""Cites {name}."""\n\nx = 1  # as {name} shows\n', encoding="utf-8")
    assert [text for _, text in _comments_and_docstrings(module)] == [f"Cites {name}.", f"# as {name} shows"]
