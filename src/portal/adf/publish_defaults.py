"""What ADF Publish adds to or changes in an object's properties before they go into the ARM template.

Each rule here was seen in real Publish output (see the corpus README in shared/adf-corpus): the empty defaults
the service fills in, the Expression wrapper of dataset locations, and the `[[` escaping of strings that ARM would
otherwise evaluate. (The secure strings Publish puts in place of `encryptedCredential` are in `secrets.py`.)
"""

from __future__ import annotations

from typing import Any, Callable

from portal.adf.dataflows import dataflow_defaults, wrangling_activity_defaults
from portal.adf.model import Kind

# The current (2025-2026) form of the empty pipeline policy Publish adds.
PIPELINE_POLICY_DEFAULT: dict[str, Any] = {"elapsedTimeMetric": {}}

WEB_ACTIVITY_TYPES = frozenset({"WebActivity", "WebHook", "AzureFunctionActivity"})
# Dataset location properties that hold expressions when their text starts with '@'.
LOCATION_EXPRESSION_KEYS = frozenset({"fileName", "folderPath", "container", "fileSystem", "bucketName"})


def insert_after(mapping: dict[str, Any], anchor: str | None, key: str, value: Any) -> dict[str, Any]:
    """A copy of `mapping` with `key` placed right after `anchor` (at the end when the anchor is absent)."""
    if anchor is None or anchor not in mapping:
        out = dict(mapping)
        out[key] = value
        return out
    out = {}
    for existing, existing_value in mapping.items():
        out[existing] = existing_value
        if existing == anchor:
            out[key] = value
    return out


def copy_escaped(value: Any) -> Any:
    """A fresh copy of a JSON value in which every string that starts with '[' is written '[[' (ARM evaluates
    strings that start with '['). One pass for both, as this runs over every property of every object."""
    if isinstance(value, dict):
        return {key: (("[" + child if child[:1] == "[" else child) if isinstance(child, str)
                      else copy_escaped(child) if isinstance(child, (dict, list)) else child)
                for key, child in value.items()}
    if isinstance(value, list):
        return [(("[" + child if child[:1] == "[" else child) if isinstance(child, str)
                 else copy_escaped(child) if isinstance(child, (dict, list)) else child)
                for child in value]
    if isinstance(value, str) and value[:1] == "[":
        return "[" + value
    return value


def _add_reference_parameters(value: Any) -> Any:
    """`"parameters": {}` on every dataset and data flow reference of a pipeline, as the service returns them
    (data flows keep their dataset references as written). Changes `value` in place."""
    if isinstance(value, dict):
        for child in value.values():
            if isinstance(child, (dict, list)):
                _add_reference_parameters(child)
        ref_type = value.get("type")
        if ref_type in ("DatasetReference", "DataFlowReference") and "referenceName" in value:
            if "parameters" not in value:
                value["parameters"] = {}
            if ref_type == "DataFlowReference" and "datasetParameters" not in value:
                value["datasetParameters"] = {}
    elif isinstance(value, list):
        for child in value:
            if isinstance(child, (dict, list)):
                _add_reference_parameters(child)
    return value


# Finds another object's JSON by kind and name (an ExecuteDataFlow activity needs its data flow's sources and
# sinks); None when the factory has no such object.
ObjectLookup = Callable[[Kind, str], "dict[str, Any] | None"]


