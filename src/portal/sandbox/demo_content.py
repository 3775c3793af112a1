"""The content of the demo data repository that `portal demo --path DIR` creates.

A sample factory for a fictional retail company's sales analytics ("adf-retail-dev"), in the exact JSON that ADF
Git integration writes (tab indentation, no final newline, file name = object name), with the portal's
configuration for three environments (dev, test, prod) on the embedded sandbox, their ARM deployment parameter
files, a few Databricks notebooks and a README with the commands to try.

Everything here is fixed text and data: the same call always writes the same files, so a demo (and its tests)
can rely on names and values. The factory keeps ADF's default parameterization (no
`arm-template-parameters-definition.json`) except where the default leaves something an environment must change;
see `parameter_definition` below.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.adf.jsonformat import dumps_adf
from portal.errors import PortalError

if TYPE_CHECKING:
    import git

DEMO_SUBSCRIPTIONS = {
    "dev": "6f1c9a2e-0d3b-4c5e-9a7f-1b2c3d4e5f01",
    "test": "6f1c9a2e-0d3b-4c5e-9a7f-1b2c3d4e5f02",
    "prod": "6f1c9a2e-0d3b-4c5e-9a7f-1b2c3d4e5f03",
}
DEMO_SANDBOX_FOLDER = ".portal-sandbox"
DEMO_ENVIRONMENTS = ("dev", "test", "prod")
FACTORY_NAME = "adf-retail-dev"
LOCATION = "westeurope"
ADF_ROOT = "adf"

# Per-environment facts of the fictional platform; the dev ones are what the factory JSON holds.
DATABRICKS_HOSTS = {
    "dev": "https://adb-1111111111111111.1.azuredatabricks.net",
    "test": "https://adb-2222222222222222.2.azuredatabricks.net",
    "prod": "https://adb-3333333333333333.3.azuredatabricks.net",
}
DATABRICKS_CLUSTERS = {
    "dev": "0101-000000-dev00001",
    "test": "0101-000000-tst00001",
    "prod": "0101-000000-prd00001",
}
SAMPLE_PERCENT = {"dev": 10, "test": 50, "prod": 100}
ALERT_EMAILS = {
    "dev": "data-dev@retail.example",
    "test": "data-test@retail.example",
    "prod": "data-oncall@retail.example",
}
RETENTION_DAYS = {"dev": 30, "test": 60, "prod": 365}
DATABRICKS_TARGET_FOLDER = "/Shared/retail/notebooks"  # the repository's notebooks/ folder goes here
NOTEBOOK_PATH = "/Shared/retail/notebooks/transform_sales"

PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#"


def resource_group(env: str) -> str:
    return f"rg-retail-{env}"


def factory_name(env: str) -> str:
    return f"adf-retail-{env}"


def key_vault_url(env: str) -> str:
    return f"https://kv-retail-{env}.vault.azure.net/"


def key_vault_id(env: str) -> str:
    return (f"/subscriptions/{DEMO_SUBSCRIPTIONS[env]}/resourceGroups/{resource_group(env)}"
            f"/providers/Microsoft.KeyVault/vaults/kv-retail-{env}")


def lake_url(env: str) -> str:
    return f"https://stretail{env}.dfs.core.windows.net/"


def storage_account_id(env: str) -> str:
    return (f"/subscriptions/{DEMO_SUBSCRIPTIONS[env]}/resourceGroups/{resource_group(env)}"
            f"/providers/Microsoft.Storage/storageAccounts/stretail{env}")


# --- small builders in ADF's own shapes ----------------------------------------------------------------------------

def _ls_ref(name: str) -> dict[str, Any]:
    return {"referenceName": name, "type": "LinkedServiceReference"}


def _kv_secret(secret_name: str) -> dict[str, Any]:
    return {"type": "AzureKeyVaultSecret", "store": _ls_ref("LS_KeyVault"), "secretName": secret_name}


def _expr(value: str) -> dict[str, Any]:
    return {"value": value, "type": "Expression"}


def _ds_ref(name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"referenceName": name, "type": "DatasetReference"}
    if parameters is not None:
        ref["parameters"] = parameters
    return ref


def _policy(timeout: str = "0.12:00:00", retry: int = 0) -> dict[str, Any]:
    return {"timeout": timeout, "retry": retry, "retryIntervalInSeconds": 30, "secureOutput": False,
            "secureInput": False}


def _after(*activities: str, conditions: tuple[str, ...] = ("Succeeded",)) -> list[dict[str, Any]]:
    return [{"activity": name, "dependencyConditions": list(conditions)} for name in activities]


def _activity(name: str, type_: str, type_properties: dict[str, Any], *, depends_on: list[dict[str, Any]] | None = None,
              policy: dict[str, Any] | None = None, description: str | None = None,
              **extra: Any) -> dict[str, Any]:
    """One activity with the fields ADF Studio writes for it, in its order."""
    activity: dict[str, Any] = {"name": name, "type": type_}
    if description:
        activity["description"] = description
    activity["dependsOn"] = depends_on or []
    if policy is not None:
        activity["policy"] = policy
    activity["userProperties"] = []
    activity["typeProperties"] = type_properties
    activity.update(extra)
    return activity


def _execute_pipeline(name: str, pipeline: str, parameters: dict[str, Any] | None = None, *,
                      depends_on: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    type_properties: dict[str, Any] = {"pipeline": {"referenceName": pipeline, "type": "PipelineReference"},
                                       "waitOnCompletion": True}
    if parameters:
        type_properties["parameters"] = parameters
    return _activity(name, "ExecutePipeline", type_properties, depends_on=depends_on)


def _parquet_copy(source: dict[str, Any], sink_type: str = "ParquetSink") -> dict[str, Any]:
    sink: dict[str, Any] = {"type": sink_type}
    if sink_type == "ParquetSink":
        sink["storeSettings"] = {"type": "AzureBlobFSWriteSettings"}
        sink["formatSettings"] = {"type": "ParquetWriteSettings"}
    return {
        "source": source,
        "sink": sink,
        "enableStaging": False,
        "translator": {"type": "TabularTranslator",
                       "typeConversion": True,
                       "typeConversionSettings": {"allowDataTruncation": True, "treatBooleanAsNumber": False}},
    }


def _csv_source() -> dict[str, Any]:
    return {"type": "DelimitedTextSource",
            "storeSettings": {"type": "AzureBlobFSReadSettings", "recursive": True,
                              "enablePartitionDiscovery": False},
            "formatSettings": {"type": "DelimitedTextReadSettings"}}


def _pipeline(name: str, activities: list[dict[str, Any]], *, folder: str, description: str | None = None,
              parameters: dict[str, Any] | None = None, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if description:
        properties["description"] = description
    properties["activities"] = activities
    if parameters:
        properties["parameters"] = parameters
    if variables:
        properties["variables"] = variables
    properties["folder"] = {"name": folder}
    properties["annotations"] = []
    return {"name": name, "properties": properties}


def _lake_location(file_system: str, folder_path: Any = None, file_name: Any = None) -> dict[str, Any]:
    location: dict[str, Any] = {"type": "AzureBlobFSLocation"}
    if file_name is not None:
        location["fileName"] = file_name
    if folder_path is not None:
        location["folderPath"] = folder_path
    location["fileSystem"] = file_system
    return location


def _dataset(name: str, linked_service: str, type_: str, type_properties: dict[str, Any], *, folder: str,
             parameters: dict[str, Any] | None = None, schema: list[Any] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"linkedServiceName": _ls_ref(linked_service)}
    if parameters:
        properties["parameters"] = parameters
    properties["folder"] = {"name": folder}
    properties["annotations"] = []
    properties["type"] = type_
    if type_ == "AzureSqlTable":
        properties["schema"] = schema or []
        properties["typeProperties"] = type_properties
    else:
        properties["typeProperties"] = type_properties
        properties["schema"] = schema or []
    return {"name": name, "properties": properties}


def _csv_format() -> dict[str, Any]:
    return {"columnDelimiter": ",", "escapeChar": "\\", "firstRowAsHeader": True, "quoteChar": "\""}


# --- the factory -----------------------------------------------------------------------------------------------------

def factory_documents() -> dict[str, Any]:
    """Every ADF file, by its path relative to the ADF root folder."""
    docs: dict[str, Any] = {}

    docs[f"factory/{FACTORY_NAME}.json"] = {
        "name": FACTORY_NAME,
        "properties": {
            "globalParameters": {
                "environmentName": {"type": "String", "value": "dev"},
                "alertEmail": {"type": "String", "value": ALERT_EMAILS["dev"]},
                "retentionDays": {"type": "Int", "value": RETENTION_DAYS["dev"]},
            },
        },
        "location": LOCATION,
        "identity": {
            "type": "SystemAssigned",
            "principalId": "0c3f6d1e-7a52-4b8e-9d04-5e1f2a3b4c5d",
            "tenantId": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        },
    }

    # Linked services: secrets come from Key Vault, never from Git.
    linked_services = {
        "LS_KeyVault": {
            "annotations": [],
            "type": "AzureKeyVault",
            "typeProperties": {"baseUrl": key_vault_url("dev")},
        },
        "LS_Lake": {
            "annotations": [],
            "type": "AzureBlobFS",
            "typeProperties": {"url": lake_url("dev"), "accountKey": _kv_secret("lake-account-key")},
        },
        "LS_SalesDb": {
            "annotations": [],
            "type": "AzureSqlDatabase",
            "typeProperties": {"connectionString": _kv_secret("sales-db-connection")},
        },
        "LS_Databricks": {
            "annotations": [],
            "type": "AzureDatabricks",
            "typeProperties": {
                "domain": DATABRICKS_HOSTS["dev"],
                "accessToken": _kv_secret("databricks-token"),
                "existingClusterId": DATABRICKS_CLUSTERS["dev"],
            },
        },
    }
    descriptions = {
        "LS_KeyVault": "The environment's Key Vault; every other linked service takes its secrets from here.",
        "LS_Lake": "The data lake (ADLS Gen2): landing, raw, curated and archive containers.",
        "LS_SalesDb": "The shop's sales database (orders, order lines, customers, stores) and the KPI tables.",
        "LS_Databricks": "The Databricks workspace and its interactive cluster for the sales transformations.",
    }
    for name, properties in linked_services.items():
        docs[f"linkedService/{name}.json"] = {"name": name, "type": "Microsoft.DataFactory/factories/linkedservices",
                                              "properties": {"description": descriptions[name], **properties}}

    string_param = {"type": "string"}
    datasets = [
        _dataset("DS_Landing_Csv", "LS_Lake", "DelimitedText", {
            "location": _lake_location("landing", _expr("@dataset().folderPath"), _expr("@dataset().fileName")),
            **_csv_format(),
        }, folder="lake/landing", parameters={"folderPath": string_param, "fileName": string_param}),
        _dataset("DS_Landing_Binary", "LS_Lake", "Binary", {
            "location": _lake_location("landing", _expr("@dataset().folderPath")),
        }, folder="lake/landing", parameters={"folderPath": string_param}),
        _dataset("DS_Archive_Binary", "LS_Lake", "Binary", {
            "location": _lake_location("archive", _expr("@dataset().folderPath")),
        }, folder="lake/archive", parameters={"folderPath": string_param}),
        _dataset("DS_Raw_Parquet", "LS_Lake", "Parquet", {
            "location": _lake_location("raw", _expr("@dataset().folderPath"), _expr("@dataset().fileName")),
            "compressionCodec": "snappy",
        }, folder="lake/raw", parameters={"folderPath": string_param,
                                          "fileName": {"type": "string", "defaultValue": "data.parquet"}}),
        _dataset("DS_Raw_Orders", "LS_Lake", "Parquet", {
            "location": _lake_location("raw", "salesdb/Orders"),
            "compressionCodec": "snappy",
        }, folder="lake/raw"),
        _dataset("DS_Curated_Orders", "LS_Lake", "Parquet", {
            "location": _lake_location("curated", "sales/orders"),
            "compressionCodec": "snappy",
        }, folder="lake/curated"),
        _dataset("DS_Curated_Kpis", "LS_Lake", "Parquet", {
            "location": _lake_location("curated", _expr("@concat('sales/kpis/daily/', dataset().runDate)")),
            "compressionCodec": "snappy",
        }, folder="lake/curated", parameters={"runDate": string_param}),
        _dataset("DS_SalesDb_Table", "LS_SalesDb", "AzureSqlTable", {
            "schema": _expr("@dataset().schemaName"),
            "table": _expr("@dataset().tableName"),
        }, folder="salesdb", parameters={"schemaName": {"type": "string", "defaultValue": "sales"},
                                         "tableName": string_param}),
    ]
    for dataset in datasets:
        docs[f"dataset/{dataset['name']}.json"] = dataset

    docs["dataflow/DF_CleanOrders.json"] = {
        "name": "DF_CleanOrders",
        "properties": {
            "description": "Removes test orders and duplicates, types the columns and adds the net amount.",
            "folder": {"name": "sales"},
            "type": "MappingDataFlow",
            "typeProperties": {
                "sources": [{"dataset": _ds_ref("DS_Raw_Orders"), "name": "RawOrders"}],
                "sinks": [{"dataset": _ds_ref("DS_Curated_Orders"), "name": "CuratedOrders"}],
                "transformations": [{"name": "RealOrders"}, {"name": "LatestVersion"}, {"name": "NetAmount"}],
                "scriptLines": [
                    "source(output(",
                    "          OrderId as integer,",
                    "          StoreId as integer,",
                    "          CustomerId as integer,",
                    "          OrderDate as date,",
                    "          GrossAmount as decimal(18,2),",
                    "          DiscountAmount as decimal(18,2),",
                    "          IsTestOrder as boolean,",
                    "          ModifiedAt as timestamp",
                    "     ),",
                    "     allowSchemaDrift: true,",
                    "     validateSchema: false,",
                    "     ignoreNoFilesFound: false,",
                    "     format: 'parquet') ~> RawOrders",
                    "RawOrders filter(!IsTestOrder && GrossAmount >= 0) ~> RealOrders",
                    "RealOrders aggregate(groupBy(OrderId),",
                    "     each(match(name!='OrderId'), $$ = last($$))) ~> LatestVersion",
                    "LatestVersion derive(NetAmount = GrossAmount - coalesce(DiscountAmount, toDecimal(0)),",
                    "          OrderYear = year(OrderDate)) ~> NetAmount",
                    "NetAmount sink(allowSchemaDrift: true,",
                    "     validateSchema: false,",
                    "     format: 'parquet',",
                    "     truncate: true,",
                    "     umask: 0022,",
                    "     preCommands: [],",
                    "     postCommands: [],",
                    "     skipDuplicateMapInputs: true,",
                    "     skipDuplicateMapOutputs: true,",
                    "     partitionBy('key',",
                    "          0,",
                    "          OrderYear",
                    "     )) ~> CuratedOrders",
                ],
            },
        },
    }

    for pipeline in _pipelines():
        docs[f"pipeline/{pipeline['name']}.json"] = pipeline

    docs["trigger/TR_Daily.json"] = {
        "name": "TR_Daily",
        "properties": {
            "description": "The nightly run of the sales analytics.",
            "annotations": [],
            "runtimeState": "Started",
            "pipelines": [{
                "pipelineReference": {"referenceName": "PL_Orchestrate_Daily", "type": "PipelineReference"},
                "parameters": {"samplePercent": SAMPLE_PERCENT["dev"]},
            }],
            "type": "ScheduleTrigger",
            "typeProperties": {
                "recurrence": {
                    "frequency": "Day",
                    "interval": 1,
                    "startTime": "2024-01-01T05:00:00",
                    "timeZone": "W. Europe Standard Time",
                    "schedule": {"minutes": [0], "hours": [5]},
                },
            },
        },
    }
    docs["trigger/TR_NewFiles.json"] = {
        "name": "TR_NewFiles",
        "properties": {
            "description": "Ingests every file the stores drop into the landing container.",
            "annotations": [],
            "runtimeState": "Started",
            "pipelines": [{
                "pipelineReference": {"referenceName": "PL_Ingest_Landing", "type": "PipelineReference"},
                "parameters": {"folderPath": "@triggerBody().folderPath",
                               "fileName": "@triggerBody().fileName"},
            }],
            "type": "BlobEventsTrigger",
            "typeProperties": {
                "blobPathBeginsWith": "/landing/blobs/",
                "blobPathEndsWith": ".csv",
                "ignoreEmptyBlobs": True,
                "scope": storage_account_id("dev"),
                "events": ["Microsoft.Storage.BlobCreated"],
            },
        },
    }
    return docs


SALES_TABLES = [
    {"schema": "sales", "table": "Orders"},
    {"schema": "sales", "table": "OrderLines"},
    {"schema": "sales", "table": "Customers"},
    {"schema": "sales", "table": "Stores"},
    {"schema": "sales", "table": "Products"},
]


def _pipelines() -> list[dict[str, Any]]:
    run_date = "@pipeline().parameters.runDate"
    pipelines = []

    pipelines.append(_pipeline("PL_Ingest_Landing", [
        _activity("Copy file to raw", "Copy", _parquet_copy(_csv_source()), policy=_policy(),
                  inputs=[_ds_ref("DS_Landing_Csv", {"folderPath": _expr("@pipeline().parameters.folderPath"),
                                                     "fileName": _expr("@pipeline().parameters.fileName")})],
                  outputs=[_ds_ref("DS_Raw_Parquet", {
                      "folderPath": _expr("@concat('stores/', formatDateTime(utcNow(), 'yyyy/MM/dd'))"),
                      "fileName": _expr("@replace(pipeline().parameters.fileName, '.csv', '.parquet')")})]),
        _execute_pipeline("Archive file", "PL_Archive_Landing",
                          {"folderPath": _expr("@pipeline().parameters.folderPath")},
                          depends_on=_after("Copy file to raw")),
    ], folder="ingestion", description="Copies one file from the landing container to raw (started by TR_NewFiles).",
        parameters={"folderPath": {"type": "string"}, "fileName": {"type": "string"}}))

    pipelines.append(_pipeline("PL_Ingest_SalesDb", [
        _activity("For each table", "ForEach", {
            "items": _expr("@pipeline().parameters.tables"),
            "isSequential": False,
            "batchCount": 4,
            "activities": [
                _activity("Copy table to raw", "Copy", _parquet_copy({
                    "type": "AzureSqlSource",
                    "queryTimeout": "02:00:00",
                    "partitionOption": "None",
                }), policy=_policy(retry=2),
                    inputs=[_ds_ref("DS_SalesDb_Table", {"schemaName": _expr("@item().schema"),
                                                         "tableName": _expr("@item().table")})],
                    outputs=[_ds_ref("DS_Raw_Parquet", {
                        "folderPath": _expr("@concat('salesdb/', item().table)"),
                        "fileName": _expr(f"@concat(item().table, '_', {run_date[1:]}, '.parquet')")})]),
            ],
        }),
    ], folder="ingestion", description="Copies the sales database tables to the raw container.",
        parameters={"runDate": {"type": "string"}, "tables": {"type": "array", "defaultValue": SALES_TABLES}}))

    pipelines.append(_pipeline("PL_Ingest_Products", [
        _activity("Copy product catalogue", "Copy", _parquet_copy(_csv_source()), policy=_policy(),
                  inputs=[_ds_ref("DS_Landing_Csv", {"folderPath": "reference", "fileName": "products.csv"})],
                  outputs=[_ds_ref("DS_Raw_Parquet", {"folderPath": "reference/products",
                                                      "fileName": "products.parquet"})]),
    ], folder="ingestion", description="Copies the product catalogue the merchandising team drops as CSV."))

    pipelines.append(_pipeline("PL_Archive_Landing", [
        _activity("Copy to archive", "Copy", {
            "source": {"type": "BinarySource",
                       "storeSettings": {"type": "AzureBlobFSReadSettings", "recursive": True,
                                         "deleteFilesAfterCompletion": False},
                       "formatSettings": {"type": "BinaryReadSettings"}},
            "sink": {"type": "BinarySink", "storeSettings": {"type": "AzureBlobFSWriteSettings"}},
            "enableStaging": False,
        }, policy=_policy(),
            inputs=[_ds_ref("DS_Landing_Binary", {"folderPath": _expr("@pipeline().parameters.folderPath")})],
            outputs=[_ds_ref("DS_Archive_Binary", {"folderPath": _expr(
                "@concat(formatDateTime(utcNow(), 'yyyy/MM/dd'), '/', pipeline().parameters.folderPath)")})]),
        _activity("Delete expired archive", "Delete", {
            "dataset": _ds_ref("DS_Archive_Binary", {"folderPath": ""}),
            "enableLogging": False,
            "storeSettings": {
                "type": "AzureBlobFSReadSettings",
                "recursive": True,
                "modifiedDatetimeEnd": _expr(
                    "@addDays(utcNow(), mul(-1, pipeline().globalParameters.retentionDays))"),
                "enablePartitionDiscovery": False,
            },
        }, depends_on=_after("Copy to archive"), policy=_policy()),
    ], folder="maintenance", description="Moves landed files to the archive and removes archives past retention.",
        parameters={"folderPath": {"type": "string"}}))

    pipelines.append(_pipeline("PL_Clean_Orders", [
        _activity("Clean orders", "ExecuteDataFlow", {
            "dataflow": {"referenceName": "DF_CleanOrders", "type": "DataFlowReference"},
            "compute": {"coreCount": 8, "computeType": "General"},
            "traceLevel": "Fine",
        }, policy=_policy("0.02:00:00")),
    ], folder="transformation", description="Runs the DF_CleanOrders data flow."))

    pipelines.append(_pipeline("PL_Transform_Sales", [
        _activity("Transform sales", "DatabricksNotebook", {
            "notebookPath": NOTEBOOK_PATH,
            "baseParameters": {
                "run_date": _expr(run_date),
                "sample_percent": _expr("@string(pipeline().parameters.samplePercent)"),
                "environment": _expr("@pipeline().globalParameters.environmentName"),
            },
        }, policy=_policy("0.04:00:00", retry=1), linkedServiceName=_ls_ref("LS_Databricks")),
    ], folder="transformation", description="Builds the sales fact tables and the daily KPIs on Databricks.",
        parameters={"runDate": {"type": "string"}, "samplePercent": {"type": "int", "defaultValue": 100}}))

    pipelines.append(_pipeline("PL_Publish_Kpis", [
        _activity("Copy KPIs to the sales database", "Copy", {
            "source": {"type": "ParquetSource",
                       "storeSettings": {"type": "AzureBlobFSReadSettings", "recursive": True,
                                         "enablePartitionDiscovery": False},
                       "formatSettings": {"type": "ParquetReadSettings"}},
            "sink": {"type": "AzureSqlSink", "writeBehavior": "upsert",
                     "upsertSettings": {"useTempDB": True, "keys": ["KpiDate", "StoreId"]},
                     "sqlWriterUseTableLock": False, "disableMetricsCollection": False},
            "enableStaging": False,
            "translator": {"type": "TabularTranslator", "typeConversion": True,
                           "typeConversionSettings": {"allowDataTruncation": True, "treatBooleanAsNumber": False}},
        }, policy=_policy(retry=2),
            inputs=[_ds_ref("DS_Curated_Kpis", {"runDate": _expr(run_date)})],
            outputs=[_ds_ref("DS_SalesDb_Table", {"schemaName": "reporting", "tableName": "DailyStoreKpis"})]),
    ], folder="serving", description="Loads the daily KPIs into the reporting schema of the sales database.",
        parameters={"runDate": {"type": "string"}}))

    pipelines.append(_pipeline("PL_Check_Data_Quality", [
        _activity("Get KPI folder", "GetMetadata", {
            "dataset": _ds_ref("DS_Curated_Kpis", {"runDate": _expr(run_date)}),
            "fieldList": ["exists", "childItems"],
            "storeSettings": {"type": "AzureBlobFSReadSettings", "recursive": True,
                              "enablePartitionDiscovery": False},
            "formatSettings": {"type": "ParquetReadSettings"},
        }, policy=_policy("0.00:10:00")),
        _activity("KPIs written", "IfCondition", {
            "expression": _expr("@and(activity('Get KPI folder').output.exists, "
                                "greater(length(activity('Get KPI folder').output.childItems), 0))"),
            "ifFalseActivities": [
                _execute_pipeline("Alert missing KPIs", "PL_Send_Alert", {
                    "subject": _expr(f"@concat('No sales KPIs for ', {run_date[1:]})"),
                    "message": "The daily KPI folder is missing or empty.",
                    "severity": "error",
                }),
            ],
            "ifTrueActivities": [
                _activity("Record success", "SetVariable", {
                    "variableName": "status",
                    "value": "KPIs present",
                }, policy={"secureOutput": False, "secureInput": False}),
            ],
        }, depends_on=_after("Get KPI folder")),
    ], folder="monitoring", description="Checks that the day's KPIs were written and alerts when they were not.",
        parameters={"runDate": {"type": "string"}}, variables={"status": {"type": "String"}}))

    pipelines.append(_pipeline("PL_Send_Alert", [
        _activity("Send alert", "WebActivity", {
            "method": "POST",
            "headers": {"Content-Type": "application/json"},
            "url": _expr("@concat('https://func-retail-', pipeline().globalParameters.environmentName, "
                         "'.azurewebsites.net/api/alert')"),
            "body": _expr("@json(concat('{\"to\": \"', pipeline().globalParameters.alertEmail, "
                          "'\", \"subject\": \"[', pipeline().globalParameters.environmentName, '] ', "
                          "pipeline().parameters.subject, '\", \"message\": \"', pipeline().parameters.message, "
                          "'\", \"severity\": \"', pipeline().parameters.severity, '\"}'))"),
        }, policy=_policy("0.00:05:00", retry=3)),
    ], folder="monitoring", description="Sends an alert e-mail to the data team through the alert function.",
        parameters={"subject": {"type": "string"}, "message": {"type": "string"},
                    "severity": {"type": "string", "defaultValue": "warning"}}))

    pipelines.append(_pipeline("PL_Orchestrate_Daily", [
        _activity("Set run date", "SetVariable", {
            "variableName": "runDate",
            "value": _expr("@if(empty(pipeline().parameters.runDate), "
                           "formatDateTime(addDays(utcNow(), -1), 'yyyy-MM-dd'), pipeline().parameters.runDate)"),
        }, policy={"secureOutput": False, "secureInput": False}),
        _execute_pipeline("Ingest sales database", "PL_Ingest_SalesDb",
                          {"runDate": _expr("@variables('runDate')")}, depends_on=_after("Set run date")),
        _execute_pipeline("Ingest products", "PL_Ingest_Products", depends_on=_after("Set run date")),
        _execute_pipeline("Clean orders", "PL_Clean_Orders",
                          depends_on=_after("Ingest sales database")),
        _execute_pipeline("Transform sales", "PL_Transform_Sales", {
            "runDate": _expr("@variables('runDate')"),
            "samplePercent": _expr("@pipeline().parameters.samplePercent"),
        }, depends_on=_after("Clean orders", "Ingest products")),
        _execute_pipeline("Publish KPIs", "PL_Publish_Kpis", {"runDate": _expr("@variables('runDate')")},
                          depends_on=_after("Transform sales")),
        _execute_pipeline("Check data quality", "PL_Check_Data_Quality",
                          {"runDate": _expr("@variables('runDate')")}, depends_on=_after("Publish KPIs")),
        # Failed or Skipped: a failure further up skips "Publish KPIs" rather than failing it.
        _execute_pipeline("Alert on failure", "PL_Send_Alert", {
            "subject": _expr("@concat('Daily sales run failed for ', variables('runDate'))"),
            "message": _expr("@concat('Pipeline run ', pipeline().RunId, ' failed; see the monitoring view.')"),
            "severity": "error",
        }, depends_on=_after("Publish KPIs", conditions=("Failed", "Skipped"))),
    ], folder="orchestration", description="The nightly sales analytics run: ingest, clean, transform, publish, check.",
        parameters={"runDate": {"type": "string", "defaultValue": ""},
                    "samplePercent": {"type": "int", "defaultValue": 100}},
        variables={"runDate": {"type": "String"}}))

    pipelines.append(_pipeline("PL_Backfill_Daily", [
        _activity("For each day", "ForEach", {
            "items": _expr("@range(0, pipeline().parameters.days)"),
            "isSequential": True,
            "activities": [
                _execute_pipeline("Run day", "PL_Orchestrate_Daily", {
                    "runDate": _expr("@formatDateTime(addDays(pipeline().parameters.startDate, item()), "
                                     "'yyyy-MM-dd')"),
                    "samplePercent": 100,
                }),
            ],
        }),
    ], folder="orchestration", description="Reruns the daily load for a range of past days.",
        parameters={"startDate": {"type": "string"}, "days": {"type": "int", "defaultValue": 7}}))

    pipelines.append(_pipeline("PL_Refresh_Reporting", [
        _activity("Refresh store aggregates", "SqlServerStoredProcedure", {
            "storedProcedureName": "[reporting].[usp_RefreshStoreAggregates]",
            "storedProcedureParameters": {
                "RunDate": {"value": _expr(run_date), "type": "String"},
            },
        }, policy=_policy("0.01:00:00", retry=1), linkedServiceName=_ls_ref("LS_SalesDb")),
        _activity("Wait for replicas", "Wait", {"waitTimeInSeconds": 30},
                  depends_on=_after("Refresh store aggregates")),
    ], folder="serving", description="Refreshes the reporting aggregates the dashboards read.",
        parameters={"runDate": {"type": "string"}}))

    # The orchestrator also refreshes the reporting aggregates once the KPIs are published.
    orchestrate = next(p for p in pipelines if p["name"] == "PL_Orchestrate_Daily")
    orchestrate["properties"]["activities"].insert(-1, _execute_pipeline(
        "Refresh reporting", "PL_Refresh_Reporting", {"runDate": _expr("@variables('runDate')")},
        depends_on=_after("Publish KPIs")))
    return pipelines


# --- ADF's publish configuration ----------------------------------------------------------------------------------

PUBLISH_CONFIG = {"publishBranch": "adf_publish", "includeGlobalParamsTemplate": True}


# --- repository files around the factory ----------------------------------------------------------------------------

def portal_yaml() -> str:
    lines = [
        "# Demo data repository of the promotion portal (created by `portal demo`).",
        "#",
        "# Every environment below deploys to the portal's EMBEDDED SANDBOX (auth: sandbox): an emulated Data",
        "# Factory and Databricks API whose state lives in the .portal-sandbox/ folder of this repository (ignored",
        "# by Git). Nothing here reaches Azure; the subscription ids are made up.",
        "version: 1",
        "adf:",
        "  root_folder: adf              # the ADF root folder, as in ADF's Git configuration",
        "git:",
        "  main_branch: main",
        "  allow_direct_commits: false   # parameter edits go to a new branch, reviewed before they reach main",
        "environments:                   # in promotion order",
    ]
    for env in DEMO_ENVIRONMENTS:
        lines += [
            f"  - name: {env}",
            "    data_factory:",
            f"      subscription_id: {DEMO_SUBSCRIPTIONS[env]}",
            f"      resource_group: {resource_group(env)}",
            f"      factory_name: {factory_name(env)}",
            f"      location: {LOCATION}",
            "      auth: sandbox",
            f"      sandbox: {DEMO_SANDBOX_FOLDER}",
            "    databricks:",
            f"      host: {DATABRICKS_HOSTS[env]}",
            f"      target_folder: {DATABRICKS_TARGET_FOLDER}",
            "      auth: sandbox",
            f"      sandbox: {DEMO_SANDBOX_FOLDER}",
        ]
        if env == "test":
            lines += [
                "    deploy:",
                "      delete_removed: true        # test mirrors the source: objects removed there go here too",
            ]
        if env == "prod":
            lines += [
                "    protection:",
                "      approvals_required: 1       # a second person approves every promotion to prod",
                "    deploy:",
                "      delete_removed: false       # never delete in prod automatically",
            ]
    return "\n".join(lines) + "\n"


def parameter_values(env: str) -> dict[str, Any]:
    """The deployment parameter file's `parameters` for `env`: every value that differs from dev."""
    if env == "dev":
        return {}
    return {
        "LS_KeyVault_properties_typeProperties_baseUrl": {"value": key_vault_url(env)},
        "LS_Lake_properties_typeProperties_url": {"value": lake_url(env)},
        "LS_Databricks_properties_typeProperties_domain": {"value": DATABRICKS_HOSTS[env]},
        "LS_Databricks_properties_typeProperties_existingClusterId": {"value": DATABRICKS_CLUSTERS[env]},
        "TR_Daily_properties_PL_Orchestrate_Daily_parameters_samplePercent": {"value": SAMPLE_PERCENT[env]},
        "TR_NewFiles_properties_typeProperties_scope": {"value": storage_account_id(env)},
        "default_properties_environmentName_value": {"value": env},
        "default_properties_alertEmail_value": {"value": ALERT_EMAILS[env]},
        "default_properties_retentionDays_value": {"value": RETENTION_DAYS[env]},
    }


