"""The demo data repository (`portal demo`): written once, then checked with the portal's own code."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from portal.cli import main
from portal.environments.config import parse_config
from portal.environments.render import render_environment
from portal.environments.workspace import MappingWorkspace
from portal.errors import PortalError
from portal.sandbox.demo_content import (
    DEMO_SANDBOX_FOLDER,
    DEMO_SUBSCRIPTIONS,
    repository_files,
    write_demo_repository,
)

ENVIRONMENTS = ["dev", "test", "prod"]
KEY_VAULT = "LS_KeyVault_properties_typeProperties_baseUrl"
LAKE = "LS_Lake_properties_typeProperties_url"
DOMAIN = "LS_Databricks_properties_typeProperties_domain"
CLUSTER = "LS_Databricks_properties_typeProperties_existingClusterId"
SCOPE = "TR_NewFiles_properties_typeProperties_scope"
SAMPLE = "TR_Daily_properties_PL_Orchestrate_Daily_parameters_samplePercent"
GLOBALS = [
    "default_properties_environmentName_value",
    "default_properties_alertEmail_value",
    "default_properties_retentionDays_value",
]
PER_ENVIRONMENT = [KEY_VAULT, LAKE, DOMAIN, CLUSTER, SCOPE, SAMPLE, *GLOBALS]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "retail"
    write_demo_repository(root, author_name="Ada Demo", author_email="ada@demo.example")
    return root


@pytest.fixture(scope="module")
def workspace(demo: Path) -> MappingWorkspace:
    return MappingWorkspace.open(demo)


# --- the factory -------------------------------------------------------------------------------------------------


def test_factory_validates_without_findings(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(demo / "adf")]) == 0
    out = capsys.readouterr().out
    assert "0 errors, 0 warnings" in out


def test_committed_factory_validates(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(demo), "--root-folder", "/adf", "--ref", "main"]) == 0
    assert "0 errors" in capsys.readouterr().out


def test_export_arm(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "arm"
    assert main(["export-arm", str(demo / "adf"), "--out", str(out)]) == 0
    template = json.loads((out / "ARMTemplateForFactory.json").read_text(encoding="utf-8"))
    parameters = set(template["parameters"])
    assert set(PER_ENVIRONMENT) <= parameters
    assert (out / "globalParameters" / "adf-retail-dev_GlobalParameters.json").is_file()
    types = {r["type"].rsplit("/", 1)[-1] for r in template["resources"]}
    assert {"linkedServices", "datasets", "pipelines", "dataflows", "triggers", "globalparameters"} <= types


def test_factory_content() -> None:
    names: dict[str, set[str]] = {}
    for path in repository_files():
        if path.startswith("adf/") and path.count("/") == 2:
            _, folder, file = path.split("/")
            names.setdefault(folder, set()).add(file.removesuffix(".json"))
    assert names["linkedService"] == {"LS_KeyVault", "LS_Lake", "LS_SalesDb", "LS_Databricks"}
    assert names["trigger"] == {"TR_Daily", "TR_NewFiles"}
    assert names["dataflow"] == {"DF_CleanOrders"}
    assert len(names["dataset"]) == 8
    assert len(names["pipeline"]) == 12 and "PL_Orchestrate_Daily" in names["pipeline"]
    assert names["factory"] == {"adf-retail-dev"}


def _activities(activities: list[dict]) -> list[dict]:
    found = []
    for activity in activities:
        found.append(activity)
        props = activity.get("typeProperties", {})
        for key in ("activities", "ifTrueActivities", "ifFalseActivities"):
            found.extend(_activities(props.get(key, [])))
    return found


def test_adf_json_is_as_adf_writes_it(demo: Path) -> None:
    types = set()
    for path in sorted((demo / "adf").rglob("*.json")):
        text = path.read_text(encoding="utf-8")
        if path.name == "arm-template-parameters-definition.json":
            continue
        assert text.startswith('{\n\t"') and not text.endswith("\n"), path
        document = json.loads(text)
        if path.name != "publish_config.json":
            assert document["name"] == path.stem
        if path.parent.name == "pipeline":
            for activity in _activities(document["properties"]["activities"]):
                types.add(activity["type"])
                assert "dependsOn" in activity and "userProperties" in activity, (path.name, activity["name"])
                if activity["type"] in ("Copy", "DatabricksNotebook", "WebActivity", "ExecuteDataFlow"):
                    assert "policy" in activity, (path.name, activity["name"])
    assert {
        "Copy",
        "ForEach",
        "IfCondition",
        "ExecutePipeline",
        "DatabricksNotebook",
        "WebActivity",
        "ExecuteDataFlow",
        "SetVariable",
    } <= types
    publish = json.loads((demo / "adf" / "publish_config.json").read_text(encoding="utf-8"))
    assert publish == {"publishBranch": "adf_publish", "includeGlobalParamsTemplate": True}
    factory = json.loads((demo / "adf" / "factory" / "adf-retail-dev.json").read_text(encoding="utf-8"))
    assert factory["location"] == "westeurope" and factory["identity"]["type"] == "SystemAssigned"
    assert set(factory["properties"]["globalParameters"]) == {"environmentName", "alertEmail", "retentionDays"}


def test_triggers_and_notebook_activity(demo: Path) -> None:
    read = lambda rel: json.loads((demo / "adf" / rel).read_text(encoding="utf-8"))  # noqa: E731
    new_files = read("trigger/TR_NewFiles.json")["properties"]
    assert new_files["type"] == "BlobEventsTrigger" and new_files["runtimeState"] == "Started"
    assert new_files["typeProperties"]["scope"] == (
        f"/subscriptions/{DEMO_SUBSCRIPTIONS['dev']}/resourceGroups/rg-retail-dev/providers/Microsoft.Storage"
        "/storageAccounts/stretaildev"
    )
    assert new_files["typeProperties"]["blobPathBeginsWith"] == "/landing/blobs/"
    assert new_files["pipelines"][0]["pipelineReference"]["referenceName"] == "PL_Ingest_Landing"
    daily = read("trigger/TR_Daily.json")["properties"]
    assert daily["type"] == "ScheduleTrigger" and daily["runtimeState"] == "Started"
    assert daily["pipelines"][0]["pipelineReference"]["referenceName"] == "PL_Orchestrate_Daily"
    notebook = read("pipeline/PL_Transform_Sales.json")["properties"]["activities"][0]
    assert notebook["type"] == "DatabricksNotebook"
    assert notebook["typeProperties"]["notebookPath"] == "/Shared/retail/notebooks/transform_sales"
    assert notebook["linkedServiceName"]["referenceName"] == "LS_Databricks"


# --- configuration and values per environment --------------------------------------------------------------------


def test_configuration(demo: Path) -> None:
    text = (demo / "portal.yaml").read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert text.startswith("#") and "embedded sandbox" in header.lower()
    config = parse_config(text)
    assert config.names == ENVIRONMENTS
    assert not config.git.allow_direct_commits and config.git.main_branch == "main"
    assert len(set(DEMO_SUBSCRIPTIONS.values())) == 3
    for env in config.environments:
        target = env.data_factory
        assert target.subscription_id == DEMO_SUBSCRIPTIONS[env.name]
        assert (target.resource_group, target.factory_name) == (f"rg-retail-{env.name}", f"adf-retail-{env.name}")
        assert (target.auth, target.sandbox) == ("sandbox", DEMO_SANDBOX_FOLDER)
        assert env.databricks is not None and (env.databricks.auth, env.databricks.sandbox) == (
            "sandbox",
            DEMO_SANDBOX_FOLDER,
        )
        assert env.databricks.target_folder == "/Shared/retail/notebooks"
    assert config.environment("prod").protection.approvals_required == 1
    assert config.environment("prod").deploy.delete_removed is False
    assert config.environment("test").deploy.delete_removed is True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_checks_are_clean(workspace: MappingWorkspace, env: str) -> None:
    assert workspace.check(env) == []


def test_catalogue_has_values_per_environment(workspace: MappingWorkspace) -> None:
    entries = {entry.name: entry for entry in workspace.catalogue()}
    for name in PER_ENVIRONMENT:
        entry = entries[name]
        assert entry.values["dev"].kind == "default", name
        for env in ("test", "prod"):
            assert entry.values[env].kind == "value", (name, env)
        shown = {env: entry.values[env].value for env in ENVIRONMENTS}
        assert len({json.dumps(v) for v in shown.values()}) == 3, (name, shown)
    assert "test" in entries[LAKE].values["test"].value and "prod" in entries[LAKE].values["prod"].value
    assert entries[KEY_VAULT].values["test"].value == "https://kv-retail-test.vault.azure.net/"
    assert entries[DOMAIN].values["prod"].value == "https://adb-3333333333333333.3.azuredatabricks.net"
    assert entries[CLUSTER].values["dev"].value == "0101-000000-dev00001"
    assert (
        entries[SCOPE]
        .values["prod"]
        .value.endswith("/resourceGroups/rg-retail-prod/providers/Microsoft.Storage/storageAccounts/stretailprod")
    )
    assert DEMO_SUBSCRIPTIONS["test"] in entries[SCOPE].values["test"].value
    assert entries["default_properties_environmentName_value"].values["prod"].value == "prod"
    assert entries["default_properties_retentionDays_value"].type == "int"
    # No secret needs a value: every secret of the factory comes from its Key Vault linked service.
    assert not [entry.name for entry in entries.values() if entry.secret]


def test_parameter_files_layout(demo: Path) -> None:
    for env in ENVIRONMENTS:
        text = (demo / "environments" / f"{env}.parameters.json").read_text(encoding="utf-8")
        assert text.endswith("}\n") and '\n    "contentVersion"' in text
        document = json.loads(text)
        assert document["$schema"].endswith("deploymentParameters.json#")
    assert json.loads((demo / "environments" / "dev.parameters.json").read_text())["parameters"] == {}


@pytest.mark.parametrize("env", ["test", "prod"])
def test_render(workspace: MappingWorkspace, env: str) -> None:
    rendered = render_environment(workspace, env)
    assert rendered.factory_name == f"adf-retail-{env}"
    databricks = rendered.find("LS_Databricks", "Microsoft.DataFactory/factories/linkedServices")
    assert databricks is not None
    assert databricks.name == f"adf-retail-{env}/LS_Databricks"
    host = workspace.environment(env).databricks.host
    assert databricks.properties["typeProperties"]["domain"] == host
    cluster = {"test": "0101-000000-tst00001", "prod": "0101-000000-prd00001"}[env]
    assert databricks.properties["typeProperties"]["existingClusterId"] == cluster
    trigger = rendered.find("TR_NewFiles")
    assert trigger.properties["typeProperties"]["scope"].endswith(f"/storageAccounts/stretail{env}")
    lake = rendered.find("LS_Lake")
    assert lake.properties["typeProperties"]["url"] == f"https://stretail{env}.dfs.core.windows.net/"


# --- the repository -----------------------------------------------------------------------------------------------


def test_one_commit_on_main_with_the_author(demo: Path) -> None:
    repo = git.Repo(demo)
    assert repo.active_branch.name == "main"
    commits = list(repo.iter_commits("main"))
    assert len(commits) == 1
    assert (commits[0].author.name, commits[0].author.email) == ("Ada Demo", "ada@demo.example")
    assert not repo.is_dirty(untracked_files=True)
    tracked = {item.path for item in commits[0].tree.traverse() if item.type == "blob"}
    assert set(repository_files()) == tracked
    assert {
        "README.md",
        ".gitignore",
        "portal.yaml",
        "notebooks/transform_sales.py",
        "notebooks/daily_kpis.sql",
        "notebooks/helpers/dates.py",
    } <= tracked


def test_workspace_at_the_commit(demo: Path) -> None:
    at_main = MappingWorkspace.open(demo, ref="main")
    assert [f for f in at_main.check() if f.severity.value == "error"] == []


def test_notebooks_and_gitignore(demo: Path) -> None:
    python = (demo / "notebooks" / "transform_sales.py").read_text(encoding="utf-8")
    assert python.startswith("# Databricks notebook source\n") and "# COMMAND ----------" in python
    assert (demo / "notebooks" / "helpers" / "dates.py").read_text().startswith("# Databricks notebook source\n")
    sql = (demo / "notebooks" / "daily_kpis.sql").read_text(encoding="utf-8")
    assert sql.startswith("-- Databricks notebook source\n") and "-- COMMAND ----------" in sql
    assert f"{DEMO_SANDBOX_FOLDER}/" in (demo / ".gitignore").read_text().splitlines()
    readme = (demo / "README.md").read_text(encoding="utf-8")
    for command in ("portal params show test", "portal plan test", "portal promote test --yes"):
        assert command in readme


def test_same_content_every_time(tmp_path: Path) -> None:
    assert repository_files() == repository_files()
    write_demo_repository(tmp_path / "a")
    write_demo_repository(tmp_path / "b")
    assert git.Repo(tmp_path / "a").head.commit.tree.hexsha == git.Repo(tmp_path / "b").head.commit.tree.hexsha


def test_existing_empty_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    repo = write_demo_repository(tmp_path / "empty")
    assert Path(repo.working_tree_dir) == tmp_path / "empty"


@pytest.mark.parametrize("content", ["file", "folder"])
def test_non_empty_path_is_refused(tmp_path: Path, content: str) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    if content == "file":
        (target / "notes.txt").write_text("mine", encoding="utf-8")
    else:
        (target / ".git").mkdir()
    with pytest.raises(PortalError) as info:
        write_demo_repository(target)
    assert info.value.code == "DEMO_PATH"
    assert sorted(p.name for p in target.iterdir()) == (["notes.txt"] if content == "file" else [".git"])


def test_a_file_as_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(PortalError) as info:
        write_demo_repository(target)
    assert info.value.code == "DEMO_PATH"


def test_definition_is_the_default_plus_the_databricks_domain(demo: Path, workspace: MappingWorkspace) -> None:
    from portal.adf.parameterization import DEFAULT_DEFINITION

    definition = json.loads((demo / "adf" / "arm-template-parameters-definition.json").read_text(encoding="utf-8"))
    star = definition["Microsoft.DataFactory/factories/linkedServices"]["*"]["properties"]["typeProperties"]
    assert star.pop("domain") == "="
    assert definition == DEFAULT_DEFINITION
    assert any(rule.target.path[-1] == "domain" for rule in workspace.rules())
