"""Notebooks promoted with the factory: through the real databricks-sdk client against the sandbox's workspace."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import git
import pytest
from databricks.sdk.errors import NotFound
from databricks.sdk.service.workspace import ImportFormat, Language

from portal.cli import main
from portal.deploy.apply import ApplyFailed
from portal.deploy.service import apply_environment, plan_environment
from portal.environments.workspace import MappingWorkspace
from portal.errors import FindingsError, PortalError
from portal.events import EventLog
from portal.sandbox import FaultRule, Faults, sandbox_for
from tests.mapping_repo import (
    KV_TEST,
    SANDBOX_TEST_ENVIRONMENT,
    commit_all,
    sandbox_repo,
    write_json,
)

HOST = "https://adb-4444444444444444.4.azuredatabricks.net"
TARGET = "/Shared/sales"
CONFIG = f"""\
version: 1
adf:
  root_folder: adf
databricks:
  source_folder: notebooks
environments:
{SANDBOX_TEST_ENVIRONMENT}\
    databricks:
      host: {HOST}
      target_folder: {TARGET}
      auth: sandbox
      sandbox: .sandbox
"""

NOTEBOOKS = {
    "notebooks/load.py": "# Databricks notebook source\nprint('load')\n\n# COMMAND ----------\n\nprint('done')\n",
    "notebooks/report.sql": "-- Databricks notebook source\nSELECT 1;\n",
    "notebooks/jobs/compact.scala": '// Databricks notebook source\nspark.sql("OPTIMIZE t")\n',
    "notebooks/jobs/cleanup.py": "# Databricks notebook source\nprint('cleanup')\n",
    "notebooks/config/settings.yml": "retention_days: 30\n",
}


def kv(secret: str) -> dict:
    return {"reference": {"keyVault": {"id": KV_TEST}, "secretName": secret}}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = sandbox_repo(
        tmp_path / "data",
        CONFIG,
        {"test": {"LS_Lake_accountKey": kv("lake-key"), "LS_Sql_connectionString": kv("sql-conn")}},
        NOTEBOOKS,
    )
    yield root
    sandbox_for(root / ".sandbox").faults = Faults()


def promote(repo: Path, log: EventLog | None = None):
    workspace = MappingWorkspace.open(repo)
    planned = plan_environment(workspace, "test")
    return planned.plan, apply_environment(workspace, "test", planned.plan, sink=log or EventLog(), planned=planned)


def plan(repo: Path):
    return plan_environment(MappingWorkspace.open(repo), "test").plan


def workspace_client(repo: Path):
    return sandbox_for(repo / ".sandbox").workspace_client(HOST)


def edit_by_hand(repo: Path, path: str, source: str, language: Language) -> None:
    """What a person does in the workspace UI: save a notebook's source over the deployed one."""
    workspace_client(repo).workspace.import_(
        path,
        content=base64.b64encode(source.encode()).decode(),
        format=ImportFormat.SOURCE,
        language=language,
        overwrite=True,
    )


def calls(repo: Path):
    return sandbox_for(repo / ".sandbox").stats.workspace(HOST)


def exported(repo: Path, path: str) -> str:
    return base64.b64decode(workspace_client(repo).workspace.export(path).content).decode()


def test_first_promotion_creates_folders_notebooks_and_the_manifest(repo: Path) -> None:
    first = plan(repo).notebooks
    assert first is not None and first.counts() == {"create": 5, "update": 0, "delete": 0, "unchanged": 0, "drift": 0}
    assert first.folders_to_create == (f"{TARGET}/config", f"{TARGET}/jobs")
    _, report = promote(repo)
    assert report.ok and sorted(report.notebooks.imported) == sorted(c.path for c in first.changes)
    client = workspace_client(repo)
    kinds = {
        o.path: (o.object_type.value, o.language.value if o.language else None)
        for o in client.workspace.list(TARGET, recursive=True)
    }
    assert kinds[f"{TARGET}/load"] == ("NOTEBOOK", "PYTHON")
    assert kinds[f"{TARGET}/report"] == ("NOTEBOOK", "SQL")
    assert kinds[f"{TARGET}/jobs/compact"] == ("NOTEBOOK", "SCALA")
    assert kinds[f"{TARGET}/config/settings.yml"] == ("FILE", None)
    assert "print('done')" in exported(repo, f"{TARGET}/load")
    manifest = json.loads(exported(repo, f"{TARGET}/.portal-manifest.json"))
    assert sorted(manifest["objects"]) == ["config/settings.yml", "jobs/cleanup", "jobs/compact", "load", "report"]
    assert manifest["environment"] == "test" and manifest["sourceCommit"] == git.Repo(repo).head.commit.hexsha


