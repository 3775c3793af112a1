"""A deploy as named steps (`portal.deploy.steps`): the step list of a plan says what will happen and why a step is
skipped, `portal plan` prints that list, the events of an apply follow it, dependencies are written first, and a
dependency cycle among the objects written is refused; through the real SDK against the embedded sandbox."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from portal.cli import main
from portal.databricks.steps import notebook_steps
from portal.deploy.service import (
    PlannedEnvironment,
    apply_environment,
    plan_environment,
)
from portal.deploy.steps import (
    DELETE,
    DEPLOY,
    START_TRIGGERS,
    STOP_TRIGGERS,
    factory_steps,
)
from portal.environments.workspace import MappingWorkspace
from portal.errors import PortalError
from portal.events import (
    FINISHED,
    OBJECT_DONE,
    STEP_FINISHED,
    STEP_STARTED,
    Event,
    EventLog,
)
from portal.sandbox import Faults, sandbox_for
from portal.steps import Step
from tests.mapping_repo import (
    KV_TEST,
    commit_all,
    sandbox_config,
    sandbox_repo,
    write_json,
)

CONFIG = sandbox_config(delete_removed=True, parallelism=8)
FACTORY_STEPS = [STOP_TRIGGERS, DEPLOY, DELETE, START_TRIGGERS]


def kv(secret: str) -> dict:
    return {"reference": {"keyVault": {"id": KV_TEST}, "secretName": secret}}


VALUES = {"test": {"LS_Lake_accountKey": kv("lake-key"), "LS_Sql_connectionString": kv("sql-conn")}}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = sandbox_repo(tmp_path / "data", CONFIG, VALUES)
    yield root
    sandbox_for(root / ".sandbox").faults = Faults()


def planned_for(repo: Path) -> tuple[MappingWorkspace, PlannedEnvironment]:
    workspace = MappingWorkspace.open(repo)
    return workspace, plan_environment(workspace, "test")


def promote(repo: Path, log: EventLog | None = None):
    workspace, planned = planned_for(repo)
    return planned, apply_environment(workspace, "test", planned.plan, sink=log or EventLog(), planned=planned)


def steps_of(planned: PlannedEnvironment) -> list[Step]:
    return factory_steps(planned.plan, planned.desired, parallelism=8)


def live(repo: Path) -> dict:
    _, planned = planned_for(repo)
    return planned.target.read_all()


def describe_pipeline(repo: Path, text: str) -> None:
    path = repo / "adf" / "pipeline" / "PL_Load.json"
    document = json.loads(path.read_text())
    document["properties"]["description"] = text
    write_json(path, document)


def printed_line(number: int, step: Step) -> str:
    if step.runs:
        return f"  {number}. {step.name} ({len(step.items)}): {step.description}"
    return f"  {number}. {step.name}: skipped: {step.skipped_because}"


def test_the_step_list_names_what_will_happen_and_why_a_step_is_skipped(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, first = planned_for(repo)
    steps = steps_of(first)
    assert [s.name for s in steps] == FACTORY_STEPS
    assert [s.skipped_because for s in steps] == [
        "no started trigger needs stopping",
        None,
        "nothing was removed from the source",
        None,
    ]
    deploy, start = steps[1], steps[3]
    assert deploy.items == (
        "linkedService LS_Lake",
        "linkedService LS_Sql",
        "dataset DS_Orders",
        "pipeline PL_Load",
        "trigger TR_Daily",
    )
    assert start.items == ("TR_Daily",) and start.subject("TR_Daily") == "trigger TR_Daily"
    assert all(s.description for s in steps)
    # A plain value: serializable without running anything, and the same whether built for showing or for apply.
    assert json.loads(json.dumps([s.as_json() for s in steps]))[1]["items"] == list(deploy.items)
    shown = factory_steps(first.plan)
    assert [(s.name, s.description, s.items, s.skipped_because) for s in shown] == [
        (s.name, s.description, s.items, s.skipped_because) for s in steps
    ]

    # `portal plan` prints that list, step by step.
    assert main(["plan", "test", "--repo", str(repo)]) == 2
    out = capsys.readouterr().out
    lines = out.splitlines()
    at = lines.index("Steps, in the order they run:")
    assert lines[at + 1 : at + 5] == [printed_line(n, s) for n, s in enumerate(shown, 1)]
    assert "  3. delete: skipped: nothing was removed from the source" in lines
    assert "+ pipeline PL_Load" in out and "5 to create" in out  # the rest of the plan as before

    promote(repo)
    # A pipeline changes and a linked service leaves the source, with deletion off: its trigger is stopped and
    # started again, nothing is deleted, and the step says why.
    describe_pipeline(repo, "v2")
    (repo / "adf" / "linkedService" / "LS_Sql.json").unlink()
    (repo / "portal.yaml").write_text(CONFIG.replace("delete_removed: true", "delete_removed: false"))
    commit_all(repo, "v2, no LS_Sql, deletion off")
    _, second = planned_for(repo)
    steps = steps_of(second)
    assert [(s.items, s.skipped_because) for s in steps] == [
        (("TR_Daily",), None),
        (("pipeline PL_Load",), None),
        ((), "deploy.delete_removed is off"),
        (("TR_Daily",), None),
    ]
    assert main(["plan", "test", "--repo", str(repo)]) == 2
    assert "  3. delete: skipped: deploy.delete_removed is off" in capsys.readouterr().out.splitlines()

    promote(repo)
    _, third = planned_for(repo)
    assert [s.skipped_because for s in steps_of(third)] == [
        "no trigger changes",
        "nothing changed",
        "deploy.delete_removed is off",
        "no trigger changes",
    ]


def step_events(log: EventLog, names: list[str]) -> list[Event]:
    return [e for e in log.events if e.step in names and e.kind in (STEP_STARTED, OBJECT_DONE, STEP_FINISHED)]


def expected_events(steps: list[Step]) -> list[tuple[str, str, str, str, int, int]]:
    """What the runner sends for `steps`, in order (for steps whose items finish in item order)."""
    expected = []
    for step in steps:
        if not step.runs:
            continue
        n = len(step.items)
        expected.append((STEP_STARTED, step.name, "", "", 0, n))
        expected += [
            (OBJECT_DONE, step.name, step.subject(item), step.done_word, index, n)
            for index, item in enumerate(step.items, 1)
        ]
        expected.append((STEP_FINISHED, step.name, "", "", n, n))
    return expected


def shape(events: list[Event]) -> list[tuple[str, str, str, str, int, int]]:
    return [(e.kind, e.step, e.object, e.message, e.done, e.total) for e in events]


def test_the_events_of_an_apply_follow_the_step_list(repo: Path) -> None:
    promote(repo)
    describe_pipeline(repo, "v2")
    (repo / "adf" / "linkedService" / "LS_Sql.json").unlink()
    commit_all(repo, "v2, and LS_Sql goes")
    workspace, planned = planned_for(repo)
    steps = steps_of(planned)
    assert all(s.runs for s in steps)  # every factory step has something to do
    log = EventLog()
    report = apply_environment(workspace, "test", planned.plan, sink=log, planned=planned)
    assert report.ok
    events = step_events(log, FACTORY_STEPS)
    assert shape(events) == expected_events(steps)
    assert [str(e) for e in events] == [
        "stop triggers: 1 to do",
        "[1/1] stop triggers: trigger TR_Daily: stopped",
        "[1/1] stop triggers",
        "deploy: 1 to do",
        "[1/1] deploy: pipeline PL_Load: deployed",
        "[1/1] deploy",
        "delete: 1 to do",
        "[1/1] delete: linkedService LS_Sql: deleted",
        "[1/1] delete",
        "start triggers: 1 to do",
        "[1/1] start triggers: trigger TR_Daily: started",
        "[1/1] start triggers",
    ]
    finished = log.of_kind(FINISHED)
    assert [e.message for e in finished] == ["1 deployed, 1 deleted, 1 triggers started"]
    assert log.events.index(finished[0]) > log.events.index(events[-1])


NOTEBOOK_HOST = "https://adb-5555555555555555.5.azuredatabricks.net"
NOTEBOOK_TARGET = "/Shared/steps"
NOTEBOOK_CONFIG = (
    sandbox_config(parallelism=3)
    + f"""\
    databricks:
      host: {NOTEBOOK_HOST}
      target_folder: {NOTEBOOK_TARGET}
      auth: sandbox
      sandbox: .sandbox
