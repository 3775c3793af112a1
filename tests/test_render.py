"""Rendering: what each environment will receive, evaluated offline, secrets kept secret."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from portal.cli import main
from portal.environments.render import MISSING, compare, render_environment
from portal.environments.workspace import MappingWorkspace
from portal.errors import FindingsError
from tests.mapping_repo import KV_TEST, make_repo, write_json

KV_PROD = (
    KV_TEST.replace("22222222-2222-2222-2222-222222222222", "33333333-3333-3333-3333-333333333333")
    .replace("rg-test", "rg-prod")
    .replace("kv-test", "kv-prod")
)


def kv(vault: str, secret: str) -> dict:
    return {"reference": {"keyVault": {"id": vault}, "secretName": secret}}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    make_repo(root)
    write_json(
        root / "environments" / "test.parameters.json",
        {
            "parameters": {
                "LS_Lake_properties_typeProperties_url": {"value": "https://laketest.dfs.core.windows.net/"},
                "LS_Lake_accountKey": kv(KV_TEST, "lake-key"),
                "LS_Sql_connectionString": kv(KV_TEST, "sql-conn"),
                "TR_Daily_properties_PL_Load_parameters_batchSize": {"value": 2000},
            }
        },
    )
    write_json(
        root / "environments" / "prod.parameters.json",
        {
            "parameters": {
                "LS_Lake_properties_typeProperties_url": {"value": "https://lakeprod.dfs.core.windows.net/"},
                "LS_Lake_accountKey": kv(KV_PROD, "lake-key"),
                "LS_Sql_connectionString": kv(KV_PROD, "sql-conn"),
            }
        },
    )
    return root


def test_render_evaluates_names_values_and_dependencies(repo: Path) -> None:
    rendered = render_environment(MappingWorkspace.open(repo), "test")
    by_name = {r.name: r for r in rendered.resources}
    assert sorted(by_name) == [
        "adf-sales-test/DS_Orders",
        "adf-sales-test/LS_Lake",
        "adf-sales-test/LS_Sql",
        "adf-sales-test/PL_Load",
        "adf-sales-test/TR_Daily",
    ]
    lake = by_name["adf-sales-test/LS_Lake"].as_json()
    assert lake["properties"]["typeProperties"]["url"] == "https://laketest.dfs.core.windows.net/"
    assert lake["properties"]["typeProperties"]["accountKey"] == {
        "type": "SecureString",
        "value": "«secret: Key Vault kv-test / lake-key»",
    }
    assert by_name["adf-sales-test/DS_Orders"].depends_on == (
        "Microsoft.DataFactory/factories/adf-sales-test/linkedServices/LS_Lake",
    )
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
    assert url.values == {
        "test": "https://laketest.dfs.core.windows.net/",
        "prod": "https://lakeprod.dfs.core.windows.net/",
    }
    assert url.differs
    assert not rows["properties.type"].differs
    trigger = {row.path: row for row in compare(renders, "TR_Daily")}
    assert trigger["properties.pipelines[0].parameters.batchSize"].values == {"test": 2000, "prod": 500}
    assert MISSING not in url.values.values()


def test_render_refuses_an_environment_with_errors(repo: Path) -> None:
    (repo / "environments" / "prod.parameters.json").unlink()
    with pytest.raises(FindingsError) as info:
        render_environment(MappingWorkspace.open(repo), "prod")
    assert {f.where for f in info.value.findings} == {
        "environment prod → LS_Lake_accountKey",
        "environment prod → LS_Sql_connectionString",
    }


def test_render_cli_writes_resources_and_parameter_file(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rendered-test"
    assert main(["render", "test", "--out", str(out), "--repo", str(repo)]) == 0
    assert "5 resources" in capsys.readouterr().out
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert files == [
        ".portal-render.json",
        "dataset/DS_Orders.json",
        "linkedService/LS_Lake.json",
        "linkedService/LS_Sql.json",
        "parameters.json",
        "pipeline/PL_Load.json",
        "secrets-from-environment.json",
        "trigger/TR_Daily.json",
    ]
    text = "".join(p.read_text() for p in out.rglob("*.json"))
    assert "«secret: Key Vault kv-test / sql-conn»" in text
    assert main(["render", "staging", "--out", str(out), "--repo", str(repo)]) == 1
    assert "'staging'" in capsys.readouterr().err


# --- the output folder: never the repository, the user's files kept ---------------------------------------------


def tree_state(root: Path) -> dict[str, bytes]:
    """Every file below `root` (.git included) with its bytes: what must survive a refused render."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line, no traceback
    assert "nothing was written" in err or "cannot be written" in err, err
    for word in words:
        assert word in err, err
    return err


