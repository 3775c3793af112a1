"""Every `*Reference` in an object's JSON, and the dependency graph they make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from portal.adf.model import KIND_BY_REFERENCE_TYPE, AdfObject, Factory, Kind


@dataclass(frozen=True)
class Reference:
    kind: Kind
    name: str
    # Where in the referring object's JSON the reference sits, e.g. `properties.activities[2].inputs[0]`.
    pointer: str


def find_references(value: Any, pointer: str = "") -> Iterator[Reference]:
    """References in document order: nested activities, data flow sources and sinks, `connectVia`, Key Vault
    stores, credentials, trigger pipelines and trigger dependencies all use the same `{referenceName, type}`
    shape, so one walk finds them all."""
    if isinstance(value, dict):
        ref_type = value.get("type")
        ref_name = value.get("referenceName")
        if isinstance(ref_type, str) and ref_type in KIND_BY_REFERENCE_TYPE and "referenceName" in value:
            # A name given as an expression is resolved at run time; it is no static dependency.
            if isinstance(ref_name, str) and not ref_name.startswith("@"):
                yield Reference(KIND_BY_REFERENCE_TYPE[ref_type], ref_name, pointer or ".")
        for key, child in value.items():
            if isinstance(child, (dict, list)):
                yield from find_references(child, f"{pointer}.{key}" if pointer else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            if isinstance(child, (dict, list)):
                yield from find_references(child, f"{pointer}[{index}]")


NESTED_ACTIVITY_KEYS = ("activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities")


def _activity_references(activities: list[Any], pointer: str) -> list[Reference]:
    """References of a pipeline's activities, breadth first: every activity at one level before the
    activities nested in ForEach, Until, If and Switch, as Publish orders `dependsOn`."""
    refs: list[Reference] = []
    queue: list[tuple[Any, str]] = [(a, f"{pointer}[{i}]") for i, a in enumerate(activities)]
    while queue:
        nested: list[tuple[Any, str]] = []
        for activity, where in queue:
            if not isinstance(activity, dict):
                continue
            for key, child in activity.items():
                if key == "typeProperties" and isinstance(child, dict):
                    for tkey, tchild in child.items():
                        tpath = f"{where}.typeProperties.{tkey}"
                        if tkey in NESTED_ACTIVITY_KEYS and isinstance(tchild, list):
                            nested.extend((a, f"{tpath}[{i}]") for i, a in enumerate(tchild))
                        elif tkey == "cases" and isinstance(tchild, list):
                            for ci, case in enumerate(tchild):
                                if isinstance(case, dict) and isinstance(case.get("activities"), list):
                                    nested.extend((a, f"{tpath}[{ci}].activities[{i}]")
                                                  for i, a in enumerate(case["activities"]))
                        elif isinstance(tchild, (dict, list)):
                            refs.extend(find_references(tchild, tpath))
                elif isinstance(child, (dict, list)):
                    refs.extend(find_references(child, f"{where}.{key}"))
        queue = nested
    return refs


def object_references(obj: AdfObject) -> list[Reference]:
    props = obj.body.get("properties")
    if obj.kind is Kind.PIPELINE and isinstance(props, dict) and isinstance(props.get("activities"), list):
        refs = []
        for key, child in props.items():
            if key == "activities":
                refs.extend(_activity_references(child, "properties.activities"))
            elif isinstance(child, (dict, list)):
                refs.extend(find_references(child, f"properties.{key}"))
    else:
        refs = list(find_references(obj.body))
    if obj.kind is Kind.MANAGED_PRIVATE_ENDPOINT and obj.parent:
        # A private endpoint lives inside its managed virtual network.
        refs.insert(0, Reference(Kind.MANAGED_VIRTUAL_NETWORK, obj.parent, "(parent)"))
    return refs


def dependency_keys(factory: Factory, obj: AdfObject) -> list[tuple[Kind, str]]:
    """The distinct objects `obj` depends on that exist in the factory, in first-reference order, except that
    Key Vault stores of secrets come after the other references (as Publish lists them in `dependsOn`)."""
    seen: dict[tuple[Kind, str], None] = {}
    refs = object_references(obj)
    stores = [r for r in refs if r.pointer.endswith(".store")]
    others = [r for r in refs if not r.pointer.endswith(".store")]
    for ref in others + stores:
        key = (ref.kind, ref.name)
        if key == obj.key or key in seen:
            continue
        if factory.find(*key) is not None:
            seen[key] = None
    return list(seen)


def dependency_graph(factory: Factory) -> Mapping[tuple[Kind, str], list[tuple[Kind, str]]]:
    return {obj.key: dependency_keys(factory, obj) for obj in factory.objects}


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
                    cycles.append(path[path.index(child):] + [child])
            else:
                colour[node] = black
                stack.pop()
                path.pop()
    return cycles