def parameter_file(env: str) -> str:
    document = {"$schema": PARAMETERS_SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameter_values(env)}
    return json.dumps(document, indent=4, ensure_ascii=False) + "\n"


README = """\
# Retail sales analytics — promotion portal demo

This repository was created by `portal demo`. It is a small but complete *data repository* as the promotion
portal expects it, for a fictional retail company's sales analytics on Azure Data Factory and Databricks.
Every environment deploys to the portal's **embedded sandbox** (emulated Data Factory and Databricks APIs,
state in `.portal-sandbox/`), so you can try promotions without an Azure subscription.

## What is in it

| path | what |
|---|---|
| `adf/` | the development factory `adf-retail-dev`, exactly as ADF Git integration writes it |
| `adf/factory/adf-retail-dev.json` | the factory, with the global parameters `environmentName`, `alertEmail`, `retentionDays` |
| `adf/linkedService/` | `LS_KeyVault`, `LS_Lake` (ADLS Gen2), `LS_SalesDb` (Azure SQL), `LS_Databricks`; secrets come from Key Vault |
| `adf/dataset/` | landing CSV and binary files, raw and curated Parquet, the sales database tables |
| `adf/dataflow/DF_CleanOrders.json` | a mapping data flow that cleans the raw orders |
| `adf/pipeline/` | ingestion (copies, a ForEach over the sales tables), transformation (data flow, Databricks notebook), serving, monitoring (IfCondition, Web alert) and `PL_Orchestrate_Daily`, which runs them all |
| `adf/trigger/` | `TR_Daily` (every morning, runs `PL_Orchestrate_Daily`) and `TR_NewFiles` (storage events on the landing container) |
| `adf/publish_config.json` | ADF's publish settings (global parameters in the ARM template) |
| `portal.yaml` | the portal's configuration: environments `dev` → `test` → `prod`, their targets and protection |
| `environments/<env>.parameters.json` | what differs per environment (ARM deployment parameter files); dev keeps the factory's values |
| `notebooks/` | the Databricks notebooks (Python, SQL, Scala in source format; a Jupyter notebook), deployed to each environment's workspace folder with the factory |

{parameterization}

The template parameters are the Key Vault URL, the lake URL, the Databricks workspace URL and cluster id, the
SQL connection string's Key Vault secret name, the triggers' storage account and pipeline parameters, and the
three global parameters. `environments/test.parameters.json` and `environments/prod.parameters.json` give test's
and prod's values; what they leave out keeps dev's value. No secret is in Git: every linked service takes its
secret from the environment's Key Vault.

## Commands to try

Run them in this folder (or pass `--repo PATH`):

```bash
portal validate adf                 # the factory loads and every reference resolves
portal params show test             # every template parameter in plain words, with test's value
portal params validate              # checks the values of every environment
portal render test --out /tmp/test  # what test receives, every expression evaluated
portal plan test                    # what a promotion to test would create, update and delete
portal promote test --yes           # promote to test (on the sandbox)
portal params set test default_properties_retentionDays_value 90   # an edit, committed on a new branch
```

`prod` requires one approval, and never deletes objects automatically; `test` mirrors the source exactly.
"""


