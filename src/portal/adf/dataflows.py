"""What Publish does to data flows (mapping data flows, flowlets, Power Query): the script re-serialized as ADF
writes it, and the Power Query migration.

The script work is in portal.adf.dataflow_script (a Lark grammar of the data flow script, a lossless tree and
the rules). A script that is not in the grammar is kept exactly as written; `script_problems` says why, for
validation to report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from portal.adf.dataflow_script import (
    ScriptSyntaxError,
    Store,
    normalise_text,
    problems_of,
)
from portal.adf.model import Kind

if TYPE_CHECKING:
    from portal.adf.publish_defaults import ObjectLookup

MAPPING_TYPES = frozenset({"MappingDataFlow", "Flowlet"})
WRANGLING_TYPE = "WranglingDataFlow"


# ---------------------------------------------------------------------------------------------------------------
# Which store a source or sink uses (some options depend on it)
# ---------------------------------------------------------------------------------------------------------------


def _store_lookup(type_props: dict[str, Any], lookup: ObjectLookup):
    endpoints: dict[tuple[str, str], dict[str, Any]] = {}
    for transformation, key in (("source", "sources"), ("sink", "sinks")):
        for item in type_props.get(key) or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                endpoints[(transformation, item["name"])] = item
    cache: dict[tuple[str, str], Store | None] = {}

    def store_of(transformation: str, name: str) -> Store | None:
        key = (transformation, name)
        if key not in cache:
            cache[key] = _store(endpoints.get(key), lookup)
        return cache[key]

    return store_of


def _reference_name(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("referenceName"), str):
        return value["referenceName"]
    return None


def _linked_service_type(name: str | None, lookup: ObjectLookup) -> str | None:
    body = lookup(Kind.LINKED_SERVICE, name) if name else None
    props = body.get("properties") if isinstance(body, dict) else None
    kind = props.get("type") if isinstance(props, dict) else None
    return kind if isinstance(kind, str) else None


def _store(endpoint: dict[str, Any] | None, lookup: ObjectLookup) -> Store | None:
    if endpoint is None:
        return None
    dataset_name = _reference_name(endpoint.get("dataset"))
    if dataset_name is not None:
        body = lookup(Kind.DATASET, dataset_name)
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return None
        type_props = props.get("typeProperties")
        kind = props.get("type") if isinstance(props.get("type"), str) else None
        # File datasets (DelimitedText, Parquet, Json, ...) are the ones whose typeProperties hold a `location`;
        # table datasets are the *Table types (AzureSqlTable, SqlServerTable, OracleTable, ...). Others (the
        # legacy AzureBlobFSFile with folderPath and fileName, collections, ...) are left undecided.
        file_based: bool | None = None
        if isinstance(type_props, dict) and isinstance(type_props.get("location"), dict):
            file_based = True
        elif kind is not None and kind.endswith("Table"):
            file_based = False
        return Store(
            dataset_type=kind,
            file_based=file_based,
            linked_service_type=_linked_service_type(_reference_name(props.get("linkedServiceName")), lookup),
        )
    linked = _reference_name(endpoint.get("linkedService"))
    if linked is not None:  # an inline dataset: the format is in the script
        return Store(linked_service_type=_linked_service_type(linked, lookup))
    return None


# ---------------------------------------------------------------------------------------------------------------
# The hooks
# ---------------------------------------------------------------------------------------------------------------


def _unescaped(text: str) -> str:
    # The export hands over properties with ARM's escape already applied (a string starting with '[' is written
    # '[['); the script is re-serialized as ADF sees it, then escaped again.
    return text[1:] if text.startswith("[[") else text


def _escaped(text: str) -> str:
    return "[" + text if text.startswith("[") else text


def _normalised_script(type_props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    store_of = _store_lookup(type_props, lookup)
    lines = type_props.get("scriptLines")
    if isinstance(lines, list) and all(isinstance(line, str) for line in lines):
        text = "\n".join(_unescaped(line) for line in lines)
        new = normalise_text(text, lines_form=True, store_of=store_of)
        if new is not None and new != text:
            type_props = {**type_props, "scriptLines": [_escaped(line) for line in new.split("\n")]}
    elif isinstance(type_props.get("script"), str):
        text = _unescaped(type_props["script"])
        new = normalise_text(text, lines_form=False, store_of=store_of)
        if new is not None and new != text:
            type_props = {**type_props, "script": _escaped(new)}
    return type_props


def _flowlet_references(type_props: dict[str, Any]) -> dict[str, Any]:
    # A flowlet transformation's data flow reference is written with its (empty) parameters, as every data flow
    # reference (a corpus factory dataflow8; the 8 data flows of a corpus factory that
    # use the flowlet FLW_GreenTaxi).
    transformations = type_props.get("transformations")
    if not isinstance(transformations, list):
        return type_props
    changed = False
    out = []
    for item in transformations:
        ref = item.get("flowlet") if isinstance(item, dict) else None
        if isinstance(ref, dict) and ref.get("type") == "DataFlowReference" and "parameters" not in ref:
            item = {**item, "flowlet": {**ref, "parameters": {}}}
            changed = True
        out.append(item)
    return {**type_props, "transformations": out} if changed else type_props


def _wrangling(type_props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    # Power Query: the sinks moved to the activities that run the data flow (ExecuteWranglingDataflow `queries`),
    # so Publish writes the data flow without `sinks`, whether empty or not (a corpus factory PowerQuery2-4,
    # moviesWrangling).
    type_props = {key: value for key, value in type_props.items() if key != "sinks"}
    sources = type_props.get("sources")
    if isinstance(sources, list):
        store_of = _store_lookup(type_props, lookup)
        out = []
        for item in sources:
            if isinstance(item, dict) and isinstance(item.get("script"), str):
                text = _unescaped(item["script"])
                new = normalise_text(text, lines_form=False, store_of=store_of)
                if new is not None and new != text:
                    item = {**item, "script": _escaped(new)}
            out.append(item)
        type_props["sources"] = out
    return type_props


def dataflow_defaults(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """A data flow's properties as Publish writes them."""
    type_props = props.get("typeProperties")
    if not isinstance(type_props, dict):
        return props
    kind = props.get("type")
    if kind in MAPPING_TYPES:
        new = _flowlet_references(_normalised_script(type_props, lookup))
    elif kind == WRANGLING_TYPE:
        new = _wrangling(type_props, lookup)
    else:  # data flow libraries (UDFLibrary): Publish writes them as they are
        return props
    return props if new is type_props else {**props, "typeProperties": new}


