"""Pipeline runs: Pipelines_CreateRun, PipelineRuns_Get and PipelineRuns_Cancel (datafactory.json, 2018-06-01).

The sandbox executes nothing: a run is a record that moves Queued → InProgress → Succeeded over the status reads
(one read each by default), or ends as a `RunRule` of the service options says (Failed, or slow).
Shapes: Pipelines_CreateRun.json answers {"runId"}; PipelineRuns_Get.json answers runId, pipelineName,
parameters (each value a string: the array ["exampleoutput.csv"] reads "[\"exampleoutput.csv\"]"), invokedBy
{id, name "Manual"}, runStart, runEnd, durationInMs, status, message, lastUpdated and annotations.
The spec's PipelineRun also defines runGroupId, isLatest and invokedBy.invokedByType (readOnly, none of them
required) that the example leaves out: the sandbox leaves them out too, so nothing the portal does can lean on them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from portal.sandbox.errors import ApiError, ApiResponse
from portal.sandbox.routes import RUNS
from portal.sandbox.service_options import RunRule, ServiceOptions
from portal.sandbox.state import Document, SandboxState

_TERMINAL = ("Succeeded", "Failed", "Cancelled")


def create(
    state: SandboxState, options: ServiceOptions, factory: Document, pipeline: Document, parameters: Mapping[str, Any]
) -> ApiResponse:
    declared = pipeline.get("properties", {}).get("parameters") or {}
    missing = [
        name
        for name, spec in declared.items()
        if isinstance(spec, Mapping)
        and "defaultValue" not in spec
        and name.lower() not in {given.lower() for given in parameters}
    ]
    if missing:
        raise ApiError(
            400,
            "BadRequest",
            f"The required pipeline parameter(s) {', '.join(missing)} of pipeline "
            f"'{pipeline['name']}' were not provided.",
            target=str(pipeline["name"]),
        )
    rule = options.run_rule(str(pipeline["name"])) or RunRule(status="Succeeded", message="")
    run_id = str(uuid.uuid4())
    now = _now()
    doc: Document = {
        "id": f"{factory['id']}/{RUNS}/{run_id}",
        "name": run_id,
        "run": {
            "runId": run_id,
            "pipelineName": pipeline["name"],
            "parameters": {name: _as_text(value) for name, value in parameters.items()},
            "invokedBy": {"id": uuid.uuid4().hex, "name": "Manual"},
            "runStart": _iso(now),
            "runEnd": None,
            "durationInMs": None,
            "status": "Queued",
            "message": "",
            "lastUpdated": _iso(now),
            "annotations": list(pipeline.get("properties", {}).get("annotations") or []),
        },
        "_plan": {
            "reads": 0,
            "queued": max(0, rule.queued_reads),
            "in_progress": max(0, rule.in_progress_reads),
            "status": rule.status,
            "message": rule.message,
            "started": now.timestamp(),
        },
    }
    state.put(doc)
    return ApiResponse(200, {"runId": run_id})


def get(state: SandboxState, factory: Document, run_id: str) -> ApiResponse:
    doc = _run(state, factory, run_id)
    plan, run = doc["_plan"], doc["run"]
    if run["status"] not in _TERMINAL:
        plan["reads"] += 1
        if plan["reads"] <= plan["queued"]:
            wanted = "Queued"
        elif plan["reads"] <= plan["queued"] + plan["in_progress"]:
            wanted = "InProgress"
        else:
            wanted = plan["status"]
        if wanted != run["status"]:
            _move(doc, wanted, plan["message"] if wanted == plan["status"] else "")
        state.put(doc)
    return ApiResponse(200, {k: v for k, v in run.items() if v is not None})


def cancel(state: SandboxState, factory: Document, run_id: str) -> ApiResponse:
    doc = _run(state, factory, run_id)
    if doc["run"]["status"] not in _TERMINAL:
        _move(doc, "Cancelled", "")
        state.put(doc)
    return ApiResponse(200)


def _run(state: SandboxState, factory: Document, run_id: str) -> Document:
    doc = state.get(f"{factory['id']}/{RUNS}/{run_id}")
    if doc is None:
        raise ApiError(404, "NotFound", f"Pipeline run '{run_id}' was not found in factory '{factory['name']}'.")
    return doc


def _move(doc: Document, status: str, message: str) -> None:
    now = _now()
    run = doc["run"]
    run["status"] = status
    run["lastUpdated"] = _iso(now)
    if status in _TERMINAL:
        run["message"] = message
        run["runEnd"] = _iso(now)
        run["durationInMs"] = int((now.timestamp() - doc["_plan"]["started"]) * 1000)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
