"""The published REST contract of Data Factory (api-version 2018-06-01), vendored as data (see SOURCE.md).

- `examples()` / `example(name)`: the contract's request/response examples (`examples/*.json`, byte-for-byte
  copies), each with the operation it belongs to (from the spec's `x-ms-examples`).
- `name_rule(parameter)`: the `pattern` / `minLength` / `maxLength` of a path parameter ("pipelineName", ...),
  from the `parameters` of the vendored spec files.
- `validate(definition, body)`: the readable violations of a JSON value against a definition of the spec
  ("PipelineResource", ...), [] when it conforms.

Swagger 2.0 schemas are JSON Schema draft 4 plus extensions; `validate` reads them as AutoRest does:
- `readOnly` properties are allowed and ignored (neither required nor checked);
- `"type": "object"` without properties is *any* value (AutoRest's `AnyObject`: expressions are strings);
- property names are matched without regard to case (`properties`, `required`, `additionalProperties`, the
  discriminator): the service reads them so, and the contract itself spells some of them in two ways
  (entityTypes/ChangeDataCapture.json's `SourceConnectionsInfo` is azure-mgmt-datafactory 10.0.0's
  `sourceConnectionsInfo`, which ChangeDataCapture_Get.json answers);
- `discriminator` / `x-ms-discriminator-value` select the subtype named by the discriminator property among the
  vendored definitions (its value matched exactly, else without regard to case). Any other value (a subtype the
  extract leaves out, or one that neither the spec nor azure-mgmt-datafactory 10.0.0's models know, such as the
  data flow type "UDFLibrary" real factories hold and the service took) is checked against its base only;
- an `enum` is checked as listed only where the contract closes it: `x-ms-enum` with `modelAsString: false`
  (AutoRest's sealed enum). `modelAsString: true` is an extensible enum whose values are examples, not a limit
  (real factories hold pipeline variables of type "Integer" and "Boolean", which VariableType does not list,
  and the service took them); an `enum` without `modelAsString` is extensible where azure-mgmt-datafactory 10.0.0
  models the property as `Union[str, <Enum>]` (e.g. `PipelineReference.type`), closed otherwise;
  `format` is not checked; `x-nullable: true` also admits null;
- every `$ref` resolves into the vendored files; where an extract does not keep a schema the original's `$ref`
  pointed at, the extract has `{}` (listed in SOURCE.md). A `$ref` to an entity file that is vendored as an
  extract (`entityTypes/Pipeline.json`) is read from the extract (`entityTypes/Pipeline.extract.json`).

Everything is loaded and compiled on first use, then cached; the package imports nothing of the sandbox.
"""

from __future__ import annotations

import functools
import json
import posixpath
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

__all__ = ["Example", "NameRule", "example", "examples", "name_rule", "validate"]

_SPEC = "spec"
_MAIN = "datafactory.json"  # the spec's main file, by its original name (vendored as datafactory.extract.json)
_DISPATCH = "x-portal-discriminator"  # the keyword `validate` adds for a discriminated base


