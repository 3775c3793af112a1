"""A lossless syntax tree of a data flow script (DFS), parsed with the Lark grammar in dfs.lark.

Publish re-serializes data flow scripts, but it keeps most of their text as written (the spacing inside
expressions, line breaks inside join conditions, the quirky indentation of aggregates). So the tree keeps every
piece of source text: a statement is its prefix (`inputs name(`), its top-level arguments, each with the text
before and after it, and its suffix (`) ~> output`). Printing an unchanged tree gives the script back byte for
byte; the normalisation rules (rules.py) change only the parts ADF's printer writes differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import cast

from lark import Lark, Token, Tree
from lark.exceptions import LarkError


class ScriptSyntaxError(ValueError):
    """The script is not in the data flow script grammar."""


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once (about 0.1 s) on first use."""
    grammar = resources.files(__package__).joinpath("dfs.lark").read_text(encoding="utf-8")
    return Lark(
        grammar, parser="lalr", lexer="basic", propagate_positions=True, keep_all_tokens=True, maybe_placeholders=False
    )


Node = Tree | Token


# A token's position is optional in Lark's types (a token made by hand has none); the parser sets it on every token.
def start_of(node: Node) -> int:
    return cast(int, node.start_pos) if isinstance(node, Token) else node.meta.start_pos


def end_of(node: Node) -> int:
    return cast(int, node.end_pos) if isinstance(node, Token) else node.meta.end_pos


def tokens_of(node: Node) -> Iterator[Token]:
    """The tokens of a subtree, in source order."""
    if isinstance(node, Token):
        yield node
        return
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Token):
            yield item
        else:
            stack.extend(reversed(item.children))


def kind_of(node: Node) -> str:
    return node.type if isinstance(node, Token) else str(node.data)


@dataclass
class Arg:
    """One top-level argument of a transformation: `key: value`, `name = expr`, `call(...)` or an expression."""

    kind: str  # option | assign | typed | local_definition | call | expr
    key: str | None  # option key, called function's name, or None
    text: str  # as printed (source text with the rules' edits)
    lead: str = ""  # text between the preceding '(' or ',' and the argument
    trail: str = ""  # text between the argument and the following ',' or ')'
    node: Node | None = None  # the parsed argument; None for arguments a rule inserted (or read shallowly)
    start: int = 0  # position of the argument in the script
    edits: list[tuple[int, int, str]] = field(default_factory=list)  # pending (start, end, text), in the script

    def apply_edits(self) -> None:
        """Make the pending edits (script positions inside this argument) to its text; overlapping ones after
        the first are dropped."""
        if not self.edits:
            return
        out, cursor, base = [], self.start, self.start
        for start, end, replacement in sorted(self.edits):
            if start < cursor:
                continue
            out += [self.text[cursor - base : start - base], replacement]
            cursor = end
        out.append(self.text[cursor - base :])
        self.text = "".join(out)
        self.edits = []

    @property
    def value(self) -> str | None:
        """An option's value text."""
        if self.kind != "option":
            return None
        return self.text.split(":", 1)[1].strip()


@dataclass
class Statement:
    """`[inputs] name(args) ~> output`."""

    prefix: str  # from the start of the statement to its '(' inclusive
    name: str
    args: list[Arg]
    before_arrow: str  # between ')' and '~>'
    after_arrow: str  # between '~>' and the output
    output: str
    unit: str = "\t"  # the script's indentation unit, for arguments a rule inserts

    def option(self, key: str) -> Arg | None:
        for arg in self.args:
            if arg.kind == "option" and arg.key == key:
                return arg
        return None

    def index(self, key: str, kinds: tuple[str, ...] = ("option", "call")) -> int:
        for position, arg in enumerate(self.args):
            if arg.kind in kinds and arg.key == key:
                return position
        return -1

    def print(self) -> str:
        parts = [self.prefix]
        for position, arg in enumerate(self.args):
            if position:
                parts.append(",")
            parts += [arg.lead, arg.text, arg.trail]
        parts += [")", self.before_arrow, "~>", self.after_arrow, self.output]
        return "".join(parts)


@dataclass
class Script:
    """The whole script: statements (or a library's functions and the parameters block) between their trivia."""

    pieces: list[str | Statement] = field(default_factory=list)  # raw text and statements, in order

    @property
    def statements(self) -> list[Statement]:
        return [piece for piece in self.pieces if isinstance(piece, Statement)]

    def print(self) -> str:
        return "".join(piece if isinstance(piece, str) else piece.print() for piece in self.pieces)


def _arg(text: str, node: Node) -> Arg:
    kind = kind_of(node)
    start, end = start_of(node), end_of(node)
    key = None
    if kind == "option" or kind == "call":
        assert isinstance(node, Tree)  # rules of the grammar, so trees
        key = str(node.children[0])
    elif kind not in ("assign", "typed", "local_definition"):
        kind = "expr"
    return Arg(kind, key, text[start:end], node=node, start=start)


def _statement(text: str, node: Tree) -> Statement:
    children = node.children
    lparen = next(i for i, child in enumerate(children) if isinstance(child, Token) and child.type == "LPAR")
    name = str(children[lparen - 1])
    arglist = children[lparen + 1] if isinstance(children[lparen + 1], Tree) else None
    rparen = children[lparen + 2] if arglist is not None else children[lparen + 1]
    arrow, output = children[-2], children[-1]
    args: list[Arg] = []
    cursor = end_of(children[lparen])
    if arglist is not None:
        items = [child for child in arglist.children if not (isinstance(child, Token) and child.type == "COMMA")]
        commas = [child for child in arglist.children if isinstance(child, Token) and child.type == "COMMA"]
        for position, item in enumerate(items):
            arg = _arg(text, item)
            following = start_of(commas[position]) if position < len(commas) else start_of(rparen)
            arg.lead = text[cursor : arg.start]
            arg.trail = text[arg.start + len(arg.text) : following]
            args.append(arg)
            cursor = following + 1
    start = node.meta.start_pos
    # With no arguments, what is between the parentheses stays in the prefix.
    prefix_end = end_of(children[lparen]) if arglist is not None else start_of(rparen)
    return Statement(
        prefix=text[start:prefix_end],
        name=name,
        args=args,
        before_arrow=text[end_of(rparen) : start_of(arrow)],
        after_arrow=text[end_of(arrow) : start_of(output)],
        output=text[start_of(output) : end_of(output)],
    )


def parse(text: str) -> Script:
    """The script as a lossless tree; raises ScriptSyntaxError if it is not in the grammar."""
    try:
        tree = parser().parse(text)
    except LarkError as error:
        raise ScriptSyntaxError(str(error).strip().splitlines()[0]) from None
    script = Script()
    cursor = 0
    for part in tree.children:
        assert isinstance(part, Tree)  # param_block and body: rules of the grammar, so trees
        items = [part] if part.data == "param_block" else part.children
        for item in items:
            if not isinstance(item, Tree):  # the commas between library functions
                continue
            start, end = item.meta.start_pos, item.meta.end_pos
            if item.data == "statement":
                script.pieces.append(text[cursor:start])
                script.pieces.append(_statement(text, item))
            else:  # the parameters block and library functions are printed as written
                script.pieces.append(text[cursor:end])
                start = end
            cursor = end
    script.pieces.append(text[cursor:])
    return script
