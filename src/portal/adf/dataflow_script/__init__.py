"""The ADF data flow script (DFS): a Lark grammar (dfs.lark), a lossless syntax tree (syntax.py) and the rules by
which Publish re-serializes a script (rules.py)."""

from __future__ import annotations

from portal.adf.dataflow_script.rules import (
    Store,
    StoreOf,
    indent_unit,
    needs_tree,
    normalise,
)
from portal.adf.dataflow_script.shallow import scan
from portal.adf.dataflow_script.syntax import (
    Script,
    ScriptSyntaxError,
    Statement,
    parse,
)


def normalise_text(
    text: str, lines_form: bool = False, store_of: StoreOf | None = None, fast: bool = True
) -> str | None:
    """The script as Publish writes it; None when it is not in the grammar (the caller keeps it as written).

    Most scripts in Git are already in ADF's form. With `fast`, the script is first read shallowly (shallow.py)
    and the top-level rules are run on that reading; when they change nothing and no expression-level rule can
    apply, the script is returned as it is without a parse. Otherwise it is parsed and normalised for real.
    """
    unit = indent_unit(text, lines_form)
    if fast and _already_published(text, unit, store_of):
        return text
    try:
        script = parse(text)
    except ScriptSyntaxError:
        return None
    try:
        return normalise(script, text, unit, store_of).print()
    except Exception:  # noqa: BLE001
        # A structure the rules do not expect (a defect of ours, not of the script): the script is kept as
        # written, as an unparseable one is, and problems_of() reports it. The export never fails on a script.
        return None


def _already_published(text: str, unit: str, store_of: StoreOf | None) -> bool:
    """Whether the shallow reading shows the script in ADF's form (False when unsure: the parse decides)."""
    shallow = scan(text)
    if shallow is None or any(needs_tree(statement) for statement in shallow.statements):
        return False
    try:
        return normalise(shallow, text, unit, store_of).print() == text
    except Exception:  # noqa: BLE001 - as in normalise_text: the parse path decides and reports
        return False


def problems_of(
    text: str, where: str = "script", store_of: StoreOf | None = None, lines_form: bool = False
) -> list[str]:
    """Why the script cannot be re-serialized: empty when it can. A script the shallow reading shows in ADF's
    form is exported as written without a parse, so it has no problem to report (and costs no parse)."""
    if _already_published(text, indent_unit(text, lines_form), store_of):
        return []
    try:
        script = parse(text)
    except ScriptSyntaxError as error:
        return [f"{where}: not in the data flow script grammar, kept as written ({error})"]
    try:
        normalise(script, text, indent_unit(text, lines_form), store_of)
    except Exception as error:  # noqa: BLE001
        return [f"{where}: could not be re-serialized as ADF writes it, kept as written ({error!r})"]
    return []


__all__ = ["Script", "ScriptSyntaxError", "Statement", "Store", "StoreOf", "normalise_text", "parse", "problems_of"]