def _execute_data_flow_defaults(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """The service lists every source and sink of the data flow under `datasetParameters` and adds an empty
    `staging`."""
    ref = props.get("dataflow")
    if isinstance(ref, dict) and isinstance(ref.get("referenceName"), str):
        flow = lookup(Kind.DATAFLOW, ref["referenceName"])
        flow_props = (flow or {}).get("properties") or {}
        type_props = flow_props.get("typeProperties") if isinstance(flow_props, dict) else None
        if isinstance(type_props, dict):
            names = [
                item.get("name")
                for key in ("sources", "sinks")
                for item in (type_props.get(key) or [])
                if isinstance(item, dict) and isinstance(item.get("name"), str)
            ]
            ref = dict(ref)
            existing = ref.get("datasetParameters")
            existing = existing if isinstance(existing, dict) else {}
            filled = dict(existing)
            for name in names:
                filled.setdefault(name, {})
            if "parameters" not in ref:
                ref["parameters"] = {}
            ref["datasetParameters"] = filled
            props = {**props, "dataflow": ref}
    if "staging" not in props:
        props = insert_after(props, "dataflow", "staging", {})
    return props


def _activity_defaults(activities: list[Any], lookup: ObjectLookup) -> list[Any]:
    result = []
    for activity in activities:
        if not isinstance(activity, dict):
            result.append(activity)
            continue
        activity = dict(activity)
        kind = activity.get("type")
        props = activity.get("typeProperties")
        if isinstance(props, dict):
            props = dict(props)
            if kind in WEB_ACTIVITY_TYPES and "headers" not in props:
                props = insert_after(props, "method", "headers", {})
            if kind == "ExecutePipeline" and "parameters" not in props:
                props["parameters"] = {}
            if kind in ("DatabricksSparkPython", "DatabricksSparkJar") and "parameters" not in props:
                props["parameters"] = []
            if kind == "ExecuteDataFlow":
                props = _execute_data_flow_defaults(props, lookup)
            if kind == "ExecuteWranglingDataflow":
                props = wrangling_activity_defaults(props, lookup)
            for nested_key in ("activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities"):
                if isinstance(props.get(nested_key), list):
                    props[nested_key] = _activity_defaults(props[nested_key], lookup)
            if isinstance(props.get("cases"), list):
                props["cases"] = [
                    {**case, "activities": _activity_defaults(case["activities"], lookup)}
                    if isinstance(case, dict) and isinstance(case.get("activities"), list) else case
                    for case in props["cases"]
                ]
            activity["typeProperties"] = props
        result.append(activity)
    return result


def pipeline_defaults(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    if isinstance(props.get("activities"), list):
        props = {**props, "activities": _activity_defaults(props["activities"], lookup)}
    props = _add_reference_parameters(props)
    if "policy" not in props:
        anchor = "activities" if "activities" in props else None
        if anchor is None:
            props = {"policy": dict(PIPELINE_POLICY_DEFAULT), **props}
        else:
            props = insert_after(props, anchor, "policy", dict(PIPELINE_POLICY_DEFAULT))
    return props


def dataset_defaults(props: dict[str, Any]) -> dict[str, Any]:
    type_props = props.get("typeProperties")
    if isinstance(type_props, dict) and isinstance(type_props.get("location"), dict):
        location = dict(type_props["location"])
        for key in LOCATION_EXPRESSION_KEYS:
            text = location.get(key)
            if isinstance(text, str) and text.startswith("@") and not text.startswith("@@"):
                location[key] = {"value": text, "type": "Expression"}
        props = {**props, "typeProperties": {**type_props, "location": location}}
    return props


def trigger_defaults(props: dict[str, Any]) -> dict[str, Any]:
    pipelines = props.get("pipelines")
    if isinstance(pipelines, list):
        fixed = []
        for entry in pipelines:
            if isinstance(entry, dict) and "parameters" not in entry:
                entry = insert_after(entry, "pipelineReference", "parameters", {})
            fixed.append(entry)
        props = {**props, "pipelines": fixed}
    return props


def integration_runtime_defaults(props: dict[str, Any]) -> dict[str, Any]:
    if "typeProperties" not in props:
        props = {**props, "typeProperties": {}}
    return props


DEFAULTS_BY_KIND: dict[Kind, Callable[[dict[str, Any], ObjectLookup], dict[str, Any]]] = {
    Kind.PIPELINE: pipeline_defaults,
    Kind.DATASET: lambda props, lookup: dataset_defaults(props),
    Kind.TRIGGER: lambda props, lookup: trigger_defaults(props),
    Kind.INTEGRATION_RUNTIME: lambda props, lookup: integration_runtime_defaults(props),
    Kind.DATAFLOW: dataflow_defaults,
}


def apply_publish_defaults(kind: Kind, props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """`lookup` finds another object's JSON by kind and name."""
    handler = DEFAULTS_BY_KIND.get(kind)
    return handler(props, lookup) if handler else props
