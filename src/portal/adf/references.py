"""Every `*Reference` in an object's JSON, and the dependency graph they make."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from portal.adf.model import KIND_BY_REFERENCE_TYPE, AdfObject, Factory, Kind
from portal.adf.sdk_schema import field_at


@dataclass(frozen=True)
class Reference:
    kind: Kind
    name: str
    # Where in the referring object's JSON the reference sits, e.g. `properties.activities[2].inputs[0]`;
    # None when the caller asked for speed rather than places.
    pointer: str | None
    # The Key Vault linked service of a secret (`{"type": "AzureKeyVaultSecret", "store": {...}}`).
    via_store: bool = False


def find_references(value: Any, pointer: str | None = "", parent_key: str = "") -> Iterator[Reference]:
    """References in document order: nested activities, data flow sources and sinks, `connectVia`, Key Vault
    stores, credentials, trigger pipelines and trigger dependencies all use the same `{referenceName, type}`
    shape, so one walk finds them all. With `pointer=None` no places are built (the export's fast path)."""
    if isinstance(value, dict):
        ref_type = value.get("type")
        if isinstance(ref_type, str) and "referenceName" in value and ref_type in KIND_BY_REFERENCE_TYPE:
            ref_name = value["referenceName"]
            # A name given as an expression is resolved at run time; it is no static dependency.
            if isinstance(ref_name, str) and not ref_name.startswith("@"):
                yield Reference(
                    KIND_BY_REFERENCE_TYPE[ref_type],
                    ref_name,
                    None if pointer is None else (pointer or "."),
                    parent_key == "store",
                )
        for key, child in value.items():
            if isinstance(child, (dict, list)):
                child_pointer = None if pointer is None else (f"{pointer}.{key}" if pointer else key)
                yield from find_references(child, child_pointer, key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            if isinstance(child, (dict, list)):
                yield from find_references(child, None if pointer is None else f"{pointer}[{index}]", parent_key)


NESTED_ACTIVITY_KEYS = ("activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities")


def _at(pointer: str | None, suffix: str) -> str | None:
    return None if pointer is None else pointer + suffix


# `~> name` (or `~> name@(...)`) names each source, transformation and sink in the data flow script.
_SCRIPT_STEP = re.compile(r"~>\s*([A-Za-z_][A-Za-z0-9_]*)")


def _data_flow_references(props: Any, pointer: str | None) -> list[Reference]:
    """A data flow's references as Publish lists them: the UDF libraries, then each step's references in the
    order the script defines the steps, not the order of the sources, sinks and transformations lists
    (a corpus factory: a flowlet defined first in the script comes before the sink's
    dataset and linked service; a source's inline linked service before a later flowlet)."""
    refs = list(find_references(props, pointer, "properties"))
    type_props = props.get("typeProperties") if isinstance(props, dict) else None
    if not isinstance(type_props, dict):
        return refs
    script, single = type_props.get("scriptLines"), type_props.get("script")
    text = (
        "\n".join(line for line in script if isinstance(line, str))
        if isinstance(script, list)
        else (single if isinstance(single, str) else "")
    )
    order = {name: index for index, name in reversed(list(enumerate(_SCRIPT_STEP.findall(text))))}
    steps: dict[str, str] = {}  # pointer prefix of a step → its name
    for key in ("sources", "sinks", "transformations"):
        for index, step in enumerate(type_props.get(key) or []):
            if isinstance(step, dict) and isinstance(step.get("name"), str):
                steps[f"{pointer}.typeProperties.{key}[{index}]"] = step["name"]

    def script_position(ref: Reference) -> int:
        prefix = (ref.pointer or "").rsplit(".", 1)[0]
        return order.get(steps.get(prefix, ""), len(order))

    udf = [r for r in refs if r.pointer is not None and ".udfLibraries[" in r.pointer]
    return udf + sorted((r for r in refs if r not in udf), key=script_position)


def _activity_references(activities: list[Any], pointer: str | None) -> list[Reference]:
    """References of a pipeline's activities, breadth first: every activity at one level before the
    activities nested in ForEach, Until, If and Switch, as Publish orders `dependsOn`. Within an activity its
    `inputs` and `outputs` come first, wherever the JSON has them: a Copy activity's datasets before the log or
    staging linked service in its typeProperties (a corpus factory, a corpus factory)."""
    refs: list[Reference] = []
    queue: list[tuple[Any, str | None]] = [(a, _at(pointer, f"[{i}]")) for i, a in enumerate(activities)]
    while queue:
        nested: list[tuple[Any, str | None]] = []
        for activity, where in queue:
            if not isinstance(activity, dict):
                continue
            for key, child in sorted(activity.items(), key=_datasets_first):
                if key == "typeProperties" and isinstance(child, dict):
                    for tkey, tchild in child.items():
                        tpath = _at(where, f".typeProperties.{tkey}")
                        if tkey in NESTED_ACTIVITY_KEYS and isinstance(tchild, list):
                            nested.extend((a, _at(tpath, f"[{i}]")) for i, a in enumerate(tchild))
                        elif tkey == "cases" and isinstance(tchild, list):
                            for ci, case in enumerate(tchild):
                                if isinstance(case, dict) and isinstance(case.get("activities"), list):
                                    nested.extend(
                                        (a, _at(tpath, f"[{ci}].activities[{i}]"))
                                        for i, a in enumerate(case["activities"])
                                    )
                        elif isinstance(tchild, (dict, list)):
                            refs.extend(find_references(tchild, tpath, tkey))
                elif isinstance(child, (dict, list)):
                    refs.extend(find_references(child, _at(where, f".{key}"), key))
        queue = nested
    return refs


def _datasets_first(item: tuple[str, Any]) -> int:
    return 0 if item[0] in ("inputs", "outputs") else 1


def object_references(obj: AdfObject) -> list[Reference]:
    """The object's references, with places; walked once per object (validation and export both ask)."""
    cached = obj.__dict__.get("_references")
    if cached is None:
        cached = _walk_object(obj)
        object.__setattr__(obj, "_references", cached)  # a cache on a frozen value, derived from its body
    return cached


def _walk_object(obj: AdfObject) -> list[Reference]:
    props = obj.body.get("properties")
    if obj.kind is Kind.PIPELINE and isinstance(props, dict) and isinstance(props.get("activities"), list):
        refs = []
        for key, child in props.items():
            if key == "activities":
                refs.extend(_activity_references(child, "properties.activities"))
            elif isinstance(child, (dict, list)):
                refs.extend(find_references(child, f"properties.{key}", key))
    elif obj.kind is Kind.DATAFLOW and isinstance(props, dict):
        refs = _data_flow_references(props, "properties")
    else:
        refs = list(find_references(obj.body, ""))
    if obj.kind is Kind.MANAGED_PRIVATE_ENDPOINT and obj.parent:
        # A private endpoint lives inside its managed virtual network.
        refs.insert(0, Reference(Kind.MANAGED_VIRTUAL_NETWORK, obj.parent, "(parent)"))
    return refs


def dependency_keys(factory: Factory, obj: AdfObject) -> list[tuple[Kind, str]]:
    """The distinct objects `obj` depends on that exist in the factory, in first-reference order, except that
    Key Vault stores of secrets come after the other references (as Publish lists them in `dependsOn`)."""
    return dependency_graph(factory)[obj.key]


def _dependency_keys(factory: Factory, obj: AdfObject, missing: set[tuple[Kind, str]]) -> list[tuple[Kind, str]]:
    seen: dict[tuple[Kind, str], None] = {}
    refs = object_references(obj)
    stores = [r for r in refs if r.via_store]
    others = [r for r in refs if not r.via_store]
    for ref in others + stores:
        key = (ref.kind, ref.name)
        if key == obj.key or key in seen:
            continue
        if factory.find(*key) is not None:
            seen[key] = None
        else:
            missing.add(obj.key)
    return list(seen)


def dependency_graph(factory: Factory) -> Mapping[tuple[Kind, str], list[tuple[Kind, str]]]:
    """Object → the objects it depends on; computed once per factory."""
    cached = factory.__dict__.get("_dependency_graph")
    if cached is None:
        missing: set[tuple[Kind, str]] = set()
        cached = {obj.key: _dependency_keys(factory, obj, missing) for obj in factory.objects}
        # The graph last: a thread that finds it (workspaces are shared per commit) finds the other one too.
        object.__setattr__(factory, "_with_missing_references", frozenset(missing))
        object.__setattr__(factory, "_dependency_graph", cached)
    return cached


def with_missing_references(factory: Factory) -> frozenset[tuple[Kind, str]]:
    """The objects that refer to at least one object the factory does not have (computed with the graph)."""
    dependency_graph(factory)
    return factory.__dict__["_with_missing_references"]


def find_cycles(graph: Mapping[tuple[Kind, str], list[tuple[Kind, str]]]) -> list[list[tuple[Kind, str]]]:
    """Each reference cycle once, as the list of objects around it (iterative DFS, safe for big factories)."""
    white, grey, black = 0, 1, 2
    colour = {node: white for node in graph}
    cycles: list[list[tuple[Kind, str]]] = []
    for root in graph:
        if colour[root] != white:
            continue
        stack: list[tuple[tuple[Kind, str], int]] = [(root, 0)]
        path: list[tuple[Kind, str]] = [root]
        colour[root] = grey
        while stack:
            node, index = stack[-1]
            children = graph.get(node, [])
            if index < len(children):
                stack[-1] = (node, index + 1)
                child = children[index]
                state = colour.get(child, black)
                if state == white:
                    colour[child] = grey
                    stack.append((child, 0))
                    path.append(child)
                elif state == grey:
                    cycles.append(path[path.index(child) :] + [child])
            else:
                colour[node] = black
                stack.pop()
                path.pop()
    return cycles


_POINTER_STEP = re.compile(r"[^.\[\]]+|\[\d+\]")
# ADF resolves this integration runtime itself; factories reference it without a file for it.
BUILT_IN_RUNTIME = "AutoResolveIntegrationRuntime"


def pointer_steps(pointer: str) -> list[str | int]:
    """`properties.sinks[0].dataset` → ["properties", "sinks", 0, "dataset"]."""
    return [int(step[1:-1]) if step.startswith("[") else step for step in _POINTER_STEP.findall(pointer)]


# Kinds that ADF Studio rebuilds from its designer's model when it loads them: an optional reference to an
# object that no longer exists is dropped then (a data flow sink's `rejectedDataLinkedService` and a change data
# capture's connection `linkedService` naming a deleted linked service, both in a corpus factory), and
# Publish goes on without it. Elsewhere the service itself resolves references when the template is deployed,
# so a missing object stays an error.
DESIGNER_KINDS = frozenset({Kind.DATAFLOW, Kind.CHANGE_DATA_CAPTURE})


@dataclass(frozen=True)
class DanglingReference:
    reference: Reference
    # Dropped by ADF Studio, as above: the contract's model makes the reference optional, in a designer kind.
    optional: bool


def dangling_references(factory: Factory, obj: AdfObject) -> list[DanglingReference]:
    """References of `obj` to objects the factory does not have (the built-in runtime aside)."""
    found: list[DanglingReference] = []
    if obj.key not in with_missing_references(factory):
        return found
    for ref in object_references(obj):
        if factory.find(ref.kind, ref.name) is not None:
            continue
        if ref.kind is Kind.INTEGRATION_RUNTIME and ref.name == BUILT_IN_RUNTIME:
            continue
        steps = pointer_steps(ref.pointer or "")
        field = None
        if obj.kind in DESIGNER_KINDS and len(steps) > 1 and steps[0] == "properties":
            field = field_at(obj.kind, obj.body.get("properties"), steps[1:])
        found.append(DanglingReference(ref, field is not None and not field.required))
    return found


def drop_optional_dangling(factory: Factory, obj: AdfObject, props: dict[str, Any]) -> None:
    """Remove from `props` (a copy of the object's `properties`) the optional references to missing objects,
    as ADF Studio does before Publish."""
    if obj.key not in with_missing_references(factory):
        return
    for dangling in dangling_references(factory, obj):
        if not dangling.optional:
            continue
        *parents, last = pointer_steps(dangling.reference.pointer or "")[1:]
        holder: Any = props
        for step in parents:
            try:
                holder = holder[step]
            except (KeyError, IndexError, TypeError):
                holder = None
                break
        if isinstance(holder, dict) and isinstance(last, str):
            holder.pop(last, None)
