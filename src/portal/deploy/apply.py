"""Apply a plan: stop the triggers it names, deploy only what changes (dependencies first, independent objects
in parallel), delete what the source dropped (dependents first), and put the triggers back.

Safety: the caller has checked that the live factory still is what the plan saw; each write is conditional on the
object's etag from the plan too, so a change made in between is not overwritten. After any failure the triggers
this run stopped are started again before anything else happens (before the failure is even reported: the sink
may be an audit store that is what failed), and the report says exactly which could not be. While triggers are
stopped, retries end at the plan's `trigger_downtime_seconds`, so schedules are never down for longer.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from portal.adf.expressions import Secret
from portal.databricks.apply import NotebookReport
from portal.deploy.events import (
    FAILED,
    FINISHED,
    OBJECT_DONE,
    STEP_FINISHED,
    STEP_STARTED,
    Event,
    EventSink,
    no_events,
)
from portal.deploy.plan import CREATE, UPDATE, DesiredObject, Key, LiveVersion, Plan, TriggerChange
from portal.deploy.target import FactoryTarget, service_message
from portal.errors import PortalError

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
        super().__init__(where, what, hint, code="APPLY_FAILED")


def apply_plan(plan: Plan, desired: Mapping[Key, DesiredObject], target: FactoryTarget, *,
               resolve_secret: SecretResolver, sink: EventSink = no_events, parallelism: int = 4,
               report: ApplyReport | None = None) -> ApplyReport:
    """Carry out the factory part of `plan` (already checked against the live factory by the caller)."""
    report = report if report is not None else ApplyReport(plan.hash)
    stopped: list[str] = []
    downtime = _Downtime(plan, target)
    try:
        _stop_triggers(plan, target, sink, report, stopped, downtime)
        _deploy(plan, desired, target, resolve_secret, sink, report, parallelism, downtime)
        _delete(plan, target, sink, report, downtime)
        downtime.end()
        _start_triggers(plan, target, sink, report, stopped)
    except BaseException as error:  # noqa: BLE001 - every failure must put the triggers back first
        downtime.end()
        _restore_triggers(target, stopped, report)
        where, what = getattr(error, "portal_where", "apply"), service_message(error)
        report.error = f"{where}: {what}"
        _tell(sink, Event(FAILED, "apply", where, what))
        for name in report.triggers_restored:
            _tell(sink, Event(OBJECT_DONE, "restore triggers", f"trigger {name}", "started again"))
        for name in report.still_stopped:
            _tell(sink, Event(FAILED, "restore triggers", f"trigger {name}", "could not be started again"))
        if not isinstance(error, Exception):
            raise  # KeyboardInterrupt and the like: triggers are back, now stop
        raise ApplyFailed(report, where, what) from error
    sink(Event(FINISHED, "apply", message=f"{len(report.deployed)} deployed, {len(report.deleted)} deleted, "
                                          f"{len(report.triggers_started)} triggers started"))
    return report


def _tell(sink: EventSink, event: Event) -> None:
    """Report on the failure path: a sink that fails too (the audit store down) must not hide the first error."""
    try:
        sink(event)
    except Exception:  # noqa: BLE001 - the report (ApplyFailed) still says everything
        pass


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
            raise PortalError(where, f"triggers have been stopped for {self._limit} s "
                              "(deploy.trigger_downtime_seconds); the deploy stops here", code="DOWNTIME")

    def end(self) -> None:
        self._deadline = None
        self._holder.deadline = None


def _located(error: Exception, where: str) -> Exception:
    """Remember which object a failure belongs to, so the report names it."""
    if not hasattr(error, "portal_where"):
        error.portal_where = where  # type: ignore[attr-defined]
    return error


def _stop_triggers(plan: Plan, target: FactoryTarget, sink: EventSink, report: ApplyReport,
                   stopped: list[str], downtime: _Downtime) -> None:
    def stop(trigger: TriggerChange) -> None:
        downtime.begin()
        if trigger.event_subscription:
            target.set_event_subscription(trigger.name, False)  # and wait: the service needs it gone first
        target.stop_trigger(trigger.name)
        stopped.append(trigger.name)
        report.triggers_stopped.append(trigger.name)

    _trigger_step("stop triggers", [t for t in plan.triggers if t.stop], stop, "stopped", sink)


def _trigger_step(step: str, triggers: list[TriggerChange], act: Callable[[TriggerChange], None], done_word: str,
                  sink: EventSink) -> None:
    """One trigger after the other (the service serializes trigger state changes anyway), each reported."""
    if not triggers:
        return
    sink(Event(STEP_STARTED, step, total=len(triggers)))
    for index, trigger in enumerate(triggers, 1):
        where = f"trigger {trigger.name}"
        try:
            act(trigger)
        except Exception as error:
            raise _located(error, where)
        sink(Event(OBJECT_DONE, step, where, done_word, index, len(triggers)))
    sink(Event(STEP_FINISHED, step, done=len(triggers), total=len(triggers)))


def _deploy(plan: Plan, desired: Mapping[Key, DesiredObject], target: FactoryTarget,
            resolve_secret: SecretResolver, sink: EventSink, report: ApplyReport, parallelism: int,
            downtime: _Downtime) -> None:
    writes = [(o.kind, o.name) for o in plan.objects if o.action in (CREATE, UPDATE)]
    if not writes:
        return
    sink(Event(STEP_STARTED, "deploy", total=len(writes)))
    levels = _levels(writes, desired)
    seen = {version.key: version for version in plan.preconditions}
    # Triggers this run stopped have a new etag by now; the check before apply covered them.
    stopped = {t.name for t in plan.triggers if t.stop}
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        for level in levels:
            downtime.check(f"{level[0][0]} {level[0][1]}")
            futures = {pool.submit(_put, target, desired[key], resolve_secret,
                                   None if key[0] == "trigger" and key[1] in stopped else seen.get(key)): key
                       for key in level}
            failure: Exception | None = None
            pending = set(futures)
            while pending:
                # Each write is reported (and so recorded) as soon as it is done, not when its level is.
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    key = futures[future]
                    try:
                        future.result()
                    except Exception as error:  # wait for the whole level, then report the first failure
                        failure = failure or _located(error, f"{key[0]} {key[1]}")
                        continue
                    done += 1
                    report.deployed.append(f"{key[0]} {key[1]}")
                    try:
                        sink(Event(OBJECT_DONE, "deploy", f"{key[0]} {key[1]}", "deployed", done, len(writes)))
                    except Exception as error:  # the sink failed (audit store): let the level's writes end
                        failure = failure or error
            if failure is not None:
                raise failure
    sink(Event(STEP_FINISHED, "deploy", done=done, total=len(writes)))


def _levels(writes: list[Key], desired: Mapping[Key, DesiredObject]) -> list[list[Key]]:
    """Objects grouped so each group only depends on earlier groups (or on objects already live)."""
    pending = set(writes)
    ordered = []
    position = {key: index for index, key in enumerate(writes)}
    while pending:
        ready = [k for k in pending if not any(d in pending for d in desired[k].depends_on if d != k)]
        if not ready:  # a cycle the source should not have: deploy the rest in plan order
            ready = list(pending)
        ready.sort(key=position.__getitem__)
        ordered.append(ready)
        pending -= set(ready)
    return ordered


def _put(target: FactoryTarget, obj: DesiredObject, resolve_secret: SecretResolver,
         seen: LiveVersion | None = None) -> None:
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


def _delete(plan: Plan, target: FactoryTarget, sink: EventSink, report: ApplyReport, downtime: _Downtime) -> None:
    deletions = plan.effective_deletions
    if not deletions:
        return
    sink(Event(STEP_STARTED, "delete", total=len(deletions)))
    for index, change in enumerate(deletions, 1):
        where = f"{change.kind} {change.name}"
        downtime.check(where)
        try:
            target.delete(change.kind, change.name)
        except Exception as error:
            raise _located(error, where)
        report.deleted.append(where)
        sink(Event(OBJECT_DONE, "delete", where, "deleted", index, len(deletions)))
    sink(Event(STEP_FINISHED, "delete", done=len(deletions), total=len(deletions)))


def _start_triggers(plan: Plan, target: FactoryTarget, sink: EventSink, report: ApplyReport,
                    stopped: list[str]) -> None:
    def start(trigger: TriggerChange) -> None:
        if trigger.event_subscription:
            target.set_event_subscription(trigger.name, True)
        target.start_trigger(trigger.name)
        if trigger.name in stopped:
            stopped.remove(trigger.name)
        report.triggers_started.append(trigger.name)

    _trigger_step("start triggers", [t for t in plan.triggers if t.start], start, "started", sink)


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