def test_render_into_the_data_repository_is_refused_and_nothing_is_lost(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / ".git" / "portal").mkdir()
    (repo / ".git" / "portal" / "audit.db").write_bytes(b"SQLite format 3\0 the trail")
    (repo / ".portal").mkdir()
    (repo / ".portal" / "audit.db").write_bytes(b"SQLite format 3\0 another trail")
    before = tree_state(repo)

    assert main(["render", "test", "--out", str(repo), "--repo", str(repo)]) == 1
    refused(capsys, str(repo.resolve()), "portal render")
    monkeypatch.chdir(repo)
    assert main(["render", "test", "--out", "."]) == 1  # inside the repository, with the defaults
    refused(capsys, str(repo.resolve()))
    assert main(["render", "test", "--out", ".portal"]) == 1  # the folder of the audit store
    refused(capsys, "audit store", "audit.db")
    assert main(["render", "test", "--out", ".git/rendered"]) == 1
    refused(capsys, ".git")
    assert main(["render", "test", "--out", str(repo.parent)]) == 1  # contains the repository
    refused(capsys, str(repo.resolve()))
    assert main(["render", "test", "--out", "adf"]) == 1  # what it reads
    refused(capsys, "it is the ADF root folder")
    assert main(["render", "test", "--out", "environments"]) == 1
    refused(capsys, "it contains the parameter file of")

    assert tree_state(repo) == before
    assert sorted(p.name for p in repo.parent.iterdir()) == ["data"]  # no temporary folder left beside it


def test_render_refuses_a_folder_holding_another_git_repository(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "clone" / ".git").mkdir(parents=True)  # a checkout somewhere below the folder
    (out / "clone" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / "worktree").mkdir()
    (out / "worktree" / ".git").write_text("gitdir: /elsewhere/.git/worktrees/x\n")  # a linked worktree: a file
    before = tree_state(out)
    assert main(["render", "test", "--out", str(out), "--repo", str(repo)]) == 1
    refused(capsys, str(out / "clone" / ".git"))
    shutil.rmtree(out / "clone")
    assert main(["render", "test", "--out", str(out), "--repo", str(repo)]) == 1
    refused(capsys, str(out / "worktree" / ".git"))
    assert tree_state(out) == {k: v for k, v in before.items() if not k.startswith("clone/")}


def test_render_to_a_file_below_a_file_or_an_unwritable_place_is_one_clear_line(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert main(["render", "test", "--out", str(afile), "--repo", str(repo)]) == 1
    refused(capsys, str(afile), "not a folder")
    assert main(["render", "test", "--out", str(afile / "out"), "--repo", str(repo)]) == 1
    refused(capsys, str(afile), "is a file")
    assert main(["render", "test", "--out", "/proc/portal-render-out", "--repo", str(repo)]) == 1
    refused(capsys, "/proc/portal-render-out")
    assert afile.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["afile", "data"]


def test_render_again_keeps_the_users_files_and_removes_only_its_own_stale_ones(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = repo / "adf" / "pipeline" / "PL_Extra.json"
    write_json(extra, {"name": "PL_Extra", "properties": {"activities": [], "annotations": []}})
    out = tmp_path / "rendered"
    assert main(["render", "test", "--out", str(out), "--repo", str(repo)]) == 0
    manifest = json.loads((out / ".portal-render.json").read_text())
    assert "pipeline/PL_Extra.json" in manifest["files"] and "parameters.json" in manifest["files"]
    (out / "README.md").write_text("my notes")
    (out / "pipeline" / "my-draft.json").write_text("{}")
    (out / "parameters.json").write_text('{"edited": true}')  # the command's own: replaced

    extra.unlink()
    assert main(["render", "test", "--out", str(out), "--repo", str(repo)]) == 0
    assert not (out / "pipeline" / "PL_Extra.json").exists()  # stale: it wrote it, the factory lost it
    assert (out / "README.md").read_text() == "my notes"
    assert (out / "pipeline" / "my-draft.json").read_text() == "{}"
    assert json.loads((out / "parameters.json").read_text())["parameters"]["factoryName"] == {"value": "adf-sales-test"}
    assert "pipeline/PL_Extra.json" not in json.loads((out / ".portal-render.json").read_text())["files"]
    capsys.readouterr()

    # A file of the user's where the render would write is never overwritten: refused, the folder as it was.
    write_json(extra, {"name": "PL_Extra", "properties": {"activities": [], "annotations": []}})
    (out / "pipeline" / "PL_Extra.json").write_text("the user's own file")
    before = tree_state(out)
    assert main(["render", "test", "--out", str(out), "--repo", str(repo)]) == 1
    refused(capsys, str(out / "pipeline" / "PL_Extra.json"), "did not write")
    assert tree_state(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "rendered"]


def test_render_into_an_existing_folder_of_the_users_keeps_everything_in_it(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "keep.txt").write_text("kept")
    (out / "notes.md").write_text("kept too")
    assert main(["render", "test", "--out", str(out), "--repo", str(repo)]) == 0
    assert (out / "sub" / "keep.txt").read_text() == "kept" and (out / "notes.md").read_text() == "kept too"
    assert (out / "pipeline" / "PL_Load.json").is_file()
