"""The defaults ADF Studio fills in when it loads an object (mechanism 3) and the Expression form of
Expression-typed properties (mechanism 4), rule by rule, on small objects built here."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from portal.adf import publish_defaults as pd
from portal.adf.expression_types import (
    TABLE_FILE,
    apply_expression_types,
    is_expression_text,
    load_table,
    table_from_sdk,
)
from portal.adf.model import Kind
from portal.adf.publish_defaults import apply_publish_defaults, copy_escaped


def no_objects(kind: Kind, name: str) -> None:
    return None


def lookup_of(objects: dict[tuple[Kind, str], dict[str, Any]]):
    return lambda kind, name: objects.get((kind, name))


def publish(kind: Kind, props: dict[str, Any], lookup=no_objects) -> dict[str, Any]:
    return apply_publish_defaults(kind, copy_escaped(props), lookup)


def pipeline(*activities: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"activities": list(activities), **extra, "annotations": []}


def activity(kind: str, type_properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "A1", "type": kind, "dependsOn": [], **extra, "userProperties": []}
    if type_properties is not None:
        body["typeProperties"] = type_properties
    return body


def first_activity(props: dict[str, Any]) -> dict[str, Any]:
    return props["activities"][0]


# ---- Datasets ------------------------------------------------------------------------------------------------------


def test_dataset_without_type_properties_gets_them_after_schema_for_a_table() -> None:
    props = {
        "linkedServiceName": {"referenceName": "LS", "type": "LinkedServiceReference"},
        "annotations": [],
        "type": "AzureSqlTable",
        "schema": [],
    }
    out = publish(Kind.DATASET, props)
    assert list(out) == ["linkedServiceName", "annotations", "type", "schema", "typeProperties"]
    assert out["typeProperties"] == {}


def test_rest_resource_dataset_gets_type_properties_before_schema() -> None:
    props = {
        "linkedServiceName": {"referenceName": "LS", "type": "LinkedServiceReference"},
        "annotations": [],
        "type": "RestResource",
        "schema": [],
    }
    assert list(publish(Kind.DATASET, props)) == [
        "linkedServiceName",
        "annotations",
        "type",
        "typeProperties",
        "schema",
    ]


def test_dataset_type_properties_are_kept() -> None:
    props = {"type": "AzureSqlTable", "typeProperties": {"schema": "dbo", "table": "T"}, "schema": []}
    assert publish(Kind.DATASET, props) == props


# ---- Pipelines -----------------------------------------------------------------------------------------------------


def test_pipeline_policy_goes_after_concurrency() -> None:
    out = publish(Kind.PIPELINE, pipeline(activity("Wait", {"waitTimeInSeconds": 1}), concurrency=1, parameters={}))
    assert list(out) == ["activities", "concurrency", "policy", "parameters", "annotations"]
    assert out["policy"] == {"elapsedTimeMetric": {}}


def test_pipeline_policy_goes_after_activities_without_concurrency() -> None:
    out = publish(Kind.PIPELINE, pipeline(activity("Wait", {"waitTimeInSeconds": 1}), variables={}))
    assert list(out) == ["activities", "policy", "variables", "annotations"]


def test_activity_without_type_properties_gets_empty_ones() -> None:
    act = activity("SqlServerStoredProcedure", policy={"timeout": "0.12:00:00"})
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))
    assert list(out)[-1] == "typeProperties"
    assert out["typeProperties"] == {}


def test_unknown_activity_type_is_left_without_type_properties() -> None:
    out = first_activity(publish(Kind.PIPELINE, pipeline(activity("SomeFutureActivity"))))
    assert "typeProperties" not in out


def test_get_metadata_store_settings_get_recursive_after_type() -> None:
    act = activity(
        "GetMetadata",
        {
            "dataset": {"referenceName": "DS", "type": "DatasetReference"},
            "fieldList": ["childItems"],
            "storeSettings": {"type": "AzureBlobFSReadSettings", "enablePartitionDiscovery": False},
        },
    )
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]["storeSettings"]
    assert out == {"type": "AzureBlobFSReadSettings", "recursive": True, "enablePartitionDiscovery": False}
    assert list(out) == ["type", "recursive", "enablePartitionDiscovery"]


def test_recursive_is_not_added_where_the_model_has_none_or_it_is_set() -> None:
    http = activity("GetMetadata", {"storeSettings": {"type": "HttpReadSettings"}})
    assert "recursive" not in first_activity(publish(Kind.PIPELINE, pipeline(http)))["typeProperties"]["storeSettings"]
    explicit = activity("GetMetadata", {"storeSettings": {"type": "AzureBlobStorageReadSettings", "recursive": False}})
    assert (
        first_activity(publish(Kind.PIPELINE, pipeline(explicit)))["typeProperties"]["storeSettings"]["recursive"]
        is False
    )
    delete = activity("Delete", {"storeSettings": {"type": "AzureBlobFSReadSettings"}})
    assert (
        "recursive" not in first_activity(publish(Kind.PIPELINE, pipeline(delete)))["typeProperties"]["storeSettings"]
    )


def test_the_recursive_table_comes_from_the_models() -> None:
    assert "AzureBlobFSReadSettings" in pd.RECURSIVE_READ_SETTINGS
    assert "SftpReadSettings" in pd.RECURSIVE_READ_SETTINGS
    assert "HttpReadSettings" not in pd.RECURSIVE_READ_SETTINGS


def test_web_activity_is_written_method_headers_first() -> None:
    act = activity("WebActivity", {"url": "https://example.net/", "method": "GET"})
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]
    assert list(out) == ["method", "headers", "url"]
    assert out["headers"] == {}


def test_web_post_without_body_gets_an_empty_body_after_headers() -> None:
    act = activity(
        "WebActivity",
        {
            "url": "https://example.net/",
            "method": "POST",
            "authentication": {"type": "MSI", "resource": "https://management.azure.com/"},
        },
    )
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]
    assert list(out) == ["method", "headers", "url", "body", "authentication"]
    assert out["body"] == {}


def test_webhook_keeps_its_order_and_gets_headers_and_body() -> None:
    act = activity("WebHook", {"url": "https://example.net/", "method": "POST", "timeout": "00:10:00"})
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]
    assert list(out) == ["url", "method", "headers", "body", "timeout"]


def test_get_gets_no_body_and_a_given_body_is_kept() -> None:
    get = activity("WebHook", {"url": "u", "method": "GET"})
    assert "body" not in first_activity(publish(Kind.PIPELINE, pipeline(get)))["typeProperties"]
    given = activity("AzureFunctionActivity", {"functionName": "f", "method": "POST", "body": {"a": 1}})
    out = first_activity(publish(Kind.PIPELINE, pipeline(given)))["typeProperties"]
    assert list(out) == ["functionName", "method", "headers", "body"]
    assert out["body"] == {"a": 1}


def test_sql_dw_sink_with_copy_command_gets_copy_command_settings() -> None:
    act = activity(
        "Copy",
        {
            "source": {"type": "ParquetSource"},
            "sink": {"type": "SqlDWSink", "allowCopyCommand": True, "tableOption": "autoCreate"},
        },
    )
    sink = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]["sink"]
    assert list(sink) == ["type", "allowCopyCommand", "copyCommandSettings", "tableOption"]
    assert sink["copyCommandSettings"] == {}


def test_sql_dw_sink_without_copy_command_gets_no_settings() -> None:
    act = activity("Copy", {"source": {"type": "ParquetSource"}, "sink": {"type": "SqlDWSink", "allowPolyBase": True}})
    sink = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]["sink"]
    assert "copyCommandSettings" not in sink


def flow(sources: list[str], sinks: list[str]) -> dict[str, Any]:
    return {
        "name": "DF",
        "properties": {
            "type": "MappingDataFlow",
            "typeProperties": {
                "sources": [{"name": n} for n in sources],
                "sinks": [{"name": n} for n in sinks],
                "transformations": [],
                "scriptLines": [],
            },
        },
    }


def test_execute_data_flow_reference_is_rebuilt_in_the_data_flows_order() -> None:
    act = activity(
        "ExecuteDataFlow",
        {
            "dataflow": {
                "referenceName": "DF",
                "type": "DataFlowReference",
                "datasetParameters": {"sink1": {"p": "x"}, "src2": {}},
            },
            "compute": {"coreCount": 8, "computeType": "General"},
            "traceLevel": "Coarse",
        },
    )
    lookup = lookup_of({(Kind.DATAFLOW, "DF"): flow(["src1", "src2"], ["sink1"])})
    out = first_activity(publish(Kind.PIPELINE, pipeline(act), lookup))["typeProperties"]
    ref = out["dataflow"]
    assert list(ref) == ["referenceName", "type", "parameters", "datasetParameters"]
    assert list(ref["datasetParameters"]) == ["src1", "src2", "sink1"]
    assert ref["datasetParameters"]["sink1"] == {"p": "x"}
    assert list(out) == ["dataflow", "staging", "compute", "traceLevel"]
    assert out["traceLevel"] == "Coarse"


def test_execute_data_flow_parameters_move_before_dataset_parameters() -> None:
    act = activity(
        "ExecuteDataFlow",
        {
            "dataflow": {
                "referenceName": "DF",
                "type": "DataFlowReference",
                "datasetParameters": {},
                "parameters": {"x": {"value": "'a'", "type": "Expression"}},
            },
            "compute": {"coreCount": 8, "computeType": "General"},
            "traceLevel": "Fine",
        },
    )
    lookup = lookup_of({(Kind.DATAFLOW, "DF"): flow(["s"], [])})
    ref = first_activity(publish(Kind.PIPELINE, pipeline(act), lookup))["typeProperties"]["dataflow"]
    assert list(ref) == ["referenceName", "type", "parameters", "datasetParameters"]
    assert ref["parameters"] == {"x": {"value": "'a'", "type": "Expression"}}


def test_execute_data_flow_gets_trace_level_fine_after_compute() -> None:
    act = activity(
        "ExecuteDataFlow",
        {
            "dataflow": {"referenceName": "DF", "type": "DataFlowReference"},
            "compute": {"coreCount": 8, "computeType": "General"},
        },
    )
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]
    assert list(out) == ["dataflow", "staging", "compute", "traceLevel"]
    assert out["traceLevel"] == "Fine"


def test_execute_data_flow_without_dataflow_gets_staging_first() -> None:
    act = activity("ExecuteDataFlow", {"compute": {"coreCount": 8}, "traceLevel": "Fine"})
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]
    assert list(out) == ["staging", "compute", "traceLevel"]


def test_wrangling_data_flow_reference_gets_no_parameters() -> None:
    act = activity(
        "ExecuteWranglingDataflow",
        {
            "dataflow": {"referenceName": "PQ", "type": "DataFlowReference"},
            "queries": [
                {
                    "queryName": "UserQuery",
                    "dataflowSinks": [{"name": "s", "dataset": {"referenceName": "DS", "type": "DatasetReference"}}],
                }
            ],
        },
    )
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]
    assert "parameters" not in out["dataflow"]
    assert isinstance(out["dataflow"]["datasetParameters"], dict)  # what it holds is the Power Query hook's
    assert out["queries"][0]["dataflowSinks"][0]["dataset"]["parameters"] == {}


def test_rules_reach_nested_activities() -> None:
    inner = activity("GetMetadata", {"storeSettings": {"type": "AzureBlobFSReadSettings"}})
    until = activity("Until", {"expression": {"value": "@true", "type": "Expression"}, "activities": [inner]})
    cases = activity(
        "Switch",
        {
            "on": {"value": "@'a'", "type": "Expression"},
            "cases": [{"value": "a", "activities": [copy.deepcopy(inner)]}],
        },
    )
    out = publish(Kind.PIPELINE, pipeline(until, cases))
    assert (
        out["activities"][0]["typeProperties"]["activities"][0]["typeProperties"]["storeSettings"]["recursive"] is True
    )
    assert (
        out["activities"][1]["typeProperties"]["cases"][0]["activities"][0]["typeProperties"]["storeSettings"][
            "recursive"
        ]
        is True
    )


def test_activities_without_a_policy_get_the_models_default() -> None:
    act = activity("ExecutePipeline", {"pipeline": {"referenceName": "P", "type": "PipelineReference"}})
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))
    assert list(out) == ["name", "type", "dependsOn", "policy", "userProperties", "typeProperties"]
    assert out["policy"] == {"secureInput": False}
    variable = first_activity(publish(Kind.PIPELINE, pipeline(activity("SetVariable", {"variableName": "v"}))))
    assert variable["policy"] == {"secureOutput": False, "secureInput": False}
    wait = activity("Wait", {"waitTimeInSeconds": 1})
    assert "policy" not in first_activity(publish(Kind.PIPELINE, pipeline(wait)))
    own = activity("SetVariable", {"variableName": "v"})
    own["policy"] = {"secureOutput": True, "secureInput": False}
    assert first_activity(publish(Kind.PIPELINE, pipeline(own)))["policy"] == own["policy"]


# ---- Triggers, runtimes, credentials, managed networks, change data captures ---------------------------------------


def test_tumbling_window_pipeline_gets_parameters() -> None:
    props = {
        "annotations": [],
        "runtimeState": "Started",
        "pipeline": {"pipelineReference": {"referenceName": "P", "type": "PipelineReference"}},
        "type": "TumblingWindowTrigger",
        "typeProperties": {"frequency": "Hour", "interval": 1},
    }
    out = publish(Kind.TRIGGER, props)
    assert list(out["pipeline"]) == ["pipelineReference", "parameters"]
    assert out["pipeline"]["parameters"] == {}


def test_schedule_trigger_pipelines_get_parameters() -> None:
    props = {
        "pipelines": [
            {"pipelineReference": {"referenceName": "P", "type": "PipelineReference"}},
            {"pipelineReference": {"referenceName": "Q", "type": "PipelineReference"}, "parameters": {"a": 1}},
        ],
        "type": "ScheduleTrigger",
    }
    out = publish(Kind.TRIGGER, props)
    assert [p["parameters"] for p in out["pipelines"]] == [{}, {"a": 1}]


def test_credential_without_type_properties_gets_them() -> None:
    assert publish(Kind.CREDENTIAL, {"type": "ManagedIdentity"}) == {"type": "ManagedIdentity", "typeProperties": {}}


def test_managed_virtual_network_properties_are_empty() -> None:
    assert publish(Kind.MANAGED_VIRTUAL_NETWORK, {"preventDataExfiltration": False}) == {}


def test_expression_text() -> None:
    assert is_expression_text("@item().name")
    assert is_expression_text("select * from t where d > '@{pipeline().parameters.d}'")
    assert not is_expression_text("@@literal")
    assert not is_expression_text("plain text @ home")


# ---- Expression-typed properties (mechanism 4) ---------------------------------------------------------------------

EXPR = {"type": "Expression"}


def test_copy_wildcard_file_name_gets_the_expression_form() -> None:
    act = activity(
        "Copy",
        {
            "source": {
                "type": "DelimitedTextSource",
                "storeSettings": {
                    "type": "AzureBlobStorageReadSettings",
                    "recursive": True,
                    "wildcardFileName": "@item().name",
                },
            },
            "sink": {"type": "DelimitedTextSink"},
        },
    )
    settings = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]["source"]["storeSettings"]
    assert settings["wildcardFileName"] == {"value": "@item().name", **EXPR}
    assert settings["recursive"] is True


def test_data_explorer_command_with_interpolation_gets_the_expression_form() -> None:
    command = ".set-or-append T <| S | where n > toint(\"@{activity('L').output.firstRow.n}\")"
    act = activity("AzureDataExplorerCommand", {"command": command, "commandTimeout": "00:20:00"})
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]
    assert out["command"] == {"value": command, **EXPR}
    assert out["commandTimeout"] == "00:20:00"


def test_script_text_gets_the_expression_form() -> None:
    act = activity("Script", {"scripts": [{"type": "Query", "text": "@concat('select ', '1')"}]})
    out = first_activity(publish(Kind.PIPELINE, pipeline(act)))["typeProperties"]
    assert out["scripts"][0]["text"] == {"value": "@concat('select ', '1')", **EXPR}
    assert out["scripts"][0]["type"] == "Query"


def test_dataset_location_gets_the_expression_form() -> None:
    props = {
        "type": "DelimitedText",
        "typeProperties": {
            "location": {"type": "AzureBlobFSLocation", "fileName": "@pipeline().parameters.f", "fileSystem": "data"},
            "columnDelimiter": ",",
        },
        "schema": [],
    }
    location = publish(Kind.DATASET, props)["typeProperties"]["location"]
    assert location["fileName"] == {"value": "@pipeline().parameters.f", **EXPR}
    assert location["fileSystem"] == "data"


def test_free_form_values_are_left_alone() -> None:
    act = activity(
        "Copy",
        {"source": {"type": "BinarySource"}, "sink": {"type": "BinarySink"}},
        inputs=[{"referenceName": "DS", "type": "DatasetReference", "parameters": {"p": "@item().x"}}],
    )
    act["userProperties"] = [{"name": "Source", "value": "@{item().name}"}]
    web = activity(
        "WebActivity", {"method": "POST", "url": "u", "body": {"k": "@item().x"}, "headers": {"h": "@item().y"}}
    )
    out = publish(Kind.PIPELINE, pipeline(act, web))
    assert out["activities"][0]["inputs"][0]["parameters"] == {"p": "@item().x"}
    assert out["activities"][0]["userProperties"][0]["value"] == "@{item().name}"
    assert out["activities"][1]["typeProperties"]["body"] == {"k": "@item().x"}
    assert out["activities"][1]["typeProperties"]["headers"] == {"h": "@item().y"}


def test_linked_service_keeps_its_parameterized_properties_but_not_its_secret_names() -> None:
    props = {
        "type": "AzureSqlDatabase",
        "parameters": {"db": {"type": "string"}},
        "typeProperties": {
            "server": "@{linkedService().server}",
            "database": "@{linkedService().db}",
            "password": {
                "type": "AzureKeyVaultSecret",
                "store": {"referenceName": "KV", "type": "LinkedServiceReference"},
                "secretName": "@{linkedService().secret}",
            },
        },
    }
    out = publish(Kind.LINKED_SERVICE, props)
    assert out["typeProperties"]["server"] == "@{linkedService().server}"
    assert out["typeProperties"]["database"] == "@{linkedService().db}"
    assert out["typeProperties"]["password"]["secretName"] == {"value": "@{linkedService().secret}", **EXPR}


def test_expression_form_is_not_applied_twice_or_to_escaped_text() -> None:
    already = {"value": "@item().name", "type": "Expression"}
    props = {
        "type": "Json",
        "typeProperties": {
            "location": {"type": "AzureBlobStorageLocation", "fileName": dict(already), "container": "@@c"}
        },
    }
    location = apply_expression_types("dataset", copy.deepcopy(props))["typeProperties"]["location"]
    assert location["fileName"] == already
    assert location["container"] == "@@c"


def test_shipped_table_matches_the_sdk_models() -> None:
    pytest.importorskip("azure.mgmt.datafactory")
    shipped = json.loads((Path(pd.__file__).parent / TABLE_FILE).read_text(encoding="utf-8"))
    assert shipped == json.loads(json.dumps(table_from_sdk()))


def test_table_knows_the_models_the_rules_rely_on() -> None:
    table = load_table()
    assert "wildcardFileName" in table["models"]["AzureBlobStorageReadSettings"]["expr"]
    assert "command" in table["models"]["AzureDataExplorerCommandActivityTypeProperties"]["expr"]
    assert "UserProperty" not in table["models"] or not table["models"]["UserProperty"]["expr"]
    assert table["polymorphic"]["Activity"]["types"]["Copy"] == "CopyActivity"


# ---- Through the whole export ----------------------------------------------------------------------------------------


def write(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"), encoding="utf-8")


def test_export_writes_what_the_studio_fills_in(tmp_path: Path) -> None:
    from portal.cli import main

    root = tmp_path / "adf"
    write(root / "factory" / "adf-dev.json", {"name": "adf-dev", "location": "westeurope"})
    write(
        root / "linkedService" / "LS_Sql.json",
        {
            "name": "LS_Sql",
            "properties": {
                "type": "AzureSqlDatabase",
                "annotations": [],
                "typeProperties": {"connectionString": "Integrated Security=False;Data Source=s;Initial Catalog=d"},
            },
        },
    )
    write(
        root / "linkedService" / "LS_Blob.json",
        {
            "name": "LS_Blob",
            "properties": {
                "type": "AzureBlobStorage",
                "annotations": [],
                "typeProperties": {"serviceEndpoint": "https://x.net/"},
            },
        },
    )
    write(
        root / "dataset" / "DS_Table.json",
        {
            "name": "DS_Table",
            "properties": {
                "linkedServiceName": {"referenceName": "LS_Sql", "type": "LinkedServiceReference"},
                "annotations": [],
                "type": "AzureSqlTable",
                "schema": [],
            },
        },
    )
    write(
        root / "dataset" / "DS_Files.json",
        {
            "name": "DS_Files",
            "properties": {
                "linkedServiceName": {"referenceName": "LS_Blob", "type": "LinkedServiceReference"},
                "annotations": [],
                "type": "Binary",
                "typeProperties": {"location": {"type": "AzureBlobStorageLocation", "container": "c"}},
            },
        },
    )
    write(
        root / "pipeline" / "PL.json",
        {
            "name": "PL",
            "properties": {
                "activities": [
                    {
                        "name": "List",
                        "type": "GetMetadata",
                        "dependsOn": [],
                        "userProperties": [],
                        "typeProperties": {
                            "dataset": {"referenceName": "DS_Files", "type": "DatasetReference"},
                            "fieldList": ["childItems"],
                            "storeSettings": {
                                "type": "AzureBlobStorageReadSettings",
                                "enablePartitionDiscovery": False,
                            },
                        },
                    },
                    {
                        "name": "Copy",
                        "type": "Copy",
                        "dependsOn": [],
                        "userProperties": [],
                        "inputs": [{"referenceName": "DS_Files", "type": "DatasetReference"}],
                        "outputs": [{"referenceName": "DS_Files", "type": "DatasetReference"}],
                        "typeProperties": {
                            "source": {
                                "type": "BinarySource",
                                "storeSettings": {
                                    "type": "AzureBlobStorageReadSettings",
                                    "recursive": True,
                                    "wildcardFileName": "@item().name",
                                },
                            },
                            "sink": {"type": "BinarySink"},
                        },
                    },
                ],
                "concurrency": 1,
                "annotations": [],
            },
        },
    )
    write(
        root / "trigger" / "TW.json",
        {
            "name": "TW",
            "properties": {
                "annotations": [],
                "runtimeState": "Stopped",
                "pipeline": {"pipelineReference": {"referenceName": "PL", "type": "PipelineReference"}},
                "type": "TumblingWindowTrigger",
                "typeProperties": {
                    "frequency": "Hour",
                    "interval": 1,
                    "startTime": "2026-01-01T00:00:00Z",
                    "delay": "00:00:00",
                    "maxConcurrency": 1,
                    "retryPolicy": {"intervalInSeconds": 30},
                    "dependsOn": [],
                },
            },
        },
    )
    assert main(["export-arm", str(root), "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "ARMTemplateForFactory.json").read_text(encoding="utf-8"))
    by_name = {r["name"].split("'/")[1].rstrip("')]"): r["properties"] for r in doc["resources"]}
    assert list(by_name["PL"]) == ["activities", "concurrency", "policy", "annotations"]
    listing, copy_activity = by_name["PL"]["activities"]
    assert listing["typeProperties"]["storeSettings"]["recursive"] is True
    assert copy_activity["typeProperties"]["source"]["storeSettings"]["wildcardFileName"] == {
        "value": "@item().name",
        "type": "Expression",
    }
    assert list(by_name["DS_Table"]) == ["linkedServiceName", "annotations", "type", "schema", "typeProperties"]
    assert by_name["TW"]["pipeline"]["parameters"] == {}
