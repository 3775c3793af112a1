"""ADF's rules the export follows, each on a small factory made here: custom parameterization rules (mechanism 2 of
the export-fidelity work), the order of `dependsOn` (6) and what validation lets through because ADF publishes it
(7). The golden tests show the same rules on real factories; these show each one alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from portal.adf.validation import validate_source
from portal.cli import main
from portal.errors import Severity

LS_TYPE = "Microsoft.DataFactory/factories/linkedServices"
DEFINITION = "arm-template-parameters-definition.json"
ENC = "ZW5jcnlwdGVk"


def write(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"), encoding="utf-8")


def ref(kind: str, name: str) -> dict[str, str]:
    return {"referenceName": name, "type": kind}


def factory(tmp_path: Path, files: dict[str, Any]) -> Path:
    root = tmp_path / "adf"
    write(root / "factory" / "adf-dev.json", {"name": "adf-dev", "location": "westeurope"})
    for rel, document in files.items():
        write(root / rel, document)
    return root


def export(root: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "out"
    assert main(["export-arm", str(root), "--out", str(out)]) == 0
    return {p.relative_to(out).as_posix(): json.loads(p.read_text(encoding="utf-8")) for p in out.rglob("*.json")}


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in template["resources"] if r["name"].endswith(f"/{name}')]"))


def blob_service(name: str, **props: Any) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "annotations": [],
            "type": "AzureBlobStorage",
            "typeProperties": {
                "connectionString": "DefaultEndpointsProtocol=https;AccountName=acct;",
                "encryptedCredential": ENC,
            },
            **props,
        },
    }


def lake_dataset(name: str, linked: str) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "linkedServiceName": ref("LinkedServiceReference", linked),
            "annotations": [],
            "type": "DelimitedText",
            "typeProperties": {"location": {"type": "AzureBlobStorageLocation", "container": "raw"}},
            "schema": [],
        },
    }


# --- 2. custom parameterization rules -------------------------------------------------------------------------------


def test_a_keep_rule_on_a_secret_keeps_the_secure_string_and_adfs_own_parameter(tmp_path: Path) -> None:
    root = factory(
        tmp_path,
        {
            "linkedService/LS_Blob.json": blob_service("LS_Blob"),
            DEFINITION: {LS_TYPE: {"*": {"properties": {"typeProperties": {"connectionString": "="}}}}},
        },
    )

    files = export(root, tmp_path)
    template = files["ARMTemplateForFactory.json"]

    assert resource(template, "LS_Blob")["properties"]["typeProperties"]["connectionString"] == {
        "type": "SecureString",
        "value": "[parameters('LS_Blob_properties_typeProperties_connectionString')]",
    }
    # ADF's own secure string stays declared; the rule's parameter is a string with no default in the main
    # template, and its default names ADF's parameter only where the master passes every parameter.
    assert template["parameters"]["LS_Blob_connectionString"]["type"] == "secureString"
    assert template["parameters"]["LS_Blob_properties_typeProperties_connectionString"] == {"type": "string"}
    assert files["linkedTemplates/ArmTemplate_0.json"]["parameters"][
        "LS_Blob_properties_typeProperties_connectionString"
    ] == {"type": "string", "defaultValue": "[parameters('LS_Blob_connectionString')]"}
    assert files["ARMTemplateParametersForFactory.json"]["parameters"][
        "LS_Blob_properties_typeProperties_connectionString"
    ] == {"value": ""}


def test_a_rule_on_an_object_needs_the_object_type(tmp_path: Path) -> None:
    pipeline = {
        "name": "PL_A",
        "properties": {
            "activities": [],
            "parameters": {
                "change": {"type": "string", "defaultValue": "CHG1"},
                "settings": {"type": "object", "defaultValue": {}},
            },
        },
    }
    root = factory(
        tmp_path,
        {
            "pipeline/PL_A.json": pipeline,
            DEFINITION: {
                "Microsoft.DataFactory/factories/pipelines": {
                    "properties": {"parameters": {"change": "=", "settings": "=::object"}}
                }
            },
        },
    )

    template = export(root, tmp_path)["ARMTemplateForFactory.json"]

    params = resource(template, "PL_A")["properties"]["parameters"]
    # "change": "=" names a parameter's declaration, an object: left alone, as Publish does.
    assert params["change"] == {"type": "string", "defaultValue": "CHG1"}
    assert params["settings"] == "[parameters('PL_A_properties_parameters_settings')]"
    assert "PL_A_properties_parameters_change" not in template["parameters"]


def test_a_subtype_section_replaces_star(tmp_path: Path) -> None:
    root = factory(
        tmp_path,
        {
            "linkedService/LS_Blob.json": {
                "name": "LS_Blob",
                "properties": {
                    "type": "AzureBlobStorage",
                    "typeProperties": {
                        "serviceEndpoint": "https://acct.blob.core.windows.net/",
                        "accountKind": "StorageV2",
                    },
                },
            },
            "linkedService/LS_Lake.json": {
                "name": "LS_Lake",
                "properties": {
                    "type": "AzureBlobFS",
                    "typeProperties": {"url": "https://acct.dfs.core.windows.net/", "accountKind": "StorageV2"},
                },
            },
            DEFINITION: {
                LS_TYPE: {
                    "*": {"properties": {"typeProperties": {"accountKind": "=", "url": "="}}},
                    "AzureBlobStorage": {"properties": {"typeProperties": {"serviceEndpoint": "="}}},
                }
            },
        },
    )

    names = list(export(root, tmp_path)["ARMTemplateForFactory.json"]["parameters"])

    # The blob service has a section of its own: `*` (accountKind) does not apply to it; the lake gets `*`.
    assert names == [
        "factoryName",
        "LS_Blob_properties_typeProperties_serviceEndpoint",
        "LS_Lake_properties_typeProperties_url",
        "LS_Lake_properties_typeProperties_accountKind",
    ]


def test_a_parameterized_reference_name_is_what_depends_on_names(tmp_path: Path) -> None:
    runtime = {
        "name": "IR-Vnet",
        "properties": {"type": "Managed", "typeProperties": {"computeProperties": {"location": "AutoResolve"}}},
    }
    root = factory(
        tmp_path,
        {
            "integrationRuntime/IR-Vnet.json": runtime,
            "linkedService/LS_Blob.json": blob_service(
                "LS_Blob", connectVia=ref("IntegrationRuntimeReference", "IR-Vnet")
            ),
            DEFINITION: {LS_TYPE: {"*": {"properties": {"connectVia": {"referenceName": "="}}}}},
        },
    )

    files = export(root, tmp_path)

    expected = (
        "[concat(variables('factoryId'), '/integrationRuntimes/', "
        "parameters('LS_Blob_properties_connectVia_referenceName'))]"
    )
    assert resource(files["ARMTemplateForFactory.json"], "LS_Blob")["dependsOn"] == [expected]
    # The runtime is deployed in the same linked template, so the dependency stays there too.
    assert resource(files["linkedTemplates/ArmTemplate_0.json"], "LS_Blob")["dependsOn"] == [expected]


def test_a_definition_file_that_is_an_arm_template_parameterizes_nothing(tmp_path: Path) -> None:
    pasted = {
        "$schema": "http://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"factoryName": {"type": "string"}},
        "resources": [],
    }
    root = factory(
        tmp_path,
        {
            "linkedService/LS_Lake.json": {
                "name": "LS_Lake",
                "properties": {
                    "type": "AzureBlobFS",
                    "typeProperties": {"url": "https://acct.dfs.core.windows.net/", "encryptedCredential": ENC},
                },
            },
            DEFINITION: pasted,
        },
    )

    report = validate_source(root)
    template = export(root, tmp_path)["ARMTemplateForFactory.json"]

    assert report.errors == []
    assert [(f.code, f.where, f.severity) for f in report.warnings if f.code == "NO_RULES"] == [
        ("NO_RULES", DEFINITION, Severity.WARNING)
    ]
    # Only the secure string ADF adds for the secret; the default rules (which would take the url) do not apply.
    assert list(template["parameters"]) == ["factoryName", "LS_Lake_accountKey"]


# --- 6. the order of dependsOn --------------------------------------------------------------------------------------


def test_an_activitys_datasets_come_before_the_linked_services_in_its_type_properties(tmp_path: Path) -> None:
    copy = {
        "name": "Copy",
        "type": "Copy",
        "dependsOn": [],
        "userProperties": [],
        "typeProperties": {
            "source": {"type": "DelimitedTextSource"},
            "sink": {"type": "DelimitedTextSink"},
            "enableStaging": True,
            "stagingSettings": {"linkedServiceName": ref("LinkedServiceReference", "LS_Stage")},
        },
        "inputs": [ref("DatasetReference", "DS_In")],
        "outputs": [ref("DatasetReference", "DS_Out")],
    }
    root = factory(
        tmp_path,
        {
            "linkedService/LS_Stage.json": blob_service("LS_Stage"),
            "dataset/DS_In.json": lake_dataset("DS_In", "LS_Stage"),
            "dataset/DS_Out.json": lake_dataset("DS_Out", "LS_Stage"),
            "pipeline/PL_Copy.json": {"name": "PL_Copy", "properties": {"activities": [copy]}},
        },
    )

    depends_on = resource(export(root, tmp_path)["ARMTemplateForFactory.json"], "PL_Copy")["dependsOn"]

    assert ["/".join(d.split("/")[-2:]) for d in depends_on] == [
        "datasets/DS_In')]",
        "datasets/DS_Out')]",
        "linkedServices/LS_Stage')]",
    ]


def test_a_data_flows_references_follow_its_script(tmp_path: Path) -> None:
    flowlet = {
        "name": "FL_Clean",
        "properties": {
            "type": "Flowlet",
            "typeProperties": {"sources": [], "sinks": [], "transformations": [], "scriptLines": []},
        },
    }
    flow = {
        "name": "DF_Load",
        "properties": {
            "type": "MappingDataFlow",
            "typeProperties": {
                "sources": [{"dataset": ref("DatasetReference", "DS_In"), "name": "source1"}],
                "sinks": [{"linkedService": ref("LinkedServiceReference", "LS_Sink"), "name": "sink1"}],
                "transformations": [{"name": "clean", "flowlet": ref("DataFlowReference", "FL_Clean")}],
                # The flowlet is defined before the source in the script.
                "scriptLines": [
                    "clean(composition: 'FL_Clean') ~> clean@(output)",
                    "source(allowSchemaDrift: true) ~> source1",
                    "clean@output sink(allowSchemaDrift: true) ~> sink1",
                ],
            },
        },
    }
    root = factory(
        tmp_path,
        {
            "linkedService/LS_Sink.json": blob_service("LS_Sink"),
            "dataset/DS_In.json": lake_dataset("DS_In", "LS_Sink"),
            "dataflow/FL_Clean.json": flowlet,
            "dataflow/DF_Load.json": flow,
        },
    )

    depends_on = resource(export(root, tmp_path)["ARMTemplateForFactory.json"], "DF_Load")["dependsOn"]

    assert ["/".join(d.split("/")[-2:]) for d in depends_on] == [
        "dataflows/FL_Clean')]",
        "datasets/DS_In')]",
        "linkedServices/LS_Sink')]",
    ]


# --- 7. what ADF publishes, validation lets through -----------------------------------------------------------------


def test_an_optional_reference_to_a_deleted_linked_service_is_dropped_with_a_warning(tmp_path: Path) -> None:
    flow = {
        "name": "DF_Load",
        "properties": {
            "type": "MappingDataFlow",
            "typeProperties": {
                "sources": [{"dataset": ref("DatasetReference", "DS_In"), "name": "source1"}],
                "sinks": [
                    {
                        "dataset": ref("DatasetReference", "DS_In"),
                        "name": "sink1",
                        "rejectedDataLinkedService": ref("LinkedServiceReference", "LS_Deleted"),
                    }
                ],
                "transformations": [],
                "scriptLines": ["source() ~> source1", "source1 sink() ~> sink1"],
            },
        },
    }
    root = factory(
        tmp_path,
        {
            "linkedService/LS_Lake.json": blob_service("LS_Lake"),
            "dataset/DS_In.json": lake_dataset("DS_In", "LS_Lake"),
            "dataflow/DF_Load.json": flow,
        },
    )

    report = validate_source(root)
    template = export(root, tmp_path)["ARMTemplateForFactory.json"]

    assert report.errors == []
    (finding,) = [f for f in report.warnings if f.code == "DANGLING_REFERENCE"]
    assert finding.where == "dataflow/DF_Load.json (properties.typeProperties.sinks[0].rejectedDataLinkedService)"
    sink = resource(template, "DF_Load")["properties"]["typeProperties"]["sinks"][0]
    assert "rejectedDataLinkedService" not in sink and sink["name"] == "sink1"


def test_a_required_reference_to_a_missing_object_is_still_an_error(tmp_path: Path) -> None:
    runtime_ref = ref("IntegrationRuntimeReference", "IR_Gone")
    root = factory(
        tmp_path,
        {
            "dataset/DS_In.json": lake_dataset("DS_In", "LS_Gone"),
            # connectVia is optional in the contract, but outside the designers' objects the service itself
            # resolves it when the template is deployed.
            "linkedService/LS_Lake.json": blob_service("LS_Lake", connectVia=runtime_ref),
        },
    )

    report = validate_source(root)

    assert sorted((f.code, f.where) for f in report.errors) == [
        ("DANGLING_REFERENCE", "dataset/DS_In.json (properties.linkedServiceName)"),
        ("DANGLING_REFERENCE", "linkedService/LS_Lake.json (properties.connectVia)"),
    ]
    assert main(["export-arm", str(root), "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()


def test_a_synapse_typed_file_in_an_adf_folder_is_published_as_the_factorys(tmp_path: Path) -> None:
    pipeline = {"name": "PL_A", "type": "Microsoft.Synapse/workspaces/pipelines", "properties": {"activities": []}}
    root = factory(tmp_path, {"pipeline/PL_A.json": pipeline})

    report = validate_source(root)
    template = export(root, tmp_path)["ARMTemplateForFactory.json"]

    assert report.errors == []
    assert [(f.code, f.where) for f in report.warnings if f.code == "SYNAPSE_TYPE"] == [
        ("SYNAPSE_TYPE", "pipeline/PL_A.json (type)")
    ]
    assert resource(template, "PL_A")["type"] == "Microsoft.DataFactory/factories/pipelines"


def test_a_file_of_another_kind_in_a_folder_is_still_an_error(tmp_path: Path) -> None:
    misplaced = {"name": "PL_A", "type": "Microsoft.Synapse/workspaces/datasets", "properties": {"activities": []}}
    root = factory(tmp_path, {"pipeline/PL_A.json": misplaced})

    assert [f.code for f in validate_source(root).errors] == ["WRONG_TYPE"]


def test_a_data_flow_script_outside_the_grammar_is_a_warning_without_its_text(tmp_path: Path) -> None:
    lines = ["source(allowSchemaDrift: true) ~> src1", "src1 derive(x = 'Pa55word' +++ ) ~> d1"]
    flow = {
        "name": "DF_Odd",
        "properties": {
            "type": "MappingDataFlow",
            "typeProperties": {"sources": [], "sinks": [], "transformations": [], "scriptLines": lines},
        },
    }
    root = factory(tmp_path, {"dataflow/DF_Odd.json": flow})

    report = validate_source(root)
    template = export(root, tmp_path)["ARMTemplateForFactory.json"]

    (finding,) = [f for f in report.findings if f.code == "DATA_FLOW_SCRIPT"]
    assert finding.severity is Severity.WARNING
    assert finding.where == "dataflow/DF_Odd.json (properties.typeProperties.scriptLines)"
    assert "line 2" in finding.what and "Pa55word" not in str(finding)
    assert resource(template, "DF_Odd")["properties"]["typeProperties"]["scriptLines"] == lines


# --- 1. a masked secret never reaches a template ---------------------------------------------------------------------


def test_a_masked_runtime_secret_without_a_rule_becomes_a_secure_string(tmp_path: Path) -> None:
    runtime = {
        "name": "ssis-runtime",
        "properties": {
            "type": "Managed",
            "typeProperties": {
                "computeProperties": {"location": "West Europe"},
                "ssisProperties": {
                    "catalogInfo": {
                        "catalogServerEndpoint": "sql.example.net",
                        "catalogAdminPassword": {"type": "SecureString", "value": "**********"},
                    }
                },
            },
        },
    }
    # A definition with no rule for the catalog password (the default one has one).
    root = factory(
        tmp_path,
        {
            "integrationRuntime/ssis-runtime.json": runtime,
            DEFINITION: {"Microsoft.DataFactory/factories/pipelines": {"properties": {"parameters": {"*": "="}}}},
        },
    )

    files = export(root, tmp_path)

    assert all("**********" not in json.dumps(document) for document in files.values())
    password = resource(files["ARMTemplateForFactory.json"], "ssis-runtime")["properties"]["typeProperties"][
        "ssisProperties"
    ]["catalogInfo"]["catalogAdminPassword"]
    name = "ssis-runtime_properties_typeProperties_ssisProperties_catalogInfo_catalogAdminPassword"
    assert password == {"type": "SecureString", "value": f"[parameters('{name}')]"}
    assert files["ARMTemplateForFactory.json"]["parameters"][name]["type"] == "secureString"


def test_a_change_data_captures_connection_to_a_deleted_linked_service_loses_the_reference(tmp_path: Path) -> None:
    def connection(linked: str) -> dict[str, Any]:
        return {
            "SourceEntities": [],
            "Connection": {
                "linkedService": ref("LinkedServiceReference", linked),
                "linkedServiceType": "AzureBlobFS",
                "type": "linkedservicetype",
                "isInlineDataset": True,
            },
        }

    capture = {
        "name": "cdc1",
        "properties": {
            "SourceConnectionsInfo": [connection("LS_Deleted")],
            "TargetConnectionsInfo": [connection("LS_Lake")],
            "Policy": {"mode": "Microbatch", "recurrence": {"frequency": "Minute", "interval": 15}},
            "allowVNetOverride": False,
            "status": "Stopped",
        },
    }
    root = factory(tmp_path, {"linkedService/LS_Lake.json": blob_service("LS_Lake"), "adfcdc/cdc1.json": capture})

    report = validate_source(root)
    cdc = resource(export(root, tmp_path)["ARMTemplateForFactory.json"], "cdc1")

    assert report.errors == []
    assert [f.where for f in report.warnings if f.code == "DANGLING_REFERENCE"] == [
        "adfcdc/cdc1.json (properties.SourceConnectionsInfo[0].Connection.linkedService)"
    ]
    assert list(cdc["properties"]["SourceConnectionsInfo"][0]["Connection"]) == [
        "linkedServiceType",
        "type",
        "isInlineDataset",
    ]
    # The reference to a linked service that exists stays, and is a dependency.
    assert cdc["properties"]["TargetConnectionsInfo"][0]["Connection"]["linkedService"]["referenceName"] == "LS_Lake"
    assert cdc["dependsOn"] == ["[concat(variables('factoryId'), '/linkedServices/LS_Lake')]"]


def test_a_parameterized_depends_on_is_left_to_its_parameter(tmp_path: Path) -> None:
    runtime = {"name": "IR-Vnet", "properties": {"type": "Managed", "typeProperties": {}}}
    root = factory(
        tmp_path,
        {
            "integrationRuntime/IR-Vnet.json": runtime,
            "linkedService/LS_Blob.json": blob_service(
                "LS_Blob", connectVia=ref("IntegrationRuntimeReference", "IR-Vnet")
            ),
            DEFINITION: {LS_TYPE: {"*": {"properties": {"connectVia": {"referenceName": "="}}, "dependsOn": "="}}},
        },
    )

    blob = resource(export(root, tmp_path)["ARMTemplateForFactory.json"], "LS_Blob")

    assert blob["dependsOn"] == "[parameters('LS_Blob_dependsOn')]"