def readme() -> str:
    if parameter_definition() is None:
        rules = ("The factory uses ADF's default parameterization (it has no\n"
                 "`arm-template-parameters-definition.json`).")
    else:
        rules = ("`adf/arm-template-parameters-definition.json` is ADF's default parameterization with one rule "
                 "added: the\nDatabricks linked service's `domain` (the workspace URL), which the default leaves "
                 "fixed, so that each\nenvironment runs its notebooks in its own workspace (`portal rules list` "
                 "shows the rules).")
    return README.replace("{parameterization}", rules)


NOTEBOOKS = {
    "notebooks/transform_sales.py": '''\
# Databricks notebook source
# MAGIC %md
# MAGIC # Transform sales
# MAGIC Builds the sales fact table and the daily store KPIs from the curated orders.
# MAGIC Run by the Data Factory pipeline `PL_Transform_Sales`.

# COMMAND ----------

dbutils.widgets.text("run_date", "")
dbutils.widgets.text("sample_percent", "100")
dbutils.widgets.text("environment", "dev")

run_date = dbutils.widgets.get("run_date")
sample_percent = int(dbutils.widgets.get("sample_percent"))
environment = dbutils.widgets.get("environment")
lake = f"abfss://curated@stretail{environment}.dfs.core.windows.net"

# COMMAND ----------

# MAGIC %run ./helpers/dates

# COMMAND ----------

from pyspark.sql import functions as F

orders = spark.read.parquet(f"{lake}/sales/orders")
if sample_percent < 100:
    orders = orders.sample(fraction=sample_percent / 100, seed=42)
orders = orders.where(F.col("OrderDate") == F.lit(parse_run_date(run_date)))

# COMMAND ----------

kpis = (
    orders.groupBy("OrderDate", "StoreId")
    .agg(
        F.countDistinct("OrderId").alias("Orders"),
        F.countDistinct("CustomerId").alias("Customers"),
        F.sum("NetAmount").alias("NetSales"),
    )
    .withColumnRenamed("OrderDate", "KpiDate")
    .withColumn("AverageBasket", F.col("NetSales") / F.col("Orders"))
)
kpis.write.mode("overwrite").parquet(f"{lake}/sales/kpis/daily/{run_date}")
''',
    "notebooks/daily_kpis.sql": '''\
-- Databricks notebook source
-- MAGIC %md
-- MAGIC # Daily KPIs
-- MAGIC The store KPIs of the last 30 days, for a quick look after a run.

-- COMMAND ----------

CREATE WIDGET TEXT environment DEFAULT "dev";

-- COMMAND ----------

SELECT KpiDate, StoreId, Orders, Customers, NetSales, AverageBasket
FROM parquet.`abfss://curated@stretail${environment}.dfs.core.windows.net/sales/kpis/daily`
WHERE KpiDate >= date_sub(current_date(), 30)
ORDER BY KpiDate DESC, NetSales DESC;
''',
    "notebooks/helpers/dates.py": '''\
# Databricks notebook source
# MAGIC %md
# MAGIC Date helpers shared by the sales notebooks (`%run ./helpers/dates`).

# COMMAND ----------

from datetime import date, timedelta


def parse_run_date(text: str) -> date:
    """The run date given by Data Factory (yyyy-MM-dd), or yesterday when it is empty."""
    if not text:
        return date.today() - timedelta(days=1)
    return date.fromisoformat(text)

# COMMAND ----------

def week_start(day: date) -> date:
    """The Sunday that starts the retail week of `day`."""
    return day - timedelta(days=(day.weekday() + 1) % 7)
''',
}