databricks:
  source_folder: notebooks
"""
)
NOTEBOOKS = {
    "notebooks/a_load.py": "# Databricks notebook source\nprint('load')\n",
    "notebooks/b_report.sql": "-- Databricks notebook source\nSELECT 1;\n",
    "notebooks/jobs/c_compact.py": "# Databricks notebook source\nprint('compact')\n",
    "notebooks/jobs/d_cleanup.py": "# Databricks notebook source\nprint('cleanup')\n",
}


@pytest.fixture()
def notebook_repo(tmp_path: Path) -> Path:
    root = sandbox_repo(tmp_path / "data", NOTEBOOK_CONFIG, VALUES, NOTEBOOKS)
    yield root
    sandbox_for(root / ".sandbox").faults = Faults()


def test_notebook_steps_run_first_and_their_events_follow_their_step_list(notebook_repo: Path) -> None:
    workspace, planned = planned_for(notebook_repo)
    assert planned.notebooks is not None
    steps = notebook_steps(planned.notebooks, parallelism=3)
    assert [(s.name, len(s.items), s.skipped_because) for s in steps] == [
        ("notebook folders", 1, None),
        ("import notebooks", 4, None),
        ("prune notebooks", 0, "nothing was removed from Git"),
        ("prune folders", 0, "no folder is emptied"),
        ("notebook manifest", 1, None),
    ]
    manifest = f"{NOTEBOOK_TARGET}/.portal-manifest.json"
    assert steps[-1].items == (manifest,)
    log = EventLog()
    report = apply_environment(workspace, "test", planned.plan, sink=log, planned=planned)
    assert report.ok and report.notebooks is not None and report.notebooks.manifest_written
    assert report.notebooks.imported == list(steps[1].items)  # recorded in the step's order
    counted = [s for s in steps if s.counted]
    assert shape(step_events(log, [s.name for s in counted])) == expected_events(counted)
    # The manifest step names its one object instead of counting.
    assert [str(e) for e in log.events if e.step == "notebook manifest"] == [
        f"notebook manifest: {manifest}",
        f"notebook manifest: {manifest}",
    ]
    started = [e.step for e in log.of_kind(STEP_STARTED)]
    running = [s.name for s in steps + steps_of(planned) if s.runs]
    assert [name for name in started if name in running] == running  # the notebooks' steps, then the factory's

    # Nothing changes next time: every notebook step says so.
    _, again = planned_for(notebook_repo)
    assert again.notebooks is not None
    assert {s.skipped_because for s in notebook_steps(again.notebooks)} == {"nothing changed"}


class Writes:
    """When each write to the factory started and ended, by object label (wrapping the target's real `put`)."""

    def __init__(self, planned: PlannedEnvironment) -> None:
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self._lock = threading.Lock()
        put = planned.target.put

        def timed(kind: str, name: str, *args, **kwargs):
            with self._lock:
                self.started[f"{kind} {name}"] = time.monotonic()
            try:
                return put(kind, name, *args, **kwargs)
            finally:
                with self._lock:
                    self.ended[f"{kind} {name}"] = time.monotonic()

        planned.target.put = timed  # type: ignore[method-assign]


def test_a_dependency_chain_is_written_in_dependency_order(repo: Path) -> None:
    workspace, planned = planned_for(repo)
    deploy = steps_of(planned)[1]
    # pipeline → dataset → linked service (and the trigger on the pipeline): one level each; the two linked
    # services depend on nothing being written, so they go together.
    assert deploy.batches == (
        ("linkedService LS_Lake", "linkedService LS_Sql"),
        ("dataset DS_Orders",),
        ("pipeline PL_Load",),
        ("trigger TR_Daily",),
    )
    assert deploy.parallelism == 8
    sandbox_for(repo / ".sandbox").faults = Faults(latency_ms=150)  # every write takes a while
    writes = Writes(planned)
    log = EventLog()
    report = apply_environment(workspace, "test", planned.plan, sink=log, planned=planned)
    assert report.ok and sorted(report.deployed) == sorted(deploy.items)
    for dependent, dependency in (
        ("dataset DS_Orders", "linkedService LS_Lake"),
        ("pipeline PL_Load", "dataset DS_Orders"),
        ("trigger TR_Daily", "pipeline PL_Load"),
    ):
        assert writes.started[dependent] >= writes.ended[dependency], f"{dependent} before {dependency} was written"
    # Independent objects are written at the same time.
    assert writes.started["linkedService LS_Sql"] < writes.ended["linkedService LS_Lake"]
    done = [e.object for e in log.of_kind(OBJECT_DONE) if e.step == DEPLOY]
    assert done.index("dataset DS_Orders") < done.index("pipeline PL_Load") < done.index("trigger TR_Daily")


def with_dependency(planned: PlannedEnvironment, key: tuple[str, str], on: tuple[str, str]) -> PlannedEnvironment:
    """The planned environment with one more dependency in its desired objects (the source checks refuse a
    reference cycle, so this is how one reaches the deploy); the plan itself is the same."""
    desired = dict(planned.desired)
    desired[key] = replace(desired[key], depends_on=desired[key].depends_on + (on,))
    return replace(planned, desired=desired)


def test_a_dependency_cycle_among_the_objects_written_is_refused_with_the_objects_named(repo: Path) -> None:
    workspace, planned = planned_for(repo)
    # The linked service made to need the pipeline, which needs the dataset, which needs the linked service.
    cyclic = with_dependency(planned, ("linkedService", "LS_Lake"), ("pipeline", "PL_Load"))
    with pytest.raises(PortalError) as refused:
        apply_environment(workspace, "test", planned.plan, sink=EventLog(), planned=cyclic)
    error = refused.value
    assert error.code == "DEPENDENCY_CYCLE" and error.where == "factory adf-sales-test"
    chain = error.what.split(": ", 1)[1].split("; ")[0].split(" → ")
    assert chain[0] == chain[-1] and sorted(set(chain)) == [
        "dataset DS_Orders",
        "linkedService LS_Lake",
        "pipeline PL_Load",
    ]  # only the objects in the cycle
    by_label = {f"{k} {n}": obj for (k, n), obj in cyclic.desired.items()}
    for needs, needed in zip(chain, chain[1:], strict=False):  # each depends on the next
        assert tuple(needed.split(" ", 1)) in by_label[needs].depends_on
    assert "nothing was written" in error.what
    assert live(repo) == {}  # refused before the first write

    # A dependency on an object that is not written is on a live object: no cycle among what is written.
    promote(repo)
    describe_pipeline(repo, "v2")
    commit_all(repo, "v2")
    workspace, planned = planned_for(repo)
    through_live = with_dependency(planned, ("linkedService", "LS_Lake"), ("pipeline", "PL_Load"))
    assert steps_of(through_live)[1].batches == (("pipeline PL_Load",),)
    report = apply_environment(workspace, "test", planned.plan, planned=through_live)
    assert report.deployed == ["pipeline PL_Load"]


def test_a_dependency_cycle_is_refused_before_the_notebooks_go_out(notebook_repo: Path) -> None:
    workspace, planned = planned_for(notebook_repo)
    assert planned.notebooks is not None and planned.notebooks.plan.has_changes
    cyclic = with_dependency(planned, ("dataset", "DS_Orders"), ("pipeline", "PL_Load"))
    server = sandbox_for(notebook_repo / ".sandbox")
    server.stats.reset()
    with pytest.raises(PortalError) as refused:
        apply_environment(workspace, "test", planned.plan, planned=cyclic)
    assert refused.value.code == "DEPENDENCY_CYCLE"
    assert "dataset DS_Orders" in refused.value.what and "pipeline PL_Load" in refused.value.what
    assert server.stats.workspace(NOTEBOOK_HOST).writes == 0 and server.stats.writes == 0