def test_an_unchanged_folder_plans_empty_twice_in_a_row_after_a_promotion(repo: Path) -> None:
    promote(repo)
    server = sandbox_for(repo / ".sandbox")
    for _ in range(2):  # exporting to check never asks for a manifest rewrite by itself
        server.stats.reset()
        again = plan(repo)
        assert not again.has_changes and again.notebooks.unchanged == 5 and not again.notebooks.write_manifest
        counts = calls(repo)
        # The manifest, the four notebooks (they have no documented modified_at, so only their content can tell),
        # and one listing per folder (target, config, jobs); the file is vouched for by its modified_at.
        assert counts.calls("GET", "/api/2.0/workspace/export") == 1 + 4
        assert counts.calls("GET", "/api/2.0/workspace/list") == 3
        assert counts.writes == 0


def test_a_hand_edit_of_a_notebook_is_drift_without_a_modified_at(repo: Path) -> None:
    promote(repo)
    client = workspace_client(repo)
    edit_by_hand(
        repo, f"{TARGET}/jobs/cleanup", "# Databricks notebook source\nprint('edited by hand')\n", Language.PYTHON
    )
    listed = {o.path: o for o in client.workspace.list(f"{TARGET}/jobs")}
    assert listed[f"{TARGET}/jobs/cleanup"].modified_at is None  # as the API documents: nothing to go by
    shown = plan(repo).notebooks
    assert [(c.path, c.action, c.drift) for c in shown.changes] == [(f"{TARGET}/jobs/cleanup", "update", True)]
    # So is a hand edit of a notebook Git no longer has: its pruning is shown as the loss of that edit.
    (repo / "notebooks/jobs/cleanup.py").unlink()
    commit_all(repo, "retire cleanup")
    shown = plan(repo).notebooks
    assert [(c.path, c.action, c.drift) for c in shown.changes] == [(f"{TARGET}/jobs/cleanup", "delete", True)]
    assert "edited in the workspace" in shown.changes[0].reason
    promote(repo)
    assert not plan(repo).has_changes


def test_a_target_folder_with_the_workspace_prefix_plans_the_same(repo: Path) -> None:
    promote(repo)
    config = repo / "portal.yaml"
    config.write_text(config.read_text().replace(f"target_folder: {TARGET}", f"target_folder: /Workspace{TARGET}"))
    commit_all(repo, "the target folder with its /Workspace prefix")
    sandbox_for(repo / ".sandbox").stats.reset()
    shown = plan(repo).notebooks
    assert shown.target_folder == TARGET and not shown.has_changes and shown.unchanged == 5
    assert shown.left_alone == () and shown.folders_to_create == () and shown.folders_to_delete == ()
    assert calls(repo).writes == 0
    # A change in Git goes to the one object, whichever form the folder is configured in.
    (repo / "notebooks/report.sql").write_text("-- Databricks notebook source\nSELECT 2;\n")
    commit_all(repo, "report v2")
    shown, report = promote(repo)
    assert [(c.path, c.action) for c in shown.notebooks.changes] == [(f"{TARGET}/report", "update")]
    assert report.notebooks.imported == [f"{TARGET}/report"]
    assert "SELECT 2;" in exported(repo, f"{TARGET}/report")
    assert "SELECT 2;" in exported(repo, f"/Workspace{TARGET}/report")
    assert not plan(repo).has_changes
    # And back without the prefix: still nothing to do.
    config.write_text(config.read_text().replace(f"target_folder: /Workspace{TARGET}", f"target_folder: {TARGET}"))
    commit_all(repo, "the target folder without its prefix")
    assert not plan(repo).has_changes