NOTEBOOKS["notebooks/maintenance/optimize_tables.scala"] = '''\
// Databricks notebook source
// MAGIC %md
// MAGIC # Optimize the sales tables
// MAGIC Weekly compaction of the curated sales tables (run by hand or from a Databricks job).

// COMMAND ----------

dbutils.widgets.text("environment", "dev")
val environment = dbutils.widgets.get("environment")
val lake = s"abfss://curated@stretail$environment.dfs.core.windows.net"

// COMMAND ----------

Seq("sales/orders", "sales/kpis/daily").foreach { table =>
  spark.sql(s"OPTIMIZE delta.`$lake/$table`")
}
'''

NOTEBOOKS["notebooks/exploration/basket_analysis.ipynb"] = json.dumps({
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Basket analysis\n",
                                                              "How many items a basket holds, per store."]},
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": ["baskets = spark.read.parquet('abfss://curated@stretaildev.dfs.core.windows.net/sales/orders')\n",
                    "display(baskets.groupBy('StoreId').avg('Items'))"]},
    ],
    "metadata": {"language_info": {"name": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}, indent=1) + "\n"

GITIGNORE = f"""\
# The embedded sandbox's state (emulated Data Factory and Databricks).
{DEMO_SANDBOX_FOLDER}/
__pycache__/
"""