# -- examples -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One request/response example of the contract.

    `parameters` are the request's (path and query parameters, headers such as "If-Match", and the body under the
    name of its body parameter); `responses` map each status to {"headers": {...}, "body": <JSON or None>}.
    `method` and `path` are those of the operation in the spec ("" when the spec extract lacks it).
    """

    name: str
    operation_id: str
    parameters: dict[str, Any] = field(hash=False, compare=True)
    responses: dict[int, dict[str, Any]] = field(hash=False, compare=True)
    method: str = ""
    path: str = ""


def examples() -> list[Example]:
    """Every vendored example, sorted by name."""
    return [example(name) for name in _example_names()]


def example(name: str) -> Example:
    """The example of that file stem (e.g. "Pipelines_Create"); KeyError when none is vendored."""
    if name not in _example_names():
        raise KeyError(f"no vendored example {name!r}")
    return _load_example(name)


@functools.cache
def _example_names() -> tuple[str, ...]:
    folder = resources.files(__package__).joinpath("examples")
    return tuple(sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json")))


@functools.cache
def _load_example(name: str) -> Example:
    raw = json.loads(resources.files(__package__).joinpath("examples", f"{name}.json").read_text(encoding="utf-8"))
    operation = _operations_by_example().get(name) or _operation_named(raw.get("operationId") or name)
    operation_id, method, path = operation or (raw.get("operationId") or name, "", "")
    responses = {
        int(status): {"headers": dict(answer.get("headers") or {}), "body": answer.get("body")}
        for status, answer in (raw.get("responses") or {}).items()
    }
    return Example(name, operation_id, dict(raw.get("parameters") or {}), responses, method, path)


def _operation_named(name: str) -> tuple[str, str, str] | None:
    """The operation an example the spec does not list belongs to: the longest "_"-prefix of its name that is an
    operationId ("Factories_Get_IfNoneMatch" → Factories_Get)."""
    by_id = {
        operation_id.lower(): (operation_id, method, path)
        for operation_id, method, path in _operations_by_example().values()
    }
    parts = name.split("_")
    for end in range(len(parts), 1, -1):
        found = by_id.get("_".join(parts[:end]).lower())
        if found is not None:
            return found
    return None


@functools.cache
def _operations_by_example() -> dict[str, tuple[str, str, str]]:
    """Example file stem → (operationId, HTTP method, path template), from the spec's `x-ms-examples`."""
    found: dict[str, tuple[str, str, str]] = {}
    for path, item in (_documents()[_MAIN].get("paths") or {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            for reference in (operation.get("x-ms-examples") or {}).values():
                stem = posixpath.basename(reference.get("$ref", ""))
                if stem.endswith(".json"):
                    found[stem[: -len(".json")]] = (operation["operationId"], method.upper(), path)
    return found


# -- name rules ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameRule:
    """The constraints the contract puts on a path parameter (None: the spec states none)."""

    parameter: str
    pattern: str | None
    min_length: int | None
    max_length: int | None


def name_rule(parameter: str) -> NameRule | None:
    """The rule of the spec's path parameter of that name ("factoryName", "pipelineName", ...), None if unknown."""
    return _name_rules().get(parameter)


@functools.cache
def _name_rules() -> dict[str, NameRule]:
    rules: dict[str, NameRule] = {}
    declared_anywhere = [p for document in _documents().values() for p in (document.get("parameters") or {}).values()]
    for declared in declared_anywhere:
        if declared.get("in") == "path" and "name" in declared and declared["name"] not in rules:
            rules[declared["name"]] = NameRule(
                declared["name"], declared.get("pattern"), declared.get("minLength"), declared.get("maxLength")
            )
    return rules


# -- the vendored spec files --------------------------------------------------------------------------------------


@functools.cache
def _documents() -> dict[str, dict[str, Any]]:
    """Spec documents by their ORIGINAL path relative to the version folder ("datafactory.json",
    "entityTypes/Pipeline.json"), whether vendored verbatim or as an extract ("*.extract.json")."""
    root = resources.files(__package__).joinpath(_SPEC)
    documents: dict[str, dict[str, Any]] = {}

    def add(folder: Any, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                add(entry, f"{prefix}{entry.name}/")
            elif entry.name.endswith(".json"):
                original = entry.name.replace(".extract.json", ".json")
                documents[prefix + original] = json.loads(entry.read_text(encoding="utf-8"))

    add(root, "")
    return documents


def _resolve(ref: str, in_document: str) -> tuple[str, str]:
    """(document, definition name) a `$ref` of `in_document` points at; ValueError for other shapes."""
    target, _, pointer = ref.partition("#")
    document = posixpath.normpath(posixpath.join(posixpath.dirname(in_document), target)) if target else in_document
    prefix = "/definitions/"
    if not pointer.startswith(prefix) or "/" in pointer[len(prefix) :]:
        raise ValueError(f"unsupported $ref {ref!r} in {in_document}")
    if document not in _documents():
        raise ValueError(f"$ref {ref!r} in {in_document} points at a file that is not vendored")
    return document, pointer[len(prefix) :]


def _key(document: str, name: str) -> str:
    return f"{posixpath.splitext(posixpath.basename(document))[0]}.{name}"


# -- validation ---------------------------------------------------------------------------------------------------


@dataclass
class _Base:
    """A discriminated base: its property, its subtypes by discriminator value, what the SDK knows besides."""

    name: str
    prop: str
    subtypes: dict[str, str]  # discriminator value → compiled key

    def subtype(self, value: str) -> str | None:
        """The compiled key of the subtype of that value: spelled exactly, else without regard to case."""
        if value in self.subtypes:
            return self.subtypes[value]
        lowered = value.lower()
        return next((key for known, key in self.subtypes.items() if known.lower() == lowered), None)


class _Compiler:
    """Turns the vendored swagger definitions into one draft-4 schema with every definition under its key."""

    def __init__(self, documents: Mapping[str, dict[str, Any]]) -> None:
        self.documents = documents
        self.definitions: dict[str, Any] = {}
        self.bases: dict[str, _Base] = {}
        self.by_name: dict[str, list[str]] = {}
        parents: dict[str, list[str]] = {}  # key → keys of the definitions its allOf names
        raw: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for document, content in documents.items():
            for name, schema in (content.get("definitions") or {}).items():
                key = _key(document, name)
                raw[key] = (document, name, schema)
                self.by_name.setdefault(name, []).append(key)
                parents[key] = [
                    _key(*_resolve(part["$ref"], document))
                    for part in schema.get("allOf") or []
                    if isinstance(part, dict) and "$ref" in part
                ]
        for key, (_, name, schema) in raw.items():
            if "discriminator" in schema:
                self.bases[key] = _Base(name, schema["discriminator"], {})
        for key, (_, name, schema) in raw.items():
            value = schema.get("x-ms-discriminator-value", name)
            for ancestor in self._ancestors(key, parents):
                if ancestor in self.bases and ancestor != key:
                    self.bases[ancestor].subtypes.setdefault(value, key)
        for key, (document, name, schema) in raw.items():
            plain = self._schema(schema, document, in_all_of=False, owner=(name, None))
            plain.pop("discriminator", None)
            if key in self.bases:
                self.definitions[key + "@base"] = plain
                self.definitions[key] = {_DISPATCH: key}
            else:
                self.definitions[key] = plain

    @staticmethod
    def _ancestors(key: str, parents: Mapping[str, list[str]]) -> Iterator[str]:
        seen: set[str] = set()
        todo = deque(parents.get(key, []))
        while todo:
            current = todo.popleft()
            if current not in seen:
                seen.add(current)
                yield current
                todo.extend(parents.get(current, []))

    def _ref(self, ref: str, document: str, in_all_of: bool) -> dict[str, Any]:
        key = _key(*_resolve(ref, document))
        if in_all_of and key in self.bases:
            key += "@base"  # a subtype extends the base's own properties; dispatching again would loop
        return {"$ref": f"#/definitions/{key}"}

    def _schema(
        self, schema: Any, document: str, *, in_all_of: bool, owner: tuple[str, str | None] | None = None
    ) -> Any:
        """`owner`: (definition, property) the schema describes, to tell whether its `enum` is extensible; the
        property is None for the definition itself, and an array's items keep their property's owner."""
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            return self._ref(schema["$ref"], document, in_all_of)
        out: dict[str, Any] = {}
        read_only = set()
        definition = owner[0] if owner else None
        for word, value in schema.items():
            if word == "properties":
                props: dict[str, Any] = {}
                for prop, sub in value.items():
                    if isinstance(sub, dict) and sub.get("readOnly"):
                        read_only.add(prop)
                        props[prop] = {}
                    else:
                        props[prop] = self._schema(
                            sub, document, in_all_of=False, owner=(definition, prop) if definition else None
                        )
                out[word] = props
            elif word == "items":
                out[word] = self._schema(value, document, in_all_of=False, owner=owner)
            elif word in ("additionalProperties", "not"):
                out[word] = self._schema(value, document, in_all_of=False)
            elif word == "enum":
                if not _extensible(schema, owner):
                    out[word] = value
            elif word == "allOf":
                out[word] = [self._schema(part, document, in_all_of=True) for part in value]
            elif word in ("anyOf", "oneOf"):
                out[word] = [self._schema(part, document, in_all_of=False) for part in value]
            elif word in ("discriminator", "readOnly", "example", "x-nullable") or word.startswith("x-ms-"):
                continue
            else:
                out[word] = value
        if read_only and "required" in out:
            out["required"] = [prop for prop in out["required"] if prop not in read_only]
            if not out["required"]:
                del out["required"]
        if out.get("type") == "object" and not ({"properties", "additionalProperties", "allOf"} & out.keys()):
            del out["type"]  # AutoRest's AnyObject
        if schema.get("x-nullable") and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        return out

    def key_of(self, definition: str) -> str:
        if definition in self.definitions:
            return definition
        keys = self.by_name.get(definition, [])
        if not keys:
            raise KeyError(f"no vendored definition {definition!r}")
        if len(keys) > 1:
            raise KeyError(f"definition {definition!r} is ambiguous: {', '.join(sorted(keys))}")
        return keys[0]


def _extensible(schema: Mapping[str, Any], owner: tuple[str, str | None] | None) -> bool:
    """Whether an `enum` admits values it does not list (see the module docstring)."""
    model_as_string = (schema.get("x-ms-enum") or {}).get("modelAsString")
    if isinstance(model_as_string, bool):
        return model_as_string
    if owner is None or owner[1] is None:
        return False
    return _sdk_extensible(owner[0], owner[1])


@functools.cache
def _sdk_extensible(model: str, prop: str) -> bool:
    """Whether azure-mgmt-datafactory 10.0.0's model of that name types the property (its wire name, any case) as
    an extensible enum, `Union[str, "_models.<Enum>"]` (the generator's spelling of AutoRest's open enums)."""
    try:
        from azure.mgmt.datafactory import models  # the SDK the sandbox is written for
    except ImportError:  # pragma: no cover - the SDK is a dependency of the project
        return False
    cls = getattr(models, model, None)
    if not isinstance(cls, type):
        return False
    for klass in cls.__mro__:
        annotations = vars(klass).get("__annotations__", {})
        for attr, value in vars(klass).items():
            rest_name = getattr(value, "_rest_name_input", None) or attr
            if hasattr(value, "_rest_name_input") and rest_name.lower() == prop.lower():
                text = str(annotations.get(attr) or "").replace(" ", "")
                return "Union[str," in text
    return False


@functools.cache
def _compiler() -> _Compiler:
    return _Compiler(_documents())


@functools.cache
def _validator(key: str) -> Any:
    import jsonschema
    from jsonschema.exceptions import ValidationError

    compiler = _compiler()

    def dispatch(validator: Any, base_key: str, instance: Any, schema: Any) -> Iterator[Any]:
        base = compiler.bases[base_key]
        key = _key_in(instance, base.prop) if isinstance(instance, dict) else None
        value = instance[key] if key is not None else None
        sub = base.subtype(value) if isinstance(value, str) else None
        if sub is not None:
            target = sub + "@base" if sub in compiler.bases else sub
            yield from validator.descend(instance, {"$ref": f"#/definitions/{target}"})
        else:  # no discriminator, or a value no vendored subtype has: the base's own rules
            yield from validator.descend(instance, {"$ref": f"#/definitions/{base_key}@base"})

    # Property names without regard to case (the module docstring); the keywords otherwise as draft 4 has them.
    def properties(validator: Any, properties: Mapping[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "object"):
            for prop, subschema in properties.items():
                key = _key_in(instance, prop)
                if key is not None:
                    yield from validator.descend(instance[key], subschema, path=key, schema_path=prop)

    def required(validator: Any, required: list[str], instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "object"):
            for prop in required:
                if _key_in(instance, prop) is None:
                    yield ValidationError(f"{prop!r} is a required property")

    def additional(validator: Any, additional: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        known = {prop.lower() for prop in schema.get("properties") or {}}
        extras = [key for key in instance if str(key).lower() not in known]
        if validator.is_type(additional, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], additional, path=extra)
        elif additional is False and extras:
            yield ValidationError(f"Additional properties are not allowed ({', '.join(map(repr, extras))})")

    cls = jsonschema.validators.extend(
        jsonschema.Draft4Validator,
        {_DISPATCH: dispatch, "properties": properties, "required": required, "additionalProperties": additional},
    )
    return cls({"$ref": f"#/definitions/{key}", "definitions": compiler.definitions})


def validate(definition: str, body: object) -> list[str]:
    """Violations of `body` against the vendored definition (e.g. "PipelineResource"), [] when valid.

    Each message names the JSON path: "properties.activities[3].name: is required". KeyError for a definition
    that is not vendored.
    """
    key = _compiler().key_of(definition)
    messages: list[str] = []
    for error in _validator(key).iter_errors(body):
        path = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [prop for prop in error.validator_value if _key_in(error.instance, prop) is None]
            messages.extend(f"{_path(path + [prop])}: is required" for prop in missing)
        else:
            messages.append(f"{_path(path)}: {error.message}")
    return sorted(dict.fromkeys(messages))


def _key_in(instance: Mapping[str, Any], prop: str) -> str | None:
    """The instance's key for a property of the schema: spelled as the schema does, else without regard to case."""
    if prop in instance:
        return prop
    lowered = prop.lower()
    return next((key for key in instance if isinstance(key, str) and key.lower() == lowered), None)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"
