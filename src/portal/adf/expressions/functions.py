"""The ARM functions the offline evaluator implements, by family, and the function table.

`_FUNCTIONS` maps each implemented function to its `_Function`; `_OFFLINE` and `_UNSUPPORTED` explain the names
it does not evaluate; `SUPPORTED_FUNCTIONS` lists the implemented ones.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any, NoReturn

from portal import safe_json
from portal.adf.expressions.hashing import unique_string
from portal.adf.expressions.invocation import SecretMode, _Function, _Invocation
from portal.adf.expressions.uri import resolve_uri
from portal.adf.expressions.values import (
    Secret,
    _combined,
    _compact_json,
    _deep_equal,
    _is_int,
    _secrets,
    json_type_name,
)

# --- functions: strings ---------------------------------------------------------------------------------------


def _concat(call: _Invocation, args: list[Any]) -> Any:
    if isinstance(args[0], list):
        joined: list[Any] = []
        for i, arg in enumerate(args):
            if not isinstance(arg, list):
                call.fail(f"argument {i + 1} is a {json_type_name(arg)}; concat joins only arrays or only strings")
            joined.extend(arg)
        return joined
    for i, arg in enumerate(args):
        if isinstance(arg, (list, dict)) or arg is None:
            call.fail(f"argument {i + 1} is a {json_type_name(arg)}; concat joins only arrays or only strings")
    combined = _combined("concat", args)
    if combined is not None:
        return combined
    return "".join(call.text(arg, f"argument {i + 1}") for i, arg in enumerate(args))


_PLACEHOLDER = re.compile(r"\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?(?::(.*))?", re.S)


def _format(call: _Invocation, args: list[Any]) -> str:
    # .NET composite formatting: {index[,alignment][:format]}, with {{ and }} for literal braces.
    template = call.string(args, 0)
    values = args[1:]
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "{" and template[i + 1 : i + 2] == "{" or ch == "}" and template[i + 1 : i + 2] == "}":
            out.append(ch)
            i += 2
        elif ch == "{":
            end = template.find("}", i)
            if end < 0:
                call.fail("the format string has a '{' without a matching '}'", "write '{{' for a literal brace")
            item = template[i + 1 : end]
            match = _PLACEHOLDER.fullmatch(item)
            if not match:
                call.fail(f"'{{{item}}}' is not a placeholder such as {{0}}")
            position = int(match[1])
            if position >= len(values):
                call.fail(f"placeholder {{{position}}} has no value ({len(values)} given after the format string)")
            text = _format_item(call, values[position], match[3], position)
            if match[2]:
                width = int(match[2])
                text = text.rjust(width) if width > 0 else text.ljust(-width)
            out.append(text)
            i = end + 1
        elif ch == "}":
            call.fail("the format string has a '}' without a matching '{'", "write '}}' for a literal brace")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _format_item(call: _Invocation, value: Any, spec: str | None, position: int) -> str:
    if not spec:
        if isinstance(value, (list, dict)):
            call.fail(f"value {position} is an {json_type_name(value)}", "convert it with string() first")
        return call.text(value, f"value {position}")
    match = re.fullmatch(r"([NnDdXx])(\d{0,2})", spec)
    if not match or not _is_int(value):
        call.fail(
            f"the format specifier ':{spec}' is not supported offline for a {json_type_name(value)}",
            "supported: N, D and X with an optional precision, for ints",
        )
    kind, digits = match[1], match[2]
    if kind in "Nn":
        return f"{value:,.{int(digits) if digits else 2}f}"
    if kind in "Dd":
        return ("-" if value < 0 else "") + str(abs(value)).zfill(int(digits or 0))
    if value < 0:
        call.fail("hexadecimal formatting of a negative number is not supported offline")
    return format(value, "X" if kind == "X" else "x").zfill(int(digits or 0))


def _replace(call: _Invocation, args: list[Any]) -> str:
    original, old, new = (call.string(args, i) for i in range(3))
    if not old:
        call.fail("the string to replace is empty")
    return original.replace(old, new)


def _substring(call: _Invocation, args: list[Any]) -> str:
    text = call.string(args, 0)
    start = call.integer(args, 1) if len(args) > 1 else 0
    if not 0 <= start <= len(text):
        call.fail(f"the start index {start} is outside the string (length {len(text)})")
    if len(args) < 3:
        return text[start:]
    length = call.integer(args, 2)
    if length < 0 or start + length > len(text):
        call.fail(
            "the index and length must refer to a location within the string: "
            f"index {start}, length {length}, string length {len(text)}"
        )
    return text[start : start + length]


def _pad_left(call: _Invocation, args: list[Any]) -> str:
    value = args[0]
    if not (isinstance(value, str) or _is_int(value)):
        call.fail(f"argument 1 must be a string or an int, got a {json_type_name(value)}")
    total = call.integer(args, 1)
    pad = call.string(args, 2) if len(args) > 2 else " "
    if len(pad) != 1:
        call.fail(f"the padding must be a single character, got {pad!r}")
    if total < 0:
        call.fail(f"the total length {total} is negative")
    return str(value).rjust(total, pad)


def _length(call: _Invocation, args: list[Any]) -> int:
    value = args[0]
    if not isinstance(value, (str, list, dict)):
        call.fail(f"needs a string, an array or an object, got a {json_type_name(value)}")
    return len(value)


def _empty(call: _Invocation, args: list[Any]) -> bool:
    value = args[0]
    if value is None:
        return True
    if not isinstance(value, (str, list, dict)):
        call.fail(f"needs a string, an array or an object, got a {json_type_name(value)}")
    return len(value) == 0


def _contains(call: _Invocation, args: list[Any]) -> bool:
    container, item = args
    if isinstance(container, dict):
        # Only the keys are looked at, so secret values do not matter; keys match ignoring case.
        if isinstance(item, Secret):
            call.secret(item)
        if not isinstance(item, str):
            call.fail(f"an object's keys are strings; the item is a {json_type_name(item)}")
        return any(key.lower() == item.lower() for key in container)
    found = next((s for value in (container, item) for s in _secrets(value)), None)
    if found is not None:
        call.secret(found)
    if isinstance(container, str):
        if not (isinstance(item, str) or _is_int(item)):
            call.fail(f"a string can contain a string or an int, not a {json_type_name(item)}")
        return str(item) in container  # case-sensitive, as ARM documents
    if isinstance(container, list):
        return any(_deep_equal(element, item) for element in container)
    call.fail(f"needs a string, an array or an object, got a {json_type_name(container)}")


def _starts_with(call: _Invocation, args: list[Any]) -> bool:
    return call.string(args, 0).lower().startswith(call.string(args, 1).lower())  # case-insensitive in ARM


def _ends_with(call: _Invocation, args: list[Any]) -> bool:
    return call.string(args, 0).lower().endswith(call.string(args, 1).lower())


def _index_of(call: _Invocation, args: list[Any]) -> int:
    if isinstance(args[0], list):
        return next((i for i, element in enumerate(args[0]) if _deep_equal(element, args[1])), -1)
    return call.string(args, 0).lower().find(call.string(args, 1).lower())


def _last_index_of(call: _Invocation, args: list[Any]) -> int:
    if isinstance(args[0], list):
        return next((i for i in range(len(args[0]) - 1, -1, -1) if _deep_equal(args[0][i], args[1])), -1)
    return call.string(args, 0).lower().rfind(call.string(args, 1).lower())


def _split(call: _Invocation, args: list[Any]) -> list[str]:
    text = call.string(args, 0)
    delimiters = args[1]
    if isinstance(delimiters, str):
        delimiters = [delimiters]
    if not isinstance(delimiters, list) or not all(isinstance(d, str) for d in delimiters):
        call.fail("the delimiter must be a string or an array of strings")
    delimiters = [d for d in delimiters if d]  # .NET ignores empty separators
    if not delimiters:
        call.fail("the delimiter is empty")
    # At each position the first delimiter (in the given order) that matches wins, as in .NET's Split.
    parts: list[str] = []
    start = i = 0
    while i < len(text):
        hit = next((d for d in delimiters if text.startswith(d, i)), None)
        if hit is None:
            i += 1
        else:
            parts.append(text[start:i])
            i += len(hit)
            start = i
    parts.append(text[start:])
    return parts


def _join(call: _Invocation, args: list[Any]) -> str:
    items = call.array(args, 0)
    delimiter = call.string(args, 1)
    return delimiter.join(call.text(item, f"element {i}") for i, item in enumerate(items))


def _string(call: _Invocation, args: list[Any]) -> str:
    value = args[0]
    if isinstance(value, (list, dict)):
        return _compact_json(value)
    if value is None:
        call.fail("cannot convert null to a string offline")
    return call.text(value, "the value")


def _base64(call: _Invocation, args: list[Any]) -> str:
    return base64.b64encode(call.string(args, 0).encode("utf-8")).decode("ascii")


def _decode_base64(call: _Invocation, text: str) -> str:
    try:
        return base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        call.fail("the value is not base64 of UTF-8 text")


def _base64_to_string(call: _Invocation, args: list[Any]) -> str:
    return _decode_base64(call, call.string(args, 0))


def _parse_json(call: _Invocation, text: str) -> Any:
    def reject(constant: str) -> NoReturn:
        call.fail(f"{constant} is not valid JSON")

    try:
        return safe_json.loads(text, parse_constant=reject)
    except json.JSONDecodeError as error:
        call.fail(f"the string is not valid JSON ({error.msg} at character {error.pos + 1})")
    except safe_json.NestingError as error:
        call.fail(f"the string's JSON {error}")


def _json(call: _Invocation, args: list[Any]) -> Any:
    return _parse_json(call, call.string(args, 0))


def _base64_to_json(call: _Invocation, args: list[Any]) -> Any:
    return _parse_json(call, _decode_base64(call, call.string(args, 0)))


def _uri_component(call: _Invocation, args: list[Any]) -> str:
    return urllib.parse.quote(call.string(args, 0), safe="")  # keeps only RFC 3986 unreserved characters


def _uri_component_to_string(call: _Invocation, args: list[Any]) -> str:
    try:
        return urllib.parse.unquote(call.string(args, 0), errors="strict")
    except UnicodeDecodeError:
        call.fail("the value has %-escapes that are not UTF-8")


def _uri(call: _Invocation, args: list[Any]) -> str:
    try:
        return resolve_uri(call.string(args, 0), call.string(args, 1))
    except ValueError as error:
        call.fail(str(error))


def _unique_string(call: _Invocation, args: list[Any]) -> str:
    return unique_string(*(call.string(args, i) for i in range(len(args))))


# --- functions: arrays and objects ----------------------------------------------------------------------------


def _sliced(call: _Invocation, args: list[Any], take: bool) -> Any:
    value = args[0]
    if isinstance(args[1], Secret):
        call.secret(args[1])
    count = call.integer(args, 1)
    if isinstance(value, Secret):
        return Secret(f"{call.name} of {value.source}")
    if not isinstance(value, (str, list)):
        call.fail(f"needs an array or a string, got a {json_type_name(value)}")
    count = max(count, 0)  # 0 or less: take nothing, skip nothing
    return value[:count] if take else value[count:]


def _take(call: _Invocation, args: list[Any]) -> Any:
    return _sliced(call, args, take=True)


def _skip(call: _Invocation, args: list[Any]) -> Any:
    return _sliced(call, args, take=False)


def _end(call: _Invocation, args: list[Any], first: bool) -> Any:
    value = args[0]
    if isinstance(value, Secret):
        return Secret(f"{call.name} of {value.source}")
    if isinstance(value, str):
        return value[:1] if first else value[-1:]
    if isinstance(value, list):
        return (value[0] if first else value[-1]) if value else None
    call.fail(f"needs an array or a string, got a {json_type_name(value)}")


def _first(call: _Invocation, args: list[Any]) -> Any:
    return _end(call, args, first=True)


def _last(call: _Invocation, args: list[Any]) -> Any:
    return _end(call, args, first=False)


def _create_object(call: _Invocation, args: list[Any]) -> dict[str, Any]:
    if len(args) % 2:
        call.fail(f"needs key and value pairs, got {len(args)} arguments")
    result: dict[str, Any] = {}
    for i in range(0, len(args), 2):
        if isinstance(args[i], Secret):
            call.secret(args[i])
        key = call.string(args, i)
        if key in result:
            call.fail(f"the key '{key}' is given twice")
        result[key] = args[i + 1]
    return result


def _array(call: _Invocation, args: list[Any]) -> list[Any]:
    return list(args[0]) if isinstance(args[0], list) else [args[0]]


def _same_kind(call: _Invocation, args: list[Any]) -> type:
    kind = list if isinstance(args[0], list) else dict if isinstance(args[0], dict) else None
    if kind is None or not all(isinstance(arg, kind) for arg in args):
        call.fail("needs only arrays or only objects, got " + ", ".join(json_type_name(a) for a in args))
    return kind


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    # Nested objects merge; anything else (arrays included) is replaced by the later value, as ARM documents.
    merged = dict(first)
    for key, value in second.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _union(call: _Invocation, args: list[Any]) -> Any:
    if _same_kind(call, args) is dict:
        result: dict[str, Any] = {}
        for arg in args:
            result = _merge(result, arg)
        return result
    found = next((s for arg in args for s in _secrets(arg)), None)
    if found is not None:
        call.secret(found)  # duplicates are found by comparing values
    elements: list[Any] = []
    for arg in args:
        for element in arg:
            if not any(_deep_equal(element, kept) for kept in elements):
                elements.append(element)
    return elements


def _intersection(call: _Invocation, args: list[Any]) -> Any:
    if _same_kind(call, args) is dict:
        return {
            key: value
            for key, value in args[0].items()
            if all(key in other and _deep_equal(other[key], value) for other in args[1:])
        }
    elements: list[Any] = []
    for element in args[0]:
        if all(any(_deep_equal(element, x) for x in other) for other in args[1:]) and not any(
            _deep_equal(element, kept) for kept in elements
        ):
            elements.append(element)
    return elements


def _coalesce(call: _Invocation, args: list[Any]) -> Any:
    return next((arg for arg in args if arg is not None), None)  # a Secret is a value, so it is not null


def _ints(call: _Invocation, args: list[Any]) -> list[int]:
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not values:
        call.fail("needs at least one int")
    for value in values:
        if not _is_int(value):
            call.fail(f"needs ints, got a {json_type_name(value)}")
    return values


def _range(call: _Invocation, args: list[Any]) -> list[int]:
    start, count = call.integer(args, 0), call.integer(args, 1)
    if not 0 <= count <= 10000:
        call.fail(f"the count {count} must be between 0 and 10000")
    if start + count > 2147483647:
        call.fail("the start index plus the count must not exceed 2147483647")
    return list(range(start, start + count))


# --- functions: logic, comparison, numbers, conversions -------------------------------------------------------


def _compare(call: _Invocation, args: list[Any]) -> int:
    a, b = args
    if _is_int(a) and _is_int(b) or isinstance(a, str) and isinstance(b, str):
        return int(a > b) - int(a < b)  # strings: ordinal
    call.fail(f"compares two ints or two strings, not a {json_type_name(a)} and a {json_type_name(b)}")


def _bools(call: _Invocation, args: list[Any]) -> list[bool]:
    return [call.boolean(args, i) for i in range(len(args))]


def _div(call: _Invocation, args: list[Any]) -> int:
    a, b = call.integer(args, 0), call.integer(args, 1)
    if b == 0:
        call.fail("division by zero")
    quotient = abs(a) // abs(b)
    return call.checked(quotient if (a < 0) == (b < 0) else -quotient)  # truncates toward zero, as .NET


def _mod(call: _Invocation, args: list[Any]) -> int:
    a, b = call.integer(args, 0), call.integer(args, 1)
    if b == 0:
        call.fail("division by zero")
    quotient = abs(a) // abs(b)
    return a - b * (quotient if (a < 0) == (b < 0) else -quotient)  # the sign follows the dividend


def _int(call: _Invocation, args: list[Any]) -> int:
    value = args[0]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
        return call.checked(int(value))
    call.fail(f"cannot convert the {json_type_name(value)} {value!r} to an int")


def _bool(call: _Invocation, args: list[Any]) -> bool:
    value = args[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    call.fail(f"cannot convert the {json_type_name(value)} {value!r} to a bool")


def _float(call: _Invocation, args: list[Any]) -> float:
    value = args[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", value):
        return float(value)
    call.fail(f"cannot convert the {json_type_name(value)} {value!r} to a number")


# --- functions: deployment ------------------------------------------------------------------------------------


def _resource_path(call: _Invocation, args: list[Any], at: int) -> str:
    """'providers/<namespace>/<type>/<name>[/<child type>/<child name>...]' from the type at `at` and the names
    after it."""
    resource_type = args[at]
    segments = resource_type.split("/")
    names = args[at + 1 :]
    if len(segments) < 2 or not all(segments):
        call.fail(f"'{resource_type}' is not a resource type such as 'Microsoft.Storage/storageAccounts'")
    if len(names) != len(segments) - 1:
        call.fail(f"the resource type '{resource_type}' needs {len(segments) - 1} name(s), got {len(names)}")
    path = f"providers/{segments[0]}"
    for segment, name in zip(segments[1:], names, strict=True):
        path += f"/{segment}/{name}"
    return path


def _type_position(call: _Invocation, args: list[Any], most_leading: int) -> int:
    for i in range(len(args)):
        call.string(args, i)
    at = next((i for i, arg in enumerate(args) if "/" in arg), None)
    if at is None:
        call.fail("needs a resource type such as 'Microsoft.Storage/storageAccounts'")
    if at > most_leading:
        call.fail(f"takes at most {most_leading} argument(s) before the resource type, got {at}")
    return at


def _resource_id(call: _Invocation, args: list[Any]) -> str:
    # resourceId([subscriptionId], [resourceGroupName], resourceType, name1, [name2], ...)
    at = _type_position(call, args, 2)
    subscription = args[0] if at == 2 else call.ctx.subscription_id
    group = args[at - 1] if at >= 1 else call.ctx.resource_group
    return f"/subscriptions/{subscription}/resourceGroups/{group}/{_resource_path(call, args, at)}"


def _subscription_resource_id(call: _Invocation, args: list[Any]) -> str:
    at = _type_position(call, args, 1)
    subscription = args[0] if at == 1 else call.ctx.subscription_id
    return f"/subscriptions/{subscription}/{_resource_path(call, args, at)}"


def _tenant_resource_id(call: _Invocation, args: list[Any]) -> str:
    _type_position(call, args, 0)
    return f"/{_resource_path(call, args, 0)}"


def _subscription(call: _Invocation, args: list[Any]) -> dict[str, Any]:
    ctx = call.ctx
    return {
        "id": f"/subscriptions/{ctx.subscription_id}",
        "subscriptionId": ctx.subscription_id,
        "tenantId": ctx.tenant_id,
        "displayName": ctx.subscription_id,
    }


def _resource_group(call: _Invocation, args: list[Any]) -> dict[str, Any]:
    ctx = call.ctx
    return {
        "id": f"/subscriptions/{ctx.subscription_id}/resourceGroups/{ctx.resource_group}",
        "name": ctx.resource_group,
        "location": ctx.location,
    }


def _function(
    name: str, min_args: int, max_args: int | None, secrets: SecretMode, impl: Callable[[_Invocation, list[Any]], Any]
) -> tuple[str, _Function]:
    return name.lower(), _Function(name, min_args, max_args, secrets, impl)


_FUNCTIONS: dict[str, _Function] = dict(
    [
        _function("parameters", 1, 1, "value", lambda c, a: c.evaluator.resolve("parameter", c.string(a, 0), c.column)),
        _function("variables", 1, 1, "value", lambda c, a: c.evaluator.resolve("variable", c.string(a, 0), c.column)),
        # strings
        _function("concat", 1, None, "handled", _concat),
        _function("format", 1, None, "propagate", _format),
        _function("replace", 3, 3, "propagate", _replace),
        _function("toLower", 1, 1, "propagate", lambda c, a: c.string(a, 0).lower()),
        _function("toUpper", 1, 1, "propagate", lambda c, a: c.string(a, 0).upper()),
        _function("trim", 1, 1, "propagate", lambda c, a: c.string(a, 0).strip()),
        _function("substring", 1, 3, "propagate", _substring),
        _function("padLeft", 2, 3, "propagate", _pad_left),
        _function("string", 1, 1, "propagate", _string),
        _function("join", 2, 2, "propagate", _join),
        _function("base64", 1, 1, "propagate", _base64),
        _function("base64ToString", 1, 1, "propagate", _base64_to_string),
        _function("base64ToJson", 1, 1, "value", _base64_to_json),
        _function("uriComponent", 1, 1, "propagate", _uri_component),
        _function("uriComponentToString", 1, 1, "propagate", _uri_component_to_string),
        _function("uri", 2, 2, "propagate", _uri),
        _function("uniqueString", 1, None, "value", _unique_string),
        _function("startsWith", 2, 2, "value", _starts_with),
        _function("endsWith", 2, 2, "value", _ends_with),
        _function("indexOf", 2, 2, "value", _index_of),
        _function("lastIndexOf", 2, 2, "value", _last_index_of),
        _function("split", 2, 2, "value", _split),
        _function("json", 1, 1, "value", _json),
        # arrays and objects
        _function("length", 1, 1, "shallow", _length),
        _function("empty", 1, 1, "shallow", _empty),
        _function("contains", 2, 2, "handled", _contains),
        _function("first", 1, 1, "handled", _first),
        _function("last", 1, 1, "handled", _last),
        _function("take", 2, 2, "handled", _take),
        _function("skip", 2, 2, "handled", _skip),
        _function("createArray", 0, None, "handled", lambda c, a: list(a)),
        _function("createObject", 0, None, "handled", _create_object),
        _function("array", 1, 1, "handled", _array),
        _function("union", 1, None, "handled", _union),
        _function("intersection", 1, None, "value", _intersection),
        _function("coalesce", 1, None, "handled", _coalesce),
        _function("min", 1, None, "value", lambda c, a: min(_ints(c, a))),
        _function("max", 1, None, "value", lambda c, a: max(_ints(c, a))),
        _function("range", 2, 2, "value", _range),
        # logic and comparison
        _function("equals", 2, 2, "value", lambda c, a: _deep_equal(a[0], a[1])),
        _function("not", 1, 1, "value", lambda c, a: not c.boolean(a, 0)),
        _function("and", 2, None, "value", lambda c, a: all(_bools(c, a))),
        _function("or", 2, None, "value", lambda c, a: any(_bools(c, a))),
        _function("greater", 2, 2, "value", lambda c, a: _compare(c, a) > 0),
        _function("greaterOrEquals", 2, 2, "value", lambda c, a: _compare(c, a) >= 0),
        _function("less", 2, 2, "value", lambda c, a: _compare(c, a) < 0),
        _function("lessOrEquals", 2, 2, "value", lambda c, a: _compare(c, a) <= 0),
        _function("true", 0, 0, "value", lambda c, a: True),
        _function("false", 0, 0, "value", lambda c, a: False),
        _function("null", 0, 0, "value", lambda c, a: None),
        # numbers and conversions
        _function("add", 2, 2, "value", lambda c, a: c.checked(c.integer(a, 0) + c.integer(a, 1))),
        _function("sub", 2, 2, "value", lambda c, a: c.checked(c.integer(a, 0) - c.integer(a, 1))),
        _function("mul", 2, 2, "value", lambda c, a: c.checked(c.integer(a, 0) * c.integer(a, 1))),
        _function("div", 2, 2, "value", _div),
        _function("mod", 2, 2, "value", _mod),
        _function("int", 1, 1, "value", _int),
        _function("bool", 1, 1, "value", _bool),
        _function("float", 1, 1, "value", _float),
        # deployment
        _function("resourceId", 2, None, "value", _resource_id),
        _function("subscriptionResourceId", 2, None, "value", _subscription_resource_id),
        _function("tenantResourceId", 2, None, "value", _tenant_resource_id),
        _function("subscription", 0, 0, "value", _subscription),
        _function("resourceGroup", 0, 0, "value", _resource_group),
        _function("deployment", 0, 0, "value", lambda c, a: {"name": c.ctx.deployment_name}),
        _function("environment", 0, 0, "value", lambda c, a: {"name": "AzureCloud"}),
    ]
)

# ARM functions whose value exists only at deployment time (any other list* function is one too).
_OFFLINE: dict[str, str] = {
    "reference": "it reads the deployed resource's runtime state",
    "listkeys": "it reads keys from the deployed resource",
    "listsecrets": "it reads secrets from the deployed resource",
    "newguid": "it returns a new random GUID on every deployment",
    "utcnow": "it returns the time of the deployment",
    "pickzones": "it asks Azure which availability zones a region has",
    "providers": "it asks Azure for a resource provider's details",
    "managementgroup": "it needs the deployment's management group",
    "tenant": "it needs the deployment's tenant details",
    "deployer": "it needs the identity that deploys",
    "copyindex": "it only has a value inside a copy loop",
}
# ARM functions this evaluator does not implement, by lowercase name: (ARM's spelling, why).
_UNSUPPORTED: dict[str, tuple[str, str]] = {
    name.lower(): (name, why)
    for name, why in [
        ("guid", "ARM derives it with a hash this evaluator does not reproduce"),
        ("dataUri", "not needed by ADF templates"),
        ("dataUriToString", "not needed by ADF templates"),
        ("dateTimeAdd", "date functions are not implemented"),
        ("dateTimeFromEpoch", "date functions are not implemented"),
        ("dateTimeToEpoch", "date functions are not implemented"),
        ("items", "not needed by ADF templates"),
        ("objectKeys", "not needed by ADF templates"),
        ("shallowMerge", "not needed by ADF templates"),
        ("tryGet", "not needed by ADF templates"),
        ("flatten", "not needed by ADF templates"),
        ("filter", "lambda functions are not implemented"),
        ("map", "lambda functions are not implemented"),
        ("mapValues", "lambda functions are not implemented"),
        ("reduce", "lambda functions are not implemented"),
        ("sort", "lambda functions are not implemented"),
        ("groupBy", "lambda functions are not implemented"),
        ("toObject", "lambda functions are not implemented"),
        ("lambda", "lambda functions are not implemented"),
        ("lambdaVariables", "lambda functions are not implemented"),
        ("extensionResourceId", "not needed by ADF templates"),
        ("managementGroupResourceId", "not needed by ADF templates"),
        ("parseCidr", "CIDR functions are not implemented"),
        ("cidrSubnet", "CIDR functions are not implemented"),
        ("cidrHost", "CIDR functions are not implemented"),
    ]
}

SUPPORTED_FUNCTIONS: tuple[str, ...] = tuple(sorted(["if", *(f.name for f in _FUNCTIONS.values())], key=str.lower))
