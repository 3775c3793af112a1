"""A deploy never leaves triggers stopped and never half-deploys a factory with errors (issue 12, items 5 and 6);
through the real SDK against the embedded sandbox over HTTPS."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from portal.cli import main
from portal.deploy.apply import ApplyFailed
from portal.deploy.service import plan_environment
from portal.environments.workspace import MappingWorkspace
from portal.errors import FindingsError, PortalError
from portal.events import STEP_STARTED, Event, EventLog
from portal.sandbox import FaultRule, Faults, sandbox_for
from tests.mapping_repo import (
    KV_TEST,
    commit_all,
    sandbox_config,
    sandbox_repo,
    write_json,
)
from tests.test_deploy import live, promote


def config(downtime: int | None = None) -> str:
    return sandbox_config(parallelism=2, **({} if downtime is None else {"trigger_downtime_seconds": downtime}))


def kv(secret: str) -> dict:
    return {"reference": {"keyVault": {"id": KV_TEST}, "secretName": secret}}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = sandbox_repo(
        tmp_path / "data",
        config(downtime=10),
        {"test": {"LS_Lake_accountKey": kv("lake-key"), "LS_Sql_connectionString": kv("sql-conn")}},
    )
    yield root
    sandbox_for(root / ".sandbox").faults = Faults()


def change_pipeline(repo: Path, text: str) -> None:
    path = repo / "adf" / "pipeline" / "PL_Load.json"
    document = json.loads(path.read_text())
    document["properties"]["description"] = text
    write_json(path, document)
    commit_all(repo, text)


class FailingSink:
    """An event sink that stops working once the deploy step starts, as an audit store that went down would."""

    def __init__(self) -> None:
        self.broken = False
        self.seen: list[Event] = []

    def __call__(self, event: Event) -> None:
        if event.kind == STEP_STARTED and event.step == "deploy":
            self.broken = True
        if self.broken:
            raise PortalError("sqlite:///audit.db", "the audit store failed: disk I/O error", code="AUDIT_STORE")
        self.seen.append(event)


def test_triggers_are_started_again_when_the_event_sink_fails_mid_apply(repo: Path) -> None:
    promote(repo)
    change_pipeline(repo, "v2")
    with pytest.raises(ApplyFailed) as failure:
        promote(repo, FailingSink())  # type: ignore[arg-type]
    assert failure.value.report.triggers_stopped == ["TR_Daily"]
    assert failure.value.report.triggers_restored == ["TR_Daily"] and failure.value.report.still_stopped == []
    assert "audit store failed" in failure.value.what
    assert live(repo)[("trigger", "TR_Daily")].runtime_state == "Started"


def test_a_permanent_server_error_keeps_triggers_down_no_longer_than_the_plan_says(repo: Path) -> None:
    promote(repo)
    change_pipeline(repo, "v2")
    planned = plan_environment(MappingWorkspace.open(repo), "test")
    assert planned.plan.trigger_downtime_seconds == 10
    assert any("for at most 10 s" in note for note in planned.plan.notes)
    server = sandbox_for(repo / ".sandbox")
    # Every write of the pipeline answers 500: the SDK's back-off alone would retry it for minutes.
    server.faults = Faults(rules=[FaultRule(method="PUT", path_contains="/pipelines/PL_Load", status=500, times=-1)])
    log = EventLog()
    started = time.monotonic()
    with pytest.raises(ApplyFailed) as failure:
        promote(repo, log)
    elapsed = time.monotonic() - started
    assert failure.value.where == "pipeline PL_Load"
    assert elapsed < 40, f"triggers were down for {elapsed:.0f} s"
    assert any("time for stopped triggers is spent" in e.message for e in log.events)
    server.faults = Faults()
    assert live(repo)[("trigger", "TR_Daily")].runtime_state == "Started"


def test_the_plan_says_how_long_triggers_may_stay_stopped(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    promote(repo)
    change_pipeline(repo, "v2")
    assert main(["plan", "test", "--repo", str(repo)]) == 2
    assert "for at most 10 s (deploy.trigger_downtime_seconds)" in capsys.readouterr().out


# --- item 6: nothing of a factory with errors is written ---------------------------------------------------------


def _new_pipelines(repo: Path, names: list[str]) -> None:
    for name in names:
        write_json(
            repo / "adf" / "pipeline" / f"{name}.json",
            {
                "name": name,
                "properties": {
                    "activities": [{"name": "Wait", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]
                },
            },
        )


def test_one_name_the_service_refuses_among_seven_new_pipelines_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    promote(repo)
    before = set(live(repo))
    _new_pipelines(repo, [f"PL_New{i}" for i in range(6)] + ["PL.Bad"])
    commit_all(repo, "seven new pipelines")
    assert main(["promote", "test", "--repo", str(repo), "--yes", "--as", "dana"]) == 1
    err = capsys.readouterr().err
    assert "pipeline/PL.Bad.json" in err and "Data Factory refuses the name" in err
    assert set(live(repo)) == before  # not one of the six valid ones went out
    with pytest.raises(FindingsError):
        plan_environment(MappingWorkspace.open(repo), "test")


@pytest.mark.parametrize(
    "broken, what",
    [
        ({"activities": {"name": "Wait", "type": "Wait"}}, "is a JSON object, not a list of activities"),
        (
            {
                "activities": [
                    {
                        "name": "Again",
                        "type": "ExecutePipeline",
                        "typeProperties": {"pipeline": {"referenceName": "PL_Self", "type": "PipelineReference"}},
                    }
                ]
            },
            "runs itself",
        ),
    ],
)
def test_malformed_activities_and_self_calls_are_refused_before_any_write(repo: Path, broken: dict, what: str) -> None:
    promote(repo)
    before = set(live(repo))
    _new_pipelines(repo, ["PL_Fine"])
    write_json(repo / "adf" / "pipeline" / "PL_Self.json", {"name": "PL_Self", "properties": broken})
    commit_all(repo, "a broken pipeline")
    with pytest.raises(FindingsError) as refused:
        plan_environment(MappingWorkspace.open(repo), "test")
    assert any(what in f.what and f.where.startswith("pipeline/PL_Self.json") for f in refused.value.findings)
    assert set(live(repo)) == before


def test_validate_reports_the_service_name_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    adf = tmp_path / "adf"
    write_json(
        adf / "integrationRuntime" / "ir_selfhosted.json",
        {"name": "ir_selfhosted", "properties": {"type": "SelfHosted"}},
    )
    write_json(adf / "pipeline" / "PL#1.json", {"name": "PL#1", "properties": {"activities": []}})
    assert main(["validate", str(adf)]) == 1
    err = capsys.readouterr().err
    assert "integrationRuntime/ir_selfhosted.json" in err and "3-63 characters" in err
    assert "pipeline/PL#1.json" in err and "1-260 characters" in err
