"""The content of the demo data repository that `portal demo --path DIR` creates.

A sample factory for a fictional retail company's sales analytics ("adf-retail-dev"), in the exact JSON that ADF
Git integration writes (tab indentation, no final newline, file name = object name), with the portal's
configuration for three environments (dev, test, prod) on the embedded sandbox, their ARM deployment parameter
files, a few Databricks notebooks and a README with the commands to try.

The fixed content lives as data files in the package folder `portal/sandbox/demo/`, laid out as in the written
repository and read through `importlib.resources`:

- `adf/` is the factory (`<kind folder>/<Name>.json`, and `publish_config.json`), copied byte for byte;
- `notebooks/` are the Databricks notebook sources, copied byte for byte;
- `README.md` is a template whose `{parameterization}` says how the factory is parameterized;
- `portal.yaml` is a `str.format` template whose fields (`{subscription_id[test]}`, ...) are the per-environment
  facts below.

Only what is derived stays here: the per-environment facts of the fictional platform, the parameter files of
`environments/` (`parameter_values`), `arm-template-parameters-definition.json` (`parameter_definition`) and the
`.gitignore`. The factory JSON holds the dev values of those facts, so a change to a dev value goes in both places.

Everything is fixed text and data: the same call always writes the same files, so a demo (and its tests) can rely
on names and values.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal import git_repo
from portal.errors import ErrorCode, PortalError

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

PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#"


def resource_group(env: str) -> str:
    return f"rg-retail-{env}"


def factory_name(env: str) -> str:
    return f"adf-retail-{env}"


def key_vault_url(env: str) -> str:
    return f"https://kv-retail-{env}.vault.azure.net/"


def lake_url(env: str) -> str:
    return f"https://stretail{env}.dfs.core.windows.net/"


def storage_account_id(env: str) -> str:
    return (
        f"/subscriptions/{DEMO_SUBSCRIPTIONS[env]}/resourceGroups/{resource_group(env)}"
        f"/providers/Microsoft.Storage/storageAccounts/stretail{env}"
    )


# --- the data files --------------------------------------------------------------------------------------------------


def _data() -> Traversable:
    return resources.files("portal.sandbox") / "demo"


def _data_files(folder: str) -> dict[str, str]:
    """Every data file under `demo/<folder>`, by its path relative to `demo/`, with its text (bytes as stored)."""
    files: dict[str, str] = {}

    def walk(node: Traversable, rel: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name == "__pycache__":  # an installer may byte-compile the notebook sources
                continue
            if child.is_dir():
                walk(child, f"{rel}/{child.name}")
            else:
                files[f"{rel}/{child.name}"] = child.read_bytes().decode("utf-8")

    walk(_data() / folder, folder)
    return files


def _data_text(name: str) -> str:
    return (_data() / name).read_bytes().decode("utf-8")


def factory_documents() -> dict[str, Any]:
    """Every ADF object of the factory, by its path relative to the ADF root folder, as JSON."""
    return {
        rel.removeprefix(f"{ADF_ROOT}/"): json.loads(text)
        for rel, text in _data_files(ADF_ROOT).items()
        if rel.count("/") == 2
    }


# --- repository files around the factory ----------------------------------------------------------------------------


def portal_yaml() -> str:
    return _data_text("portal.yaml").format(
        subscription_id=DEMO_SUBSCRIPTIONS,
        resource_group={env: resource_group(env) for env in DEMO_ENVIRONMENTS},
        factory_name={env: factory_name(env) for env in DEMO_ENVIRONMENTS},
        location=LOCATION,
        sandbox=DEMO_SANDBOX_FOLDER,
        databricks_host=DATABRICKS_HOSTS,
        databricks_target_folder=DATABRICKS_TARGET_FOLDER,
    )


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


def readme() -> str:
    if parameter_definition() is None:
        rules = (
            "The factory uses ADF's default parameterization (it has no\n`arm-template-parameters-definition.json`)."
        )
    else:
        rules = (
            "`adf/arm-template-parameters-definition.json` is ADF's default parameterization with one rule "
            "added: the\nDatabricks linked service's `domain` (the workspace URL), which the default leaves "
            "fixed, so that each\nenvironment runs its notebooks in its own workspace (`portal rules list` "
            "shows the rules)."
        )
    return _data_text("README.md").replace("{parameterization}", rules)


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
    from portal.adf.rules_editor import DEFAULT_DEFINITION, Rule, RuleTarget, add_rule

    target = RuleTarget.parse("linkedService", "properties.typeProperties.domain", "*")
    return add_rule(DEFAULT_DEFINITION, Rule(target, "="))


def repository_files() -> dict[str, str]:
    """Every file of the demo repository, by its path relative to the repository, with its text."""
    files = _data_files(ADF_ROOT)  # the factory, and publish_config.json
    definition = parameter_definition()
    if definition is not None:
        from portal.adf.rules_editor import definition_text

        files[f"{ADF_ROOT}/arm-template-parameters-definition.json"] = definition_text(definition)
    files["portal.yaml"] = portal_yaml()
    for env in DEMO_ENVIRONMENTS:
        files[f"environments/{env}.parameters.json"] = parameter_file(env)
    files["README.md"] = readme()
    files.update(_data_files("notebooks"))
    files[".gitignore"] = GITIGNORE
    return files


def write_demo_repository(
    path: str | os.PathLike[str], *, author_name: str = "Portal Demo", author_email: str = "demo@portal.local"
) -> git.Repo:
    """Create the demo data repository at `path`: a new Git repository on branch main with one commit.

    Refuses a path that exists and is not an empty folder, so nothing of anyone's is overwritten.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise PortalError(
            str(target),
            "exists and is not empty; the demo needs a new or empty folder",
            hint="choose another --path, or remove the folder first",
            code=ErrorCode.DEMO_PATH,
        )
    target.mkdir(parents=True, exist_ok=True)
    repo = git_repo.init_repo(target, initial_branch="main")
    files = repository_files()
    for rel, text in files.items():
        file = target / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        # Bytes as given: ADF's JSON has no final newline and Windows line ends must not creep in.
        file.write_bytes(text.encode("utf-8"))
    git_repo.commit_paths(
        repo,
        sorted(files),
        "Demo data repository: retail sales analytics factory, environments dev, test, prod",
        author_name=author_name,
        author_email=author_email,
    )
    return repo
