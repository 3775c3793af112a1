"""Loading from folders and Git commits, the CLI, and what happens with bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import git
import pytest

from portal.adf import export_to_folder, load_factory
from portal.adf.model import Kind
from portal.cli import main
from portal.errors import FindingsError, PortalError
from tests.corpus import CORPUS, needs_corpus, source_only_entries

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"), encoding="utf-8")


def small_factory(root: Path, url: str = "https://dev.example.net/") -> None:
    write(root / "factory" / "adf-dev.json", {"name": "adf-dev", "location": "westeurope"})
    write(
        root / "linkedService" / "LS_Blob.json",
        {"name": "LS_Blob", "properties": {"type": "AzureBlobFS", "annotations": [], "typeProperties": {"url": url}}},
    )
    write(
        root / "dataset" / "DS_In.json",
        {
            "name": "DS_In",
            "properties": {
                "linkedServiceName": {"referenceName": "LS_Blob", "type": "LinkedServiceReference"},
                "annotations": [],
                "type": "Binary",
                "typeProperties": {"location": {"type": "AzureBlobFSLocation"}},
            },
        },
    )
    write(
        root / "pipeline" / "PL_Copy.json",
        {
            "name": "PL_Copy",
            "properties": {
                "activities": [
                    {
                        "name": "Copy",
                        "type": "Copy",
                        "inputs": [{"referenceName": "DS_In", "type": "DatasetReference"}],
                        "typeProperties": {"source": {"type": "BinarySource"}, "sink": {"type": "BinarySink"}},
                    }
                ],
                "annotations": [],
            },
        },
    )


def template(out: Path) -> dict:
    return json.loads((out / "ARMTemplateForFactory.json").read_text(encoding="utf-8"))


def test_export_writes_every_publish_file(tmp_path: Path) -> None:
    small_factory(tmp_path / "adf")
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "out")]) == 0
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.json"))
    assert files == [
        "ARMTemplateForFactory.json",
        "ARMTemplateParametersForFactory.json",
        "globalParameters/adf-dev_GlobalParameters.json",
        "linkedTemplates/ArmTemplateParameters_master.json",
        "linkedTemplates/ArmTemplate_0.json",
        "linkedTemplates/ArmTemplate_master.json",
    ]
    doc = template(tmp_path / "out")
    assert [r["name"] for r in doc["resources"]] == [
        "[concat(parameters('factoryName'), '/PL_Copy')]",
        "[concat(parameters('factoryName'), '/DS_In')]",
        "[concat(parameters('factoryName'), '/LS_Blob')]",
    ]
    assert doc["parameters"]["LS_Blob_properties_typeProperties_url"]["defaultValue"] == "https://dev.example.net/"
    # Publish adds the empty defaults the service returns.
    pipeline = doc["resources"][0]["properties"]
    assert pipeline["policy"] == {"elapsedTimeMetric": {}}
    assert pipeline["activities"][0]["inputs"][0]["parameters"] == {}
    assert doc["resources"][0]["dependsOn"] == ["[concat(variables('factoryId'), '/datasets/DS_In')]"]


def test_python_dash_m_runs_the_same_cli(tmp_path: Path) -> None:
    small_factory(tmp_path / "adf")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "portal", "export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 6 files" in done.stdout


def test_export_reads_the_commit_not_the_working_tree(tmp_path: Path) -> None:
    repo_dir = tmp_path / "repo"
    small_factory(repo_dir / "adf", url="https://committed.example.net/")
    repo = git.Repo.init(repo_dir)
    repo.index.add([str(p) for p in (repo_dir / "adf").rglob("*.json")])
    first = repo.index.commit("factory as committed")
    # Change the working tree after the commit, and remove a file: neither may show up.
    small_factory(repo_dir / "adf", url="https://uncommitted.example.net/")
    (repo_dir / "adf" / "pipeline" / "PL_Copy.json").unlink()

    out = tmp_path / "out"
    assert main(["export-arm", str(repo_dir / "adf"), "--out", str(out), "--ref", first.hexsha[:8]]) == 0
    doc = template(out)
    assert (
        doc["parameters"]["LS_Blob_properties_typeProperties_url"]["defaultValue"] == "https://committed.example.net/"
    )
    assert len(doc["resources"]) == 3

    # The ADF root folder may also be given as ADF's Git configuration has it.
    factory = load_factory(repo_dir, "HEAD", root_folder="/adf")
    assert {o.name for o in factory.of_kind(Kind.PIPELINE)} == {"PL_Copy"}


def test_bad_ref_names_the_ref(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_factory(tmp_path / "adf")
    git.Repo.init(tmp_path)
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "out"), "--ref", "no-such"]) == 1
    assert "'no-such'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ref_outside_git_is_refused(tmp_path: Path) -> None:
    small_factory(tmp_path / "adf")
    with pytest.raises(PortalError, match="not inside a Git repository"):
        load_factory(tmp_path / "adf", "main")


def test_invalid_json_names_file_line_and_column_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_factory(tmp_path / "adf")
    (tmp_path / "adf" / "dataset" / "DS_In.json").write_text('{\n  "name": "DS_In",\n  "properties": {,}\n}')
    out = tmp_path / "out"
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(out)]) == 1
    assert "dataset/DS_In.json:3:18" in capsys.readouterr().err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["adf"]  # no temporary folder left behind


def test_failed_export_leaves_the_previous_output_untouched(tmp_path: Path) -> None:
    small_factory(tmp_path / "adf")
    out = tmp_path / "out"
    export_to_folder(tmp_path / "adf", out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    write(
        tmp_path / "adf" / "arm-template-parameters-definition.json",
        {
            "Microsoft.DataFactory/factories/linkedServices": {
                "*": {"properties": {"typeProperties": {"url": "=::float"}}}
            }
        },
    )
    with pytest.raises(PortalError, match="unknown parameter type 'float'"):
        export_to_folder(tmp_path / "adf", out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adf", "out"]


def test_rerun_replaces_stale_linked_templates_and_keeps_foreign_files(tmp_path: Path) -> None:
    adf = tmp_path / "adf"
    small_factory(adf)
    for index in range(30):
        write(adf / "pipeline" / f"PL_{index:02}.json", {"name": f"PL_{index:02}", "properties": {"activities": []}})
    out = tmp_path / "out"
    export_to_folder(adf, out)
    assert (out / "linkedTemplates" / "ArmTemplate_1.json").exists()
    (out / "README.md").write_text("kept")
    shutil.rmtree(adf / "pipeline")
    export_to_folder(adf, out)
    assert not (out / "linkedTemplates" / "ArmTemplate_1.json").exists()
    assert (out / "README.md").read_text() == "kept"


def test_several_factory_files_choose_and_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_factory(tmp_path / "adf")
    write(tmp_path / "adf" / "factory" / "adf-prod.json", {"name": "adf-prod", "location": "westeurope"})
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "out")]) == 0
    assert "exporting for 'adf-dev'" in capsys.readouterr().err
    assert template(tmp_path / "out")["parameters"]["factoryName"]["defaultValue"] == "adf-dev"
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "o2"), "--factory-name", "adf-prod"]) == 0
    assert template(tmp_path / "o2")["parameters"]["factoryName"]["defaultValue"] == "adf-prod"


def test_no_factory_file_needs_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_factory(tmp_path / "adf")
    shutil.rmtree(tmp_path / "adf" / "factory")
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "out")]) == 1
    assert "--factory-name" in capsys.readouterr().err
    with pytest.raises(FindingsError):
        load_factory(tmp_path / "adf")


def test_a_value_that_is_no_rule_is_reported_and_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_factory(tmp_path / "adf")
    write(
        tmp_path / "adf" / "arm-template-parameters-definition.json",
        {
            "Microsoft.DataFactory/factories/linkedServices": {
                "*": {"properties": {"type": "AzureBlobFS", "typeProperties": {"url": "=:-endpoint"}}}
            }
        },
    )
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "'AzureBlobFS' is not a parameterization rule" in err and "properties.type" in err
    assert list(template(tmp_path / "out")["parameters"]) == ["factoryName", "LS_Blob_endpoint"]


def test_strings_starting_with_a_bracket_are_escaped(tmp_path: Path) -> None:
    small_factory(tmp_path / "adf")
    write(
        tmp_path / "adf" / "pipeline" / "PL_B.json",
        {"name": "PL_B", "properties": {"description": "[not an expression]", "activities": [], "annotations": ["[x"]}},
    )
    export_to_folder(tmp_path / "adf", tmp_path / "out")
    resource = next(r for r in template(tmp_path / "out")["resources"] if "PL_B" in r["name"])
    assert resource["properties"]["description"] == "[[not an expression]"
    assert resource["properties"]["annotations"] == ["[[x"]


def test_secrets_never_reach_the_output(tmp_path: Path) -> None:
    small_factory(tmp_path / "adf")
    write(
        tmp_path / "adf" / "linkedService" / "LS_Sql.json",
        {
            "name": "LS_Sql",
            "properties": {
                "type": "AzureSqlDatabase",
                "typeProperties": {
                    "connectionString": "Server=s;Password=Sup3rS3cret",
                    "encryptedCredential": "ZW5jcnlwdGVk",
                },
            },
        },
    )
    result = export_to_folder(tmp_path / "adf", tmp_path / "out")
    text = "".join(result.export.files().values())
    assert "Sup3rS3cret" not in text and "ZW5jcnlwdGVk" not in text
    params = template(tmp_path / "out")["parameters"]
    assert params["LS_Sql_connectionString"] == {
        "type": "secureString",
        "metadata": "Secure string for 'connectionString' of 'LS_Sql'",
    }


@needs_corpus
@pytest.mark.parametrize("entry", source_only_entries(), ids=lambda e: e.name)
def test_source_only_factories_export(entry, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # A factory without a factory file in Git is named on the command line.
    name = None if (entry.source / "factory").is_dir() else entry.name.split("__")[-1]
    result = export_to_folder(entry.source, out, factory_name=name)
    doc = template(out)
    triggers = [r for r in doc["resources"] if r["type"].endswith("/triggers")]
    assert len(triggers) == len(list((entry.source / "trigger").glob("*.json"))) > 100
    # Every resource is in exactly one linked template, none bigger than 20.
    linked = [
        json.loads(t)
        for n, t in result.export.files().items()
        if n.startswith("linkedTemplates/ArmTemplate_") and "master" not in n
    ]
    assert sum(len(t["resources"]) for t in linked) == len(doc["resources"])
    assert max(len(t["resources"]) for t in linked) <= 20


@needs_corpus
def test_source_only_corpus_is_present() -> None:
    assert len(source_only_entries()) == 2, f"expected two factories in {CORPUS / '_source_only'}"


def test_private_endpoints_global_parameters_and_factory_resource(tmp_path: Path) -> None:
    """Shapes confirmed in real Publish output: endpoints below `default`, the global parameters resource and
    the factory resource with its literal `dataFactory` parameter prefix."""
    adf = tmp_path / "adf"
    small_factory(adf)
    write(
        adf / "factory" / "adf-dev.json",
        {
            "name": "adf-dev",
            "location": "westeurope",
            "properties": {"globalParameters": {"env": {"type": "String", "value": "dev"}}},
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
        },
    )
    write(
        adf / "publish_config.json",
        {"publishBranch": "adf_publish", "includeFactoryTemplate": True, "includeGlobalParamsTemplate": True},
    )
    write(adf / "managedVirtualNetwork" / "default.json", {"name": "default"})
    write(
        adf / "managedVirtualNetwork" / "default" / "managedPrivateEndpoint" / "mpe_lake.json",
        {
            "name": "mpe_lake",
            "properties": {
                "privateLinkResourceId": "/subscriptions/s/storageAccounts/lake",
                "groupId": "dfs",
                "fqdns": ["lake.dfs.core.windows.net"],
            },
        },
    )
    result = export_to_folder(adf, tmp_path / "out")
    doc = template(tmp_path / "out")
    by_type = {r["type"]: r for r in doc["resources"]}
    endpoint = by_type["Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints"]
    assert endpoint["name"] == "[concat(parameters('factoryName'), '/default/mpe_lake')]"
    assert endpoint["dependsOn"] == [
        "[variables('factoryId')]",
        "[concat(variables('factoryId'), '/managedVirtualNetworks/default')]",
    ]
    assert doc["parameters"]["mpe_lake_properties_fqdns"] == {
        "type": "array",
        "defaultValue": ["lake.dfs.core.windows.net"],
    }
    assert by_type["Microsoft.DataFactory/factories/managedVirtualNetworks"]["properties"] == {}
    gp = by_type["Microsoft.DataFactory/factories/globalparameters"]
    assert gp["name"] == "[concat(parameters('factoryName'), '/default')]"
    assert gp["properties"]["env"]["value"] == "[parameters('default_properties_env_value')]"
    factory = by_type["Microsoft.DataFactory/factories"]
    assert factory["name"] == "[parameters('factoryName')]"
    assert factory["identity"] == {"type": "[parameters('dataFactory_identity_type')]"}
    assert factory["location"] == "[parameters('dataFactory_location')]"
    assert "dataFactory_properties_globalParameters_env_value" in doc["parameters"]
    # The factory resource comes last in the template and first in the linked templates.
    assert doc["resources"][-2]["type"] == "Microsoft.DataFactory/factories"
    linked = json.loads(result.export.files()["linkedTemplates/ArmTemplate_0.json"])
    assert linked["resources"][0]["type"] == "Microsoft.DataFactory/factories"
    assert all("[variables('factoryId')]" not in r["dependsOn"] for r in linked["resources"])
    gp_file = json.loads((tmp_path / "out" / "globalParameters" / "adf-dev_GlobalParameters.json").read_text())
    assert gp_file == {"env": {"type": "String", "value": "dev"}}


def test_export_refuses_an_inconsistent_factory_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_factory(tmp_path / "adf")
    (tmp_path / "adf" / "linkedService" / "LS_Blob.json").unlink()
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "[DANGLING_REFERENCE]" in err and "dataset/DS_In.json" in err and "LS_Blob" in err
    assert not (tmp_path / "out").exists()


def test_export_reports_arm_limits_as_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_factory(tmp_path / "adf")
    for index in range(260):
        write(
            tmp_path / "adf" / "linkedService" / f"LS_{index:03}.json",
            {
                "name": f"LS_{index:03}",
                "properties": {
                    "type": "AzureKeyVault",
                    "typeProperties": {"baseUrl": f"https://kv{index}.vault.azure.net/"},
                },
            },
        )
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "warning: ARMTemplateForFactory.json: the template has 262 parameters" in captured.err
    assert len(template(tmp_path / "out")["parameters"]) == 262


# --- the output folder -------------------------------------------------------------------------------------------


def files_below(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err  # no traceback
    for word in words:
        assert word in err, err
    return err


def test_export_into_the_repository_or_its_source_is_refused_and_nothing_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo_dir = tmp_path / "repo"
    small_factory(repo_dir / "adf")
    repo = git.Repo.init(repo_dir)
    repo.index.add([str(p) for p in (repo_dir / "adf").rglob("*.json")])
    repo.index.commit("factory")
    (repo_dir / ".portal").mkdir()
    (repo_dir / ".portal" / "audit.db").write_bytes(b"SQLite format 3\0 trail")
    before = files_below(repo_dir)

    for out in (repo_dir, repo_dir / "adf", repo_dir / ".portal", repo_dir / ".git" / "arm", tmp_path):
        assert main(["export-arm", str(repo_dir / "adf"), "--out", str(out)]) == 1, out
        one_line_error(capsys, "nothing was written", "portal export-arm")
    assert main(["export-arm", str(repo_dir), "--root-folder", "/adf", "--ref", "HEAD", "--out", str(repo_dir)]) == 1
    one_line_error(capsys, "the folder the export reads")
    monkeypatch.chdir(repo_dir)
    assert main(["export-arm", "adf", "--out", "."]) == 1
    one_line_error(capsys, str(repo_dir.resolve()))
    assert files_below(repo_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def test_export_refuses_its_own_source_folder_outside_git(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    adf = tmp_path / "adf"
    small_factory(adf)
    before = files_below(adf)
    assert main(["export-arm", str(adf), "--out", str(adf)]) == 1
    one_line_error(capsys, "it is the folder the export reads")
    assert main(["export-arm", str(tmp_path), "--root-folder", "adf", "--out", str(tmp_path)]) == 1
    one_line_error(capsys, "the folder the export reads")
    assert files_below(adf) == before and sorted(p.name for p in tmp_path.iterdir()) == ["adf"]


def test_export_to_a_file_or_below_one_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_factory(tmp_path / "adf")
    (tmp_path / "afile").write_text("mine")
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "afile")]) == 1
    one_line_error(capsys, "not a folder")
    assert main(["export-arm", str(tmp_path / "adf"), "--out", str(tmp_path / "afile" / "out")]) == 1
    one_line_error(capsys, "is a file")
    assert main(["export-arm", str(tmp_path / "adf"), "--out", "/proc/portal-export-out"]) == 1
    one_line_error(capsys, "/proc/portal-export-out", "cannot be written")
    assert (tmp_path / "afile").read_text() == "mine"


# --- JSON nested without end --------------------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "path",
    ["pipeline/PL_Deep.json", "arm-template-parameters-definition.json", "factory/adf-dev.json", "publish_config.json"],
)
def test_json_nested_thousands_of_levels_names_the_file_in_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    adf = tmp_path / "adf"
    small_factory(adf)
    (adf / path).write_text('{"name": "PL_Deep", "properties": {"deep": ' + nested(100_000) + "}}")
    message = f"error: {path}: is nested deeper than 100 levels"
    assert main(["validate", str(adf)]) == 1
    assert message in capsys.readouterr().err
    assert main(["export-arm", str(adf), "--out", str(tmp_path / "out")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    repo = git.Repo.init(tmp_path)  # the same at a commit
    repo.index.add([str(p) for p in adf.rglob("*.json")])
    repo.index.commit("deep")
    assert main(["validate", str(adf), "--ref", "HEAD"]) == 1
    assert message in capsys.readouterr().err


def test_nesting_is_refused_above_the_limit_and_exported_below_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    adf = tmp_path / "adf"
    small_factory(adf)
    pipeline = adf / "pipeline" / "PL_Deep.json"

    def deep_default(depth: int) -> None:  # the file's own 5 levels, then the parameter's default
        pipeline.write_text(
            '{"name": "PL_Deep", "properties": {"activities": [], "parameters": {"p": '
            '{"type": "array", "defaultValue": ' + nested(depth) + "}}}}"
        )

    deep_default(150)  # json.loads reads this; the portal's own walkers are what the limit protects
    assert main(["validate", str(adf)]) == 1
    assert "pipeline/PL_Deep.json: is nested deeper than 100 levels" in capsys.readouterr().err
    deep_default(95)  # 100 levels in all: validated, exported and rendered values walk all of it
    assert main(["validate", str(adf)]) == 0
    assert main(["export-arm", str(adf), "--out", str(tmp_path / "out")]) == 0
    resource = next(r for r in template(tmp_path / "out")["resources"] if "PL_Deep" in r["name"])
    assert json.dumps(resource["properties"]["parameters"]["p"]["defaultValue"]) == nested(95)


# --- one rule for the folder and the commit: links and names without an object name ---------------------------


def commit_everything(root: Path) -> git.Repo:
    repo = git.Repo.init(root)
    repo.git.add(A=True)  # links are committed as links (mode 120000, the target as content)
    repo.index.commit("as it is")
    return repo


def both_views(repo_dir: Path) -> tuple[list[str], list[str]]:
    """The findings of `portal validate` on the working tree and on the commit of the same content."""
    from portal.adf.validation import validate_source

    tree = [str(f) for f in validate_source(repo_dir / "adf").findings]
    commit = [str(f) for f in validate_source(repo_dir / "adf", ref="HEAD").findings]
    return tree, commit


def test_symbolic_links_in_the_factory_are_refused_alike_in_the_folder_and_at_a_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    write(outside / "PL_Secret.json", {"name": "PL_Secret", "properties": {"activities": []}})
    (outside / "more").mkdir()
    write(outside / "more" / "DS_Far.json", {"name": "DS_Far", "properties": {"type": "Binary"}})
    repo_dir = tmp_path / "repo"
    small_factory(repo_dir / "adf")
    (repo_dir / "adf" / "pipeline" / "PL_Secret.json").symlink_to(outside / "PL_Secret.json")
    (repo_dir / "adf" / "linkedService" / "more").symlink_to(outside / "more", target_is_directory=True)
    (repo_dir / "adf" / "publish_config.json").symlink_to("../../outside/PL_Secret.json")
    commit_everything(repo_dir)

    tree, commit = both_views(repo_dir)
    assert tree == commit
    link = f"is a symbolic link (to {str(outside / 'PL_Secret.json')!r})"
    assert f"error: pipeline/PL_Secret.json: {link}" in "\n".join(tree)
    assert "error: publish_config.json: is a symbolic link (to '../../outside/PL_Secret.json')" in "\n".join(tree)
    assert any(t.startswith("warning: linkedService/more: is a symbolic link") for t in tree)
    for args in ([], ["--ref", "HEAD"]):
        assert main(["export-arm", str(repo_dir / "adf"), "--out", str(tmp_path / "out"), *args]) == 1
        err = capsys.readouterr().err
        assert "pipeline/PL_Secret.json" in err and "PL_Secret" not in template_names(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def template_names(out: Path) -> str:
    return "" if not out.exists() else " ".join(r["name"] for r in template(out)["resources"])


def test_a_linked_adf_root_folder_is_refused_in_both_views(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_factory(tmp_path / "elsewhere")
    repo_dir = tmp_path / "repo"
    repo_dir.mkdir()
    (repo_dir / "adf").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    commit_everything(repo_dir)
    for args in ([], ["--ref", "HEAD"]):
        assert main(["validate", str(repo_dir), "--root-folder", "/adf", *args]) == 1
        assert "adf: is a symbolic link" in capsys.readouterr().err


def test_files_without_an_object_name_are_reported_alike_in_the_folder_and_at_a_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo_dir = tmp_path / "repo"
    adf = repo_dir / "adf"
    small_factory(adf)
    object_body = {"name": "PL_Dots", "properties": {"activities": []}}
    for name in ("...json", ".json", "..json"):
        write(adf / "pipeline" / name, object_body)
    write(adf / "...json", {"anything": True})  # at the top ADF reads only its two settings files
    write(adf / "pipeline" / ".PL_Hidden.json", {"name": ".PL_Hidden", "properties": {"activities": []}})
    commit_everything(repo_dir)

    tree, commit = both_views(repo_dir)
    assert tree == commit
    text = "\n".join(tree)
    assert "error: pipeline/...json: gives the object name '..', which ADF refuses" in text
    assert "error: pipeline/.json: gives the object name ''" in text
    assert "error: pipeline/..json: gives the object name '.'" in text
    assert "warning: ...json: has no object name before .json; ADF ignores it" in text
    assert "pipeline/.PL_Hidden.json" in text  # a hidden file is read in both views, and its name checked
    for args in ([], ["--ref", "HEAD"]):
        assert main(["validate", str(adf), *args]) == 1
        assert "pipeline/...json" in capsys.readouterr().err