def test_listings_that_answer_with_the_workspace_prefix_plan_the_same(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service has been recorded answering paths in the /Workspace form; the sandbox never does, so this
    # test rewrites the SDK's list answers into that form.
    promote(repo)
    from databricks.sdk.mixins.workspace import WorkspaceExt

    original = WorkspaceExt.list

    def prefixed(self, path, **kwargs):
        return [dataclasses.replace(o, path="/Workspace" + o.path) for o in original(self, path, **kwargs)]

    monkeypatch.setattr(WorkspaceExt, "list", prefixed)
    assert all(o.path.startswith("/Workspace/") for o in workspace_client(repo).workspace.list(TARGET))
    shown = plan(repo).notebooks
    assert not shown.has_changes and shown.unchanged == 5 and shown.left_alone == ()
    edit_by_hand(repo, f"{TARGET}/report", "-- Databricks notebook source\nSELECT 'edited by hand';\n", Language.SQL)
    assert [(c.path, c.drift) for c in plan(repo).notebooks.changes] == [(f"{TARGET}/report", True)]


def test_a_change_in_git_imports_only_that_notebook(repo: Path) -> None:
    promote(repo)
    (repo / "notebooks/report.sql").write_text("-- Databricks notebook source\nSELECT 2;\n")
    commit_all(repo, "report v2")
    sandbox_for(repo / ".sandbox").stats.reset()
    shown, report = promote(repo)
    assert [(c.path, c.action, c.reason) for c in shown.notebooks.changes] == [
        (f"{TARGET}/report", "update", "changed in Git")
    ]
    assert report.notebooks.imported == [f"{TARGET}/report"] and report.notebooks.manifest_written
    assert calls(repo).calls("POST", "/api/2.0/workspace/import") == 2  # the notebook and the manifest
    assert "SELECT 2;" in exported(repo, f"{TARGET}/report")
    assert not plan(repo).has_changes


def test_removed_notebooks_are_pruned_and_hand_made_ones_left_alone(repo: Path) -> None:
    promote(repo)
    client = workspace_client(repo)
    client.workspace.import_(
        f"{TARGET}/jobs/scratch",
        content=base64.b64encode(b"print('mine')").decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
    )
    client.workspace.mkdirs(f"{TARGET}/personal")
    for path in ("notebooks/load.py", "notebooks/config/settings.yml"):
        (repo / path).unlink()
    commit_all(repo, "retire load and settings")
    shown = plan(repo).notebooks
    assert sorted((c.path, c.action) for c in shown.changes) == [
        (f"{TARGET}/config/settings.yml", "delete"),
        (f"{TARGET}/load", "delete"),
    ]
    assert shown.folders_to_delete == (f"{TARGET}/config",)  # the portal made it and Git no longer needs it
    assert shown.left_alone == (f"{TARGET}/jobs/scratch",)
    _, report = promote(repo)
    assert sorted(report.notebooks.deleted) == [f"{TARGET}/config/settings.yml", f"{TARGET}/load"]
    left = {o.path for o in client.workspace.list(TARGET, recursive=True)}
    assert f"{TARGET}/jobs/scratch" in left and f"{TARGET}/load" not in left
    assert client.workspace.get_status(f"{TARGET}/personal").object_type.value == "DIRECTORY"
    with pytest.raises(NotFound):
        client.workspace.get_status(f"{TARGET}/config")
    assert not plan(repo).has_changes


def test_drift_is_shown_and_git_wins(repo: Path) -> None:
    promote(repo)
    edit_by_hand(repo, f"{TARGET}/report", "-- Databricks notebook source\nSELECT 'edited by hand';\n", Language.SQL)
    # Opened and saved without a change: modified, but not drift.
    edit_by_hand(repo, f"{TARGET}/load", NOTEBOOKS["notebooks/load.py"], Language.PYTHON)
    shown = plan(repo).notebooks
    assert [(c.path, c.drift) for c in shown.changes] == [(f"{TARGET}/report", True)]
    assert "edited in the workspace" in shown.changes[0].reason and shown.counts()["drift"] == 1
    promote(repo)
    assert "SELECT 1;" in exported(repo, f"{TARGET}/report")
    assert not plan(repo).has_changes


def test_a_throttling_storm_is_waited_out(repo: Path) -> None:
    server = sandbox_for(repo / ".sandbox")
    server.faults = Faults(
        rules=[FaultRule(method="POST", path_contains="/workspace/import", status=429, times=2, retry_after_ms=100)]
    )
    _, report = promote(repo)
    assert report.ok and len(report.notebooks.imported) == 5
    assert calls(repo).faults_injected >= 2
    server.faults = Faults()
    assert not plan(repo).has_changes


def test_a_failure_midway_is_named_and_a_rerun_converges(repo: Path) -> None:
    promote(repo)
    for path in ("notebooks/load.py", "notebooks/report.sql", "notebooks/jobs/cleanup.py"):
        (repo / path).write_text((repo / path).read_text() + "\n# COMMAND ----------\n\n-- v2\n")
    commit_all(repo, "three notebooks change")
    server = sandbox_for(repo / ".sandbox")
    # A 500 is not retried by the SDK: the first import fails for good, the others go through.
    server.faults = Faults(rules=[FaultRule(method="POST", path_contains="/workspace/import", status=500)])
    with pytest.raises(ApplyFailed) as failed:
        promote(repo)
    server.faults = Faults()
    assert failed.value.where.startswith(f"notebook {TARGET}/")
    report = failed.value.report
    assert len(report.notebooks.imported) == 2 and not report.notebooks.manifest_written
    assert report.deployed == []  # the factory is not touched after a notebook failure
    retry = plan(repo).notebooks
    # What went through is recognised by its content; only the failed one is imported again.
    assert [c.path for c in retry.changes] == [failed.value.where.removeprefix("notebook ")]
    assert retry.write_manifest
    promote(repo)
    assert not plan(repo).has_changes


def test_bad_notebook_input_deploys_nothing(repo: Path) -> None:
    (repo / "notebooks/broken.py").write_bytes(b"# Databricks notebook source\nprint('\xff')\n")
    commit_all(repo, "not UTF-8")
    with pytest.raises(FindingsError) as refused:
        plan(repo)
    assert "notebooks/broken.py" in str(refused.value)
    assert calls(repo).total == 0  # refused before any workspace call


def test_a_target_folder_outside_the_allowed_roots_is_refused(repo: Path) -> None:
    config = repo / "portal.yaml"
    config.write_text(config.read_text().replace(f"target_folder: {TARGET}", "target_folder: /Repos/sales"))
    commit_all(repo, "target in Repos")
    with pytest.raises((FindingsError, PortalError)) as refused:
        plan(repo)
    text = str(refused.value)
    assert "databricks.target_folder" in text and "/Repos/sales" in text


def test_plan_cli_shows_the_notebooks(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "test", "--repo", str(repo)]) == 2
    out = capsys.readouterr().out
    assert f"+ notebook {TARGET}/load ← notebooks/load.py (new)" in out
    assert "5 to create, 0 to update, 0 to prune" in out
    assert main(["promote", "test", "--repo", str(repo), "--yes"]) == 0
    assert "5 notebooks imported" in capsys.readouterr().out
    assert main(["plan", "test", "--repo", str(repo), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["notebooks"]["counts"]["unchanged"] == 5


def test_a_databricks_linked_service_left_on_another_workspace_is_pointed_out(repo: Path) -> None:
    def linked_service(domain: str) -> None:
        write_json(
            repo / "adf" / "linkedService" / "LS_Dbx.json",
            {
                "name": "LS_Dbx",
                "properties": {
                    "type": "AzureDatabricks",
                    "annotations": [],
                    "typeProperties": {"domain": domain, "existingClusterId": "0101-000000-abc"},
                },
            },
        )
        commit_all(repo, f"Databricks at {domain}")

    linked_service("https://adb-1111111111111111.1.azuredatabricks.net")  # dev's workspace, not parameterized
    notes = plan(repo).notes
    assert any(
        "LS_Dbx points at https://adb-1111111111111111.1.azuredatabricks.net" in n and HOST in n for n in notes
    ), notes
    linked_service(HOST)
    assert not [n for n in plan(repo).notes if "LS_Dbx" in n]


def test_saves_without_a_change_are_not_drift_and_a_saved_file_is_checked_once(repo: Path) -> None:
    promote(repo)
    client = workspace_client(repo)
    server = sandbox_for(repo / ".sandbox")
    # Notebooks opened and saved without a change: not drift, and nothing to record (they are exported on every
    # plan anyway, having no documented modified_at).
    for path, language in (("load", Language.PYTHON), ("report", Language.SQL)):
        source = NOTEBOOKS[f"notebooks/{path}.{'py' if language == Language.PYTHON else 'sql'}"]
        edit_by_hand(repo, f"{TARGET}/{path}", source, language)
    assert not plan(repo).has_changes
    # A file saved without a change is newer than the manifest: exported once, and the manifest recorded again so
    # that its time covers the save.
    client.workspace.import_(
        f"{TARGET}/config/settings.yml",
        content=base64.b64encode(NOTEBOOKS["notebooks/config/settings.yml"].encode()).decode(),
        format=ImportFormat.RAW,
        overwrite=True,
    )
    server.stats.reset()
    shown = plan(repo).notebooks
    assert shown.changes == () and shown.write_manifest  # nothing to import; the manifest is recorded again
    assert calls(repo).calls("GET", "/api/2.0/workspace/export") == 1 + 4 + 1  # manifest, notebooks, the file
    promote(repo)
    server.stats.reset()
    assert not plan(repo).has_changes
    assert calls(repo).calls("GET", "/api/2.0/workspace/export") == 1 + 4  # the file is vouched for again
