"""What ADF Publish adds to or changes in an object's properties before they go into the ARM template.

Publish writes each object as ADF Studio holds it after loading it from Git: the Studio fills in the defaults of
its model and writes some objects in its own property order. Every rule here was seen in real Publish output (the
corpus in shared/adf-corpus; each rule names an entry that shows it, as evidence, never as a condition). The rules
are looked up by object kind (`DEFAULTS_BY_KIND`) and, for activities, by activity type (`ACTIVITY_RULES`): one
pass over an object's top-level properties and its activities, no walk of every property per rule. Expression-typed
properties are in `expression_types.py`; the `[[` escaping of strings that ARM would otherwise evaluate is
`copy_escaped`. (The secure strings Publish puts in place of `encryptedCredential` are in `secrets.py`.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from portal.adf.dataflows import dataflow_defaults, wrangling_activity_defaults
from portal.adf.expression_types import apply_expression_types, load_table
from portal.adf.model import Kind
from portal.adf.references import NESTED_ACTIVITY_KEYS

# The current (2025-2026) form of the empty pipeline policy Publish adds.
PIPELINE_POLICY_DEFAULT: dict[str, Any] = {"elapsedTimeMetric": {}}

WEB_ACTIVITY_TYPES = frozenset({"WebActivity", "WebHook", "AzureFunctionActivity"})
# The model's `body`: "Required for POST/PUT method, not allowed for GET method" (WebActivity, WebHook,
# AzureFunctionActivity type properties in the SDK / REST spec).
METHODS_WITH_BODY = frozenset({"POST", "PUT"})

# Dataset types whose typeProperties ADF Studio writes before `schema` (it writes the others' after it; the order
# of each type's own Git JSON in the corpus: 244 DelimitedText, 297 Parquet, 26 Json... vs 199 SqlServerTable,
# 108 AzureSqlTable, 43 OracleTable...). The file formats are the dataset models whose typeProperties hold a
# `location` (SDK); RestResource is seen so too (a corpus factory RestResource1, a corpus factory ds_rest).
TYPE_PROPERTIES_BEFORE_SCHEMA = frozenset(
    {"Avro", "Binary", "DelimitedText", "Excel", "Iceberg", "Json", "Orc", "Parquet", "Xml", "RestResource"}
)

# The model of a managed virtual network has only read-only properties (vNetId, alias), so the Studio writes
# `properties: {}` whatever Git holds (a corpus factory default: preventDataExfiltration dropped; every other
# managed network in the corpus has no properties in Git and {} in ARM).
MANAGED_VIRTUAL_NETWORK_WRITABLE: frozenset[str] = frozenset()

# Activity policies the Studio fills in from the model's defaults when an activity has none: SetVariable
# (SecureInputOutputPolicy; a corpus factory 2023-09, a corpus factory 2025) and
# ExecutePipeline (ExecutePipelineActivityPolicy; a corpus factory 2024-02). Studio versions before those dates
# wrote none (a corpus factory 2022, a corpus factory 2023-01, a corpus factory 2023-08): the export
# writes what the current Studio does, and the golden test treats these policies as a version-only difference.
ACTIVITY_POLICY_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "SetVariable": {"secureOutput": False, "secureInput": False},
    "ExecutePipeline": {"secureInput": False},
}


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


def insert_after_first(mapping: dict[str, Any], anchors: tuple[str, ...], key: str, value: Any) -> dict[str, Any]:
    """`key` right after the first of `anchors` present in `mapping`; first of all when none is."""
    for anchor in anchors:
        if anchor in mapping:
            return insert_after(mapping, anchor, key, value)
    return {key: value, **mapping}


def copy_escaped(value: Any) -> Any:
    """A fresh copy of a JSON value in which every string that starts with '[' is written '[[' (ARM evaluates
    strings that start with '['). One pass for both, as this runs over every property of every object."""
    if isinstance(value, dict):
        return {
            key: (
                ("[" + child if child[:1] == "[" else child)
                if isinstance(child, str)
                else copy_escaped(child)
                if isinstance(child, (dict, list))
                else child
            )
            for key, child in value.items()
        }
    if isinstance(value, list):
        return [
            (
                ("[" + child if child[:1] == "[" else child)
                if isinstance(child, str)
                else copy_escaped(child)
                if isinstance(child, (dict, list))
                else child
            )
            for child in value
        ]
    if isinstance(value, str) and value[:1] == "[":
        return "[" + value
    return value


def _add_reference_parameters(value: Any, wrangling: bool = False) -> Any:
    """`"parameters": {}` on every dataset and data flow reference of a pipeline, as the service returns them
    (data flows keep their dataset references as written), and `datasetParameters: {}` on data flow references.
    The data flow reference of an ExecuteWranglingDataflow activity (Power Query) gets no `parameters`
    (a corpus factory Data Cleansing, pqpipe: only datasetParameters; their sinks' dataset references do get
    them). Changes `value` in place."""
    if isinstance(value, dict):
        inner = wrangling or value.get("type") == "ExecuteWranglingDataflow"
        for child in value.values():
            if isinstance(child, (dict, list)):
                _add_reference_parameters(child, inner)
        ref_type = value.get("type")
        if ref_type in ("DatasetReference", "DataFlowReference") and "referenceName" in value:
            if "parameters" not in value and not (wrangling and ref_type == "DataFlowReference"):
                value["parameters"] = {}
            if ref_type == "DataFlowReference" and "datasetParameters" not in value:
                value["datasetParameters"] = {}
    elif isinstance(value, list):
        for child in value:
            if isinstance(child, (dict, list)):
                _add_reference_parameters(child, wrangling)
    return value


# Finds another object's JSON by kind and name (an ExecuteDataFlow activity needs its data flow's sources and
# sinks); None when the factory has no such object.
ObjectLookup = Callable[[Kind, str], "dict[str, Any] | None"]
TypePropertiesRule = Callable[[dict[str, Any], ObjectLookup], dict[str, Any]]


# ---- Activity typeProperties rules, by activity type ---------------------------------------------------------------


def _data_flow_endpoints(flow: Mapping[str, Any] | None) -> list[str]:
    """The names of a data flow's sources, then its sinks, in the data flow's order."""
    flow_props = (flow or {}).get("properties")
    type_props = flow_props.get("typeProperties") if isinstance(flow_props, dict) else None
    if not isinstance(type_props, dict):
        return []
    return [
        item["name"]
        for key in ("sources", "sinks")
        for item in (type_props.get(key) or [])
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    ]


def _data_flow_reference(ref: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """The Studio rebuilds an ExecuteDataFlow's reference: `parameters` before `datasetParameters`
    (a corpus factory pl_dataflow_union), and `datasetParameters` holding every source and sink of
    the data flow in the data flow's order, sources first (a corpus factory pipeline2: sink1, source1 in Git
    -> source1, sink1; a corpus factory PL_log). Entries that name no source or sink stay, after them."""
    existing = ref.get("datasetParameters")
    existing = existing if isinstance(existing, dict) else {}
    ordered: dict[str, Any] = {}
    for name in _data_flow_endpoints(lookup(Kind.DATAFLOW, ref["referenceName"])):
        ordered[name] = existing.get(name, {})
    for name, value in existing.items():
        ordered.setdefault(name, value)
    out = {key: value for key, value in ref.items() if key not in ("parameters", "datasetParameters")}
    parameters = ref.get("parameters")
    out["parameters"] = parameters if parameters is not None else {}
    out["datasetParameters"] = ordered
    return out


def _execute_data_flow(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """ExecuteDataFlow: the reference rebuilt (above); an empty `staging` right after `dataflow`, first when there
    is no `dataflow` (a corpus factory: compute, traceLevel -> staging, compute, traceLevel); and the
    model's default traceLevel "Fine" after compute (a corpus factory TransformMovieData)."""
    ref = props.get("dataflow")
    if isinstance(ref, dict) and isinstance(ref.get("referenceName"), str):
        props["dataflow"] = _data_flow_reference(ref, lookup)
    if "staging" not in props:
        props = insert_after_first(props, ("dataflow",), "staging", {})
    if "traceLevel" not in props:
        props = insert_after_first(props, ("compute", "integrationRuntime", "staging"), "traceLevel", "Fine")
    return props


