"""Validation of a factory's Git JSON: one test per finding, a clean factory, the CLI, Git refs and the corpus.

Each test writes a small factory folder in tmp_path and checks the exact code, severity and place of what is
found.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portal.adf import validation
from portal.adf.loader import load_factory
from portal.adf.validation import ValidationReport, validate_factory, validate_source
from portal.cli import main
from portal.errors import Finding, PortalError, Severity
from tests.corpus import CORPUS, CorpusEntry, needs_corpus, paired_entries, source_only_entries

ROOT = Path(__file__).resolve().parents[1]
FACTORY = "DF_Test"
ERROR, WARNING = Severity.ERROR, Severity.WARNING
LS_TYPE = "Microsoft.DataFactory/factories/linkedServices"
DEFINITION = "arm-template-parameters-definition.json"


# --- building factories ------------------------------------------------------------------------------------------


def write(root: Path, rel: str, body: Any) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body if isinstance(body, str) else json.dumps(body, indent=4), encoding="utf-8")
    return path


def new_factory(root: Path, **factory_properties: Any) -> Path:
    body: dict[str, Any] = {"name": FACTORY, "location": "westeurope"}
    if factory_properties:
        body["properties"] = factory_properties
    write(root, f"factory/{FACTORY}.json", body)
    return root


def ref(kind: str, name: str) -> dict[str, str]:
    return {"referenceName": name, "type": kind}


def pipeline(name: str, *activities: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "properties": {"activities": list(activities), "annotations": [], **extra}}


def execute(name: str, target: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "ExecutePipeline",
        "dependsOn": [],
        "userProperties": [],
        "typeProperties": {"pipeline": ref("PipelineReference", target), "waitOnCompletion": True},
    }


def copy(name: str, source: str, sink: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "Copy",
        "dependsOn": [],
        "userProperties": [],
        "inputs": [ref("DatasetReference", source)],
        "outputs": [ref("DatasetReference", sink)],
        "typeProperties": {"source": {"type": "DelimitedTextSource"}, "sink": {"type": "DelimitedTextSink"}},
    }


def linked_service(name: str, type_: str = "AzureBlobFS", **type_properties: Any) -> dict[str, Any]:
    type_properties = type_properties or {"url": "https://x.dfs.core.windows.net/"}
    props: dict[str, Any] = {"annotations": [], "typeProperties": type_properties}
    if type_:
        props["type"] = type_
    return {"name": name, "properties": props}


def dataset(name: str, linked: str) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "linkedServiceName": ref("LinkedServiceReference", linked),
            "annotations": [],
            "type": "DelimitedText",
            "typeProperties": {"location": {"type": "AzureBlobFSLocation", "fileSystem": "raw"}},
            "schema": [],
        },
    }


def trigger(name: str, target: str) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "annotations": [],
            "runtimeState": "Stopped",
            "type": "ScheduleTrigger",
            "pipelines": [{"pipelineReference": ref("PipelineReference", target), "parameters": {"day": "mon"}}],
            "typeProperties": {"recurrence": {"frequency": "Day", "interval": 1, "startTime": "2024-01-01T00:00:00Z"}},
        },
    }


def clean_factory(root: Path) -> Path:
    """A small factory that uses every kind of reference and has nothing wrong."""
    new_factory(root)
    # ADF writes the top-level type in lower case for linked services.
    write(
        root,
        "linkedService/LS_Lake.json",
        {**linked_service("LS_Lake"), "type": "Microsoft.DataFactory/factories/linkedservices"},
    )
    runtime = linked_service("LS_Sql", "AzureSqlDatabase", server="sql.example.net")
    runtime["properties"]["connectVia"] = ref("IntegrationRuntimeReference", "AutoResolveIntegrationRuntime")
    write(root, "linkedService/LS_Sql.json", runtime)
    write(root, "dataset/DS_In.json", dataset("DS_In", "LS_Lake"))
    write(root, "dataset/DS_Out.json", dataset("DS_Out", "LS_Lake"))
    write(root, "pipeline/PL_Copy.json", pipeline("PL_Copy", copy("Copy data", "DS_In", "DS_Out")))
    write(
        root,
        "pipeline/PL_Main.json",
        {**pipeline("PL_Main", execute("Run copy", "PL_Copy")), "type": "Microsoft.DataFactory/factories/pipelines"},
    )
    write(root, "trigger/TR_Daily.json", trigger("TR_Daily", "PL_Main"))
    return root


def only(report: ValidationReport, code: str) -> Finding:
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, report.findings
    return found[0]


def codes(report: ValidationReport) -> list[str]:
    return [f.code for f in report.findings]


# --- a clean factory and the report ------------------------------------------------------------------------------


def test_a_clean_factory_has_no_findings(tmp_path):
    report = validate_source(clean_factory(tmp_path))

    assert report.findings == ()
    assert report.ok and report.errors == [] and report.warnings == []
    assert report.object_count == 7


def test_findings_are_sorted_errors_first_then_by_place(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, "pipeline/PL_Z.json", pipeline("PL_Wrong"))  # error
    write(tmp_path, "linkedService/LS-Dash.json", linked_service("LS-Dash"))  # warning
    write(tmp_path, "dataset/DS_A.json", dataset("DS_A", "LS_Missing"))  # error

    report = validate_source(tmp_path)

    assert [(f.severity, f.where.split(" ")[0]) for f in report.findings] == [
        (ERROR, "dataset/DS_A.json"),
        (ERROR, "pipeline/PL_Z.json"),
        (WARNING, "linkedService/LS-Dash.json"),
    ]
    assert not report.ok
    assert [f.code for f in report.errors] == ["DANGLING_REFERENCE", "NAME_MISMATCH"]
    assert [f.code for f in report.warnings] == ["NAME_CHARACTERS"]


# --- 1. JSON syntax ----------------------------------------------------------------------------------------------


def test_invalid_json_names_file_line_and_column(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, "pipeline/PL_Broken.json", '{\n    "name": "PL_Broken",\n    "properties": {,}\n}\n')

    finding = only(validate_source(tmp_path), "JSON_SYNTAX")

    assert finding.severity is ERROR
    assert finding.where == "pipeline/PL_Broken.json:3:20"
    assert "invalid JSON" in finding.what


# --- 2. file name and object name --------------------------------------------------------------------------------


def test_a_file_named_differently_from_its_object(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, "pipeline/PL_Old.json", pipeline("PL_New"))

    finding = only(validate_source(tmp_path), "NAME_MISMATCH")

    assert finding.severity is ERROR
    assert finding.where == "pipeline/PL_Old.json"
    assert "'PL_Old'" in finding.what and "'PL_New'" in finding.what
    assert finding.hint and "PL_New.json" in finding.hint


# --- 3. folders and types ----------------------------------------------------------------------------------------


def test_an_unknown_folder_is_a_warning(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, "pipelines/PL_Typo.json", pipeline("PL_Typo"))

    report = validate_source(tmp_path)

    finding = only(report, "UNKNOWN_FOLDER")
    assert (finding.severity, finding.where) == (WARNING, "pipelines/")
    assert report.ok


def test_a_type_that_does_not_match_the_folder(tmp_path):
    clean_factory(tmp_path)
    body = {**dataset("DS_Misplaced", "LS_Lake"), "type": "Microsoft.DataFactory/factories/datasets"}
    write(tmp_path, "linkedService/DS_Misplaced.json", body)

    report = validate_source(tmp_path)

    finding = only(report, "WRONG_TYPE")
    assert finding.severity is ERROR
    assert finding.where == "linkedService/DS_Misplaced.json (type)"
    assert "Microsoft.DataFactory/factories/datasets" in finding.what and "linkedService/" in finding.what
    # LS_Lake declares its type in lower case, as ADF writes it: that is no finding.
    assert all(f.where.startswith("linkedService/DS_Misplaced.json") for f in report.findings)


@pytest.mark.parametrize(
    ("folder", "body"),
    [
        ("linkedService", linked_service("X_Object", type_="")),
        (
            "dataset",
            {"name": "X_Object", "properties": {"linkedServiceName": ref("LinkedServiceReference", "LS_Lake")}},
        ),
        ("trigger", {"name": "X_Object", "properties": {"pipelines": []}}),
        ("integrationRuntime", {"name": "X_Object", "properties": {"typeProperties": {}}}),
        ("credential", {"name": "X_Object", "properties": {"typeProperties": {"resourceId": "/subscriptions/x"}}}),
    ],
)
def test_an_object_without_properties_type(tmp_path, folder, body):
    clean_factory(tmp_path)
    write(tmp_path, f"{folder}/X_Object.json", body)

    finding = only(validate_source(tmp_path), "MISSING_TYPE")

    assert finding.severity is ERROR
    assert finding.where == f"{folder}/X_Object.json (properties.type)"
    assert "X_Object" in finding.what


# --- 4. duplicate names ------------------------------------------------------------------------------------------


def test_names_that_differ_only_in_case_are_duplicates(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, "pipeline/PL_A.json", pipeline("PL_A"))
    write(tmp_path, "pipeline/pl_a.json", pipeline("pl_a"))

    finding = only(validate_source(tmp_path), "DUPLICATE_NAME")

    assert finding.severity is ERROR
    assert finding.where == "pipeline/pl_a.json"
    assert "pipeline/PL_A.json" in finding.what and "case-insensitive" in finding.what


# --- 5. references -----------------------------------------------------------------------------------------------


def test_a_reference_to_an_object_that_does_not_exist(tmp_path):
    clean_factory(tmp_path)
    write(
        tmp_path,
        "pipeline/PL_Outer.json",
        pipeline("PL_Outer", execute("Fine", "PL_Copy"), execute("Run missing", "PL_Missing")),
    )

    finding = only(validate_source(tmp_path), "DANGLING_REFERENCE")

    assert finding.severity is ERROR
    assert finding.where == "pipeline/PL_Outer.json (properties.activities[1].typeProperties.pipeline)"
    assert "Pipeline PL_Outer" in finding.what and "pipeline PL_Missing" in finding.what
    assert finding.hint == "add pipeline/PL_Missing.json or remove the reference"


def test_every_dangling_reference_is_reported_but_auto_resolve_is_built_in(tmp_path):
    clean_factory(tmp_path)
    body = dataset("DS_Orphan", "LS_Gone")
    write(tmp_path, "dataset/DS_Orphan.json", body)
    ls = linked_service("LS_Shir")
    ls["properties"]["connectVia"] = ref("IntegrationRuntimeReference", "IR_SelfHosted")
    write(tmp_path, "linkedService/LS_Shir.json", ls)
    write(
        tmp_path,
        "managedVirtualNetwork/default/managedPrivateEndpoint/mpe_lake.json",
        {"name": "mpe_lake", "properties": {"privateLinkResourceId": "/subscriptions/x", "groupId": "dfs"}},
    )

    report = validate_source(tmp_path)

    assert sorted((f.code, f.where) for f in report.findings) == [
        ("DANGLING_REFERENCE", "dataset/DS_Orphan.json (properties.linkedServiceName)"),
        ("DANGLING_REFERENCE", "linkedService/LS_Shir.json (properties.connectVia)"),
        ("DANGLING_REFERENCE", "managedVirtualNetwork/default/managedPrivateEndpoint/mpe_lake.json (parent)"),
    ]
    assert all(f.severity is ERROR for f in report.findings)


def test_a_reference_in_other_case_is_a_warning(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, "pipeline/PL_Outer.json", pipeline("PL_Outer", execute("Run", "pl_copy")))

    finding = only(validate_source(tmp_path), "REFERENCE_CASE")

    assert finding.severity is WARNING
    assert finding.where == "pipeline/PL_Outer.json (properties.activities[0].typeProperties.pipeline)"
    assert "'PL_Copy'" in finding.what


# --- 6. cycles ---------------------------------------------------------------------------------------------------


def test_pipelines_that_execute_each_other(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, "pipeline/PL_A.json", pipeline("PL_A", execute("Call B", "PL_B")))
    write(tmp_path, "pipeline/PL_B.json", pipeline("PL_B", execute("Call A", "PL_A")))

    finding = only(validate_source(tmp_path), "REFERENCE_CYCLE")

    assert finding.severity is ERROR
    assert finding.where == "pipeline/PL_A.json"
    assert "pipeline PL_A → pipeline PL_B → pipeline PL_A" in finding.what


# --- 7. names ----------------------------------------------------------------------------------------------------


def test_a_dash_in_a_global_parameter_name(tmp_path):
    clean_factory(tmp_path)
    new_factory(
        tmp_path,
        globalParameters={"env-name": {"type": "String", "value": "dev"}, "env_ok": {"type": "String", "value": "dev"}},
    )

    report = validate_source(tmp_path)
    finding = only(report, "GLOBAL_PARAMETER_NAME")

    # ADF publishes such a name; only an expression that names it fails.
    assert finding.severity is WARNING and report.ok
    assert finding.where == f"factory/{FACTORY}.json (properties.globalParameters.env-name)"


def test_a_dash_in_a_global_parameter_of_the_global_parameters_folder(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, f"globalParameters/{FACTORY}_GlobalParameters.json", {"bad-name": {"type": "Int", "value": 1}})

    finding = only(validate_source(tmp_path), "GLOBAL_PARAMETER_NAME")

    assert (finding.severity, finding.where) == (WARNING, "globalParameters/ (bad-name)")


def test_dashes_and_spaces_in_names_of_linked_services_datasets_and_data_flows(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, "linkedService/LS-Blob.json", linked_service("LS-Blob"))
    write(tmp_path, "dataset/DS Blob.json", dataset("DS Blob", "LS-Blob"))
    write(tmp_path, "dataflow/DF-Flow.json", {"name": "DF-Flow", "properties": {"type": "MappingDataFlow"}})
    write(tmp_path, "pipeline/PL-Fine.json", pipeline("PL-Fine"))  # pipelines may have dashes

    report = validate_source(tmp_path)

    assert [(f.code, f.severity, f.where) for f in report.findings] == [
        ("NAME_CHARACTERS", WARNING, "dataflow/DF-Flow.json"),
        ("NAME_CHARACTERS", WARNING, "dataset/DS Blob.json"),
        ("NAME_CHARACTERS", WARNING, "linkedService/LS-Blob.json"),
    ]
    assert "a space" in report.findings[1].what and "a dash" in report.findings[2].what


# --- 8. ARM limits on the export ---------------------------------------------------------------------------------


def test_more_than_256_template_parameters(tmp_path):
    new_factory(tmp_path)
    for index in range(300):  # the default rules make one parameter per linked service url
        write(tmp_path, f"linkedService/LS_{index:03}.json", linked_service(f"LS_{index:03}"))

    report = validate_source(tmp_path)

    finding = only(report, "ARM_PARAMETER_LIMIT")
    assert (finding.severity, finding.where) == (ERROR, "ARMTemplateForFactory.json")
    assert "301 parameters" in finding.what and "256" in finding.what
    assert codes(report) == ["ARM_PARAMETER_LIMIT"]


def test_more_than_800_resources(tmp_path):
    new_factory(tmp_path)
    for index in range(801):
        write(tmp_path, f"pipeline/PL_{index:03}.json", pipeline(f"PL_{index:03}"))

    report = validate_source(tmp_path)

    finding = only(report, "ARM_RESOURCE_LIMIT")
    # A warning: the linked templates Publish writes beside it deploy the factory all the same.
    assert (finding.severity, finding.where) == (WARNING, "ARMTemplateForFactory.json")
    assert "801 resources" in finding.what and "800" in finding.what
    assert finding.hint and "linked templates" in finding.hint
    assert codes(report) == ["ARM_RESOURCE_LIMIT"]


def test_a_template_over_4_mb_that_linked_templates_can_deploy(tmp_path):
    new_factory(tmp_path)
    for index in range(25):  # 5 MB in all, 20 to a linked template stay under 4 MB
        write(tmp_path, f"pipeline/PL_{index:02}.json", pipeline(f"PL_{index:02}", description="x" * 200_000))

    report = validate_source(tmp_path)

    finding = only(report, "ARM_SIZE_LIMIT")
    assert (finding.severity, finding.where) == (WARNING, "ARMTemplateForFactory.json")
    size = re.fullmatch(r"the template is (\d+\.\d\d) MB; ARM allows at most 4\.00 MB", finding.what)
    assert size and 4.7 < float(size.group(1)) < 4.9
    assert finding.hint and "linked templates" in finding.hint


def test_a_single_object_over_4_mb(tmp_path):
    new_factory(tmp_path)
    write(tmp_path, "pipeline/PL_Huge.json", pipeline("PL_Huge", description="x" * (4 * 1024 * 1024 + 10)))

    report = validate_source(tmp_path)

    assert [(f.code, f.severity, f.where) for f in report.findings] == [
        ("ARM_SIZE_LIMIT", ERROR, "ARMTemplateForFactory.json"),
        ("ARM_SIZE_LIMIT", WARNING, "linkedTemplates/ArmTemplate_0.json"),
    ]
    assert "linked templates" not in (report.findings[0].hint or "")


def test_two_rules_that_make_the_same_parameter_name(tmp_path):
    clean_factory(tmp_path)
    write(
        tmp_path,
        "linkedService/LS_Web.json",
        linked_service("LS_Web", "RestService", url="https://a.example", baseUrl="https://b.example"),
    )
    write(
        tmp_path,
        DEFINITION,
        {
            LS_TYPE: {
                "*": {"properties": {"typeProperties": {"url": "=:-endpoint", "baseUrl": "=:-endpoint", "server": "="}}}
            }
        },
    )

    finding = only(validate_source(tmp_path), "PARAMETER_CLASH")

    assert finding.severity is WARNING
    assert finding.where == "linkedService/LS_Web.json (properties.typeProperties.baseUrl)"
    assert "'LS_Web_endpoint'" in finding.what and "'LS_Web_endpoint_2'" in finding.what


def test_an_export_failure_becomes_a_finding(tmp_path, monkeypatch):
    def fails(factory, **_):
        raise PortalError("linkedService/LS_Lake.json", "cannot be exported", code="EXPORT_BROKEN")

    monkeypatch.setattr(validation, "export_factory", fails)
    factory = load_factory(clean_factory(tmp_path))

    finding = only(validate_factory(factory), "EXPORT_BROKEN")

    assert (finding.severity, finding.where) == (ERROR, "linkedService/LS_Lake.json")
    assert "cannot be exported" in finding.what


# --- 9. the parameter definition file ----------------------------------------------------------------------------


def test_rules_that_match_nothing(tmp_path):
    clean_factory(tmp_path)
    write(
        tmp_path,
        DEFINITION,
        {
            "Microsoft.DataFactory/factories/pipelines": {},  # boilerplate: quiet
            LS_TYPE: {
                "*": {"properties": {"typeProperties": {"url": "=", "fooBar": "="}}},
                "AzureSqlDatabase": {"properties": {"typeProperties": {"server": "=", "database": "="}}},
                "Odbc": {"properties": {"typeProperties": {"userName": "="}}},
            },
            "Microsoft.DataFactory/factories/triggers": {
                "properties": {
                    "pipelines": [{"parameters": {"*": "="}}, "pipelineReference.referenceName"],
                    "typeProperties": {"scope": "="},
                }
            },
            "Microsoft.DataFactory/factories/integrationRuntimes": {"properties": {"typeProperties": {"x": "="}}},
            "Microsoft.DataFactory/factories/pipeline": {"properties": {"description": "="}},
        },
    )

    report = validate_source(tmp_path)

    assert all(f.code == "UNUSED_RULE" and f.severity is WARNING for f in report.findings), report.findings
    assert [f.where for f in report.findings] == [
        f"{DEFINITION} (Microsoft.DataFactory/factories/integrationRuntimes)",
        f"{DEFINITION} ({LS_TYPE} → *.properties.typeProperties.fooBar)",
        f"{DEFINITION} ({LS_TYPE} → AzureSqlDatabase.properties.typeProperties.database)",
        f"{DEFINITION} ({LS_TYPE} → Odbc)",
        f"{DEFINITION} (Microsoft.DataFactory/factories/pipeline)",
    ]  # the unused trigger `scope` rule is a copy of ADF's default template: quiet
    by_where = {f.where: f.what for f in report.findings}
    assert "no integration runtimes" in by_where[report.findings[0].where]
    assert "type 'Odbc'" in by_where[f"{DEFINITION} ({LS_TYPE} → Odbc)"]


def test_a_subtype_rule_overrides_the_star_rule(tmp_path):
    clean_factory(tmp_path)
    write(
        tmp_path,
        DEFINITION,
        {
            LS_TYPE: {
                "*": {"properties": {"typeProperties": {"server": "=:-anyServer", "url": "="}}},
                "AzureSqlDatabase": {"properties": {"typeProperties": {"server": "=:-sqlServer"}}},
            }
        },
    )

    report = validate_source(tmp_path)

    # Only the SQL linked service has a server, and its own rule wins there.
    assert [f.where for f in report.findings] == [f"{DEFINITION} ({LS_TYPE} → *.properties.typeProperties.server)"]


def test_invalid_rule_text(tmp_path):
    clean_factory(tmp_path)
    write(
        tmp_path,
        DEFINITION,
        {
            "Microsoft.DataFactory/factories/triggers": {
                "properties": {"type": "ScheduleTrigger", "typeProperties": {"recurrence": {"interval": "=::number"}}}
            },
            LS_TYPE: {"*": {"properties": {"typeProperties": {"url": "="}}}},
        },
    )

    report = validate_source(tmp_path)

    rules = [f for f in report.findings if f.code in ("PARAM_RULE", "UNKNOWN_RULE")]
    assert [(f.code, f.severity, f.where) for f in rules] == [
        (
            "PARAM_RULE",
            ERROR,
            f"{DEFINITION} (Microsoft.DataFactory/factories/triggers → properties.typeProperties.recurrence.interval)",
        ),
        # A value that is no rule at all (here a trigger type) parameterizes nothing: reported, not fatal.
        ("UNKNOWN_RULE", WARNING, f"{DEFINITION} (Microsoft.DataFactory/factories/triggers → properties.type)"),
    ]
    assert "unknown parameter type 'number'" in rules[0].what
    assert "'ScheduleTrigger' is not a parameterization rule" in rules[1].what
    assert report.errors == rules[:1]  # the export stops on the same rule; it is reported once


def test_malformed_rule_values(tmp_path):
    clean_factory(tmp_path)
    write(
        tmp_path,
        DEFINITION,
        {
            "Microsoft.DataFactory/factories/pipelines": "=",
            LS_TYPE: {"*": {"properties": {"typeProperties": {"url": 1}}}},
            "Microsoft.DataFactory/factories/triggers": {"properties": {"pipelines": [{}, 2]}},
        },
    )

    report = validate_source(tmp_path)

    assert [(f.code, f.where) for f in report.errors] == [
        ("PARAM_RULE", f"{DEFINITION} ({LS_TYPE} → *.properties.typeProperties.url)"),
        ("PARAM_RULE", f"{DEFINITION} (Microsoft.DataFactory/factories/pipelines)"),
        ("PARAM_RULE", f"{DEFINITION} (Microsoft.DataFactory/factories/triggers → properties.pipelines)"),
    ]


# --- 10. what the loader finds -----------------------------------------------------------------------------------


def test_the_loaders_findings_pass_through(tmp_path):
    clean_factory(tmp_path)
    write(tmp_path, "pipeline/PL_NoName.json", {"properties": {}})
    write(tmp_path, "pipeline/PL_List.json", [])
    write(tmp_path, "pipeline/PL_BadProps.json", {"name": "PL_BadProps", "properties": []})
    write(tmp_path, "pipeline/nested/PL_Deep.json", pipeline("PL_Deep"))
    write(tmp_path, "publish_config.json", [])
    write(tmp_path, DEFINITION, "[]")
    write(tmp_path, "factory/DF_Other.json", {"name": "DF_Other"})

    report = validate_source(tmp_path)

    assert sorted((f.code, f.severity, f.where) for f in report.findings) == [
        ("BAD_PROPERTIES", ERROR, "pipeline/PL_BadProps.json (PL_BadProps)"),
        ("FACTORY_CHOICE", WARNING, "factory/"),
        ("MISSING_NAME", ERROR, "pipeline/PL_NoName.json"),
        ("NOT_AN_OBJECT", ERROR, "pipeline/PL_List.json"),
        ("PARAM_DEFINITION", ERROR, DEFINITION),
        ("PUBLISH_CONFIG", ERROR, "publish_config.json"),
        ("UNEXPECTED_PATH", WARNING, "pipeline/nested/PL_Deep.json"),
    ]


def test_a_factory_without_factory_file_needs_a_name(tmp_path):
    clean_factory(tmp_path)
    (tmp_path / "factory" / f"{FACTORY}.json").unlink()

    finding = only(validate_source(tmp_path), "FACTORY_NAME")
    assert (finding.severity, finding.where) == (ERROR, "factory/")

    assert validate_source(tmp_path, factory_name=FACTORY).findings == ()


# --- secrets ------------------------------------------------------------------------------------------------------


def test_findings_never_show_property_values(tmp_path):
    secret = "s3cr3t-Pa55word"
    clean_factory(tmp_path)
    ls = linked_service(
        "LS-Secret",
        "AzureSqlDatabase",
        connectionString=f"Server=x;Password={secret}",
        password={"type": "SecureString", "value": secret},
    )
    ls["properties"]["connectVia"] = ref("IntegrationRuntimeReference", "IR_Missing")
    ls["type"] = "Microsoft.DataFactory/factories/datasets"
    write(tmp_path, "linkedService/LS_Renamed.json", ls)
    write(
        tmp_path, DEFINITION, {LS_TYPE: {"*": {"properties": {"typeProperties": {"password": {"value": "=:x:nope"}}}}}}
    )

    report = validate_source(tmp_path)

    assert {"NAME_MISMATCH", "WRONG_TYPE", "DANGLING_REFERENCE", "NAME_CHARACTERS", "PARAM_RULE"} <= set(codes(report))
    assert all(secret not in str(f) for f in report.findings)


# --- Git refs -----------------------------------------------------------------------------------------------------


def test_validation_at_a_ref_reads_the_commit_not_the_working_tree(tmp_path):
    git = pytest.importorskip("git")
    repo_dir = tmp_path / "repo"
    adf = clean_factory(repo_dir / "adf")
    repo = git.Repo.init(repo_dir)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test").set_value("user", "email", "test@example.com")
    repo.git.add(A=True)
    repo.index.commit("clean factory")
    # Uncommitted edits: a broken file and a dangling reference.
    write(adf, "pipeline/PL_Copy.json", '{"name": "PL_Copy",')
    write(adf, "pipeline/PL_New.json", pipeline("PL_New", execute("Run", "PL_Nowhere")))

    assert validate_source(repo_dir, ref="HEAD", root_folder="/adf").findings == ()
    assert validate_source(adf, ref="HEAD").findings == ()
    assert {"JSON_SYNTAX", "DANGLING_REFERENCE"} <= set(codes(validate_source(adf)))
    with pytest.raises(PortalError) as raised:
        validate_source(adf, ref="no-such-branch")
    assert raised.value.code == "GIT_REF"


def test_a_missing_folder_raises(tmp_path):
    with pytest.raises(PortalError) as raised:
        validate_source(tmp_path / "nowhere")
    assert raised.value.code == "ADF_ROOT"


# --- the CLI -----------------------------------------------------------------------------------------------------


def test_cli_validate_exits_1_on_errors_and_0_when_clean(tmp_path, capsys):
    clean = clean_factory(tmp_path / "clean")
    broken = clean_factory(tmp_path / "broken")
    write(broken, "pipeline/PL_Old.json", pipeline("PL_New"))
    write(broken, "linkedService/LS-Dash.json", linked_service("LS-Dash"))

    assert main(["validate", str(clean)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "7 objects checked: 0 errors, 0 warnings" and err == ""

    assert main(["validate", str(broken)]) == 1
    out, err = capsys.readouterr()
    assert "error: pipeline/PL_Old.json: the file is named 'PL_Old'" in err and "[NAME_MISMATCH]" in err
    assert "warning: linkedService/LS-Dash.json:" in out
    assert out.strip().endswith("9 objects checked: 1 errors, 1 warnings")


def test_python_m_portal_validate(tmp_path):
    factory = clean_factory(tmp_path / "f")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, "-m", "portal", "validate", str(factory)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    write(factory, "dataset/DS_Bad.json", dataset("DS_Bad", "LS_Nowhere"))
    done = subprocess.run(
        [sys.executable, "-m", "portal", "validate", str(factory)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "[DANGLING_REFERENCE]" in done.stderr


# --- the real corpus ---------------------------------------------------------------------------------------------

# Real problems in corpus factories, found by validation and checked by hand (all deployable: warnings).
EXPECTED_WARNINGS: dict[str, list[tuple[str, str]]] = {
    # 958 objects + the factory resource: ARM refuses the single template; Publish's linked templates deploy it.
    "bilatam__BPBI": [("ARM_RESOURCE_LIMIT", "ARMTemplateForFactory.json")],
    # The definition file holds a trigger type ("BlobEventsTrigger") where a rule belongs.
    "Tonilifter__dap-core-datafactory": [
        ("UNKNOWN_RULE", f"{DEFINITION} (Microsoft.DataFactory/factories/triggers → properties.type)"),
    ],
    # The definition file gives existingClusterId a value that is no rule.
    "Tej-sharma-11__adf2": [
        (
            "UNKNOWN_RULE",
            f"{DEFINITION} (Microsoft.DataFactory/factories/linkedServices → "
            "*.properties.typeProperties.existingClusterId)",
        ),
    ],
    # Publish ran in another factory (adf-7650140-test) than the one whose file Git holds.
    "calebu__adf_cicd": [("FACTORY_NAME", "factory/")],
    # Optional references to a deleted linked service, which ADF drops when it publishes.
    "Mukka-praneeth__sample": [
        ("DANGLING_REFERENCE", "adfcdc/adfcdc1.json (properties.SourceConnectionsInfo[0].Connection.linkedService)"),
        ("DANGLING_REFERENCE", "adfcdc/adfcdc1.json (properties.TargetConnectionsInfo[0].Connection.linkedService)"),
        (
            "DANGLING_REFERENCE",
            "dataflow/logfile_append_df.json (properties.typeProperties.sinks[0].rejectedDataLinkedService)",
        ),
        (
            "DANGLING_REFERENCE",
            "dataflow/logfile_df.json (properties.typeProperties.sinks[0].rejectedDataLinkedService)",
        ),
    ],
    # The definition file holds an ARM template: it names no resource type, so Publish parameterizes nothing.
    "omkarjadhav-bot__azure-repo": [("NO_RULES", DEFINITION)],
}


def corpus_entries() -> list[CorpusEntry]:
    return paired_entries() + source_only_entries()


def corpus_factory_name(entry: CorpusEntry) -> str | None:
    """The factory Publish ran in; for a source-only factory without factory file, its repository's name."""
    if entry.arm.is_dir():
        return entry.factory_name
    if (entry.source / "factory").is_dir():
        return None
    return entry.name.split("__", 1)[1]


@needs_corpus
def test_the_corpus_is_there():
    assert CORPUS.is_dir()
    assert len(paired_entries()) >= 44 and len(source_only_entries()) == 2


@needs_corpus
@pytest.mark.parametrize("entry", [pytest.param(entry, id=entry.name) for entry in corpus_entries()])
def test_corpus_factories_validate_without_unexpected_errors(entry):
    report = validate_source(entry.source, factory_name=corpus_factory_name(entry))

    assert report.errors == []
    # Beyond rules their authors wrote that match nothing and names with spaces or dashes (both theirs to choose,
    # and ADF accepts them), nothing else is wrong with these factories.
    others = [
        (f.code, f.where) for f in report.warnings if f.code not in ("UNUSED_RULE", "NAME_CHARACTERS", "SYNAPSE_TYPE")
    ]
    assert others == EXPECTED_WARNINGS.get(entry.name, [])
    assert report.object_count > 0
