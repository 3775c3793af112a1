"""How Publish re-serializes a data flow script: the rules, applied to the lossless tree of syntax.py.

Publish (ADF Studio's script writer) keeps an expression's text as written, so the rules touch only what its
writer prints itself: the layout around a transformation's top-level arguments, the separators of options it
knows, the options it always writes (defaults) and where it writes them. Each rule names the corpus entry whose
Git/Publish pair shows it (../shared/adf-corpus); entries are evidence, never conditions.

A script already in ADF's form comes out unchanged (tests/test_dataflow_script.py checks every published script).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lark import Token, Tree

from portal.adf.dataflow_script.syntax import (
    Arg,
    Script,
    Statement,
    end_of,
    start_of,
    tokens_of,
)


@dataclass(frozen=True)
class Store:
    """What a source or sink reads or writes, as far as its options depend on it."""

    dataset_type: str | None = None  # the dataset's type (DelimitedText, AzureSqlTable, ...); None when inline
    file_based: bool | None = None  # the dataset has a file `location`; None when unknown
    linked_service_type: str | None = None  # AzureBlobFS, AzureBlobStorage, ...


StoreOf = Callable[[str, str], "Store | None"]  # (transformation name, stream name) -> Store


def indent_unit(text: str, lines_form: bool) -> str:
    """The indentation ADF uses in this script: a tab in `script`, five spaces in `scriptLines` (how ADF Git
    integration writes scriptLines: every tab of the script as five spaces)."""
    match = re.search(r"\n([ \t]+)\S", text)
    if match:
        return "\t" if match.group(1).startswith("\t") else "     "
    return "     " if lines_form else "\t"


class _Context:
    def __init__(self, script_text: str, unit: str, store_of: StoreOf | None):
        self.text = script_text
        self.unit = unit
        self.store_of = store_of


# ---------------------------------------------------------------------------------------------------------------
# Argument text: edits inside one argument, made from its tokens (never from string search)
# ---------------------------------------------------------------------------------------------------------------


def _rewrite(arg: Arg, text: str, edits: list[tuple[int, int, str]]) -> None:
    """Queue (start, end, replacement) edits, in script positions, of an argument parsed from `text`; they are
    made together once every rule has run (normalise), so each rule works on the positions of the parse."""
    if edits and arg.node is not None:
        arg.edits.extend(edits)


def _gap_edits(node: Tree | Token, text: str, fix: Callable[[str, Token, Token], str]) -> list[tuple[int, int, str]]:
    """Edits of the text between consecutive tokens of `node` (whitespace and comments)."""
    edits = []
    previous = None
    for token in tokens_of(node):
        if previous is not None and start_of(token) > end_of(previous):
            gap = text[end_of(previous) : start_of(token)]
            fixed = fix(gap, previous, token)
            if fixed != gap:
                edits.append((end_of(previous), start_of(token), fixed))
        previous = token
    return edits


_AFTER_COMMENT = re.compile(r"(\*/)[ \t]+$")


def _comment_gap(gap: str, before: Token, after: Token) -> str:
    # ADF writes a block comment directly before the token it annotates: '/* All input columns */ true()' is
    # published as '/* All input columns */true()' (a corpus factory DedupeFuzzyFlowlet1/2; the flowlet
    # Publish wrote in a corpus factory DF_Pivot_MapDrifted has the same form in Git).
    return _AFTER_COMMENT.sub(r"\1", gap) if "*/" in gap else gap


def _subtrees(node: Tree | Token, data: str):
    if isinstance(node, Tree):
        yield from (tree for tree in node.iter_subtrees_topdown() if tree.data == data)


# ---------------------------------------------------------------------------------------------------------------
# Rules for every statement
# ---------------------------------------------------------------------------------------------------------------


def _argument_layout(statement: Statement, ctx: _Context) -> None:
    # ADF ends each top-level argument at its last token: 'filter(isFloat({ "Weight(lbs)"}) )' is published as
    # '...}))' (a corpus factory dataflow1), 'designation \n,' as 'designation,' (a corpus factory
    # df_scdtype1), 'Location = :local1[1]\n\n,' as '...[1],' (a corpus factory regex). A trailing
    # comment stays ('count(1) /* this is my comment */)', a corpus factory RowCounts).
    for arg in statement.args:
        arg.trail = arg.trail.rstrip()
    # One space after '~>': 'source(...) ~>  moviesCSV' is published as '~> moviesCSV' (the source scripts of
    # a corpus factory Power Query data flows).
    if statement.after_arrow != " " and statement.after_arrow.strip() == "":
        statement.after_arrow = " "
    for arg in statement.args:
        if arg.node is not None:
            _rewrite(arg, ctx.text, _gap_edits(arg.node, ctx.text, _comment_gap))


def _move_to_end(statement: Statement, key: str, before: tuple[str, ...] = ()) -> None:
    position = statement.index(key, ("call",))
    if position < 0:
        return
    last = len(statement.args) - 1
    while last > position and statement.args[last].key in before and statement.args[last].kind == "call":
        last -= 1
    if position == last:
        return
    _place(statement, last, _pop(statement, position))


def _pop(statement: Statement, position: int) -> Arg:
    """Remove an argument; the next one takes its place in the layout (on the line of '(' if it was first)."""
    arg = statement.args.pop(position)
    if position == 0 and statement.args:
        statement.args[0].lead = arg.lead
    return arg


def _place(statement: Statement, position: int, arg: Arg) -> None:
    """Insert an argument at `position`, taking the layout of the argument list (first argument on the line of
    '(', the others after ',' + newline + indentation)."""
    args = statement.args
    if not args:
        arg.lead = ""
    elif position == 0:
        arg.lead, args[0].lead = args[0].lead, _separator(statement)
    else:
        arg.lead = _separator(statement, exclude=arg)
    args.insert(position, arg)


def _separator(statement: Statement, exclude: Arg | None = None) -> str:
    for arg in statement.args[1:]:
        if arg is not exclude and arg.lead.startswith("\n"):
            return arg.lead
    return "\n" + statement.unit


def _option(key: str, separator: str, value: str) -> Arg:
    return Arg("option", key, f"{key}{separator}{value}")


def _insert_after(statement: Statement, anchors: tuple[str, ...], arg: Arg, default: int | None = None) -> bool:
    """Insert after the first anchor present (or at `default`); False if nowhere to put it."""
    for anchor in anchors:
        position = statement.index(anchor)
        if position >= 0:
            _place(statement, position + 1, arg)
            return True
    if default is not None:
        _place(statement, min(default, len(statement.args)), arg)
        return True
    return False


_OPTION_HEAD = re.compile(r"[^\W\d]\w*[ \t\r\n]*:[ \t\r\n]*")


def _set_option_separator(arg: Arg, separator: str) -> None:
    """Queue the edit that writes an option as key + separator + value."""
    if arg.node is not None:
        assert isinstance(arg.node, Tree)  # an option is a rule of the grammar, so a tree
        value_start = start_of(arg.node.children[2])
    else:  # a shallow statement (shallow.py): no comments, so the option is key, blanks, ':', blanks, value
        head = _OPTION_HEAD.match(arg.text)
        assert head is not None  # shallow.py made it an option because its text starts so
        value_start = arg.start + head.end()
    key_end = arg.start + len(arg.key or "")
    if arg.text[key_end - arg.start : value_start - arg.start] != separator:
        arg.edits.append((key_end, value_start, separator))


def _colon_spacing(statement: Statement, keys: frozenset[str]) -> None:
    """Write these options as 'key: value'."""
    for arg in statement.args:
        if arg.kind == "option" and arg.key in keys:
            _set_option_separator(arg, ": ")


# ---------------------------------------------------------------------------------------------------------------
# Rules per transformation (docs: "Data flow script (DFS)" and each transformation's "Data flow script" section)
# ---------------------------------------------------------------------------------------------------------------

_DELTA_SPACED = frozenset({"deletable", "insertable", "updateable", "upsertable", "overwrite", "truncate"})
_SINK_TAIL = (
    "skipDuplicateMapInputs",
    "skipDuplicateMapOutputs",
    "saveOrder",
    "mapColumn",
    "partitionBy",
    "errorHandlingOption",
    "outputAssertFailedRows",
    "quoteAll",
)


def _sink(statement: Statement, ctx: _Context) -> None:
    # validateSchema is always written, after allowSchemaDrift: cache sinks without it are published with
    # 'validateSchema: false' first (a corpus factory Read from Delta, findNulls, regex, row fingerprints).
    if statement.option("validateSchema") is None:
        _insert_after(statement, ("allowSchemaDrift",), _option("validateSchema", ": ", "false"), default=0)
    # The sink's schema, input(...), follows allowSchemaDrift and validateSchema (a corpus factory
    # AverageDelay; a corpus factory row fingerprints, wranglingdataflow).
    position = statement.index("input", ("call",))
    anchor = max(statement.index("allowSchemaDrift"), statement.index("validateSchema"))
    if 0 <= position < anchor:
        _place(statement, anchor, _pop(statement, position))
    # The column mapping, mapColumn(...), is the last argument but the partitioning (a corpus factory tpcds;
    # in every published sink it follows skipDuplicateMap*, errorHandlingOption and saveOrder).
    _move_to_end(statement, "mapColumn", before=("partitionBy",))
    # The partitioning, partitionBy(...), is the sink's last argument: Git's "partitionBy('hash', 1),\n\t
    # skipDuplicateMapInputs: true, ..." is published with partitionBy last (a corpus factory RowCounts,
    # partBySize, partitions; a corpus factory AverageDelay), as in every published sink of the corpus.
    # (Not so in select: a corpus factory hierachical publishes partitionBy before skipDuplicateMap*.)
    _move_to_end(statement, "partitionBy")
    # Delta's write options are written 'key: value' (a corpus factory DeltaLake1, complexDTs, taxiDemo;
    # the 13 Delta sinks of a corpus factory). Other stores keep what they have (SQL table
    # sinks are published as 'deletable:false', e.g. a corpus factory).
    fmt = statement.option("format")
    if fmt is not None and fmt.value == "'delta'":
        _colon_spacing(statement, _DELTA_SPACED)
    # A cache sink writes its output flag, 'output: false' after format (a corpus factory findNulls, Read
    # from Delta, partBySize, regex, row fingerprints).
    store = statement.option("store")
    if store is not None and store.value == "'cache'" and statement.option("output") is None:
        _insert_after(statement, ("format", "store"), _option("output", ": ", "false"))
    # ADLS Gen2 sinks write the file permissions and the commands to run before and after the write: umask 0022
    # (the documented default), preCommands [] and postCommands [] (docs "Azure Data Lake Storage Gen2: sink
    # properties"; a corpus factory dataflow1, a corpus factory AverageDelay and
    # TransformMovieData, a corpus factory complexDTs, taxiDemo, updateTaxi), before skipDuplicateMap*.
    info = ctx.store_of("sink", _stream_name(statement)) if ctx.store_of else None
    if info is not None and info.linked_service_type == "AzureBlobFS" and store is None:
        _adls_gen2_commands(statement)


def _adls_gen2_commands(statement: Statement) -> None:
    wanted = (("umask", "0022"), ("preCommands", "[]"), ("postCommands", "[]"))
    previous = None
    for key, value in wanted:
        if statement.option(key) is None:
            arg = _option(key, ": ", value)
            if previous is not None:
                _insert_after(statement, (previous,), arg)
            else:
                tail = [i for i, a in enumerate(statement.args) if a.key in _SINK_TAIL]
                _place(statement, tail[0] if tail else len(statement.args), arg)
        previous = key


def _source(statement: Statement, ctx: _Context) -> None:
    info = ctx.store_of("source", _stream_name(statement)) if ctx.store_of else None
    fmt = statement.option("format")
    # An inline delimited-text or JSON source writes useSchema (false) after its output schema, first without
    # one (a corpus factory DynaCols; all 13 inline delimited/JSON sources Publish wrote in the corpus).
    if (
        info is not None
        and info.dataset_type is None
        and fmt is not None
        and fmt.value in ("'delimited'", "'json'")
        and statement.option("useSchema") is None
    ):
        position = statement.index("output", ("call",))
        _place(statement, position + 1, _option("useSchema", ": ", "false"))
    # A REST dataset source writes its pagination rules, RFC 5988 links by default ("paginationRules:
    # ['supportRFC5988' -> 'true']", docs "REST connector: mapping data flow properties"), after requestInterval
    # (a corpus factory stringify).
    if info is not None and info.dataset_type == "RestResource" and statement.option("paginationRules") is None:
        _insert_after(
            statement,
            ("requestInterval", "timeout", "httpMethod"),
            _option("paginationRules", ": ", "['supportRFC5988' -> 'true']"),
        )
    if info is None or info.file_based is None:
        return
    option = statement.option("ignoreNoFilesFound")
    if info.file_based and option is None:
        # A file source writes ignoreNoFilesFound (default false) after validateSchema
        # (a corpus factory TransformMovieData).
        _insert_after(statement, ("validateSchema", "allowSchemaDrift"), _option("ignoreNoFilesFound", ": ", "false"))
    elif not info.file_based and option is not None:
        # ... and a table source does not have it (a corpus factory PowerQuery4: the SQL source's
        # 'ignoreNoFilesFound: false' is dropped).
        _pop(statement, statement.args.index(option))


def _external_call(statement: Statement, ctx: _Context) -> None:
    # External call: the request headers are written as an assignment, "headers = [...]" (a corpus factory
    # dataflow7: Git's "headers: [...]"; the docs' script example writes it so too).
    headers = statement.option("headers")
    if headers is not None:
        _set_option_separator(headers, " = ")
        headers.kind, headers.key = "assign", None
    # ... and when its output schema has the response's headers and body columns, it names them after
    # httpMethod: headerColumnName 'headers', bodyColumnName 'body' (a corpus factory dataflow10).
    schema = next((arg for arg in statement.args if arg.kind == "call" and arg.key == "output"), None)
    if schema is None or schema.node is None:
        return
    columns = set()
    for typed in _subtrees(schema.node, "typed"):
        if isinstance(typed.children[0], Token):
            columns.add(str(typed.children[0]))
    previous = "httpMethod"
    for key, column in (("headerColumnName", "headers"), ("bodyColumnName", "body")):
        if column in columns and statement.option(key) is None:
            if _insert_after(statement, (previous,), _option(key, ": ", f"'{column}'")):
                previous = key
        elif statement.option(key) is not None:
            previous = key


def _join(statement: Statement, ctx: _Context) -> None:
    # join writes its match type after joinType: "matchType:'exact'" and 'ignoreSpaces: false' are the
    # documented defaults (docs "Join transformation: data flow script"; a corpus factory AWDataFlow,
    # dataDedupe, DedupeFuzzy, ...).
    if statement.option("joinType") is None:
        return
    if statement.option("matchType") is None:
        _insert_after(statement, ("joinType",), _option("matchType", ":", "'exact'"))
    if statement.option("ignoreSpaces") is None:
        _insert_after(statement, ("matchType",), _option("ignoreSpaces", ": ", "false"))


def _key_generate(statement: Statement, ctx: _Context) -> None:
    # The surrogate key writes its increment, 'stepValue: 1L' (default 1) after startAt (a corpus factory
    # createParts, GenericSCDType21, leadAndLag, regex, SCD Type 2, dataflow10).
    if statement.option("startAt") is not None and statement.option("stepValue") is None:
        _insert_after(statement, ("startAt",), _option("stepValue", ": ", "1L"))


def _flowlet_input(statement: Statement, ctx: _Context) -> None:
    # A flowlet input writes 'allowSchemaDrift: true' after order (a corpus factory flowlet1, flowlet2,
    # dedupeFlowlet, dataDedupeFlowlet, DedupeFuzzyFlowlet1/2).
    if statement.option("order") is not None and statement.option("allowSchemaDrift") is None:
        _insert_after(statement, ("order",), _option("allowSchemaDrift", ": ", "true"))


_COMPARISON = frozenset({"==", "!=", "<>", "===", "!==", "<=>", ">=", "<=", ">", "<"})


def _alter_row(statement: Statement, ctx: _Context) -> None:
    # Alter row conditions are written without spaces around comparison operators: 'upsertIf(1 == 1)' is
    # published as 'upsertIf(1==1)' (a corpus factory SCD1); every alter row condition Publish wrote in the corpus
    # has this form ('updateIf(year==1988)', 'deleteIf(round_distance<10.0)').
    for arg in statement.args:
        if arg.node is None or arg.kind != "call":
            continue
        edits = []
        for op in _subtrees(arg.node, "binary_op"):
            token = op.children[0]
            if str(token) not in _COMPARISON:
                continue
            edits += _spaces_around(ctx.text, token)
        _rewrite(arg, ctx.text, edits)


def _spaces_around(text: str, token: Token) -> list[tuple[int, int, str]]:
    edits = []
    token_start, token_end = start_of(token), end_of(token)
    start = token_start
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    if start < token_start:
        edits.append((start, token_start, ""))
    end = token_end
    while end < len(text) and text[end] in " \t":
        end += 1
    if end > token_end:
        edits.append((token_end, end, ""))
    return edits


def _map_column_identity(statement: Statement, ctx: _Context) -> None:
    # A mapping of a column to itself is written as the column alone: 'customerStruct = customerStruct' in
    # mapColumn(...) is published as 'customerStruct' (a corpus factory dataflow3).
    for arg in statement.args:
        if arg.kind != "call" or arg.key != "mapColumn" or arg.node is None:
            continue
        edits = []
        for assign in _subtrees(arg.node, "assign"):
            target, _, source = assign.children
            if (
                isinstance(target, Token)
                and isinstance(source, Token)
                and target.type == source.type
                and str(target) == str(source)
                and target.type in ("NAME", "BRACE_ID")
            ):
                edits.append((start_of(assign), end_of(assign), str(target)))
        _rewrite(arg, ctx.text, edits)


def _parse(statement: Statement, ctx: _Context) -> None:
    # parse writes the fields of the parsed type one per line, indented twice: 'Description ? (desc1 as string,
    # desc2 as string, desc3 as string)' is published with a line per field (a corpus factory parse); the
    # fields already on their own lines keep their indentation (a corpus factory dataflow12).
    for arg in statement.args:
        if arg.kind != "assign" or arg.node is None:
            continue
        edits = []
        for struct in _subtrees(arg.node, "struct_type"):
            for child in struct.children:
                if isinstance(child, Tree) and child.data == "arglist":
                    for comma in child.children:
                        if isinstance(comma, Token) and comma.type == "COMMA":
                            comma_end = end = end_of(comma)
                            while end < len(ctx.text) and ctx.text[end] in " \t\r\n":
                                end += 1
                            gap = ctx.text[comma_end:end]
                            if "\n" not in gap:
                                edits.append((comma_end, end, "\n" + ctx.unit * 2))
        _rewrite(arg, ctx.text, edits)


def _stream_name(statement: Statement) -> str:
    return statement.output.split("@", 1)[0].strip()


_RULES: dict[str, list[Callable[[Statement, _Context], None]]] = {
    "sink": [_sink],
    "source": [_source],
    "join": [_join],
    "keyGenerate": [_key_generate],
    "input": [_flowlet_input],
    "alterRow": [_alter_row],
    "select": [_map_column_identity],
    "parse": [_parse],
    "call": [_external_call],
}


_COMPARISON_RE = r"(?:===|!==|<=>|==|!=|<>|>=|<=|>|<)"
_SPACED_COMPARISON = re.compile(rf"[ \t\r\n]{_COMPARISON_RE}|{_COMPARISON_RE}[ \t\r\n]")
_IDENTITY_MAPPING = re.compile(r"(?<![\w}])([^\W\d]\w*|\{[^}\n]*\})[ \t\r\n]*=[ \t\r\n]*\1(?!\w)")


def needs_tree(statement: Statement) -> bool:
    """Whether a rule that works inside expressions might change this statement (a superset: False means no
    expression-level rule applies, so a shallow statement needs no parse)."""
    if statement.name in ("parse", "call"):
        return True
    if statement.name == "alterRow":
        return any(_SPACED_COMPARISON.search(arg.text) for arg in statement.args)
    if statement.name == "select":
        return any(
            arg.kind == "call" and arg.key == "mapColumn" and _IDENTITY_MAPPING.search(arg.text)
            for arg in statement.args
        )
    return False


def normalise(script: Script, text: str, unit: str, store_of: StoreOf | None = None) -> Script:
    """Apply Publish's re-serialization to a parsed script (in place) and return it."""
    ctx = _Context(text, unit, store_of)
    for statement in script.statements:
        statement.unit = unit
        _argument_layout(statement, ctx)
        for rule in _RULES.get(statement.name, ()):
            rule(statement, ctx)
        for arg in statement.args:
            arg.apply_edits()
    return script


__all__ = ["Store", "StoreOf", "indent_unit", "needs_tree", "normalise"]