def _web_headers_and_body(props: dict[str, Any]) -> dict[str, Any]:
    """Web, WebHook and Azure Function activities get `headers: {}` after `method` (a corpus factory, 117 of them)
    and, for a method that carries a payload, `body: {}` after the headers (a corpus factory
    2207060060000503_Rest, Decompress7z)."""
    if "headers" not in props:
        props = insert_after(props, "method", "headers", {})
    method = props.get("method")
    if "body" not in props and isinstance(method, str) and method.upper() in METHODS_WITH_BODY:
        props = insert_after(props, "headers", "body", {})
    return props


def _web_activity(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """The current Studio writes a Web activity's `method` and `headers` first (a corpus factory pipeline1 and
    pl_rest, 2024-02: url, method -> method, headers, url; the Studio before, a corpus factory 2024-01, kept url
    first)."""
    props = _web_headers_and_body(props)
    front: dict[str, Any] = {key: props[key] for key in ("method", "headers") if key in props}
    return {**front, **{key: value for key, value in props.items() if key not in front}}


def _other_web_activity(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    return _web_headers_and_body(props)


def _execute_pipeline(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """`parameters: {}` last (a corpus factory, a corpus factory Execute Pipeline1)."""
    if "parameters" not in props:
        props["parameters"] = {}
    return props


def _databricks_parameters(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    if "parameters" not in props:
        props["parameters"] = []
    return props


def _recursive_read_settings() -> frozenset[str]:
    """Store read settings whose model has `recursive` (all file stores but HTTP), from the SDK-derived table."""
    table = load_table()
    types = table["polymorphic"]["StoreReadSettings"]["types"]
    return frozenset(
        value for value, model in types.items() if "recursive" in table["models"].get(model, {}).get("expr", ())
    )


def _get_metadata(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """GetMetadata: `recursive: true` after the store settings' `type` when missing (a corpus factory
    21-Dynamic-column-mapping, a corpus factory pipeline1, a corpus factory pl_1; a Delete
    activity's store settings always hold it in Git)."""
    settings = props.get("storeSettings")
    if isinstance(settings, dict) and "recursive" not in settings and settings.get("type") in RECURSIVE_READ_SETTINGS:
        props["storeSettings"] = insert_after(settings, "type", "recursive", True)
    return props


def _copy(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """Copy into Azure Synapse (SqlDWSink) with the COPY command on gets the model's `copyCommandSettings: {}`
    after `allowCopyCommand` (a corpus factory, four Copy activities)."""
    sink = props.get("sink")
    if (
        isinstance(sink, dict)
        and sink.get("type") == "SqlDWSink"
        and sink.get("allowCopyCommand") is True
        and "copyCommandSettings" not in sink
    ):
        props["sink"] = insert_after(sink, "allowCopyCommand", "copyCommandSettings", {})
    return props


ACTIVITY_RULES: Mapping[str, tuple[TypePropertiesRule, ...]] = {
    "WebActivity": (_web_activity,),
    "WebHook": (_other_web_activity,),
    "AzureFunctionActivity": (_other_web_activity,),
    "ExecutePipeline": (_execute_pipeline,),
    "DatabricksSparkPython": (_databricks_parameters,),
    "DatabricksSparkJar": (_databricks_parameters,),
    "ExecuteDataFlow": (_execute_data_flow,),
    "ExecuteWranglingDataflow": (wrangling_activity_defaults,),
    "GetMetadata": (_get_metadata,),
    "Copy": (_copy,),
}


def _activity_types_with_type_properties() -> frozenset[str]:
    """Activity types whose model has typeProperties (all of them in the SDK), from the SDK-derived table."""
    return frozenset(load_table()["activityTypesWithTypeProperties"])


RECURSIVE_READ_SETTINGS = _recursive_read_settings()
ACTIVITY_TYPES_WITH_TYPE_PROPERTIES = _activity_types_with_type_properties()


def _activity_defaults(activities: list[Any], lookup: ObjectLookup) -> list[Any]:
    result = []
    for activity in activities:
        if not isinstance(activity, dict):
            result.append(activity)
            continue
        kind: Any = activity.get("type")  # looked up as the JSON has it
        if "typeProperties" not in activity and kind in ACTIVITY_TYPES_WITH_TYPE_PROPERTIES:
            # An activity without typeProperties gets the model's empty one, last (a corpus factory
            # 44-Stored-Procedure-Activity-ADF, a SqlServerStoredProcedure activity).
            activity = {**activity, "typeProperties": {}}
        if "policy" not in activity and kind in ACTIVITY_POLICY_DEFAULTS:
            activity = insert_after_first(
                activity, ("dependsOn", "type"), "policy", dict(ACTIVITY_POLICY_DEFAULTS[kind])
            )
        props = activity.get("typeProperties")
        if isinstance(props, dict):
            activity = dict(activity)
            props = dict(props)
            for rule in ACTIVITY_RULES.get(kind, ()):
                props = rule(props, lookup)
            for nested_key in NESTED_ACTIVITY_KEYS:
                if isinstance(props.get(nested_key), list):
                    props[nested_key] = _activity_defaults(props[nested_key], lookup)
            if isinstance(props.get("cases"), list):
                props["cases"] = [
                    {**case, "activities": _activity_defaults(case["activities"], lookup)}
                    if isinstance(case, dict) and isinstance(case.get("activities"), list)
                    else case
                    for case in props["cases"]
                ]
            activity["typeProperties"] = props
        result.append(activity)
    return result


# ---- Object rules, by kind -----------------------------------------------------------------------------------------


def pipeline_defaults(props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    if isinstance(props.get("activities"), list):
        props = {**props, "activities": _activity_defaults(props["activities"], lookup)}
    props = _add_reference_parameters(props)
    if "policy" not in props:
        # After `concurrency` when the pipeline has one (a corpus factory CopyFromBlobToSqlPipeline), else after
        # the activities (every other pipeline of the corpus).
        props = insert_after_first(props, ("concurrency", "activities"), "policy", dict(PIPELINE_POLICY_DEFAULT))
    return props


def dataset_defaults(props: dict[str, Any]) -> dict[str, Any]:
    if "typeProperties" not in props:
        # Every dataset without typeProperties in Git gets {} (15 in the corpus: AzureSqlTable in
        # a corpus factory, RestResource in a corpus factory, SnowflakeTable in
        # a corpus factory, ...), at the place its type has it.
        if props.get("type") in TYPE_PROPERTIES_BEFORE_SCHEMA:
            props = insert_after_first(props, ("type",), "typeProperties", {})
        else:
            props = {**props, "typeProperties": {}}
    return props


def _trigger_pipeline(entry: Any) -> Any:
    if isinstance(entry, dict) and "parameters" not in entry:
        return insert_after(entry, "pipelineReference", "parameters", {})
    return entry


def trigger_defaults(props: dict[str, Any]) -> dict[str, Any]:
    """`parameters: {}` after each pipelineReference: the `pipelines[]` of schedule and event triggers, and the
    single `pipeline` of a tumbling-window trigger (a corpus factory TriggerA, a corpus factory
    tumblingtrigger1)."""
    pipelines = props.get("pipelines")
    if isinstance(pipelines, list):
        props = {**props, "pipelines": [_trigger_pipeline(entry) for entry in pipelines]}
    if isinstance(props.get("pipeline"), dict):
        props = {**props, "pipeline": _trigger_pipeline(props["pipeline"])}
    return props


def integration_runtime_defaults(props: dict[str, Any]) -> dict[str, Any]:
    if "typeProperties" not in props:
        props = {**props, "typeProperties": {}}
    return props


def credential_defaults(props: dict[str, Any]) -> dict[str, Any]:
    """A credential without typeProperties gets {} (a corpus factory
    WorkspaceSystemIdentity, a ManagedIdentity credential)."""
    if "typeProperties" not in props:
        props = {**props, "typeProperties": {}}
    return props


def managed_virtual_network_defaults(props: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in props.items() if key in MANAGED_VIRTUAL_NETWORK_WRITABLE}


DEFAULTS_BY_KIND: dict[Kind, Callable[[dict[str, Any], ObjectLookup], dict[str, Any]]] = {
    Kind.PIPELINE: pipeline_defaults,
    Kind.DATASET: lambda props, lookup: dataset_defaults(props),
    Kind.TRIGGER: lambda props, lookup: trigger_defaults(props),
    Kind.INTEGRATION_RUNTIME: lambda props, lookup: integration_runtime_defaults(props),
    Kind.CREDENTIAL: lambda props, lookup: credential_defaults(props),
    Kind.MANAGED_VIRTUAL_NETWORK: lambda props, lookup: managed_virtual_network_defaults(props),
    # A change data capture's references to deleted linked services: references.drop_optional_dangling.
    Kind.DATAFLOW: dataflow_defaults,
    # Linked services only get the Expression form of Key Vault secret references (expression_types.py).
    Kind.LINKED_SERVICE: lambda props, lookup: props,
    Kind.MANAGED_PRIVATE_ENDPOINT: lambda props, lookup: props,
}


def apply_publish_defaults(kind: Kind, props: dict[str, Any], lookup: ObjectLookup) -> dict[str, Any]:
    """`props` (a fresh copy, see `copy_escaped`) as Publish writes it; `lookup` finds another object's JSON by kind
    and name."""
    handler = DEFAULTS_BY_KIND.get(kind)
    if handler is None:
        return props
    props = handler(props, lookup)
    return apply_expression_types(kind.value, props)
