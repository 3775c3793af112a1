"""Apply a plan: stop the triggers it names, deploy only what changes (dependencies first, independent objects
in parallel), delete what the source dropped (dependents first), and put the triggers back. These are the named
steps of `portal.deploy.steps.factory_steps` (the ones `portal plan` prints), carried out by its runner.

Safety: the caller has checked that the live factory still is what the plan saw; each write is conditional on the
object's etag from the plan too, so a change made in between is not overwritten. After any failure the triggers
this run stopped are started again before anything else happens (before the failure is even reported: the sink
may be an audit store that is what failed), and the report says exactly which could not be. While triggers are
stopped, retries end at the plan's `trigger_downtime_seconds`, so schedules are never down for longer.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError
from typing import Any

from portal.adf.expressions import Secret
from portal.databricks.apply import NotebookReport
from portal.deploy.plan import DesiredObject, Key, LiveVersion, Plan
from portal.deploy.steps import (
    DELETE,
    DEPLOY,
    START_TRIGGERS,
    STOP_TRIGGERS,
    factory_steps,
)
from portal.deploy.target import FactoryTarget, service_message
from portal.errors import ErrorCode, PortalError
from portal.events import (
    FAILED,
    FINISHED,
    OBJECT_DONE,
    Event,
    EventSink,
    no_events,
)
from portal.steps import (
    StepAction,
    StepFailed,
    cycle_refused,
    dependency_levels,
    run_steps,
)

SecretResolver = Callable[[Secret], str]


@dataclass
class ApplyReport:
    plan_hash: str
    deployed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    triggers_stopped: list[str] = field(default_factory=list)
    triggers_started: list[str] = field(default_factory=list)
    still_stopped: list[str] = field(default_factory=list)  # stopped by this run and not started again
    triggers_restored: list[str] = field(default_factory=list)  # started again after a failure
    error: str | None = None
    notebooks: NotebookReport | None = None  # the Databricks folder's part, deployed first

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        data = dict(self.__dict__, ok=self.ok)
        data["notebooks"] = self.notebooks.as_json() if self.notebooks is not None else None
        return data


class ApplyFailed(PortalError):
    def __init__(self, report: ApplyReport, where: str, what: str):
        self.report = report
        hint = None
        if report.still_stopped:
            hint = "these triggers are stopped and could not be started again: " + ", ".join(report.still_stopped)
        super().__init__(where, what, hint, code=ErrorCode.APPLY_FAILED)


def apply_plan(
    plan: Plan,
    desired: Mapping[Key, DesiredObject],
    target: FactoryTarget,
    *,
    resolve_secret: SecretResolver,
    sink: EventSink = no_events,
    parallelism: int = 4,
    report: ApplyReport | None = None,
) -> ApplyReport:
    """Carry out the factory part of `plan` (already checked against the live factory by the caller): its steps
    (`factory_steps`, the list `portal plan` prints) through the runner. A dependency cycle among the objects to
    write is refused before anything is written."""
    report = report if report is not None else ApplyReport(plan.hash)
    steps = factory_steps(plan, desired, parallelism=parallelism)
    stopped: list[str] = []
    downtime = _Downtime(plan, target)
    try:
        run_steps(steps, _factory_actions(plan, desired, target, resolve_secret, report, stopped, downtime), sink)
        downtime.end()
    except BaseException as raised:  # noqa: BLE001 - every failure must put the triggers back first
        error = _located(raised.error, raised.where) if isinstance(raised, StepFailed) else raised
        downtime.end()
        _restore_triggers(target, stopped, report)
        where = getattr(error, "portal_where", "apply")
        what = service_message(error) if isinstance(error, Exception) else str(error)
        report.error = f"{where}: {what}"
        _tell(sink, Event(FAILED, "apply", where, what))
        for name in report.triggers_restored:
            _tell(sink, Event(OBJECT_DONE, "restore triggers", f"trigger {name}", "started again"))
        for name in report.still_stopped:
            _tell(sink, Event(FAILED, "restore triggers", f"trigger {name}", "could not be started again"))
        if not isinstance(error, Exception):
            raise  # KeyboardInterrupt and the like: triggers are back, now stop
        raise ApplyFailed(report, where, what) from error
    sink(
        Event(
            FINISHED,
            "apply",
            message=f"{len(report.deployed)} deployed, {len(report.deleted)} deleted, "
            f"{len(report.triggers_started)} triggers started",
        )
    )
    return report


def _tell(sink: EventSink, event: Event) -> None:
    """Report on the failure path: a sink that fails too (the audit store down) must not hide the first error."""
    with contextlib.suppress(Exception):  # the report (ApplyFailed) still says everything
        sink(event)


class _Downtime:
    """The time triggers stay stopped: from the first stop until the writes end, bounded by the plan's
    `trigger_downtime_seconds` (the target's retries end there too)."""

    def __init__(self, plan: Plan, target: FactoryTarget):
        self._limit = plan.trigger_downtime_seconds
        self._holder = target.events
        self._deadline: float | None = None

    def begin(self) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + self._limit
            self._holder.deadline = self._deadline

    def check(self, where: str) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise PortalError(
                where,
                f"triggers have been stopped for {self._limit} s "
                "(deploy.trigger_downtime_seconds); the deploy stops here",
                code=ErrorCode.DOWNTIME,
            )

    def end(self) -> None:
        self._deadline = None
        self._holder.deadline = None


def _located(error: Exception, where: str) -> Exception:
    """Remember which object a failure belongs to, so the report names it."""
    if not hasattr(error, "portal_where"):
        error.portal_where = where  # type: ignore[attr-defined]
    return error


def _factory_actions(
    plan: Plan,
    desired: Mapping[Key, DesiredObject],
    target: FactoryTarget,
    resolve_secret: SecretResolver,
    report: ApplyReport,
    stopped: list[str],
    downtime: _Downtime,
) -> dict[str, StepAction]:
    """What each of the factory's steps does to one item, and what it records (`stopped`: the triggers this run
    stopped and did not start again, for the restore after a failure)."""
    triggers = {t.name: t for t in plan.triggers}
    keys = {o.label: (o.kind, o.name) for o in plan.objects}
    deletions = {c.label: c for c in plan.effective_deletions}
    seen = {version.key: version for version in plan.preconditions}
    # Triggers this run stopped have a new etag by now; the check before apply covered them.
    stopping = {t.name for t in plan.triggers if t.stop}

    def stop(name: str) -> None:
        downtime.begin()
        if triggers[name].event_subscription:
            target.set_event_subscription(name, False)  # and wait: the service needs it gone first
        target.stop_trigger(name)

    def was_stopped(name: str) -> None:
        stopped.append(name)
        report.triggers_stopped.append(name)

    def put(label: str) -> None:
        key = keys[label]
        _put(
            target, desired[key], resolve_secret, None if key[0] == "trigger" and key[1] in stopping else seen.get(key)
        )

    def delete(label: str) -> None:
        change = deletions[label]
        target.delete(change.kind, change.name)

    def start(name: str) -> None:
        if triggers[name].event_subscription:
            target.set_event_subscription(name, True)
        target.start_trigger(name)

    def was_started(name: str) -> None:
        if name in stopped:
            stopped.remove(name)
        report.triggers_started.append(name)

    return {
        STOP_TRIGGERS: StepAction(stop, was_stopped),
        # While triggers are stopped, the writes end at the plan's trigger_downtime_seconds: checked before each
        # level of the deploy and before each deletion.
        DEPLOY: StepAction(put, report.deployed.append, before_batch=downtime.check),
        DELETE: StepAction(delete, report.deleted.append, before_batch=downtime.check),
        # The writes are over: the triggers' own calls get their full retries again.
        START_TRIGGERS: StepAction(start, was_started, at_start=downtime.end),
    }


def _levels(writes: list[Key], desired: Mapping[Key, DesiredObject]) -> list[list[Key]]:
    """Objects grouped so each group only depends on earlier groups (or on objects already live): the deploy
    step's batches, for callers that deploy by keys (the deploy benchmark). A cycle is refused."""
    waits_for = {key: desired[key].depends_on for key in writes}
    try:
        return dependency_levels(writes, waits_for)
    except CycleError as error:
        raise cycle_refused(error, "deploy", lambda key: f"{key[0]} {key[1]}") from error


def _put(
    target: FactoryTarget, obj: DesiredObject, resolve_secret: SecretResolver, seen: LiveVersion | None = None
) -> None:
    """Write one object; when the plan recorded its live version, only if it is still that version."""
    body = _with_secrets(obj.properties, resolve_secret)
    if obj.kind == "trigger" and isinstance(body, dict):
        body.pop("runtimeState", None)  # read-only on the service; start and stop decide it
    # A create has no condition the service honours (see FactoryTarget.put): the check before apply saw it absent.
    target.put(obj.kind, obj.name, body, if_etag=seen.etag if seen is not None and seen.exists else None)


def _with_secrets(value: Any, resolve_secret: SecretResolver) -> Any:
    if isinstance(value, Secret):
        return resolve_secret(value)
    if isinstance(value, dict):
        return {k: _with_secrets(v, resolve_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_secrets(v, resolve_secret) for v in value]
    return value


def _restore_triggers(target: FactoryTarget, stopped: list[str], report: ApplyReport) -> None:
    """After a failure: start again every trigger this run stopped; say which stay stopped. Talks to the factory
    only (no sink): nothing else may fail first."""
    for name in list(stopped):
        try:
            target.start_trigger(name)
        except Exception:  # noqa: BLE001 - keep going: every trigger gets its chance
            continue
        stopped.remove(name)
        report.triggers_started.append(name)
        report.triggers_restored.append(name)
    report.still_stopped = list(stopped)


def sandbox_secret(secret: Secret) -> str:
    """The sandbox has no Key Vault: a secret becomes a marker naming its source (never a real value)."""
    return f"sandbox-secret({secret.source})"
