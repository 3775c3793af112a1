"""A small but real data repository for the mapping tests: ADF JSON, portal.yaml and parameter files in Git."""

from __future__ import annotations

import json
from pathlib import Path

import git

SUB_DEV = "11111111-1111-1111-1111-111111111111"
SUB_TEST = "22222222-2222-2222-2222-222222222222"
SUB_PROD = "33333333-3333-3333-3333-333333333333"
KV_TEST = f"/subscriptions/{SUB_TEST}/resourceGroups/rg-test/providers/Microsoft.KeyVault/vaults/kv-test"

CONFIG = f"""\
# Environments of the sales data platform, in promotion order.
version: 1
adf:
  root_folder: adf
git:
  main_branch: main
environments:
  - name: dev
    data_factory:
      subscription_id: {SUB_DEV}
      resource_group: rg-dev
      factory_name: adf-sales-dev
      location: westeurope
  - name: test
    data_factory:
      subscription_id: {SUB_TEST}
      resource_group: rg-test
      factory_name: adf-sales-test
      location: westeurope
    databricks:
      host: https://adb-2222.azuredatabricks.net
      target_folder: /Shared/sales/test
  - name: prod  # approvals come with the promotion work
    data_factory:
      subscription_id: {SUB_PROD}
      resource_group: rg-prod
      factory_name: adf-sales-prod
      location: westeurope
    protection:
      approvals_required: 2
"""


# The test environment deployed to the embedded sandbox (its state in the repository's .sandbox folder): the
# environment entry of portal.yaml the deploy, notebook and promotion tests start from.
SANDBOX_TEST_ENVIRONMENT = f"""\
  - name: test
    data_factory:
      subscription_id: {SUB_TEST}
      resource_group: rg-test
      factory_name: adf-sales-test
      location: westeurope
      auth: sandbox
      sandbox: .sandbox
"""


def sandbox_config(**deploy: object) -> str:
    """A portal.yaml with the one sandbox environment `test` and these `deploy:` settings (values as JSON, which
    YAML reads alike)."""
    text = f"version: 1\nadf:\n  root_folder: adf\nenvironments:\n{SANDBOX_TEST_ENVIRONMENT}"
    if deploy:
        text += "    deploy:\n" + "".join(f"      {key}: {json.dumps(value)}\n" for key, value in deploy.items())
    return text


def write_json(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"), encoding="utf-8")


def write_factory(adf: Path) -> None:
    write_json(adf / "factory" / "adf-sales-dev.json", {"name": "adf-sales-dev", "location": "westeurope"})
    write_json(
        adf / "linkedService" / "LS_Lake.json",
        {
            "name": "LS_Lake",
            "properties": {
                "type": "AzureBlobFS",
                "annotations": [],
                "typeProperties": {"url": "https://lakedev.dfs.core.windows.net/", "encryptedCredential": "ZW5j"},
            },
        },
    )
    write_json(
        adf / "linkedService" / "LS_Sql.json",
        {
            "name": "LS_Sql",
            "properties": {
                "type": "AzureSqlDatabase",
                "annotations": [],
                "typeProperties": {"connectionString": "Server=sqldev;Database=sales", "encryptedCredential": "ZW5j"},
            },
        },
    )
    write_json(
        adf / "dataset" / "DS_Orders.json",
        {
            "name": "DS_Orders",
            "properties": {
                "linkedServiceName": {"referenceName": "LS_Lake", "type": "LinkedServiceReference"},
                "annotations": [],
                "type": "Binary",
                "typeProperties": {"location": {"type": "AzureBlobFSLocation", "fileSystem": "raw"}},
            },
        },
    )
    write_json(
        adf / "pipeline" / "PL_Load.json",
        {
            "name": "PL_Load",
            "properties": {
                "activities": [
                    {
                        "name": "Copy",
                        "type": "Copy",
                        "inputs": [{"referenceName": "DS_Orders", "type": "DatasetReference"}],
                        "typeProperties": {"source": {"type": "BinarySource"}, "sink": {"type": "BinarySink"}},
                    }
                ],
                "annotations": [],
            },
        },
    )
    write_json(
        adf / "trigger" / "TR_Daily.json",
        {
            "name": "TR_Daily",
            "properties": {
                "runtimeState": "Started",
                "type": "ScheduleTrigger",
                "annotations": [],
                "pipelines": [
                    {
                        "pipelineReference": {"referenceName": "PL_Load", "type": "PipelineReference"},
                        "parameters": {"batchSize": 500},
                    }
                ],
                "typeProperties": {"recurrence": {"frequency": "Day", "interval": 1}},
            },
        },
    )


def make_repo(root: Path) -> git.Repo:
    """A repository on branch main with the factory, the configuration and test's parameter file."""
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Dana Dev")
        config.set_value("user", "email", "dana@example.com")
    write_factory(root / "adf")
    (root / "portal.yaml").write_text(CONFIG, encoding="utf-8")
    write_json(
        root / "environments" / "test.parameters.json",
        {
            "$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {
                "LS_Lake_properties_typeProperties_url": {"value": "https://laketest.dfs.core.windows.net/"},
                "LS_Lake_accountKey": {"reference": {"keyVault": {"id": KV_TEST}, "secretName": "lake-key"}},
            },
        },
    )
    repo.index.add([str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts])
    repo.index.commit("data repository")
    return repo


def commit_all(root: Path, message: str = "change") -> str:
    """Commit everything in the working tree (as `git add -A`); the new commit's id."""
    repo = git.Repo(root)
    try:
        repo.git.add(A=True)
        return repo.index.commit(message).hexsha
    finally:
        repo.close()


def sandbox_repo(
    root: Path, config: str, parameters: dict[str, dict[str, object]], files: dict[str, str] | None = None
) -> Path:
    """A committed data repository (the factory, `config` as portal.yaml, parameter files per environment, other
    `files`) whose environments deploy to the sandbox in `root/.sandbox`; the sandbox's test factory exists."""
    from portal.sandbox import sandbox_for

    git.Repo.init(root, initial_branch="main").close()
    write_factory(root / "adf")
    (root / "portal.yaml").write_text(config, encoding="utf-8")
    (root / ".gitignore").write_text(".sandbox/\n")
    for environment, values in parameters.items():
        write_json(root / "environments" / f"{environment}.parameters.json", {"parameters": values})
    for path, text in (files or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    commit_all(root, "data repository")
    sandbox_for(root / ".sandbox").client(SUB_TEST).factories.create_or_update(
        "rg-test", "adf-sales-test", {"location": "westeurope"}
    )
    return root
