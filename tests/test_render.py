"""Rendering: what each environment will receive, evaluated offline, secrets kept secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portal.cli import main
from portal.environments.render import MISSING, compare, render_environment
from portal.environments.workspace import MappingWorkspace
from portal.errors import FindingsError
from tests.mapping_repo import KV_TEST, make_repo, write_json

KV_PROD = KV_TEST.replace("22222222-2222-2222-2222-222222222222", "33333333-3333-3333-3333-333333333333") \
    .replace("rg-test", "rg-prod").replace("kv-test", "kv-prod")


def kv(vault: str, secret: str) -> dict:
    return {"reference": {"keyVault": {"id": vault}, "secretName": secret}}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    make_repo(root)
    write_json(root / "environments" / "test.parameters.json", {"parameters": {
        "LS_Lake_properties_typeProperties_url": {"value": "https://laketest.dfs.core.windows.net/"},
        "LS_Lake_accountKey": kv(KV_TEST, "lake-key"),
        "LS_Sql_connectionString": kv(KV_TEST, "sql-conn"),
        "TR_Daily_properties_PL_Load_parameters_batchSize": {"value": 2000},
    }})
    write_json(root / "environments" / "prod.parameters.json", {"parameters": {
        "LS_Lake_properties_typeProperties_url": {"value": "https://lakeprod.dfs.core.windows.net/"},
        "LS_Lake_accountKey": kv(KV_PROD, "lake-key"),
        "LS_Sql_connectionString": kv(KV_PROD, "sql-conn"),
    }})
    return root


def test_render_evaluates_names_values_and_dependencies(repo: Path) -> None:
    rendered = render_environment(MappingWorkspace.open(repo), "test")
    by_name = {r.name: r for r in rendered.resources}
    assert sorted(by_name) == ["adf-sales-test/DS_Orders", "adf-sales-test/LS_Lake", "adf-sales-test/LS_Sql",
                               "adf-sales-test/PL_Load", "adf-sales-test/TR_Daily"]
    lake = by_name["adf-sales-test/LS_Lake"].as_json()
    assert lake["properties"]["typeProperties"]["url"] == "https://laketest.dfs.core.windows.net/"
    assert lake["properties"]["typeProperties"]["accountKey"] == {
        "type": "SecureString", "value": "«secret: Key Vault kv-test / lake-key»"}
    assert by_name["adf-sales-test/DS_Orders"].depends_on == (
        "Microsoft.DataFactory/factories/adf-sales-test/linkedServices/LS_Lake",)
    trigger = by_name["adf-sales-test/TR_Daily"].properties
    assert trigger["pipelines"][0]["parameters"]["batchSize"] == 2000
    # The deployment parameter file: the environment's values, defaults for the rest, the target's name.
    params = json.loads(rendered.parameter_file.to_json())["parameters"]
    assert params["factoryName"] == {"value": "adf-sales-test"}
    assert params["LS_Lake_accountKey"] == kv(KV_TEST, "lake-key")


def test_compare_one_object_across_environments(repo: Path) -> None:
    workspace = MappingWorkspace.open(repo)
    renders = {env: render_environment(workspace, env) for env in ("test", "prod")}
    rows = {row.path: row for row in compare(renders, "LS_Lake", "Linked service")}
    url = rows["properties.typeProperties.url"]
    assert url.values == {"test": "https://laketest.dfs.core.windows.net/",
                          "prod": "https://lakeprod.dfs.core.windows.net/"}
    assert url.differs
    assert not rows["properties.type"].differs
    trigger = {row.path: row for row in compare(renders, "TR_Daily")}
    assert trigger["properties.pipelines[0].parameters.batchSize"].values == {"test": 2000, "prod": 500}
    assert MISSING not in url.values.values()


def test_render_refuses_an_environment_with_errors(repo: Path) -> None:
    (repo / "environments" / "prod.parameters.json").unlink()
    with pytest.raises(FindingsError) as info:
        render_environment(MappingWorkspace.open(repo), "prod")
    assert {f.where for f in info.value.findings} == {"environment prod → LS_Lake_accountKey",
                                                      "environment prod → LS_Sql_connectionString"}


def test_render_cli_writes_resources_and_parameter_file(repo: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rendered-test"
    assert main(["render", "test", "--out", str(out), "--repo", str(repo)]) == 0
    assert "5 resources" in capsys.readouterr().out
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert files == ["dataset/DS_Orders.json", "linkedService/LS_Lake.json", "linkedService/LS_Sql.json",
                     "parameters.json", "pipeline/PL_Load.json", "secrets-from-environment.json",
                     "trigger/TR_Daily.json"]
    text = "".join(p.read_text() for p in out.rglob("*.json"))
    assert "«secret: Key Vault kv-test / sql-conn»" in text
    assert main(["render", "staging", "--out", str(out), "--repo", str(repo)]) == 1
    assert "'staging'" in capsys.readouterr().err
