"""A fast, shallow reading of a data flow script: its statements and their top-level arguments, without parsing
expressions. It exists to skip the Lark parse (about 5 ms for a typical script) when the script is already in
ADF's form, which is what Git holds for most data flows.

The scan tracks only what decides the top level: quoted strings, `{...}` names, brackets, commas and `~>`.
It gives the same Statement objects as syntax.parse() (same prefix, arguments, option keys, leads and trails,
with no expression trees), so the rules that need only the top level run on it unchanged. Whenever the scan
meets something it does not model (a comment, a library function, text it cannot place), it answers None and
the caller parses the script for real.
"""

from __future__ import annotations

import re

from portal.adf.dataflow_script.syntax import Arg, Script, Statement

_TOKENS = re.compile(
    r"""'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|`(?:\\.|[^`\\])*`"""  # strings
    r"""|/\*|//"""  # comments: not modelled
    r"""|\{[^}\n]*\}"""  # {column name}
    r"""|~>|[()\[\]{},]"""
)
_OPTION = re.compile(r"([^\W\d]\w*)\s*:(?!=)")
_CALL = re.compile(r"([^\W\d]\w*)\s*\(")
_OUTPUT = re.compile(r"[ \t\r\n]*(?:([^\W\d]\w*)(?:@\([^()'\"`{}]*\))?|\{[^}\n]*\})")
_PARAMETERS = re.compile(r"[ \t\r\n]*parameters[ \t\r\n]*\{")
_WS = " \t\r\n"


class _Unsure(Exception):
    pass


def scan(text: str) -> Script | None:
    """The script's statements and top-level arguments, or None when the scan cannot be sure of them."""
    try:
        return _scan(text)
    except _Unsure:
        return None


def _scan(text: str) -> Script:
    script = Script()
    tokens = [(m.start(), m.group()) for m in _TOKENS.finditer(text)]
    count = len(tokens)
    i = 0
    cursor = 0
    match = _PARAMETERS.match(text)
    if match:  # the parameters block, printed as written
        depth = 0
        while i < count:
            position, token = tokens[i]
            i += 1
            if position < match.end() - 1:
                continue
            if token in "([{":
                depth += 1
            elif token in ")]}":
                depth -= 1
                if depth == 0:
                    break
            elif token[0] in "/":
                raise _Unsure
        else:
            raise _Unsure
        cursor = tokens[i - 1][0] + 1
        script.pieces.append(text[:cursor])
    while i < count:
        i, cursor = _statement(text, tokens, i, cursor, script)
    rest = text[cursor:]
    if rest.strip(_WS):
        raise _Unsure
    script.pieces.append(rest)
    return script


def _statement(text: str, tokens: list[tuple[int, str]], i: int, cursor: int, script: Script) -> tuple[int, int]:
    position, token = tokens[i]
    while token == "," or token[0] == "{" and len(token) > 1:  # the inputs' separators and {names}
        i += 1
        if i >= len(tokens):
            raise _Unsure
        position, token = tokens[i]
    if token != "(":
        raise _Unsure
    head = text[cursor:position]
    stripped = head.lstrip(_WS)
    start = cursor + len(head) - len(stripped)
    if not stripped or not re.fullmatch(r"[\w@ \t\r\n,{}]*?\w[ \t\r\n]*", stripped):
        raise _Unsure
    name = stripped.rstrip(_WS).rsplit(None, 1)[-1]
    if not re.fullmatch(r"[^\W\d]\w*", name):
        raise _Unsure
    statement = Statement(
        prefix=text[start : position + 1], name=name, args=[], before_arrow="", after_arrow="", output=""
    )
    depth = 1
    arg_start = position + 1
    i += 1
    count = len(tokens)
    while True:
        if i >= count:
            raise _Unsure
        position, token = tokens[i]
        i += 1
        first = token[0]
        if first in "/":
            raise _Unsure
        if token in "([{":
            depth += 1
        elif token in ")]}":
            depth -= 1
            if depth == 0:
                if token != ")":
                    raise _Unsure
                _add_arg(statement, text, arg_start, position, last=True)
                break
        elif token == "," and depth == 1:
            _add_arg(statement, text, arg_start, position, last=False)
            arg_start = position + 1
        elif token == "~>":
            raise _Unsure
    close = position
    if i >= count or tokens[i][1] != "~>":
        raise _Unsure
    arrow = tokens[i][0]
    if text[close + 1 : arrow].strip(_WS):
        raise _Unsure
    statement.before_arrow = text[close + 1 : arrow]
    match = _OUTPUT.match(text, arrow + 2)
    if not match:
        raise _Unsure
    output_start = arrow + 2 + (len(match.group()) - len(match.group().lstrip(_WS)))
    statement.after_arrow = text[arrow + 2 : output_start]
    statement.output = text[output_start : match.end()]
    end = match.end()
    i += 1
    while i < count and tokens[i][0] < end:
        i += 1
    script.pieces.append(text[cursor:start])
    script.pieces.append(statement)
    return i, end


def _add_arg(statement: Statement, text: str, start: int, end: int, last: bool) -> None:
    segment = text[start:end]
    body = segment.strip(_WS)
    if not body:
        if last and not statement.args and not segment.strip(_WS):
            if segment:
                raise _Unsure  # 'name( )': whitespace inside empty parentheses
            return  # 'name()'
        raise _Unsure
    lead_length = len(segment) - len(segment.lstrip(_WS))
    arg_start = start + lead_length
    arg = Arg("expr", None, body, lead=segment[:lead_length], trail=segment[lead_length + len(body) :], start=arg_start)
    option = _OPTION.match(body)
    if option:
        arg.kind, arg.key = "option", option.group(1)
    else:
        call = _CALL.match(body)
        if call and _closes_at_end(body, call.end() - 1):
            arg.kind, arg.key = "call", call.group(1)
    statement.args.append(arg)


def _closes_at_end(body: str, open_at: int) -> bool:
    """Whether the '(' at `open_at` is closed by the argument's last character."""
    depth = 0
    for match in _TOKENS.finditer(body, open_at):
        token = match.group()
        if token in "([{":
            depth += 1
        elif token in ")]}":
            depth -= 1
            if depth == 0:
                return match.end() == len(body)
    return False
