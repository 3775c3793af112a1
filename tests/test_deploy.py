"""Plan and apply through the real SDK against the embedded sandbox over HTTPS."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from portal.cli import main
from portal.deploy.apply import ApplyFailed
from portal.deploy.service import apply_environment, open_target, plan_environment
from portal.environments.workspace import MappingWorkspace
from portal.errors import PortalError
from portal.events import FAILED, OBJECT_DONE, RETRY, STEP_FINISHED, EventLog
from portal.sandbox import FaultRule, Faults, sandbox_for
from tests.mapping_repo import (
    KV_TEST,
    SUB_TEST,
    commit_all,
    sandbox_config,
    sandbox_repo,
    write_json,
)

CONFIG = sandbox_config(delete_removed=True, parallelism=3)


def kv(secret: str) -> dict:
    return {"reference": {"keyVault": {"id": KV_TEST}, "secretName": secret}}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = sandbox_repo(
        tmp_path / "data",
        CONFIG,
        {
            "test": {
                "LS_Lake_properties_typeProperties_url": {"value": "https://laketest.dfs.core.windows.net/"},
                "LS_Lake_accountKey": kv("lake-key"),
                "LS_Sql_connectionString": kv("sql-conn"),
            }
        },
    )
    yield root
    sandbox_for(root / ".sandbox").faults = Faults()


def plan(repo: Path):
    return plan_environment(MappingWorkspace.open(repo), "test")


def promote(repo: Path, log: EventLog | None = None):
    workspace = MappingWorkspace.open(repo)
    planned = plan_environment(workspace, "test")
    return planned.plan, apply_environment(workspace, "test", planned.plan, sink=log or EventLog(), planned=planned)


def live(repo: Path) -> dict:
    return open_target(MappingWorkspace.open(repo), "test").read_all()


def test_first_promotion_creates_everything_in_dependency_order(repo: Path) -> None:
    first = plan(repo).plan
    assert first.counts() == {"create": 5, "update": 0, "delete": 0, "unchanged": 0, "triggers": 1}
    order = [c.label for c in first.objects]
    assert (
        order.index("linkedService LS_Lake")
        < order.index("dataset DS_Orders")
        < order.index("pipeline PL_Load")
        < order.index("trigger TR_Daily")
    )
    log = EventLog()
    plan_made, report = promote(repo, log)
    assert report.ok and len(report.deployed) == 5 and report.triggers_started == ["TR_Daily"]
    state = live(repo)
    assert state[("trigger", "TR_Daily")].runtime_state == "Started"
    assert (
        state[("linkedService", "LS_Lake")].properties["typeProperties"]["url"]
        == "https://laketest.dfs.core.windows.net/"
    )
    # The secret went to the service as a marker of its source, never as a value from Git; the service keeps it and
    # answers it masked.
    stored = sandbox_for(repo / ".sandbox").state.get(
        "/subscriptions/" + SUB_TEST + "/resourceGroups/rg-test/providers/Microsoft.DataFactory/factories/"
        "adf-sales-test/linkedservices/LS_Lake"
    )
    assert "lake-key" in json.dumps(stored["properties"])
    assert "lake-key" not in json.dumps(state[("linkedService", "LS_Lake")].properties)
    assert [e.object for e in log.of_kind(OBJECT_DONE) if e.step == "deploy"][0] in (
        "linkedService LS_Lake",
        "linkedService LS_Sql",
    )
    # Promoting again changes nothing.
    again = plan(repo).plan
    assert not again.has_changes and again.counts()["unchanged"] == 5


def test_only_changed_objects_are_written_and_affected_triggers_restarted(repo: Path) -> None:
    promote(repo)
    server = sandbox_for(repo / ".sandbox")
    pipeline = repo / "adf" / "pipeline" / "PL_Load.json"
    document = json.loads(pipeline.read_text())
    document["properties"]["description"] = "loads orders"
    write_json(pipeline, document)
    commit_all(repo, "describe the pipeline")
    changed = plan(repo).plan
    assert [c.label for c in changed.updates] == ["pipeline PL_Load"]
    assert [str(c) for c in changed.updates[0].changes] == ["properties.description: (absent) → loads orders"]
    assert [(t.name, t.stop, t.start) for t in changed.triggers] == [("TR_Daily", True, True)]
    server.stats.reset()
    _, report = promote(repo)
    assert report.deployed == ["pipeline PL_Load"]
    assert report.triggers_stopped == ["TR_Daily"] and report.triggers_started == ["TR_Daily"]
    assert server.stats.by_method.get("PUT", 0) == 1
    assert live(repo)[("trigger", "TR_Daily")].runtime_state == "Started"


def test_removed_objects_are_deleted_dependents_first(repo: Path) -> None:
    promote(repo)
    for path in ("trigger/TR_Daily.json", "pipeline/PL_Load.json", "dataset/DS_Orders.json"):
        (repo / "adf" / path).unlink()
    commit_all(repo, "retire the orders load")
    removal = plan(repo).plan
    assert [c.label for c in removal.deletions] == ["trigger TR_Daily", "pipeline PL_Load", "dataset DS_Orders"]
    _, report = promote(repo)
    assert report.deleted == ["trigger TR_Daily", "pipeline PL_Load", "dataset DS_Orders"]
    assert set(live(repo)) == {("linkedService", "LS_Lake"), ("linkedService", "LS_Sql")}


def test_deletion_is_opt_in(repo: Path) -> None:
    promote(repo)
    (repo / "portal.yaml").write_text(CONFIG.replace("delete_removed: true", "delete_removed: false"))
    (repo / "adf" / "trigger" / "TR_Daily.json").unlink()
    commit_all(repo, "no trigger, no deletion")
    kept = plan(repo).plan
    assert [c.label for c in kept.deletions] == ["trigger TR_Daily"] and not kept.effective_deletions
    assert not kept.has_changes and "deletion is off" in kept.notes[0]


def test_a_fault_in_the_middle_restarts_triggers_and_a_rerun_converges(repo: Path) -> None:
    promote(repo)
    for name in ("PL_Load",):
        path = repo / "adf" / "pipeline" / f"{name}.json"
        document = json.loads(path.read_text())
        document["properties"]["description"] = "v2"
        write_json(path, document)
    lake = repo / "adf" / "linkedService" / "LS_Lake.json"
    document = json.loads(lake.read_text())
    document["properties"]["description"] = "v2"
    write_json(lake, document)
    commit_all(repo, "v2")
    server = sandbox_for(repo / ".sandbox")
    # The pipeline's write fails for good (more times than the SDK retries).
    server.faults = Faults(rules=[FaultRule(method="PUT", path_contains="/pipelines/PL_Load", status=400, times=-1)])
    log = EventLog()
    with pytest.raises(ApplyFailed) as failure:
        promote(repo, log)
    assert failure.value.where == "pipeline PL_Load"
    assert failure.value.report.triggers_stopped == ["TR_Daily"]
    assert failure.value.report.still_stopped == []
    assert log.of_kind(FAILED)
    assert live(repo)[("trigger", "TR_Daily")].runtime_state == "Started"  # put back after the failure
    server.faults = Faults()
    second = plan(repo).plan
    assert [c.label for c in second.updates] == ["pipeline PL_Load"]  # the linked service made it before
    promote(repo)
    assert not plan(repo).plan.has_changes


def _describe_lake(repo: Path, text: str) -> None:
    lake = repo / "adf" / "linkedService" / "LS_Lake.json"
    document = json.loads(lake.read_text())
    document["properties"]["description"] = text
    write_json(lake, document)
    commit_all(repo, f"describe: {text}")


MANUAL_DATASET = {
    "properties": {
        "type": "Binary",
        "linkedServiceName": {"referenceName": "LS_Lake", "type": "LinkedServiceReference"},
    }
}


def test_apply_refuses_when_the_live_factory_moved(repo: Path) -> None:
    promote(repo)
    _describe_lake(repo, "new")
    workspace = MappingWorkspace.open(repo)
    shown = plan_environment(workspace, "test").plan
    # Someone changes the live factory by hand after the plan was shown.
    client = sandbox_for(repo / ".sandbox").client(SUB_TEST)
    client.datasets.create_or_update("rg-test", "adf-sales-test", "DS_Manual", MANUAL_DATASET)
    with pytest.raises(PortalError) as refused:
        apply_environment(workspace, "test", shown)  # made again from scratch
    assert refused.value.code == "PLAN_STALE" and "live factory changed" in refused.value.what
    client.datasets.delete("rg-test", "adf-sales-test", "DS_Manual")

    # With the plan at hand only the objects it changes are read again: the linked service, edited by hand.
    planned = plan_environment(workspace, "test")
    assert [v.describe() for v in planned.plan.preconditions] == ["linkedService LS_Lake"]
    client.linked_services.create_or_update(
        "rg-test",
        "adf-sales-test",
        "LS_Lake",
        {"properties": {"type": "AzureBlobFS", "typeProperties": {"url": "https://byhand.dfs.core.windows.net/"}}},
    )
    with pytest.raises(PortalError) as refused_again:
        apply_environment(workspace, "test", planned.plan, planned=planned)
    assert refused_again.value.code == "PLAN_STALE" and "linkedService LS_Lake" in refused_again.value.what
    lake = live(repo)[("linkedService", "LS_Lake")].properties
    assert lake["typeProperties"]["url"] == "https://byhand.dfs.core.windows.net/" and "description" not in lake


def test_changes_elsewhere_in_the_factory_do_not_block_a_plan_unless_asked(repo: Path) -> None:
    promote(repo)
    _describe_lake(repo, "new")
    client = sandbox_for(repo / ".sandbox").client(SUB_TEST)
    workspace = MappingWorkspace.open(repo)
    planned = plan_environment(workspace, "test")
    # A pipeline the plan does not touch is edited by hand: the plan still does exactly what it showed.
    pipeline = client.pipelines.get("rg-test", "adf-sales-test", "PL_Load").as_dict()["properties"]
    client.pipelines.create_or_update(
        "rg-test", "adf-sales-test", "PL_Load", {"properties": {**pipeline, "description": "edited by hand"}}
    )
    report = apply_environment(workspace, "test", planned.plan, planned=planned)
    assert report.deployed == ["linkedService LS_Lake"]
    state = live(repo)
    assert state[("linkedService", "LS_Lake")].properties["description"] == "new"
    assert state[("pipeline", "PL_Load")].properties["description"] == "edited by hand"  # drift: next plan shows it
    assert [c.label for c in plan(repo).plan.updates] == ["pipeline PL_Load"]

    # An environment that wants the whole factory unchanged says so.
    config = repo / "portal.yaml"
    config.write_text(config.read_text().replace("parallelism: 3", "parallelism: 3\n      stale_check: whole-factory"))
    commit_all(repo, "strict stale check")
    _describe_lake(repo, "newer")
    workspace = MappingWorkspace.open(repo)
    planned = plan_environment(workspace, "test")
    assert planned.plan.stale_check == "whole-factory"
    client.datasets.create_or_update("rg-test", "adf-sales-test", "DS_Manual", MANUAL_DATASET)
    with pytest.raises(PortalError) as refused:
        apply_environment(workspace, "test", planned.plan, planned=planned)
    assert refused.value.code == "PLAN_STALE" and "live factory changed" in refused.value.what


def test_a_change_between_the_check_and_the_write_is_not_overwritten(repo: Path) -> None:
    promote(repo)
    _describe_lake(repo, "new")
    client = sandbox_for(repo / ".sandbox").client(SUB_TEST)
    workspace = MappingWorkspace.open(repo)
    planned = plan_environment(workspace, "test")

    def edit_after_the_check(event) -> None:
        if event.step == "check live state" and event.kind == STEP_FINISHED:
            client.linked_services.create_or_update(
                "rg-test",
                "adf-sales-test",
                "LS_Lake",
                {
                    "properties": {
                        "type": "AzureBlobFS",
                        "typeProperties": {"url": "https://byhand.dfs.core.windows.net/"},
                    }
                },
            )

    with pytest.raises(ApplyFailed) as failed:
        apply_environment(workspace, "test", planned.plan, planned=planned, sink=edit_after_the_check)
    assert failed.value.where == "linkedService LS_Lake"
    assert "changed in the factory since the plan was made" in failed.value.what
    assert (
        live(repo)[("linkedService", "LS_Lake")].properties["typeProperties"]["url"]
        == "https://byhand.dfs.core.windows.net/"
    )


def test_throttling_storm_is_retried_and_reported(repo: Path) -> None:
    server = sandbox_for(repo / ".sandbox")
    server.faults = Faults(throttle_every=2)
    log = EventLog()
    _, report = promote(repo, log)
    assert report.ok and len(report.deployed) == 5
    assert log.of_kind(RETRY)
    server.faults = Faults()
    assert not plan(repo).plan.has_changes


def test_plan_cli_exit_codes_and_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "test", "--repo", str(repo)]) == 2
    out = capsys.readouterr().out
    assert "+ pipeline PL_Load" in out and "5 to create" in out
    assert main(["plan", "test", "--repo", str(repo), "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["counts"]["create"] == 5 and len(document["hash"]) == 64
    assert main(["promote", "test", "--repo", str(repo), "--yes"]) == 0
    assert "succeeded: 5 deployed, 0 deleted, 1 triggers started" in capsys.readouterr().out
    assert main(["plan", "test", "--repo", str(repo)]) == 0
    assert main(["plan", "nowhere", "--repo", str(repo)]) == 1


def test_plan_hash_is_stable(repo: Path) -> None:
    first, second = plan(repo).plan, plan(repo).plan
    assert first.hash == second.hash and first == second
    assert json.loads(json.dumps(first.to_json(), default=str))["hash"] == first.hash


def test_demo_from_nothing_to_a_promoted_test_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demo"
    assert main(["demo", "--path", str(root)]) == 0
    assert "dev is deployed" in capsys.readouterr().out
    assert main(["plan", "dev", "--repo", str(root)]) == 0  # dev was deployed by the demo
    assert main(["plan", "test", "--repo", str(root)]) == 2
    capsys.readouterr()
    assert main(["promote", "test", "--repo", str(root), "--yes"]) == 0
    assert main(["plan", "test", "--repo", str(root)]) == 0
    assert git.Repo(root).is_dirty(untracked_files=True) is False  # the sandbox state stays out of Git


def test_event_trigger_is_unsubscribed_stopped_and_started_again(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    assert main(["demo", "--path", str(root)]) == 0
    pipeline = root / "adf" / "pipeline" / "PL_Ingest_Landing.json"
    document = json.loads(pipeline.read_text())
    document["properties"]["description"] = "lands new files"
    write_json(pipeline, document)
    commit_all(root, "describe the landing pipeline")
    workspace = MappingWorkspace.open(root)
    planned = plan_environment(workspace, "dev")
    [trigger] = [t for t in planned.plan.triggers if t.name == "TR_NewFiles"]
    assert trigger.stop and trigger.start and trigger.event_subscription
    log = EventLog()
    report = apply_environment(workspace, "dev", planned.plan, sink=log, planned=planned)
    assert "TR_NewFiles" in report.triggers_stopped and "TR_NewFiles" in report.triggers_started
    target = open_target(workspace, "dev")
    assert target.read_all()[("trigger", "TR_NewFiles")].runtime_state == "Started"
    status = target.client.triggers.get_event_subscription_status(
        target.resource_group, target.factory_name, "TR_NewFiles"
    )
    assert dict(status)["status"] == "Enabled"


def test_a_target_that_cannot_be_signed_into_is_a_clear_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_USERNAME",
    ):
        monkeypatch.delenv(name, raising=False)
    (repo / "portal.yaml").write_text(
        CONFIG.replace("auth: sandbox\n      sandbox: .sandbox", "auth: service-principal")
    )
    assert main(["plan", "test", "--repo", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "cannot read the live factory" in err and "adf-sales-test" in err and "Traceback" not in err


def test_a_missing_factory_is_named_not_traced(repo: Path) -> None:
    sandbox_for(repo / ".sandbox").client(SUB_TEST).factories.delete("rg-test", "adf-sales-test")
    with pytest.raises(PortalError) as refused:
        plan(repo)
    assert refused.value.code == "NO_FACTORY" and refused.value.where == "factory adf-sales-test"
    assert "rg-test" in refused.value.what