def parameter_definition() -> dict[str, Any] | None:
    """`arm-template-parameters-definition.json`, or None to keep ADF's default parameterization.

    ADF's default parameterizes a Databricks linked service's `existingClusterId` but not its `domain` (the
    workspace URL), so with the default alone test and prod would run their notebooks in the dev workspace. The
    demo therefore carries the default with one rule added, exactly what
    `portal rules add linkedService properties.typeProperties.domain` commits (a custom file replaces the default,
    so the file starts from it). Return None here to go back to the default.
    """
    from portal.adf.rules_editor import Rule, RuleTarget, add_rule, DEFAULT_DEFINITION

    target = RuleTarget.parse("linkedService", "properties.typeProperties.domain", "*")
    return add_rule(DEFAULT_DEFINITION, Rule(target, "="))


def repository_files() -> dict[str, str]:
    """Every file of the demo repository, by its path relative to the repository, with its text."""
    files: dict[str, str] = {}
    for rel, document in factory_documents().items():
        files[f"{ADF_ROOT}/{rel}"] = dumps_adf(document)
    files[f"{ADF_ROOT}/publish_config.json"] = dumps_adf(PUBLISH_CONFIG)
    definition = parameter_definition()
    if definition is not None:
        from portal.adf.rules_editor import definition_text

        files[f"{ADF_ROOT}/arm-template-parameters-definition.json"] = definition_text(definition)
    files["portal.yaml"] = portal_yaml()
    for env in DEMO_ENVIRONMENTS:
        files[f"environments/{env}.parameters.json"] = parameter_file(env)
    files["README.md"] = readme()
    files.update(NOTEBOOKS)
    files[".gitignore"] = GITIGNORE
    return files


def write_demo_repository(path: str | os.PathLike[str], *, author_name: str = "Portal Demo",
                          author_email: str = "demo@portal.local") -> "git.Repo":
    """Create the demo data repository at `path`: a new Git repository on branch main with one commit.

    Refuses a path that exists and is not an empty folder, so nothing of anyone's is overwritten.
    """
    import git  # GitPython

    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise PortalError(str(target), "exists and is not empty; the demo needs a new or empty folder",
                          hint="choose another --path, or remove the folder first", code="DEMO_PATH")
    target.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(target, initial_branch="main")
    files = repository_files()
    for rel, text in files.items():
        file = target / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        # Bytes as given: ADF's JSON has no final newline and Windows line ends must not creep in.
        file.write_bytes(text.encode("utf-8"))
    repo.index.add(sorted(files))
    actor = git.Actor(author_name, author_email)
    repo.index.commit("Demo data repository: retail sales analytics factory, environments dev, test, prod",
                      author=actor, committer=actor)
    return repo