def wrangling_activity_defaults(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """An ExecuteWranglingDataflow activity's typeProperties as Publish writes them: the older form
    `sinks: {query: sink}` migrated to `queries: [{queryName, dataflowSinks: [sink]}]`, `staging: {}` after the
    data flow, and the data flow reference's datasetParameters naming the data flow's sources then every query
    sink (a corpus factory wranglingpipeline: sinks -> queries; Cloud Data Pipeline 1, Data Cleansing,
    MovieDemo, awpipeline, pqpipe: datasetParameters and staging)."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        if key == "sinks" and isinstance(value, dict) and "queries" not in props:
            out["queries"] = [{"queryName": query, "dataflowSinks": [sink]} for query, sink in value.items()]
        else:
            out[key] = value
    ref = out.get("dataflow")
    if isinstance(ref, dict) and isinstance(ref.get("referenceName"), str) and "datasetParameters" not in ref:
        names: list[str] = []
        flow = lookup(Kind.DATAFLOW, ref["referenceName"])
        flow_props = flow.get("properties") if isinstance(flow, dict) else None
        flow_type_props = flow_props.get("typeProperties") if isinstance(flow_props, dict) else None
        for item in (flow_type_props or {}).get("sources") or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                names.append(item["name"])
        for query in out.get("queries") or []:
            for sink in (query.get("dataflowSinks") or []) if isinstance(query, dict) else []:
                if isinstance(sink, dict) and isinstance(sink.get("name"), str):
                    names.append(sink["name"])
        out["dataflow"] = {**ref, "datasetParameters": {name: {} for name in names}}
    if "staging" not in out and "dataflow" in out:
        staged: dict[str, Any] = {}
        for key, value in out.items():
            staged[key] = value
            if key == "dataflow":
                staged["staging"] = {}
        out = staged
    return out


def script_problems(obj: Mapping[str, Any], lookup: ObjectLookup | None = None) -> list[str]:
    """Why a data flow's script(s) cannot be re-serialized (empty when they can): each is exported as written,
    which may differ from what Publish writes. `obj` is the data flow's JSON body or its properties; `lookup`
    finds the datasets and linked services its sources and sinks name, as in the export."""
    props = obj.get("properties", obj) if isinstance(obj, dict) else None
    if not isinstance(props, dict) or not isinstance(props.get("typeProperties"), dict):
        return []
    type_props = props["typeProperties"]
    store_of = _store_lookup(type_props, lookup) if lookup is not None else None
    found: list[str] = []
    if props.get("type") in MAPPING_TYPES or props.get("type") == "UDFLibrary":
        if isinstance(type_props.get("scriptLines"), list):
            text = "\n".join(str(line) for line in type_props["scriptLines"])
            found += problems_of(text, "scriptLines", store_of, lines_form=True)
        elif isinstance(type_props.get("script"), str):
            found += problems_of(type_props["script"], "script", store_of)
    elif props.get("type") == WRANGLING_TYPE:
        for index, item in enumerate(type_props.get("sources") or []):
            if isinstance(item, dict) and isinstance(item.get("script"), str):
                found += problems_of(item["script"], f"sources[{index}].script", store_of)
    return found


__all__ = ["ScriptSyntaxError", "dataflow_defaults", "script_problems", "wrangling_activity_defaults"]
